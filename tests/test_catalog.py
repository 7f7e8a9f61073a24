"""xlnn.functions.catalog: the one table of activations, and everything derived from it.

The Excel functions (xlnn.udfs), the formula flavors (xlnn.sheets.flavors), the
network description (xlnn.network) and the layouts read this table. The last
tests hold the table to its promise: adding an activation means adding its
NumPy function and one entry, nothing else.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import re

import numpy as np
import pytest
import xlwings
import xlwings.server
from excel_calls import call

from xlnn import activations, udfs
from xlnn.functions import catalog
from xlnn.network import Dense, Network
from xlnn.sheets.flavors import ADDIN, PLAIN
from xlnn.sheets.layout import BookLayout
from xlnn.sheets.network_layout import single_sample

ENTRIES = [pytest.param(entry, id=entry.name) for entry in catalog.TABLE]
REF = "$B$3:$D$4"

# Built-in functions that Excel, LibreOffice and the `formulas` package all know;
# plain formulas may use nothing else (SQRT is GELU's, ERFC its normal CDF, PI
# GELU_TANH's).
BUILT_INS = {"EXP", "ABS", "IF", "MAX", "SUM", "TANH", "LN", "ERFC", "SQRT", "PI"}


def function_names(formula: str) -> set[str]:
    return set(re.findall(r"([A-Z][A-Z0-9_.]*)\(", formula))


# --- The table and the NumPy module ---------------------------------------------------


def own_names() -> list[str]:
    """``activations.__all__`` without the book's second names (step_function)."""
    return [n for n in activations.__all__ if getattr(activations, n).__name__ == n]


def test_every_public_activation_has_exactly_one_entry():
    names = [entry.name for entry in catalog.TABLE]
    assert sorted(names) == sorted(own_names())
    assert len(names) == len(own_names())
    assert len(own_names()) < len(activations.__all__)  # the book's names are there


def test_all_lists_every_public_function_of_activations():
    public = {
        name
        for name, value in vars(activations).items()
        if inspect.isfunction(value)
        and value.__module__ == activations.__name__
        and not name.startswith("_")
    }
    assert public == set(activations.__all__)


@pytest.mark.parametrize("entry", ENTRIES)
def test_entry_computes_with_the_numpy_function_of_its_name(entry):
    assert entry.function is getattr(activations, entry.name)


@pytest.mark.parametrize("attribute", ["name", "excel_name", "python_name"])
def test_names_are_unique(attribute):
    values = [getattr(entry, attribute) for entry in catalog.TABLE]
    assert len(set(values)) == len(values)
    assert len({value.upper() for value in values}) == len(values)  # Excel ignores case


@pytest.mark.parametrize("entry", ENTRIES)
def test_entry_is_described(entry):
    assert entry.excel_name == entry.excel_name.upper()
    assert entry.python_name.isidentifier()
    assert entry.help.strip() and "\n" not in entry.help
    assert entry.caption.strip()


def test_activations_maps_every_name_to_its_entry():
    assert list(catalog.ACTIVATIONS) == [entry.name for entry in catalog.TABLE]
    for entry in catalog.TABLE:
        assert catalog.get(entry.name) is entry


@pytest.mark.parametrize("unknown", ["swish", "Sigmoid", "SIGMOID", ""])
def test_get_of_an_unknown_name_lists_the_known_ones(unknown):
    with pytest.raises(ValueError) as info:
        catalog.get(unknown)
    message = str(info.value)
    assert repr(unknown) in message
    for name in catalog.ACTIVATIONS:
        assert name in message


def test_gallery_is_the_drawn_entries_in_table_order():
    drawn = [entry for entry in catalog.TABLE if entry.gallery]
    assert catalog.gallery() == drawn
    assert {"softmax", "log_softmax"}.isdisjoint(e.name for e in catalog.gallery())


WITH_PARAMETER = [entry for entry in catalog.TABLE if entry.parameter is not None]


def test_leaky_relu_and_elu_have_the_parameters():
    assert [entry.name for entry in WITH_PARAMETER] == ["leaky_relu", "elu"]
    assert [entry.parameter.name for entry in WITH_PARAMETER] == ["alpha", "alpha"]


@pytest.mark.parametrize("entry", WITH_PARAMETER, ids=lambda entry: entry.name)
def test_a_parameters_default_is_the_numpy_functions(entry):
    signature = inspect.signature(entry.function)
    assert signature.parameters[entry.parameter.name].default == entry.parameter.default
    # Without a parameter the formula is the default's.
    assert entry.formula("A1") == entry.formula("A1", entry.parameter.default)


