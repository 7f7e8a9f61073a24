"""xlnn export: a Model as a workbook that runs it, verified against its framework.

Models are built here directly (no readers): a Network, preprocessing, labels
and a ``reference`` callable standing in for the framework. The command line
is tested against a stand-in ``xlnn.export.sources`` (the real readers are merged
separately) that reads ``W1, b1, ...`` from an ``.npz``.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from xlnn import cli, export
from xlnn.engines import verify
from xlnn.engines.libreoffice import LibreOffice
from xlnn.export.sources import SourceError
from xlnn.export.sources.onnx_source import UnsupportedModel
from xlnn.model import Affine, Model, Normalize, Source
from xlnn.network import Dense, Network
from xlnn.sheets.flavors import ADDIN, PLAIN

FIXED = dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.timezone.utc)


def _network(sizes, activations, seed=7) -> Network:
    rng = np.random.default_rng(seed)
    return Network(
        tuple(
            Dense(rng.normal(size=(n_in, n_out)), rng.normal(size=n_out), f)
            for n_in, n_out, f in zip(sizes[:-1], sizes[1:], activations, strict=True)
        )
    )


def classifier(**options) -> Model:
    """A 3-4-3 classifier with a scaler, as scikit-learn's Pipeline would give."""
    network = _network([3, 4, 3], ["relu", "softmax"])
    model = Model(
        network,
        preprocessing=(Affine([1.0, 2.0, 3.0], [0.5, 2.0, 1.0], "StandardScaler"),),
        classes=("cat", "dog", "emu"),
        feature_names=("length", "width", "height"),
        source=Source("zoo.onnx", "ONNX", "ab" * 32),
        **options,
    )
    return model


def binary() -> Model:
    network = _network([4, 3, 1], ["tanh", "sigmoid"], seed=3)
    return Model(
        network, preprocessing=(Normalize("l2"),), output="binary", classes=(0, 1)
    )


def regressor() -> Model:
    network = _network([2, 5, 2], ["elu", "identity"], seed=5)
    return Model(network, output="values", output_names=("price", "rent"))


def _xml(path) -> str:
    """Every part of an xlsx file as text, to look for what a cell says."""
    with zipfile.ZipFile(path) as archive:
        return "".join(archive.read(name).decode() for name in archive.namelist())


def _export(model, path, **options):
    options.setdefault("exported_at", FIXED)
    return export.to_workbook(model, path, **options)


# --- the layout (no engine) ---------------------------------------------------------

#: Functions of Excel 2010 that LibreOffice also has, as the plain flavor may use.
EXCEL_2010 = {
    "IF",
    "EXP",
    "ABS",
    "MAX",
    "SUM",
    "MMULT",
    "COUNTA",
    "INDEX",
    "MATCH",
    "TANH",
    "LN",
    "ERFC",
    "SQRT",
    "SUMSQ",
    "SUMPRODUCT",
}


def _bodies(book, sheet):
    return [f.body for s in book.sheets if s.title == sheet for f in s.each_formula()]


def test_plain_uses_only_excel_2010_functions():
    model = classifier()
    book = export.layout(model, flavor=PLAIN, inputs=np.ones((2, 3)), rows=5)
    used = {
        name
        for s in book.sheets
        for f in s.each_formula()
        for name in re.findall(r"([A-Z][A-Z0-9_.]*)\(", f.body)
    }
    assert used <= EXCEL_2010, used - EXCEL_2010


def test_batch_formulas_are_guarded_row_by_row():
    book = export.layout(classifier(), flavor=PLAIN, inputs=np.ones((2, 3)), rows=4)
    count = book.find("batch", "n")
    for body in _bodies(book, "batch"):
        if body.startswith("COUNTA"):
            continue
        # each formula asks its own row's count: an error stays in its row
        match = re.match(r'IF\(\$B\$(\d+)=0,"",', body)
        assert match, body
        assert count.row <= int(match[1]) <= count.last_row


def test_sheets_names_and_labels():
    book = export.layout(
        classifier(), flavor=PLAIN, inputs=np.ones((2, 3)), rows=4, exported_at=FIXED
    )
    assert book.sheet_titles == ["predict", "batch", "weights", "about"]
    assert set(book.names) == {"offset_1", "scale_1", "W_1", "b_1", "W_2", "b_2"}
    predict = next(s for s in book.sheets if s.title == "predict")
    headers = {t.text for t in predict.texts if t.style == "header"}
    assert {"length", "width", "height", "cat", "dog", "emu"} <= headers
    assert any("INDEX(" in f.body and "MATCH(MAX(" in f.body for f in predict.formulas)
    assert predict.charts and predict.charts[0].kind == "bar"
    about = " ".join(t.text for s in book.sheets if s.title == "about" for t in s.texts)
    assert "zoo.onnx" in about and "ab" * 32 in about and "2024-01-01T12:00:00" in about


