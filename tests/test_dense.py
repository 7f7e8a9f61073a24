"""DENSE(x, W, b, [activation]): one dense layer, through xlwings' real call paths.

Calls go through ``xlwings.server.custom_functions_call`` (Office.js: xlwings
Lite and xlwings Server), as in tests/test_udfs_officejs.py; tests/conftest.py
makes xlwings' decorators the server's. The book's network and its output are
literals from "Deep Learning from Scratch", section 3.4.3 (``init_network``
and ``forward``). The ``formulas`` engine tests evaluate real workbooks.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import openpyxl
import pytest
import scipy.special
import xlwings
import xlwings.server
from excel_calls import call as call_function
from excel_calls import error_in, error_out
from openpyxl.worksheet.formula import ArrayFormula

from xlnn import udfs
from xlnn.engines.formulas_engine import Formulas
from xlnn.functions import catalog, cells

# Book section 3.4.3: init_network().
BOOK_W1 = [[0.1, 0.3, 0.5], [0.2, 0.4, 0.6]]
BOOK_B1 = [[0.1, 0.2, 0.3]]
BOOK_W2 = [[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]]
BOOK_B2 = [[0.1, 0.2]]
BOOK_W3 = [[0.1, 0.3], [0.2, 0.4]]
BOOK_B3 = [[0.1, 0.2]]
BOOK_X = [[1.0, 0.5]]
# Book section 3.4.3, print(y) for x = [1.0, 0.5], in float64.
BOOK_Y = [0.31682707641102981, 0.69627908986196685]

NA, DIV0 = error_in("#N/A"), error_in("#DIV/0!")
VALUE, NUM = error_out("#VALUE!"), error_out("#NUM!")


def call(*args, runtime="1.4"):
    """DENSE(*args) as Excel calls it through xlwings' Office.js runtime."""
    return call_function(udfs.dense, *args, runtime=runtime)


def layer(x, weights, bias, activation="identity"):
    """The layer in NumPy, for rows that compute."""
    sums = np.asarray(x, dtype=float) @ np.asarray(weights) + np.ravel(bias)
    return catalog.get(activation).function(sums)


# A 3-input, 2-output layer used below.
W = [[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]]
B = [[0.1, -0.2]]


# --- the book's network --------------------------------------------------------


def test_the_books_network_is_three_dense_calls():
    z1 = call(BOOK_X, BOOK_W1, BOOK_B1, "sigmoid")
    z2 = call(z1, BOOK_W2, BOOK_B2, "Sigmoid")
    y = call(z2, BOOK_W3, BOOK_B3)  # the book's identity output, left out
    assert y == [pytest.approx(BOOK_Y, rel=1e-15, abs=0)]


def test_the_books_network_on_a_batch_gives_the_book_in_every_row():
    x = [BOOK_X[0], BOOK_X[0], BOOK_X[0]]
    z1 = call(x, BOOK_W1, BOOK_B1, "sigmoid")
    z2 = call(z1, BOOK_W2, BOOK_B2, "sigmoid")
    y = call(z2, BOOK_W3, BOOK_B3, "identity")
    assert y == [pytest.approx(BOOK_Y, rel=1e-15, abs=0)] * 3


# --- each activation, on single rows and 2-D batches --------------------------

BATCH = [[1.0, -2.0, 0.5], [0.0, 0.0, 0.0], [3.0, 1.0, -4.0], [-0.5, 0.25, 2.0]]


@pytest.mark.parametrize("name", list(catalog.ACTIVATIONS))
def test_each_activation_on_a_batch(name):
    result = call(BATCH, W, B, name)
    np.testing.assert_allclose(result, layer(BATCH, W, B, name), rtol=1e-15)


@pytest.mark.parametrize("name", list(catalog.ACTIVATIONS))
def test_each_activation_on_a_single_row_is_the_batchs_row(name):
    for row in BATCH:
        assert call([row], W, B, name) == [call(BATCH, W, B, name)[BATCH.index(row)]]


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("softmax", scipy.special.softmax),
        ("log_softmax", scipy.special.log_softmax),
    ],
)
def test_grouped_activations_normalize_each_row(name, reference):
    sums = np.asarray(BATCH) @ np.asarray(W) + np.ravel(B)
    result = np.asarray(call(BATCH, W, B, name))
    np.testing.assert_allclose(result, reference(sums, axis=1), rtol=1e-14)


