"""MEAN_SQUARED_ERROR and CROSS_ENTROPY_ERROR through xlwings' real Office.js path.

Every call goes through ``xlwings.server.custom_functions_call`` (see
tests/excel_calls.py), as Excel's calls do in xlwings Lite and xlwings Server.
The figures are the book's (section 4.2, as in tests/test_losses.py).
"""

from __future__ import annotations

import inspect

import numpy as np
import openpyxl
import pytest
import xlwings
import xlwings.server
from excel_calls import COM_ERRORS, call, error_in, error_out

from xlnn import losses, udfs
from xlnn.engines.formulas_engine import Formulas
from xlnn.engines.libreoffice import LibreOffice
from xlnn.functions import catalog, cells

MSE, CEE = udfs.mean_squared_error, udfs.cross_entropy_error
LOSS_FUNCTIONS = [pytest.param(MSE, id="MSE"), pytest.param(CEE, id="CEE")]

# Book, section 4.2.1: the true class is 2; y gives it 0.6, then gives 0.6 to 7.
Y_RIGHT = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
Y_WRONG = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]
T_ONE_HOT = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
BOOK = {
    MSE: (0.0975, 0.5975),
    CEE: (0.510825457099338, 2.302584092994546),
}


def number(result) -> float:
    """The one number of a one-cell result."""
    assert isinstance(result, list) and len(result) == 1 and len(result[0]) == 1
    value = result[0][0]
    assert isinstance(value, float), value
    return value


def column(values) -> list:
    return [[value] for value in values]


@pytest.mark.parametrize("function", LOSS_FUNCTIONS)
@pytest.mark.parametrize(
    "shape",
    [
        "row, one-hot row",
        "row, index cell",
        "column, one-hot column",
        "row, one-hot column",
    ],
)
def test_the_books_figures_as_one_sample(function, shape):
    right, wrong = BOOK[function]
    for y, expected in ((Y_RIGHT, right), (Y_WRONG, wrong)):
        y_range = column(y) if shape.startswith("column") else [y]
        if "index" in shape:
            t_range = [[2]]
        elif shape.endswith("column"):
            t_range = column(T_ONE_HOT)
        else:
            t_range = [T_ONE_HOT]
        result = number(call(function, y_range, t_range))
        assert result == pytest.approx(expected, rel=1e-15, abs=0)


@pytest.mark.parametrize("function", LOSS_FUNCTIONS)
def test_a_batch_is_the_mean_over_its_rows(function):
    expected = sum(BOOK[function]) / 2
    batch = [Y_RIGHT, Y_WRONG]
    assert number(call(function, batch, [T_ONE_HOT, T_ONE_HOT])) == pytest.approx(
        expected, rel=1e-15
    )
    assert number(call(function, batch, [[2], [2.0]])) == pytest.approx(
        expected, rel=1e-15
    )


@pytest.mark.parametrize("function", LOSS_FUNCTIONS)
def test_the_excel_function_computes_with_the_numpy_function(function):
    numpy_function = getattr(losses, function.__name__)
    rng = np.random.default_rng(1)
    y = rng.dirichlet(np.ones(4), size=6)
    t = rng.integers(0, 4, 6)
    result = number(call(function, y.tolist(), column(t.tolist())))
    assert result == numpy_function(y, t)  # the same computation, bit for bit


def test_booleans_count_as_one_and_zero():
    one_hot = [[False, False, True] + [False] * 7]
    expected = BOOK[CEE][0]
    assert number(call(CEE, [Y_RIGHT], one_hot)) == pytest.approx(expected, rel=1e-15)


# --- Cell rules --------------------------------------------------------------------


@pytest.mark.parametrize("function", LOSS_FUNCTIONS)
@pytest.mark.parametrize(
    "y, t, error",
    [
        ([[0.5, error_in("#N/A")]], [[1, 0]], "#N/A"),
        ([[0.5, 0.5]], [[1, error_in("#DIV/0!")]], "#DIV/0!"),
        ([[0.5, "abc"]], [[1, 0]], "#VALUE!"),
        ([[0.5, "0.5"]], [[1, 0]], "#VALUE!"),  # numeric-looking text too
        ([[0.5, 0.5]], [["1"]], "#VALUE!"),
        # The first in reading order, y before t.
        ([[error_in("#NUM!"), error_in("#N/A")]], [[error_in("#REF!"), 0]], "#NUM!"),
        ([[0.5, 0.5], [0.5, error_in("#N/A")]], [[error_in("#REF!")], [0]], "#N/A"),
        # A blank row takes no part, but an error in it still shows.
        ([[None, None], [0.5, 0.5]], [[error_in("#N/A")], [0]], "#N/A"),
    ],
)
def test_the_first_error_is_the_result(function, y, t, error):
    assert call(function, y, t) == [[error_out(error)]]