@pytest.mark.parametrize("entry", WITH_PARAMETER, ids=lambda entry: entry.name)
def test_the_formula_carries_the_parameter_exactly(entry):
    alpha = float(np.float32(0.2))  # what the ONNX reader passes for 0.2
    assert "0.20000000298023224*" in entry.formula("A1", alpha)
    assert entry.formula("A1", alpha) != entry.formula("A1")


@pytest.mark.parametrize(
    ("name", "default_text"),
    [
        # The formulas of the committed sample workbooks (before alpha existed).
        ("leaky_relu", "IF(A1>0,A1,0.01*A1)"),
        ("elu", "IF(A1>0,A1,EXP(IF(A1>0,0,A1))-1)"),
    ],
)
def test_the_default_formula_text_is_unchanged(name, default_text):
    assert catalog.get(name).formula("A1") == default_text
    assert PLAIN.activation(catalog.get(name), "A1") == default_text
    assert ADDIN.activation(catalog.get(name), "A1") == f"{name.upper()}(A1)"


@pytest.mark.parametrize(
    ("name", "alpha", "plain", "addin"),
    [
        ("leaky_relu", 0.2, "IF(A1>0,A1,0.2*A1)", "LEAKY_RELU(A1,0.2)"),
        ("elu", 0.5, "IF(A1>0,A1,0.5*(EXP(IF(A1>0,0,A1))-1))", "ELU(A1,0.5)"),
        (
            "elu",
            -2.5e-7,
            "IF(A1>0,A1,-2.5E-07*(EXP(IF(A1>0,0,A1))-1))",
            "ELU(A1,-2.5E-07)",
        ),
    ],
)
def test_both_flavors_write_the_parameter(name, alpha, plain, addin):
    assert PLAIN.activation(catalog.get(name), "A1", alpha) == plain
    assert ADDIN.activation(catalog.get(name), "A1", alpha) == addin


@pytest.mark.parametrize("value", [0.1, 1 / 3, float(np.float32(0.2)), 1e-300, -7e22])
def test_formula_number_reads_back_as_the_same_float(value):
    assert float(catalog.formula_number(value)) == value


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_formula_number_refuses_what_no_cell_holds(value):
    with pytest.raises(ValueError, match="cannot hold"):
        catalog.formula_number(value)


@pytest.mark.parametrize("flavor", [PLAIN, ADDIN], ids=["plain", "addin"])
def test_a_parameter_for_an_activation_without_one_is_refused(flavor):
    with pytest.raises(ValueError, match="relu takes no parameter"):
        flavor.activation(catalog.get("relu"), "A1", 0.2)


def test_captions_and_labels_show_the_layers_alpha():
    leaky, elu = catalog.get("leaky_relu"), catalog.get("elu")
    assert leaky.describe() == (
        "leaky ReLU keeps positive sums and scales the rest by 0.01"
    )
    assert leaky.describe(float(np.float32(0.2))).endswith("scales the rest by 0.2")
    assert elu.describe() == "ELU keeps positive sums and bends the rest towards -1"
    assert elu.describe(0.5).endswith("towards -0.5")
    assert elu.label() == "elu" and elu.label(0.5) == "elu (alpha 0.5)"


def test_python_name_defaults_to_the_name():
    entry = catalog.Activation(
        name="cube",
        function=np.negative,
        excel_name="CUBE",
        help="h",
        caption="c",
        plain=str,
    )
    assert entry.python_name == "cube"
    assert catalog.get("step").python_name == "step_function"  # Step is VBA's


# --- udfs: one registered adapter per entry -------------------------------------------


@pytest.mark.parametrize("entry", ENTRIES)
def test_entry_is_registered_under_its_python_and_excel_names(entry):
    adapter = getattr(udfs, entry.python_name)
    assert adapter.__name__ == entry.python_name
    assert adapter.excel_name == entry.excel_name
    assert adapter.__xlfunc__["excel_name"] == entry.excel_name
    assert udfs.by_excel_name()[entry.excel_name] is adapter
    assert entry.python_name in udfs.__all__


def test_udfs_registers_the_table_in_order_then_dense_the_losses_and_nothing_else():
    assert [f.excel_name for f in udfs.FUNCTIONS] == [
        *(entry.excel_name for entry in catalog.TABLE),
        "DENSE",
        *(loss.excel_name for loss in catalog.LOSS_TABLE),
    ]
    registered = {
        name for name, value in vars(udfs).items() if hasattr(value, "__xlfunc__")
    }
    assert registered == {entry.python_name for entry in catalog.TABLE} | {
        "dense",
        *(loss.python_name for loss in catalog.LOSS_TABLE),
    }