def test_activation_names_in_any_spelling():
    expected = call(BATCH, W, B, "log_softmax")
    for spelling in ("LOG_SOFTMAX", " Log-Softmax ", "log softmax"):
        assert call(BATCH, W, B, spelling) == expected
    assert call(BATCH, W, B, "") == call(BATCH, W, B) == call(BATCH, W, B, None)
    assert call(BATCH, W, B) == layer(BATCH, W, B).tolist()


def test_leaky_relu_takes_its_default_alpha():
    # Book-independent literal: sum -2 + 0.5 = -1.5, times 0.01.
    assert call([[-2.0]], [[1.0]], [[0.5]], "leaky_relu") == [[-0.015]]


def test_a_single_cell_layer():
    assert call([[2.0]], [[3.0]], [[1.0]]) == [[7.0]]
    assert call([[2.0]], [[3.0]], [[1.0]], "relu") == [[7.0]]
    assert call([[-2.0]], [[3.0]], [[1.0]], "relu") == [[0.0]]


# --- row rules for x ---------------------------------------------------------------


def test_blank_rows_stay_blank():
    x = [BATCH[0], ["", None, ""], BATCH[2]]
    result = call(x, W, B, "sigmoid")
    assert result[1] == ["", ""]
    expected = layer([BATCH[0], BATCH[2]], W, B, "sigmoid").tolist()
    assert [result[0], result[2]] == expected


def test_an_error_fills_its_own_row_with_its_first_error():
    x = [BATCH[0], [1.0, DIV0, NA], [NA, 2.0, DIV0], BATCH[3]]
    result = call(x, W, B, "softmax")
    assert result[1] == [error_out("#DIV/0!")] * 2
    assert result[2] == [error_out("#N/A")] * 2
    expected = layer([BATCH[0], BATCH[3]], W, B, "softmax").tolist()
    assert [result[0], result[3]] == expected


def test_text_gives_value_in_its_own_row_only():
    x = [["abc", 1.0, 2.0], BATCH[2], [1.0, "1.5", NA]]
    result = call(x, W, B, "tanh")
    assert result[0] == [VALUE, VALUE]
    assert result[2] == [VALUE, VALUE]  # the text comes first in reading order
    assert result[1] == layer([BATCH[2]], W, B, "tanh").tolist()[0]


def test_a_row_with_some_blanks_is_value():
    # A missing input is not a zero, as in Excel's MMULT.
    result = call([[1.0, "", 2.0], BATCH[0]], W, B)
    assert result[0] == [VALUE, VALUE]
    assert result[1] == layer([BATCH[0]], W, B).tolist()[0]


def test_booleans_compute_as_one_and_zero():
    result = call([[True, False, True]], W, B, "relu")
    assert result == layer([[1.0, 0.0, 1.0]], W, B, "relu").tolist()


def test_office_js_rich_values():
    x = [
        [
            {"type": "Double", "basicValue": 1.5},
            {"type": "FormattedNumber", "basicValue": 0.25, "numberFormat": "0%"},
            {"type": "Boolean", "basicValue": True},
        ],
        [{"type": "Entity", "text": "Seattle"}, 1.0, 1.0],
        [{"type": "Empty", "basicValue": ""}] * 3,
    ]
    result = call(x, W, B)
    assert result[0] == layer([[1.5, 0.25, 1.0]], W, B).tolist()[0]
    assert result[1:] == [[VALUE, VALUE], ["", ""]]


def test_integers_beyond_float_range_are_num_in_their_row():
    result = call([[10**400, 1.0, 1.0], BATCH[0]], W, B)
    assert result[0] == [NUM, NUM]
    assert result[1] == layer([BATCH[0]], W, B).tolist()[0]


def test_an_overflowing_sum_is_num_even_where_sigmoid_would_squash_it():
    result = call([[1e308, 1.0, 1.0]], [[10.0], [1.0], [1.0]], [[0.0]], "sigmoid")
    assert result == [[NUM]]
    # The same row's other output does not overflow, and computes.
    result = call([[1e308]], [[10.0, 0.0]], [[0.0, 0.5]], "sigmoid")
    assert result[0][0] == NUM
    assert result[0][1] == pytest.approx(scipy.special.expit(0.5), rel=1e-15)