@pytest.mark.parametrize("function", LOSS_FUNCTIONS)
def test_blank_rows_take_no_part(function):
    with_blanks = [Y_RIGHT, [None] * 10, [""] * 10, Y_WRONG]
    t = [[2], [None], [""], [2]]
    expected = number(call(function, [Y_RIGHT, Y_WRONG], [[2], [2]]))
    assert number(call(function, with_blanks, t)) == expected
    one_hot = [T_ONE_HOT, [None] * 10, [""] * 10, T_ONE_HOT]
    assert number(call(function, with_blanks, one_hot)) == expected


@pytest.mark.parametrize("function", LOSS_FUNCTIONS)
@pytest.mark.parametrize(
    "y, t",
    [
        ([[0.5, None]], [[1, 0]]),  # a missing value is not a zero
        ([[0.5, 0.5]], [[1, None]]),
        ([[0.5, 0.5]], [[None]]),  # no class index
        ([[0.5, 0.5], [None, None]], [[0], [1]]),  # a target without outputs
        ([[0.5, 0.5], [0.5, 0.5]], [[0], [None]]),  # outputs without a target
    ],
)
def test_a_partly_blank_sample_is_a_value_error(function, y, t):
    assert call(function, y, t) == [[error_out("#VALUE!")]]


@pytest.mark.parametrize("function", LOSS_FUNCTIONS)
@pytest.mark.parametrize(
    "y, t",
    [
        ([[None]], [[None]]),
        ([[None, ""]], [["", None]]),
        ([["", ""], ["", ""]], [[""], [""]]),
    ],
)
def test_all_blank_is_blank(function, y, t):
    assert call(function, y, t) == [[""]]


@pytest.mark.parametrize(
    "function, y, t",
    [
        (CEE, [[-0.5, 1.0]], [[0, 1]]),  # log of a negative
        (CEE, [[-1e-7, 1.0]], [[1, 0]]),  # log of 0
        (MSE, [[1e200]], [[0]]),  # the square overflows
        (MSE, [[10**400]], [[0]]),  # an int beyond float64 is #NUM! already
    ],
)
def test_nan_or_inf_is_a_num_error(function, y, t):
    assert call(function, y, t) == [[error_out("#NUM!")]]


def test_below_runtime_1_4_errors_are_text():
    assert call(MSE, [[0.5, error_in("#N/A")]], [[1, 0]], runtime="1.3") == [["#N/A"]]


@pytest.fixture
def classic(monkeypatch):
    """As classic xlwings runs them: COM error ints are errors, errors are text."""
    monkeypatch.setattr(udfs, "CLASSIC", True)
    return lambda function, *args: call(function, *args, runtime=None)


@pytest.mark.parametrize("function", LOSS_FUNCTIONS)
@pytest.mark.parametrize("code", sorted(COM_ERRORS)[:3])
def test_classic_com_errors(classic, function, code):
    assert classic(function, [[0.5, code]], [[1, 0]]) == [[COM_ERRORS[code]]]
    assert classic(function, [[0.5, 0.5]], [[code]]) == [[COM_ERRORS[code]]]
    assert number(classic(function, [Y_RIGHT], [[2.0]])) == pytest.approx(
        BOOK[function][0], rel=1e-15
    )


# --- Argument errors ------------------------------------------------------------------


@pytest.mark.parametrize("function", LOSS_FUNCTIONS)
@pytest.mark.parametrize(
    "y, t, words",
    [
        ([[0.5, 0.5]], [[1, 0, 0]], "a row or column of 2 targets or one cell"),
        ([[0.5, 0.5], [0.5, 0.5]], [[0, 1]], "2 x 2 (the targets, one-hot) or 2 x 1"),
        ([[0.5, 0.5], [0.5, 0.5]], [[0], [1], [1]], "not 3 x 1"),
        ([[0.5, 0.5], [0.5, 0.5]], [[0], [2]], "from 0 to 1"),
        ([[0.5, 0.5]], [[1.5]], "not 1.5"),
        ([[0.5, 0.5]], [[-1]], "not -1"),
        ([[0.0] * 2000] * 1000, [[0.0] * 2000] * 1000 + [[0.0] * 2000], "at most"),
    ],
)
def test_argument_errors_carry_a_message(function, y, t, words):
    with pytest.raises(xlwings.XlwingsError) as info:
        call(function, y, t)
    assert isinstance(info.value, cells.ArgumentError)
    assert words in str(info.value)