def test_image_grid_feeds_the_input_row():
    model = Model(_network([6, 2], ["softmax"]), classes=("a", "b"))
    book = export.layout(
        model, flavor=PLAIN, inputs=np.arange(6.0)[None], rows=3, image=(2, 3)
    )
    grid, x = book.find("predict", "image"), book.find("predict", "x")
    assert grid.shape == (2, 3)
    bodies = {
        f.block.col: f.body
        for s in book.sheets
        if s.title == "predict"
        for f in s.each_formula()
        if f.block.row == x.row
    }
    assert bodies[x.col + 4] == grid.address(1, 1)  # pixel 4 is row 1, column 1
    with pytest.raises(export.ExportError, match="2x2 has 4 pixels"):
        export.layout(model, flavor=PLAIN, inputs=np.ones((1, 6)), image=(2, 2))


def test_add_in_flavor_calls_xlnn_functions():
    book = export.layout(classifier(), flavor=ADDIN, inputs=np.ones((1, 3)), rows=2)
    bodies = " ".join(_bodies(book, "batch"))
    # One DENSE call per layer and row, naming the layer's activation.
    assert '"relu")' in bodies and '"softmax")' in bodies
    assert bodies.count("DENSE(") == 2 * 2 and "EXP(" not in bodies


def test_outputs_expect_float64_and_carry_the_framework():
    shifted = classifier(reference=lambda x: np.full((len(x), 3), 1 / 3))
    book = export.layout(shifted, flavor=PLAIN, inputs=np.ones((2, 3)), rows=3)
    outputs = [c for c in book.checks if c.name == "output"]
    assert outputs
    exact = shifted.predict(np.ones((1, 3)))[0]
    assert not np.allclose(exact, 1 / 3)  # so the two sides can be told apart
    for check in outputs:
        for expected, framework in zip(
            check.expected.ravel(), check.framework.ravel(), strict=True
        ):
            assert expected == framework == "" or (
                framework == pytest.approx(1 / 3)
                and expected in [pytest.approx(v, rel=1e-15) for v in exact]
            )


def _as_recalculated(book) -> dict:
    """The values a perfect engine would give: every check's expected value."""
    values = {}
    for check in book.checks:
        sheet = values.setdefault(check.block.sheet, {})
        for i in range(check.block.rows):
            for j in range(check.block.cols):
                value = check.expected[i, j]
                if isinstance(value, export.Label):
                    value = value.text
                sheet[check.block.address(i, j)] = None if value == "" else value
    return values


def test_compare_catches_a_changed_output_and_label():
    model = classifier()
    book = export.layout(model, flavor=PLAIN, inputs=np.ones((2, 3)), rows=3)
    values = _as_recalculated(book)
    assert not export.compare(book.checks, values).failed
    output = book.find("batch", "outputs")
    good = values["batch"][output.address(0, 0)]
    # The filled rows' check starts at the block's first cell.
    check = next(c for c in book.checks if c.block.cell() == output.cell())
    allowed = verify.RELATIVE_TOLERANCE * max(abs(good), check.scale[0, 0])
    values["batch"][output.address(0, 0)] = good + 0.5 * allowed
    assert not export.compare(book.checks, values).failed
    values["batch"][output.address(0, 0)] = good + 2 * allowed
    assert export.compare(book.checks, values).failed
    values["batch"][output.address(0, 0)] = good
    label = book.find("batch", "label")
    values["batch"][label.address(0, 0)] = "emu?"
    agreement = export.compare(book.checks, values)
    assert agreement.failed and agreement.labels_agree == agreement.labels - 1
    values["batch"][label.address(0, 0)] = None
    values["batch"][label.address(2, 0)] = "cat"  # an empty row must stay empty
    assert export.compare(book.checks, values).failed


def test_reproducible_and_no_overwrite(tmp_path):
    first, second = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    _export(classifier(), first, verify=False)
    _export(classifier(), second, verify=False)
    assert first.read_bytes() == second.read_bytes()
    with pytest.raises(export.ExportError, match="already exists"):
        _export(regressor(), first, verify=False)
    assert first.read_bytes() == second.read_bytes()
    _export(regressor(), first, verify=False, force=True)
    assert first.read_bytes() != second.read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_both_flavors_are_two_files(tmp_path):
    result = _export(regressor(), tmp_path / "r.xlsx", flavor="both", verify=False)
    assert [w.path.name for w in result.workbooks] == ["r_plain.xlsx", "r_addin.xlsx"]
    assert all(w.path.is_file() for w in result.workbooks)


def test_verification_text_lands_in_the_about_sheet(tmp_path):
    path = tmp_path / "m.xlsx"
    _export(classifier(), path, verify=False)
    strings = _xml(path)
    assert export.PENDING not in strings and "not verified" in strings


