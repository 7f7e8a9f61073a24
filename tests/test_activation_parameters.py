"""An activation's parameter (LEAKY_RELU's and ELU's alpha) through xlnn.

The ONNX reader gives a layer ``Dense(W, b, "leaky_relu", parameter=0.2)``,
with the float32 attribute as float64: 0.20000000298023224. Every formula,
caption and call must carry exactly that value: through the Office.js call
path (ELU's alpha as LEAKY_RELU's), DENSE's fifth argument, both layouts and
an exported workbook recalculated by the engines.
"""

from __future__ import annotations

import datetime as dt
import zipfile

import numpy as np
import openpyxl
import pytest
from excel_calls import call, error_in, error_out

from xlnn import activations, export, udfs
from xlnn.engines import formulas_engine
from xlnn.engines.libreoffice import LibreOffice
from xlnn.export import sheets as export_sheets
from xlnn.functions import catalog, cells
from xlnn.model import Model
from xlnn.network import Dense, Network
from xlnn.sheets.flavors import ADDIN, PLAIN

ALPHA = float(np.float32(0.2))  # what the ONNX reader passes for alpha=0.2
NA = error_in("#N/A")
GRID = [[-4.0, "", 3.0], [NA, -0.5, True]]


def _expected(function, grid):
    """Office.js cells for ``function`` of GRID's numbers (blank, #N/A kept)."""
    values = function(np.array([[-4.0, 0.0, 3.0], [0.0, -0.5, 1.0]]))
    return [
        [float(values[0, 0]), "", float(values[0, 2])],
        [error_out("#N/A"), float(values[1, 1]), float(values[1, 2])],
    ]


# --- ELU's alpha through Office.js, as LEAKY_RELU's -------------------------------


@pytest.mark.parametrize(
    ("alpha", "scale"),
    [
        pytest.param(None, 1.0, id="omitted"),
        pytest.param([[None]], 1.0, id="none"),
        pytest.param([[""]], 1.0, id="blank"),
        pytest.param([[0.5]], 0.5, id="0.5"),
        pytest.param([[2]], 2.0, id="int"),
        pytest.param([[0.0]], 0.0, id="zero"),
    ],
)
def test_elu_alpha(alpha, scale):
    args = [GRID] if alpha is None else [GRID, alpha]
    expected = _expected(lambda x: activations.elu(x, scale), GRID)
    assert call(udfs.elu, *args) == expected
    # By definition: alpha * (e^-4 - 1) for x = -4.
    assert expected[0][0] == pytest.approx(scale * np.expm1(-4.0), rel=1e-15)


@pytest.mark.parametrize(
    ("alpha", "error"),
    [
        pytest.param([[NA]], "#N/A", id="error"),
        pytest.param([["abc"]], "#VALUE!", id="text"),
        pytest.param([[10**400]], "#NUM!", id="huge-int"),
    ],
)
def test_elu_alpha_error_fills_every_cell(alpha, error):
    assert call(udfs.elu, GRID, alpha) == [[error_out(error)] * 3] * 2


def test_elu_range_alpha_raises():
    with pytest.raises(cells.ArgumentError, match="alpha"):
        call(udfs.elu, [[-1.0]], [[0.5, 0.6]])


def test_gelu_tanh_through_office_js():
    assert call(udfs.gelu_tanh, GRID) == _expected(activations.gelu_tanh, GRID)


# --- DENSE's fifth argument -------------------------------------------------------

X = [[1.0, -2.0], ["", ""], [0.5, 3.0]]
W = [[1.0, -1.0, 0.5], [2.0, 0.25, -1.0]]
B = [[0.0, 0.5, -1.0]]


def _dense_expected(function):
    sums = np.array([[1.0, -2.0], [0.5, 3.0]]) @ np.array(W) + np.array(B)
    values = function(sums).tolist()
    return [values[0], ["", "", ""], values[1]]