def test_a_nan_result_is_num():
    # softplus(-inf) is fine, but log_softmax of [inf, ...] is not a number.
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # DENSE itself warns of nothing
        result = call([[1e308], [1.0]], [[10.0, 1.0]], [[0.0, 0.0]], "log_softmax")
    assert result[0] == [NUM, NUM]
    assert result[1] == pytest.approx(scipy.special.log_softmax([10.0, 1.0]))


def test_runtime_below_1_4_gets_errors_as_text():
    x = [[NA, 1.0, 1.0], ["abc", 1.0, 1.0]]
    assert call(x, W, B, runtime="1.3") == [["#N/A", "#N/A"], ["#VALUE!"] * 2]


# --- W, b and the activation: one error fills every cell -----------------------


@pytest.mark.parametrize(
    ("bad", "shown"),
    [("", VALUE), (None, VALUE), ("abc", VALUE), (NA, error_out("#N/A"))],
    ids=["blank", "none", "text", "error"],
)
def test_a_bad_weight_fills_every_cell(bad, shown):
    weights = [row[:] for row in W]
    weights[1][1] = bad
    x = [BATCH[0], ["", "", ""], [NA, 1.0, 1.0]]
    assert call(x, weights, B, "sigmoid") == [[shown] * 2] * 3


@pytest.mark.parametrize(
    ("bad", "shown"),
    [("", VALUE), ("1.5", VALUE), (DIV0, error_out("#DIV/0!"))],
    ids=["blank", "text", "error"],
)
def test_a_bad_bias_fills_every_cell(bad, shown):
    assert call(BATCH, W, [[0.1, bad]]) == [[shown] * 2] * len(BATCH)


def test_the_first_bad_cell_counts_weights_before_bias():
    weights = [[0.5, DIV0], [NA, 0.25], [-0.75, 1.5]]
    assert call(BATCH[:1], weights, [[NA, 0.0]]) == [[error_out("#DIV/0!")] * 2]
    weights = [[0.5, ""], [NA, 0.25], [-0.75, 1.5]]  # the blank comes first
    assert call(BATCH[:1], weights, [[0.0, 0.0]]) == [[VALUE] * 2]
    assert call(BATCH[:1], W, [[NA, DIV0]], "relu") == [[error_out("#N/A")] * 2]


def test_an_error_as_activation_fills_every_cell():
    assert call(BATCH[:2], W, B, NA) == [[error_out("#N/A")] * 2] * 2


def test_bias_as_a_column_is_taken():
    column = [[0.1], [-0.2]]
    assert call(BATCH, W, column, "elu") == call(BATCH, W, B, "elu")


# --- argument errors --------------------------------------------------------------


def test_x_columns_must_match_w_rows():
    with pytest.raises(cells.ArgumentError) as raised:
        call([[1.0, 2.0]], W, B)
    message = str(raised.value)
    assert "x has 2 columns but W has 3 rows" in message
    assert "x is 1 x 2" in message and "W is 3 x 2" in message


def test_a_column_of_inputs_is_not_a_sample():
    # One sample per row: a column of 3 is three samples of 1 input.
    with pytest.raises(cells.ArgumentError, match="x has 1 columns but W has 3"):
        call([[1.0], [2.0], [3.0]], W, B)


@pytest.mark.parametrize(
    "bias",
    [[[0.1]], [[0.1, 0.2, 0.3]], [[0.1, 0.2], [0.3, 0.4]]],
    ids=["too-short", "too-long", "2-d"],
)
def test_b_must_have_one_value_per_column_of_w(bias):
    with pytest.raises(cells.ArgumentError, match="b must be a row of 2 values"):
        call(BATCH, W, bias)


@pytest.mark.parametrize("activation", ["swish", "soft max", 1.0, True])
def test_an_unknown_activation_lists_the_names(activation):
    with pytest.raises(cells.ArgumentError) as raised:
        call(BATCH, W, B, activation)
    for name in catalog.ACTIVATIONS:
        assert name in str(raised.value)


def test_a_cell_holding_the_activation_is_its_name():
    # xlwings hands a one-cell range over as its value.
    assert call(BATCH, W, B, [["relu"]]) == call(BATCH, W, B, "relu")