@pytest.mark.parametrize("entry", ENTRIES)
def test_adapter_help_is_the_tables(entry):
    adapter = getattr(udfs, entry.python_name)
    assert inspect.getdoc(adapter).splitlines()[0] == entry.help


@pytest.mark.parametrize("entry", ENTRIES)
def test_adapter_signature_names_the_tables_parameter(entry):
    parameters = list(inspect.signature(getattr(udfs, entry.python_name)).parameters)
    if entry.grouped:
        assert parameters == ["x", "direction"]
    elif entry.parameter is not None:
        assert parameters == ["x", entry.parameter.name]
        assert set(getattr(udfs, entry.python_name).arg_help) == {
            "x",
            entry.parameter.name,
        }
    else:
        assert parameters == ["x"]


@pytest.mark.parametrize("excel_name", ["LEAKY_RELU", "ELU"])
def test_leaky_relu_and_elu_show_alpha_in_excel(excel_name):
    meta = xlwings.server.custom_functions_meta(udfs)
    function = next(f for f in meta["functions"] if f["name"] == excel_name)
    assert [p["name"] for p in function["parameters"]] == ["x", "alpha"]
    assert function["parameters"][1]["optional"] is True


def test_dense_shows_its_optional_parameter_in_excel():
    meta = xlwings.server.custom_functions_meta(udfs)
    dense = next(f for f in meta["functions"] if f["name"] == "DENSE")
    names = [p["name"] for p in dense["parameters"]]
    assert names == ["x", "W", "b", "activation", "parameter"]
    assert [p.get("optional", False) for p in dense["parameters"]][3:] == [True, True]


# --- flavors: formula text from the table ---------------------------------------------


@pytest.mark.parametrize("entry", ENTRIES)
def test_addin_flavor_calls_the_excel_function(entry):
    assert ADDIN.activation(entry, REF) == f"{entry.excel_name}({REF})"


def _plain(entry, *parameter):
    if entry.parameter is None:
        return entry.plain(REF)
    value = parameter[0] if parameter else entry.parameter.default
    return entry.plain(REF, catalog.formula_number(value))


@pytest.mark.parametrize("entry", ENTRIES)
def test_plain_flavor_writes_the_tables_text(entry):
    body = PLAIN.activation(entry, REF)
    assert body == _plain(entry)
    assert REF in body


@pytest.mark.parametrize("entry", ENTRIES)
def test_plain_text_uses_built_in_functions_only(entry):
    assert function_names(_plain(entry)) <= BUILT_INS
    if entry.parameter is not None:
        assert function_names(_plain(entry, 0.3)) <= BUILT_INS


@pytest.mark.parametrize("entry", ENTRIES)
def test_only_grouped_activations_need_a_formula_per_row_in_plain(entry):
    assert ADDIN.rows_in_one_formula(entry)
    assert PLAIN.rows_in_one_formula(entry) is not entry.grouped


# --- The promise: one entry adds an activation everywhere -----------------------------


def _square(x):
    return np.square(np.asarray(x, dtype=np.float64))


SQUARE = catalog.Activation(
    name="square",
    function=_square,
    excel_name="SQUARE",
    help="Square: x*x for each cell.",
    caption="square multiplies each sum by itself",
    plain=lambda r: f"({r})^2",
)


@contextlib.contextmanager
def added_to_the_table(entry):
    """The table with ``entry`` appended, and udfs rebuilt from it; then undone.

    udfs is restored from a copy of its namespace rather than reloaded again:
    a second reload would make new function objects, and other test modules
    hold (and compare by identity) the ones made at their import.
    """
    saved = dict(vars(udfs))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(catalog, "TABLE", (*catalog.TABLE, entry))
        patch.setattr(
            catalog, "ACTIVATIONS", {**catalog.ACTIVATIONS, entry.name: entry}
        )
        try:
            importlib.reload(udfs)
            yield entry
        finally:
            namespace = vars(udfs)
            namespace.clear()
            namespace.update(saved)


@pytest.fixture
def square():
    with added_to_the_table(SQUARE) as entry:
        yield entry


def test_new_entry_is_an_excel_function(square):
    adapter = udfs.by_excel_name()["SQUARE"]
    assert adapter is udfs.square and "square" in udfs.__all__
    assert inspect.getdoc(adapter) == square.help
    assert list(inspect.signature(adapter).parameters) == ["x"]


def test_new_entry_is_callable_through_office_js(square):
    na = {"type": "Error", "basicValue": "#N/A", "errorType": "NotAvailable"}
    result = call(udfs.square, [[1.5, -2.0, ""], [na, 0.0, 3.0]])
    assert result == [
        [2.25, 4.0, ""],
        [{"type": "Error", "errorType": "NotAvailable"}, 0.0, 9.0],
    ]