@pytest.mark.parametrize(
    ("name", "parameter", "function"),
    [
        ("leaky_relu", ALPHA, lambda a: activations.leaky_relu(a, ALPHA)),
        ("elu", 0.5, lambda a: activations.elu(a, 0.5)),
        ("elu", None, activations.elu),
        ("leaky_relu", "", activations.leaky_relu),  # blank: the default
    ],
)
def test_dense_passes_the_parameter(name, parameter, function):
    args = [X, W, B, name] + ([] if parameter is None else [parameter])
    assert call(udfs.dense, *args) == _dense_expected(function)


def test_dense_parameter_changes_the_result():
    # The first sum is 1*1 + (-2)*2 + 0 = -3, so alpha shows in it.
    with_default = call(udfs.dense, X, W, B, "leaky_relu")
    with_alpha = call(udfs.dense, X, W, B, "leaky_relu", 0.2)
    assert with_default[0][0] == pytest.approx(-0.03, rel=1e-15)
    assert with_alpha[0][0] == pytest.approx(-0.6, rel=1e-15)


@pytest.mark.parametrize(
    ("parameter", "error"), [(NA, "#N/A"), ("abc", "#VALUE!")], ids=["error", "text"]
)
def test_dense_parameter_error_fills_every_cell(parameter, error):
    assert call(udfs.dense, X, W, B, "elu", parameter) == [[error_out(error)] * 3] * 3


def test_dense_parameter_for_an_activation_without_one_raises():
    with pytest.raises(cells.ArgumentError, match="relu takes no parameter"):
        call(udfs.dense, X, W, B, "relu", 0.2)


# --- layouts and the exported workbook --------------------------------------------


def _model() -> Model:
    """A 4-5-5-5-3 classifier with every parameterized and the new activation."""
    rng = np.random.default_rng(11)
    sizes = [4, 5, 5, 5, 3]
    layers = [
        ("leaky_relu", ALPHA),
        ("elu", 0.5),
        ("gelu_tanh", None),
        ("softmax", None),
    ]
    network = Network(
        tuple(
            Dense(rng.normal(size=(n_in, n_out)), rng.normal(size=n_out), f, p)
            for n_in, n_out, (f, p) in zip(sizes[:-1], sizes[1:], layers, strict=True)
        )
    )
    return Model(network, classes=("a", "b", "c"))


def _formulas(book) -> list[str]:
    return [f.body for sheet in book.sheets for f in sheet.each_formula()]


def _texts(book) -> list[str]:
    return [t.text for sheet in book.sheets for t in sheet.texts]


@pytest.mark.parametrize("flavor", [PLAIN, ADDIN], ids=["plain", "addin"])
def test_layout_carries_the_parameters(flavor):
    book = export_sheets.layout(_model(), flavor=flavor, inputs=np.ones((1, 4)), rows=3)
    formulas = "\n".join(_formulas(book))
    texts = _texts(book)
    if flavor.add_in:
        assert "LEAKY_RELU($" in formulas and ",0.20000000298023224)" in formulas
        assert "ELU($" in formulas and ",0.5)" in formulas
        assert '"leaky_relu",0.20000000298023224)' in formulas  # DENSE, batch
        assert '"elu",0.5)' in formulas and '"gelu_tanh")' in formulas
    else:
        assert ",0.20000000298023224*$" in formulas
        assert ",0.5*(EXP(IF(" in formulas
    assert "leaky_relu (alpha 0.2)" in texts and "elu (alpha 0.5)" in texts
    assert any("scales the rest by 0.2" in text for text in texts)
    assert any("towards -0.5" in text for text in texts)
    assert any("z1 = leaky_relu(a1, alpha=0.2)" in text for text in texts)


