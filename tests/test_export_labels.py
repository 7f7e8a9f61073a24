"""Issue 12: true labels in (``--sample-labels``), accuracy and a confusion matrix out.

The reader's refusals, numeric classes as numbers in the file, and, with an
engine, the recalculated accuracy, matrix, recall and precision equal to
NumPy's from the framework's predictions, in both flavors.
"""

from __future__ import annotations

import re

import numpy as np
import openpyxl
import pytest
from openpyxl.utils.cell import coordinate_from_string

from xlnn import cli, export
from xlnn.engines.libreoffice import LibreOffice
from xlnn.export import sample_labels
from xlnn.export.sheets import ExportError
from xlnn.model import Model
from xlnn.network import Dense, Network
from xlnn.samples import load_digits_network
from xlnn.sheets.flavors import FLAVORS

#: Excel 2010 functions the summary may use (besides the batch's own).
EXCEL_2010 = {"COUNTIFS", "COUNTIF", "SUM", "IFERROR", "IF", "SUBSTITUTE"}


def _write(tmp_path, text: str | bytes, name="labels.txt"):
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


# --- the reader -------------------------------------------------------------------


def test_numeric_classes_match_by_value_and_text_by_text(tmp_path):
    path = _write(tmp_path, "\ufeff7\n7.0\n\n 0e0 \n3\n")
    assert sample_labels.read(path, [0, 3, 7], 4) == [7, 7, 0, 3]
    path = _write(tmp_path, "cat\n<=50K\n=A1\n")
    assert sample_labels.read(path, ["cat", "<=50K", "=A1"], 3) == [
        "cat",
        "<=50K",
        "=A1",
    ]


@pytest.mark.parametrize(
    ("text", "count", "message"),
    [
        ("cat\ndgo\n", 2, r"labels\.txt, line 2: 'dgo' is not one of the model's"),
        ("7.5\n", 1, r"line 1: '7\.5' is not one of the model's classes \(0, 7\)"),
        ("cat\n", 2, r"1 label for 2 sample rows"),
        ("cat\ncat\ncat\n", 2, r"line 3: more labels than the 2 sample rows"),
        (b"cat\n\xe9\n", 2, r"line 2: not UTF-8 \(byte 0xe9 at byte 1\)"),
        ("nan\n", 1, r"line 1: 'nan' is not one of"),
    ],
)
def test_each_refusal_is_one_line_naming_the_line(tmp_path, text, count, message):
    classes = [0, 7] if "7" in str(text) or "nan" in str(text) else ["cat", "dog"]
    with pytest.raises(ExportError, match=message) as caught:
        sample_labels.read(_write(tmp_path, text), classes, count)
    assert "\n" not in str(caught.value)


def test_labels_beyond_the_rows_read_are_not_read_when_the_csv_had_more(tmp_path):
    # The 3rd line is not a class: with more=True it is never looked at.
    path = _write(tmp_path, "cat\ndog\nnot a class\n")
    assert sample_labels.read(path, ["cat", "dog"], 2, more=True) == ["cat", "dog"]
    with pytest.raises(ExportError, match="line 3: more labels"):
        sample_labels.read(path, ["cat", "dog"], 2)


def test_a_line_without_end_is_refused_at_the_limit(tmp_path):
    path = _write(tmp_path, "x" * 5000)
    with pytest.raises(ExportError, match="line 1: longer than 100 bytes"):
        sample_labels.read(path, ["x"], 1, max_line_bytes=100)


def test_labels_given_in_python_match_as_a_file_does():
    assert sample_labels.match_all([np.int64(7), 0.0, "7"], [0, 7], 3) == [7, 0, 7]
    with pytest.raises(ExportError, match=r"sample label 1 \('emu'\)"):
        sample_labels.match_all(["cat", "emu"], ["cat", "dog"], 2)
    with pytest.raises(ExportError, match="1 sample labels for 2 sample rows"):
        sample_labels.match_all(["cat"], ["cat", "dog"], 2)


# --- the layout -------------------------------------------------------------------


def _digits(count=30):
    network, images, labels = load_digits_network()
    return Model(network, classes=tuple(range(10))), images[:count], labels[:count]


def _ten_classes(count: int):
    """A 3-input classifier of the digits' ten classes, inputs and true labels.

    For the checks of what the labels add, which follows from the classes:
    the digits network's 64 inputs and 16 hidden units took two thirds of
    the time of a test, and only widened the sheets.
    """
    rng = np.random.default_rng(7)
    network = Network((Dense(rng.normal(size=(3, 10)), np.zeros(10), "softmax"),))
    labels = rng.integers(0, 10, size=count)
    return Model(network, classes=tuple(range(10))), rng.normal(size=(count, 3)), labels