def test_new_entry_is_listed_in_the_custom_functions_meta(square):
    meta = xlwings.server.custom_functions_meta(udfs)
    entry = next(f for f in meta["functions"] if f["name"] == "SQUARE")
    assert entry["id"] == "SQUARE"
    assert entry["description"] == square.help
    assert [p["name"] for p in entry["parameters"]] == ["x"]


def test_new_entry_is_a_dense_activation(square):
    # x . W + b = [1.5, -2.0], then squared: DENSE takes the new name too.
    result = call(udfs.dense, [[1.0]], [[1.0, -2.0]], [[0.5, 0.0]], "Square")
    assert result == [[2.25, 4.0]]


def test_new_entry_works_in_a_network(square):
    network = Network((Dense([[1.0, -2.0]], [0.5, 0.0], "square"),))
    np.testing.assert_array_equal(network.predict([3.0]), [[12.25, 36.0]])


@pytest.mark.parametrize("flavor", [PLAIN, ADDIN], ids=["plain", "addin"])
def test_new_entry_is_written_by_both_flavors(square, flavor):
    expected = {"plain": "($B$7:$C$7)^2", "addin": "SQUARE($B$7:$C$7)"}[flavor.name]
    assert flavor.activation(square, "$B$7:$C$7") == expected
    book = BookLayout()
    cursor = book.sheet("net").cursor()
    x = cursor.inputs([[3.0]], "0.0")
    network = Network((Dense([[1.0, -2.0]], [0.5, 0.0], "square"),))
    placed = single_sample(cursor, network=network, flavor=flavor, x=x, x_values=[3.0])
    z = placed.output
    formula = next(f for f in book.sheets[0].formulas if f.block == z)
    assert formula.body == flavor.activation(square, placed.layers[0].a.ref)
    assert any(square.caption in text.text for text in book.sheets[0].texts)


def test_adding_an_entry_is_undone_afterwards():
    before = dict(vars(udfs))
    with added_to_the_table(SQUARE):
        assert "SQUARE" in udfs.by_excel_name()
    assert "square" not in catalog.ACTIVATIONS and SQUARE not in catalog.TABLE
    assert dict(vars(udfs)) == before
    names = {f["name"] for f in xlwings.server.custom_functions_meta(udfs)["functions"]}
    assert names == {entry.excel_name for entry in catalog.TABLE} | {"DENSE"} | {
        loss.excel_name for loss in catalog.LOSS_TABLE
    }


# --- The same promise for the loss table ------------------------------------------


def _mean_absolute_error(y, t):
    return np.float64(np.mean(np.sum(np.abs(np.subtract(y, t)), axis=-1)))


MAE = catalog.Loss(
    name="mean_absolute_error",
    function=_mean_absolute_error,
    excel_name="MEAN_ABSOLUTE_ERROR",
    help="Mean absolute error: SUM(ABS(y-t)) per sample, averaged over the rows.",
    plain=lambda y, t: f"SUMPRODUCT(ABS({y}-{t}))/ROWS({y})",
)


@pytest.fixture
def mae():
    saved = dict(vars(udfs))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(catalog, "LOSS_TABLE", (*catalog.LOSS_TABLE, MAE))
        try:
            importlib.reload(udfs)
            yield MAE
        finally:
            namespace = vars(udfs)
            namespace.clear()
            namespace.update(saved)


def test_a_new_loss_entry_is_an_excel_function_with_its_help(mae):
    adapter = udfs.by_excel_name()["MEAN_ABSOLUTE_ERROR"]
    assert adapter is udfs.mean_absolute_error and adapter in udfs.FUNCTIONS
    assert inspect.getdoc(adapter) == mae.help
    assert call(adapter, [[1.0, 2.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 1.0]]) == [[2.0]]
    meta = xlwings.server.custom_functions_meta(udfs)
    entry = next(f for f in meta["functions"] if f["name"] == "MEAN_ABSOLUTE_ERROR")
    assert entry["description"] == mae.help
    assert [p["name"] for p in entry["parameters"]] == ["y", "t"]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("mean_squared_error", "SUMXMY2(A1:C2,E1:G2)/2/ROWS(A1:C2)"),
        ("cross_entropy_error", "-SUMPRODUCT(E1:G2,LN(A1:C2+1E-07))/ROWS(A1:C2)"),
    ],
)
def test_loss_formulas_use_excel_2010_functions(name, expected):
    formula = catalog.get_loss(name).formula("A1:C2", "E1:G2")
    assert formula == expected
    assert function_names(formula) <= {"SUMXMY2", "SUMPRODUCT", "LN", "ROWS"}