@pytest.mark.parametrize("flavor", [PLAIN, ADDIN], ids=["plain", "addin"])
def test_layout_without_parameters_writes_todays_text(flavor):
    network = Network(
        (
            Dense(np.eye(2), [0.0, 1.0], "leaky_relu"),
            Dense(np.eye(2), [1.0, 0.0], "elu"),
        )
    )
    book = export_sheets.layout(
        Model(network, output="values"), flavor=flavor, inputs=np.ones((1, 2)), rows=1
    )
    formulas = _formulas(book)
    if flavor.add_in:
        assert any(f.startswith("LEAKY_RELU(") and "," not in f for f in formulas)
        assert any(f.endswith(',W_1,b_1,"leaky_relu"))') for f in formulas)
    else:
        assert any(",0.01*$" in f for f in formulas)
        assert any("EXP(IF(" in f and "*(EXP" not in f for f in formulas)
    texts = _texts(book)
    assert "leaky_relu" in texts and "elu" in texts  # the about sheet's table
    assert any("z1 = leaky_relu(a1): " in text for text in texts)


def _xml(path) -> str:
    with zipfile.ZipFile(path) as archive:
        return "".join(archive.read(name).decode() for name in archive.namelist())


@pytest.mark.engine
def test_export_with_parameters_is_verified_in_both_flavors(soffice, tmp_path):
    result = export.to_workbook(
        _model(),
        tmp_path / "m.xlsx",
        flavor="both",
        exported_at=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
    )
    assert len(result.workbooks) == 2
    for workbook in result.workbooks:
        assert workbook.agreement.verified, workbook.status
    assert not result.failed and not result.unverified
    plain, addin = (_xml(workbook.path) for workbook in result.workbooks)
    assert "0.20000000298023224*" in plain and "0.5*(EXP(" in plain
    assert "LEAKY_RELU(" in addin and ",0.20000000298023224)" in addin
    assert "leaky_relu&quot;,0.20000000298023224)" in addin or (
        'leaky_relu",0.20000000298023224)' in addin
    )


# --- the plain formulas at the ends of float64, in both engines ------------------

_ENDS = [-1e308, -6e102, -30.0, -5.0, -0.5, 0.0, 0.5, 5.0, 30.0, 6e102, 1e308]
_PLAIN_CASES = [("gelu_tanh", None), ("elu", 0.5), ("leaky_relu", ALPHA)]


def _ends_workbook(path):
    """Column A: the inputs; then one column per case of its plain formula."""
    book = openpyxl.Workbook()
    sheet = book.active
    for i, x in enumerate(_ENDS, start=1):
        sheet.cell(i, 1, x)
        for j, (name, parameter) in enumerate(_PLAIN_CASES, start=2):
            body = PLAIN.activation(catalog.get(name), f"A{i}", parameter)
            sheet.cell(i, j, f"={body}")
    book.save(path)
    return path


def _check_ends(values: dict) -> None:
    (cells_by_ref,) = values.values()
    for j, (name, parameter) in enumerate(_PLAIN_CASES, start=2):
        function = catalog.get(name).function
        x = np.array(_ENDS)
        expected = function(x) if parameter is None else function(x, parameter)
        column = openpyxl.utils.get_column_letter(j)
        got = [cells_by_ref[f"{column}{i}"] for i in range(1, len(_ENDS) + 1)]
        # Numbers, not errors (#NUM! from an overflow) or text; LibreOffice
        # stores 15 significant digits, and 0 as an int.
        assert all(type(value) in (int, float) for value in got), (name, got)
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=0, err_msg=name)


@pytest.mark.engine
def test_plain_formulas_at_the_ends_in_libreoffice(soffice, tmp_path):
    workbook = _ends_workbook(tmp_path / "ends.xlsx")
    _check_ends(LibreOffice().recalculate([workbook])[workbook])


@pytest.mark.engine
def test_plain_formulas_at_the_ends_in_formulas(tmp_path):
    _check_ends(formulas_engine.evaluate(_ends_workbook(tmp_path / "ends.xlsx")))