def test_random_inputs_are_seeded_and_in_range():
    model = classifier()
    first = export.random_inputs(model, 50)
    assert np.array_equal(first, export.random_inputs(model, 50))
    # N(0, 1) after the scaler: the raw means sit near the scaler's offset
    assert np.allclose(first.mean(axis=0), [1.0, 2.0, 3.0], atol=0.6)
    pixels = export.random_inputs(model, 5, image=(1, 3))
    assert pixels.min() >= 0 and pixels.max() <= 255 and np.all(pixels % 1 == 0)


def test_read_inputs(tmp_path):
    csv = tmp_path / "in.csv"
    csv.write_text("a,b,c\n1,2,3\n\n4, 5 ,6\n")
    assert export.read_inputs(csv, 3).tolist() == [[1, 2, 3], [4, 5, 6]]
    csv.write_text("1,2,3\n4,x,6\n")
    with pytest.raises(export.ExportError, match="line 2"):
        export.read_inputs(csv, 3)
    csv.write_text("1,2\n")
    with pytest.raises(export.ExportError, match="the model takes 3"):
        export.read_inputs(csv, 3)


@pytest.mark.parametrize("text", ["28", "0x3", "axb", "3x"])
def test_parse_image_refuses(text):
    with pytest.raises(ValueError, match="HxW"):
        export.parse_image(text)


def test_too_many_sample_inputs(tmp_path):
    with pytest.raises(export.ExportError, match="pass more rows"):
        _export(
            classifier(), tmp_path / "m.xlsx", rows=2, sample_inputs=np.ones((3, 3))
        )
    assert not (tmp_path / "m.xlsx").exists()


# --- the command line, with a stand-in for xlnn.export.sources ---------------------


def _stand_in_read(path, *, activations=None):
    path = Path(path)
    if path.suffix == ".onnx":
        raise UnsupportedModel("node 'n3' uses op LSTM, which xlnn cannot export")
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    with np.load(path) as data:
        count = len([k for k in data.files if k.startswith("W")])
        layers = tuple(
            Dense(data[f"W{k}"], data[f"b{k}"], activations[k - 1])
            for k in range(1, count + 1)
        )
    return Model(
        Network(layers), classes=("no", "yes"), source=Source(str(path), "npz", "")
    )


@pytest.fixture
def sources(monkeypatch):
    module = types.ModuleType("xlnn.export.sources")
    module.SourceError = SourceError
    module.read = _stand_in_read
    monkeypatch.setitem(sys.modules, "xlnn.export.sources", module)
    return module


@pytest.fixture
def npz(tmp_path):
    network = _network([3, 4, 2], ["sigmoid", "softmax"])
    path = tmp_path / "net.npz"
    arrays = {}
    for k, layer in enumerate(network.layers, start=1):
        arrays[f"W{k}"], arrays[f"b{k}"] = layer.weights, layer.bias
    np.savez(path, **arrays)
    return path


def test_cli_refuses_unreadable_models(sources, tmp_path, capsys):
    out = tmp_path / "x.xlsx"
    assert cli.main(["export", str(tmp_path / "m.onnx"), "--out", str(out)]) == 2
    assert "op LSTM" in capsys.readouterr().err
    assert cli.main(["export", str(tmp_path / "none.npz"), "--out", str(out)]) == 2
    assert "no such file" in capsys.readouterr().err
    assert not out.exists()


def test_cli_refuses_bad_options_and_existing_files(sources, npz, tmp_path, capsys):
    out = tmp_path / "x.xlsx"
    base = ["export", str(npz), "--activations", "sigmoid,softmax", "--out", str(out)]
    assert cli.main([*base, "--image", "3"]) == 2
    assert "HxW" in capsys.readouterr().err
    assert cli.main([*base, "--image", "2x2"]) == 2
    assert "4 pixels" in capsys.readouterr().err
    out.write_bytes(b"mine")
    assert cli.main(base) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == b"mine"


class _MissingEngine:
    name = "LibreOffice"
    in_process = False

    def missing(self):
        return "LibreOffice (soffice) was not found"


def test_cli_missing_engine_is_not_verified(sources, npz, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "_engine", lambda flavor, timeout: _MissingEngine())
    base = ["export", str(npz), "--activations", "sigmoid,softmax"]
    assert cli.main([*base, "--out", str(tmp_path / "a.xlsx")]) == 0
    assert cli.main([*base, "--out", str(tmp_path / "b.xlsx"), "--strict"]) == 1
    strings = _xml(tmp_path / "a.xlsx")
    assert "not verified: LibreOffice (soffice) was not found" in strings


# --- recalculated by the engines ---------------------------------------------