def test_a_range_of_activations_is_refused():
    with pytest.raises(cells.ArgumentError, match="not a range"):
        call(BATCH, W, B, [["relu", "tanh"]])


# --- classic xlwings: COM error ints ---------------------------------------------


def test_classic_com_errors(monkeypatch):
    monkeypatch.setattr(udfs, "CLASSIC", True)
    na, div0 = -2146826246, -2146826281  # CVErr(xlErrNA), CVErr(xlErrDiv0)
    x = [[1.0, na, 2.0], [0.5, 0.5, 0.5]]
    result = call(x, W, B, runtime=None)
    assert result[0] == ["#N/A", "#N/A"]
    assert result[1] == layer([[0.5, 0.5, 0.5]], W, B).tolist()[0]
    assert call(x, W, [[div0, 0.0]], runtime=None) == [["#DIV/0!"] * 2] * 2
    assert call(x, W, B, na, runtime=None) == [["#N/A"] * 2] * 2


# --- what Excel registers -------------------------------------------------------


def test_meta_registers_dense_with_help_for_each_argument():
    meta = xlwings.server.custom_functions_meta(udfs)
    (entry,) = [f for f in meta["functions"] if f["name"] == "DENSE"]
    assert entry["id"] == "DENSE"
    assert entry["description"] == inspect.getdoc(udfs.dense).splitlines()[0]
    names = ["x", "W", "b", "activation", "parameter"]
    assert [p["name"] for p in entry["parameters"]] == names
    for parameter in entry["parameters"]:
        assert parameter["description"] == udfs.DENSE_HELP[parameter["name"]]
        assert parameter["type"] == "any"
        optional = parameter["name"] in ("activation", "parameter")
        assert parameter.get("optional", False) is optional
    assert entry["result"]["dimensionality"] == "matrix"


def test_dense_is_registered_after_the_activations_by_its_names():
    # after every activation of the table, before the losses' table
    assert udfs.FUNCTIONS[len(catalog.TABLE)] is udfs.dense
    assert udfs.by_excel_name()["DENSE"] is udfs.dense
    assert "dense" in udfs.__all__


# --- the formulas engine: =DENSE(...) in a workbook ------------------------------


def put(sheet, top_left, grid):
    first = sheet[top_left]
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            sheet.cell(first.row + i, first.column + j, value)


def book_network_workbook(path):
    """The book's network as three DENSE array formulas, and a batch of four rows.

    Weights on rows 1-8, x in A10:B13 (book x, a blank row, a text row, the
    book x again); z1 in D10:F13, z2 in H10:I13, y in K10:L13.
    """
    book = openpyxl.Workbook()
    sheet = book.active
    put(sheet, "A1", BOOK_W1)
    put(sheet, "A3", BOOK_B1)
    put(sheet, "A4", BOOK_W2)
    put(sheet, "A7", BOOK_B2)
    put(sheet, "D1", BOOK_W3)
    put(sheet, "D3", BOOK_B3)
    put(sheet, "A10", [BOOK_X[0], [None, None], ["abc", 0.5], BOOK_X[0]])
    formulas = {
        "D10:F13": '=DENSE(A10:B13,A1:C2,A3:C3,"sigmoid")',
        "H10:I13": '=DENSE(D10:F13,A4:B6,A7:B7,"SIGMOID")',
        "K10:L13": "=DENSE(H10:I13,D1:E2,D3:E3)",
    }
    for ref, text in formulas.items():
        sheet[ref.split(":")[0]] = ArrayFormula(ref, text)
    book.save(path)
    return path


@pytest.mark.engine
def test_the_books_network_in_the_formulas_engine(tmp_path):
    workbook = book_network_workbook(tmp_path / "dense.xlsx")
    values = Formulas(udfs.by_excel_name()).recalculate([workbook])[workbook]
    (cells_of_sheet,) = values.values()
    for row in (10, 13):
        y = [cells_of_sheet[f"K{row}"], cells_of_sheet[f"L{row}"]]
        assert y == pytest.approx(BOOK_Y, rel=1e-15, abs=0)
    # The blank row stays blank through all three layers (formulas shows a
    # returned "" as empty text); text is #VALUE! in its row, layer after layer.
    for column in "DEFHIKL":
        assert cells_of_sheet[f"{column}11"] == ""
        assert cells_of_sheet[f"{column}12"] == "#VALUE!"