def _regressor() -> Model:
    rng = np.random.default_rng(0)
    return Model(
        Network((Dense(rng.normal(size=(3, 2)), np.zeros(2), "identity"),)),
        output="values",
    )


def test_a_regressor_with_labels_is_refused_in_one_line_and_nothing_written(tmp_path):
    out = tmp_path / "r.xlsx"
    with pytest.raises(ExportError, match="sample labels are for classifiers"):
        export.to_workbook(_regressor(), out, sample_inputs=np.ones((2, 3)),
                           sample_labels=[1.0, 2.0], verify=False)  # fmt: skip
    assert not out.exists()


def test_numeric_classes_are_numbers_and_text_is_never_a_formula(tmp_path):
    model, images, labels = _ten_classes(5)
    out = tmp_path / "d.xlsx"
    export.to_workbook(model, out, rows=8, sample_inputs=images,
                       sample_labels=labels, verify=False)  # fmt: skip
    book = openpyxl.load_workbook(out)
    predict, batch = book["predict"], book["batch"]
    headers = [c for row in predict.iter_rows() for c in row if c.value == 7]
    assert headers and all(c.data_type == "n" for c in headers)
    truth = [c for row in batch.iter_rows() for c in row if c.value in set(labels)]
    assert len(truth) >= 5 and all(c.data_type == "n" for c in truth)
    # The text class "=SUM(1)" is a true label: a text cell, not a formula.
    rng = np.random.default_rng(1)
    text = Model(
        Network((Dense(rng.normal(size=(2, 2)), np.zeros(2), "softmax"),)),
        classes=("=SUM(1)", "b"),
    )
    out = tmp_path / "t.xlsx"
    export.to_workbook(text, out, rows=3, sample_inputs=np.ones((2, 2)),
                       sample_labels=["=SUM(1)", "b"], verify=False)  # fmt: skip
    cells = [c for row in openpyxl.load_workbook(out)["batch"].iter_rows()
             for c in row if c.value == "=SUM(1)"]  # fmt: skip
    assert cells and all(c.data_type == "s" for c in cells)


def test_accuracy_is_a_workbook_name_and_the_summary_uses_excel_2010(tmp_path):
    model, images, labels = _ten_classes(6)
    out = tmp_path / "d.xlsx"
    result = export.to_workbook(model, out, rows=8, sample_inputs=images,
                                sample_labels=labels, verify=False)  # fmt: skip
    assert result.workbooks[0].line().endswith(" of 6 labelled rows")
    book = openpyxl.load_workbook(out)
    assert book.defined_names["accuracy"].attr_text.startswith("'batch'!$")
    sheet, cell = next(book.defined_names["accuracy"].destinations)
    accuracy = book[sheet][cell.replace("$", "")].value
    formulas = [accuracy] + [
        c.value
        for row in book[sheet].iter_rows()
        for c in row
        if isinstance(c.value, str) and "COUNTIFS" in c.value
    ]
    assert len(formulas) == 1 + 10 * 10
    used = {name for f in formulas for name in re.findall(r"([A-Z]+)\(", f)}
    assert used <= EXCEL_2010, used
    # The batch prints its results with its headers on every page.
    assert book[sheet].print_title_rows and book[sheet].print_area


# --- the command line -------------------------------------------------------------