def _defined(path: Path, name: str):
    book = openpyxl.load_workbook(path)
    sheet, ref = next(book.defined_names[name].destinations)
    return book, book[sheet][ref.replace("$", "").split(":")[0]]


def _alter_first_weight(path: Path) -> None:
    book, cell = _defined(path, "W_1")
    cell.value = cell.value + 1e-6
    book.save(path)


@pytest.mark.engine
@pytest.mark.parametrize("model", [classifier, binary, regressor])
def test_plain_export_verified_by_libreoffice(soffice, tmp_path, model):
    result = _export(model(), tmp_path / "m.xlsx")
    (workbook,) = result.workbooks
    assert workbook.agreement.verified and not result.failed, workbook.status
    assert workbook.agreement.outputs.cells > 0
    if model().is_classifier:
        assert workbook.agreement.labels == export.DEFAULT_SAMPLES + 1
    strings = _xml(workbook.path)
    assert "verified by LibreOffice: " in strings
    assert "against float64: worst " in strings
    assert "against the framework (float64): worst " in strings


@pytest.mark.engine
@pytest.mark.parametrize("flavor", ["plain", "addin"])
def test_an_altered_weight_is_caught(soffice, tmp_path, flavor):
    result = _export(classifier(), tmp_path / "m.xlsx", flavor=flavor, verify=False)
    (workbook,) = result.workbooks
    _alter_first_weight(workbook.path)
    agreement = export.check_workbook(
        workbook.path, workbook.checks, flavor=export.FLAVORS[flavor]
    )
    assert agreement.verified and agreement.failed
    assert "differ" in agreement.summary()


@pytest.mark.engine
def test_a_framework_that_disagrees_fails(soffice, tmp_path):
    def framework(x):
        return classifier().predict(x) * (1 + 1e-7)

    result = _export(
        classifier(reference=framework), tmp_path / "m.xlsx", flavor="addin"
    )
    assert result.failed
    assert "FAILED" in result.workbooks[0].status


@pytest.mark.engine
def test_add_in_export_with_image_verified_by_formulas(tmp_path):
    model = Model(_network([6, 3, 2], ["relu", "softmax"]), classes=("a", "b"))
    result = _export(model, tmp_path / "m.xlsx", flavor="addin", rows=4, image=(2, 3))
    assert not result.failed and not result.unverified, result.workbooks[0].status


@pytest.mark.engine
def test_a_bad_cell_errs_in_its_own_row_only(soffice, tmp_path):
    model = classifier()
    result = _export(
        model,
        tmp_path / "m.xlsx",
        rows=6,
        verify=False,
        sample_inputs=export.random_inputs(model, 4),
    )
    path = result.workbooks[0].path
    book = openpyxl.load_workbook(path)
    batch = book["batch"]
    checks = result.workbooks[0].checks
    x = next(
        c.block for c in checks if c.block.sheet == "batch" and c.block.col == 2
    ).row
    first_x_col = 10  # J: n, gap, label, gap, 3 outputs, gap, then X
    batch.cell(x + 1, first_x_col).value = "abc"
    book.save(path)
    values = LibreOffice().recalculate([path])[path]["batch"]
    labels = [values.get(f"D{x + i}") for i in range(6)]
    assert labels[0] in ("cat", "dog", "emu") and labels[2] in ("cat", "dog", "emu")
    assert str(labels[1]).startswith("#")
    assert labels[4] is None or labels[4] == ""
    probability = [values.get(f"F{x + i}") for i in range(6)]
    assert isinstance(probability[3], float) and str(probability[1]).startswith("#")


@pytest.mark.engine
def test_cli_end_to_end(soffice, sources, npz, tmp_path, capsys):
    csv = tmp_path / "in.csv"
    csv.write_text("a,b,c\n0.5,1,-1\n2,0,0\n")
    out = tmp_path / "net.xlsx"
    code = cli.main(
        [
            "export",
            str(npz),
            "--activations",
            "sigmoid,softmax",
            "--sample-inputs",
            str(csv),
            "--rows",
            "5",
            "--out",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured
    assert "against float64: worst " in captured.out
    assert "predicted labels agree 3/3" in captured.out  # 2 rows + predict
    assert out.is_file()


def test_outputs_are_held_to_the_models_reference_tolerance():
    exact = classifier()
    # A framework off by a float32-sized 1e-7 from the float64 evaluation.
    model = classifier(reference=lambda x: exact.predict(x) * (1 + 1e-7))
    book = export.layout(model, flavor=PLAIN, inputs=np.ones((2, 3)), rows=3)
    values = _as_recalculated(book)  # what float64 gives
    strict = export.compare(book.checks, values)
    assert strict.failed and strict.outputs.mismatches and not strict.cells.mismatches
    relaxed = export.compare(book.checks, values, reference_tolerance=1e-5)
    assert not relaxed.failed