# --- What Excel registers ---------------------------------------------------------


def test_the_losses_come_from_the_loss_table():
    registered = {f.excel_name: f for f in udfs.FUNCTIONS}
    for loss in catalog.LOSS_TABLE:
        function = registered[loss.excel_name]
        assert function is getattr(udfs, loss.python_name)
        assert function.__doc__ == loss.help
        assert list(inspect.signature(function).parameters) == ["y", "t"]
        assert loss.function is getattr(losses, loss.name)
    assert [loss.name for loss in catalog.LOSS_TABLE] == losses.__all__


def test_the_metadata_excel_registers():
    meta = xlwings.server.custom_functions_meta(udfs)
    by_name = {entry["name"]: entry for entry in meta["functions"]}
    for loss in catalog.LOSS_TABLE:
        entry = by_name[loss.excel_name]
        assert entry["description"] == loss.help
        parameters = entry["parameters"]
        assert [p["name"] for p in parameters] == ["y", "t"]
        assert [p["description"] for p in parameters] == list(udfs.LOSS_HELP.values())
        assert not any(p.get("optional") for p in parameters)
        assert all(p["type"] == "any" for p in parameters)


def test_get_loss():
    assert catalog.get_loss("cross_entropy_error").excel_name == "CROSS_ENTROPY_ERROR"
    with pytest.raises(ValueError, match="mean_squared_error, cross_entropy_error"):
        catalog.get_loss("hinge")


# --- In a workbook: the plain formulas and the add-in functions -----------------------


def loss_workbook(path, flavor: str):
    """The book's two outputs (A1:J2), one-hot targets (A4:J5), class 2 in L1."""
    book = openpyxl.Workbook()
    sheet = book.active
    for row, values in enumerate([Y_RIGHT, Y_WRONG, None, T_ONE_HOT, T_ONE_HOT], 1):
        for col, value in enumerate(values or [], 1):
            sheet.cell(row, col, value)
    sheet["L1"] = 2
    cases = {
        "B7": ("A1:J2", "A4:J5"),
        "B8": ("A1:J1", "A4:J4"),
        "B9": ("A2:J2", "A5:J5"),
    }
    for name in ("mean_squared_error", "cross_entropy_error"):
        column = "B" if name == "mean_squared_error" else "C"
        loss = catalog.get_loss(name)
        for cell, (y, t) in cases.items():
            target = f"{column}{cell[1:]}"
            if flavor == "plain":
                sheet[target] = f"={loss.formula(y, t)}"
            else:
                sheet[target] = f"={loss.excel_name}({y},{t})"
        if flavor == "addin":
            sheet[f"{column}10"] = f"={loss.excel_name}(A1:J1,L1)"
    book.save(path)
    return path


def check_loss_values(values):
    sheet = values["Sheet"] if "Sheet" in values else values["SHEET"]
    for column, function in (("B", MSE), ("C", CEE)):
        right, wrong = BOOK[function]
        assert sheet[f"{column}7"] == pytest.approx((right + wrong) / 2, rel=1e-14)
        assert sheet[f"{column}8"] == pytest.approx(right, rel=1e-14)
        assert sheet[f"{column}9"] == pytest.approx(wrong, rel=1e-14)
        if f"{column}10" in sheet:
            assert sheet[f"{column}10"] == pytest.approx(right, rel=1e-14)


@pytest.mark.engine  # evaluates a workbook with formulas, as the marker says
@pytest.mark.parametrize("flavor", ["plain", "addin"])
def test_formulas_computes_both_flavors(tmp_path, flavor):
    workbook = loss_workbook(tmp_path / f"{flavor}.xlsx", flavor)
    values = Formulas(udfs.by_excel_name()).recalculate([workbook])[workbook]
    check_loss_values(values)


@pytest.mark.engine
def test_libreoffice_computes_the_plain_formulas(soffice, tmp_path):
    workbook = loss_workbook(tmp_path / "plain.xlsx", "plain")
    check_loss_values(LibreOffice().recalculate([workbook])[workbook])