@pytest.fixture
def net(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "net.npz"
    np.savez(path, W1=rng.normal(size=(3, 4)), b1=np.zeros(4),
             activations=np.array(["softmax"]))  # fmt: skip
    return path


def _cli(net, tmp_path, *options):
    csv = _write(tmp_path, "".join(f"{k},{k + 1},{-k}\n" for k in range(6)), "x.csv")
    out = tmp_path / "net.xlsx"
    code = cli.main(["export", str(net), "--out", str(out), "--sample-inputs",
                     str(csv), *options])  # fmt: skip
    return code, out


def test_cli_refuses_a_wrong_count_in_one_line_and_writes_nothing(
    net, tmp_path, capsys
):
    labels = _write(tmp_path, "0\n1\n")
    code, out = _cli(net, tmp_path, "--sample-labels", str(labels), "--no-verify")
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "2 labels for 6" in err
    assert not out.exists()


def test_cli_labels_need_inputs(net, tmp_path, capsys):
    labels = _write(tmp_path, "0\n")
    code = cli.main(["export", str(net), "--out", str(tmp_path / "n.xlsx"),
                     "--sample-labels", str(labels)])  # fmt: skip
    assert code == 2 and "give both" in capsys.readouterr().err
    assert not (tmp_path / "n.xlsx").exists()


def test_cli_reads_only_the_labels_of_the_rows_read(net, tmp_path, capsys):
    # --rows 4 reads 4 of the 6 rows, and so 4 of the 6 labels.
    labels = _write(tmp_path, "0\n1\n2.0\n3\nnot read\nnot read\n")
    code, out = _cli(net, tmp_path, "--sample-labels", str(labels), "--rows", "4",
                     "--no-verify")  # fmt: skip
    assert code == 0, capsys.readouterr().err
    book = openpyxl.load_workbook(out)
    assert "accuracy" in book.defined_names


# --- recalculated -----------------------------------------------------------------


def _recalculated(path, flavor: str) -> dict:
    engine = export._engine(FLAVORS[flavor], 300)
    if engine.missing():
        pytest.skip(engine.missing())
    return engine.recalculate([path])[path]["batch"]


def _numpy_summary(classes, truth, predicted):
    index = {c: k for k, c in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)))
    np.add.at(matrix, ([index[t] for t in truth], [index[p] for p in predicted]), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.diag(matrix) / matrix.sum(axis=1)
        precision = np.diag(matrix) / matrix.sum(axis=0)
    return np.mean(np.array(truth) == np.array(predicted)), matrix, recall, precision


def _read_summary(result, values, k):
    book = result.workbooks[0]
    check = {c.name: c.block for c in book.checks}
    cells = next(c.block for c in book.checks if c.name == "confusion")
    # The matrix is k x k cells, one check each; its top-left is the first.
    top, left = cells.row, cells.col
    from xlnn.sheets.layout import Block

    grid = Block("batch", top, left, k, k)
    matrix = np.array([[values.get(grid.address(i, j)) for j in range(k)]
                       for i in range(k)], dtype=float)  # fmt: skip
    recall = [values.get(grid.address(i, k)) for i in range(k)]
    precision = [values.get(grid.address(k, j)) for j in range(k)]
    return values.get(check["accuracy"].address()), matrix, recall, precision


def _close(got, expected):
    for g, e in zip(got, expected, strict=True):
        if np.isnan(e):
            assert g in (None, ""), (got, expected)
        else:
            assert g == pytest.approx(e, rel=1e-12), (got, expected)


@pytest.mark.engine
@pytest.mark.parametrize("flavor", ["plain", "addin"])
def test_accuracy_and_matrix_equal_numpys_from_the_framework(tmp_path, flavor):
    model, images, labels = _digits(40)
    labels = labels.copy()
    labels[[3, 10, 11]] = (labels[[3, 10, 11]] + 1) % 10  # some wrong, surely
    out = tmp_path / f"d_{flavor}.xlsx"
    result = export.to_workbook(model, out, flavor=flavor, rows=44,
                                sample_inputs=images, sample_labels=labels)  # fmt: skip
    workbook = result.workbooks[0]
    assert not workbook.failed and not workbook.unverified, workbook.status
    values = _recalculated(out, flavor)
    predicted = np.argmax(model.framework_predict(images), axis=1)
    accuracy, matrix, recall, precision = _numpy_summary(
        range(10), labels.tolist(), predicted.tolist()
    )
    got = _read_summary(result, values, 10)
    assert got[0] == pytest.approx(accuracy, rel=1e-12) and accuracy < 1
    np.testing.assert_array_equal(got[1], matrix)
    _close(got[2], recall)
    _close(got[3], precision)


@pytest.mark.engine
def test_a_changed_cell_fails_verification(tmp_path):
    """The summary's checks can fail: a wrong accuracy or count is reported."""
    model, images, labels = _digits(12)
    out = tmp_path / "d.xlsx"
    result = export.to_workbook(model, out, rows=12, sample_inputs=images,
                                sample_labels=labels, verify=False)  # fmt: skip
    checks = [c for c in result.workbooks[0].checks if c.block.sheet == "batch"]
    values = {"batch": dict(_recalculated(out, "plain"))}
    assert not export.compare(checks, values).failed
    for name in ("accuracy", "confusion", "recall", "precision"):
        changed = {"batch": dict(values["batch"])}
        where = next(c.block for c in checks if c.name == name).address()
        changed["batch"][where] = (changed["batch"].get(where) or 0) + 0.5
        assert export.compare(checks, changed).failed, name


@pytest.mark.engine
@pytest.mark.parametrize("flavor", ["plain", "addin"])
def test_operator_and_wildcard_class_names_are_counted_as_they_are(tmp_path, flavor):
    # formulas (the add-in's verifier) does not read "~~" as "~"; Excel does.
    classes = ("<=50K", ">50K", "a*", "a?b", "~x" if flavor == "plain" else "=x")
    rng = np.random.default_rng(5)
    model = Model(
        Network((Dense(rng.normal(size=(4, 5)) * 3, np.zeros(5), "softmax"),)),
        classes=classes,
    )
    x = rng.normal(size=(25, 4))
    truth = [classes[k] for k in rng.integers(0, 5, size=25)]
    out = tmp_path / "w.xlsx"
    result = export.to_workbook(model, out, rows=26, sample_inputs=x, flavor=flavor,
                                sample_labels=truth)  # fmt: skip
    assert not result.failed and not result.unverified, result.workbooks[0].status
    predicted = [classes[k] for k in np.argmax(model.predict(x), axis=1)]
    _, matrix, _, _ = _numpy_summary(classes, truth, predicted)
    got = _read_summary(result, _recalculated(out, flavor), 5)
    np.testing.assert_array_equal(got[1], matrix)


@pytest.mark.engine
def test_an_empty_true_label_and_a_bad_row_are_left_out(tmp_path):
    model, images, labels = _digits(8)
    out = tmp_path / "d.xlsx"
    result = export.to_workbook(model, out, rows=8, sample_inputs=images,
                                sample_labels=labels, verify=False)  # fmt: skip
    book = openpyxl.load_workbook(out)
    truth = result.workbooks[0].checks
    correct = next(c.block for c in truth if c.name == "correct")
    sheet = book["batch"]
    first_x = _first_input_col(sheet, correct.row)
    sheet.cell(correct.row + 0, correct.col - 1).value = None  # row 0: no label
    sheet.cell(correct.row + 1, first_x).value = "abc"  # row 1: an error
    book.save(out)
    values = _recalculated(out, "plain")
    column = [values.get(correct.address(i)) for i in range(8)]
    assert column[0] in (None, "") and str(column[1]).startswith("#")
    predicted = np.argmax(model.predict(images), axis=1)
    kept = slice(2, 8)
    accuracy = np.mean(predicted[kept] == labels[kept])
    accuracy_cell = next(c.block for c in truth if c.name == "accuracy")
    assert values.get(accuracy_cell.address()) == pytest.approx(accuracy)
    _, matrix, _, _ = _numpy_summary(
        range(10), labels[kept].tolist(), predicted[kept].tolist()
    )
    got = _read_summary(result, values, 10)
    np.testing.assert_array_equal(got[1], matrix)


def _first_input_col(sheet, row: int) -> int:
    """The first editable input of ``row`` after the true label: X's first cell."""
    numbers = [
        c.column for c in sheet[row] if c.data_type == "n" and c.value is not None
    ]
    return numbers[1]  # [0] is the true label


@pytest.mark.engine
def test_cli_with_labels_end_to_end(tmp_path, capsys):
    model, images, labels = _digits(10)
    npz = tmp_path / "digits.npz"
    layers = model.network.layers
    np.savez(npz, W1=layers[0].weights, b1=layers[0].bias, W2=layers[1].weights,
             b2=layers[1].bias, activations=np.array(
                 [layers[0].activation.name, layers[1].activation.name]))  # fmt: skip
    csv = _write(tmp_path, "".join(",".join(map(str, r)) + "\n" for r in images),
                 "x.csv")  # fmt: skip
    text = _write(tmp_path, "".join(f"{v}\n" for v in labels))
    out = tmp_path / "digits.xlsx"
    code = cli.main(["export", str(npz), "--out", str(out), "--sample-inputs",
                     str(csv), "--sample-labels", str(text)])  # fmt: skip
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "verified by LibreOffice" in printed.out and "FAILED" not in printed.out
    assert LibreOffice().recalculate([out])[out]["batch"]


# --- numbers as numbers, readable -------------------------------------------------


def test_a_numeric_label_must_come_back_a_number_of_its_value():
    from xlnn.export.sheets import Label

    assert Label(7).matches(7.0) and Label(0.5).matches(0.5)
    assert not Label(7).matches("7") and not Label(7).matches(True)
    assert not Label(7).matches(8.0) and not Label(7).matches(None)
    # A text class "7" may come back from an engine as the number 7.
    assert Label("7").matches(7.0) and Label("cat").matches("cat")


def test_predict_columns_are_wide_enough_for_their_numbers(tmp_path):
    rng = np.random.default_rng(1)
    model = Model(
        Network((Dense(rng.normal(size=(3, 2)) * 3000, np.zeros(2), "identity"),)),
        output="values",
    )
    out = tmp_path / "r.xlsx"
    result = export.to_workbook(model, out, rows=3, sample_inputs=np.ones((1, 3)),
                                verify=False)  # fmt: skip
    sheet = openpyxl.load_workbook(out)["predict"]
    checks = [c for c in result.workbooks[0].checks if c.block.sheet == "predict"]
    for check in checks:
        for j, value in enumerate(check.expected[0]):
            letter = check.block.address(0, j).rstrip("0123456789")
            shown = f"{float(value):.6f}"  # the predict sheet's 6 decimals
            assert abs(float(value)) >= 10
            # (a column not sized is the default 8.43 wide, whatever openpyxl
            # reports for it on indexing, which creates it)
            dimension = sheet.column_dimensions.get(letter)
            assert dimension is not None and dimension.width > len(shown), letter


@pytest.mark.engine
@pytest.mark.parametrize("flavor", ["plain", "addin"])
def test_a_binary_classifier_gets_its_two_classes_counted(tmp_path, flavor):
    rng = np.random.default_rng(2)
    model = Model(
        Network((Dense(rng.normal(size=(3, 1)) * 2, np.zeros(1), "sigmoid"),)),
        output="binary",
        classes=(0, 1),
    )
    x = rng.normal(size=(15, 3))
    truth = rng.integers(0, 2, size=15)
    out = tmp_path / f"b_{flavor}.xlsx"
    result = export.to_workbook(model, out, rows=16, sample_inputs=x, flavor=flavor,
                                sample_labels=truth)  # fmt: skip
    assert not result.failed and not result.unverified, result.workbooks[0].status
    predicted = np.argmax(model.framework_predict(x), axis=1)
    accuracy, matrix, recall, precision = _numpy_summary(
        [0, 1], truth.tolist(), predicted.tolist()
    )
    got = _read_summary(result, _recalculated(out, flavor), 2)
    assert got[0] == pytest.approx(accuracy, rel=1e-12)
    np.testing.assert_array_equal(got[1], matrix)
    _close(got[2], recall)
    _close(got[3], precision)


def test_cli_refuses_labels_for_a_regressor_in_one_line(tmp_path, capsys):
    npz = tmp_path / "reg.npz"
    np.savez(npz, W1=np.ones((3, 1)), b1=np.zeros(1),
             activations=np.array(["identity"]))  # fmt: skip
    code, out = _cli(npz, tmp_path, "--sample-labels",
                     str(_write(tmp_path, "1.5\n" * 6)))  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "sample labels are for classifiers" in err and not out.exists()


def test_above_the_limit_only_the_accuracy_is_written(tmp_path):
    from xlnn.export.accuracy import MAX_MATRIX_CLASSES

    k = MAX_MATRIX_CLASSES + 1
    rng = np.random.default_rng(4)
    model = Model(
        Network((Dense(rng.normal(size=(2, k)), np.zeros(k), "softmax"),)),
        classes=tuple(f"c{j}" for j in range(k)),
    )
    out = tmp_path / "many.xlsx"
    result = export.to_workbook(model, out, rows=3, sample_inputs=np.ones((2, 2)),
                                sample_labels=["c0", "c1"], verify=False)  # fmt: skip
    names = {c.name for c in result.workbooks[0].checks}
    assert "accuracy" in names and "confusion" not in names


def test_a_tall_summary_leaves_the_rows_unfrozen(tmp_path):
    model, images, labels = _ten_classes(4)
    frozen = {}
    for name, given in (("plain", None), ("labelled", labels)):
        out = tmp_path / f"{name}.xlsx"
        export.to_workbook(model, out, rows=5, sample_inputs=images,
                           sample_labels=given, verify=False)  # fmt: skip
        panes = openpyxl.load_workbook(out)["batch"].freeze_panes
        frozen[name] = coordinate_from_string(panes)[1] - 1  # rows frozen
    # Without labels the headers stay; above 10 classes' matrix, only columns.
    assert frozen["plain"] > 0 and frozen["labelled"] == 0
