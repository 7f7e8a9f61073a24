"""xlnn.functions.cells: the cell rules, called directly.

A cell is a number, TRUE/FALSE (1/0), a blank ("" or None), an error value
(text such as "#N/A", an Office.js error dict, or in classic xlwings a COM
error int), or text. Results: numbers computed, blanks stay blank, errors stay,
text gives #VALUE!, NaN/inf give #NUM!.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from covering import each_once
from excel_calls import COM_ERRORS
from hypothesis import given, settings
from hypothesis import strategies as st

from xlnn import activations
from xlnn.functions import cells

REPO = Path(__file__).resolve().parents[1]
NA_DICT = {"type": "Error", "basicValue": "#N/A", "errorType": "NotAvailable"}
DIV0_DICT = {"type": "Error", "basicValue": "#DIV/0!", "errorType": "Div0"}

# CVErr(2051): no XlCVError member (#BUSY! has none); still an error cell.
UNKNOWN_COM_ERROR = -2146828288 + 2051


def identity(values):
    return activations.identity(values)


def sigmoid(values):
    return activations.sigmoid(values)


def softmax(cells_in, direction=None):
    return cells.apply_grouped(activations.softmax, cells_in, direction, -math.inf)


# --- read ----------------------------------------------------------------------


def test_read_numbers_bools_blanks_errors_text():
    grid = cells.read(
        [[1.5, 2, True, False], ["", None, "#N/A", NA_DICT], ["abc", "1.5", 0.0, -3]]
    )
    assert grid.values.shape == (3, 4)
    assert grid.values[0].tolist() == [1.5, 2.0, 1.0, 0.0]
    assert grid.blank.tolist() == [
        [False, False, False, False],
        [True, True, False, False],
        [False, False, False, False],
    ]
    assert grid.errors.tolist() == [
        [None, None, None, None],
        [None, None, "#N/A", "#N/A"],
        ["#VALUE!", "#VALUE!", None, None],
    ]
    assert grid.values[2, 2:].tolist() == [0.0, -3.0]
    assert grid.single is False


def test_read_numbers_only_has_no_error_array():
    grid = cells.read([[1.0, 2.0], [3.0, 4.0]])
    assert grid.errors is None
    assert not grid.blank.any()


def test_read_single_value():
    grid = cells.read(2.5)
    assert grid.single is True
    assert grid.values.tolist() == [[2.5]]


def test_read_row_and_column_shapes():
    assert cells.read([1.0, 2.0, 3.0]).values.shape == (1, 3)
    assert cells.read([[1.0], [2.0], [3.0]]).values.shape == (3, 1)
    assert cells.read(((1.0, 2.0), (3.0, 4.0))).values.shape == (2, 2)  # COM tuples


def test_read_ragged_rows_raise():
    with pytest.raises(ValueError, match="same length"):
        cells.read([[1.0, 2.0], [3.0]])


def test_read_dates_as_excel_serial_numbers():
    # Excel: =DATE(2024,1,1) is serial 45292; noon adds 0.5.
    grid = cells.read([[dt.date(2024, 1, 1), dt.datetime(2024, 1, 1, 12, 0)]])
    assert grid.values.tolist() == [[45292.0, 45292.5]]
    assert grid.errors is None


def test_read_office_js_formatted_number():
    cell = {
        "type": "FormattedNumber",
        "basicValue": 45292.0,
        "numberFormat": "d/m/yyyy",
    }
    assert cells.read([[cell]]).values.tolist() == [[45292.0]]


def test_classic_error_codes_are_the_looked_up_ones():
    assert cells.CLASSIC_ERROR_CODES == COM_ERRORS


@pytest.mark.parametrize(("code", "error"), sorted(COM_ERRORS.items()))
def test_classic_com_error_ints(code, error):
    assert cells.apply_elementwise(identity, [[code, 1.0]], classic=True) == [
        [error, 1.0]
    ]
    # A range of numbers with one error int (the all-numbers fast path).
    column = [[float(i)] for i in range(50)] + [[code]]
    assert cells.apply_elementwise(identity, column, classic=True)[-1] == [error]
    assert cells.apply_elementwise(identity, code, classic=True) == error
    # Outside classic xlwings the same int is just a number, also inside an
    # Office.js rich value.
    rich = {"type": "FormattedNumber", "basicValue": code, "numberFormat": "0"}
    assert cells.apply_elementwise(identity, [[rich]]) == [[float(code)]]
    assert cells.apply_elementwise(identity, [[code, 1.0]], classic=False) == [
        [float(code), 1.0]
    ]


# Every code and every direction once: the codes are one lookup (checked code
# by code above), the directions the grouping.
@pytest.mark.parametrize(
    ("code", "direction"), each_once(sorted(COM_ERRORS), ["rows", "columns", "all"])
)
def test_classic_com_error_poisons_its_softmax_group(code, direction):
    grid = [[1.0, code], [2.0, 3.0]]
    result = cells.apply_grouped(
        activations.softmax, grid, direction, -math.inf, classic=True
    )
    error = COM_ERRORS[code]
    if direction == "rows":
        assert result[0] == [error, error]
        assert result[1] == pytest.approx(activations.softmax([2.0, 3.0]).tolist())
    elif direction == "columns":
        first_column = activations.softmax([1.0, 2.0]).tolist()
        assert [row[0] for row in result] == pytest.approx(first_column)
        assert [row[1] for row in result] == [error, error]
    else:
        assert result == [[error, error], [error, error]]


def test_classic_unknown_error_code_is_an_error_not_a_number():
    assert cells.apply_elementwise(
        identity, [[UNKNOWN_COM_ERROR, 1.0]], classic=True
    ) == [["#VALUE!", 1.0]]
    assert cells.classic_error(UNKNOWN_COM_ERROR) == "#VALUE!"


def test_classic_number_cells_equal_to_an_error_code_stay_numbers():
    # COM hands number cells over as floats; only the ints are error codes.
    for code in (-2146826246.0, -2146826243.0, float(UNKNOWN_COM_ERROR)):
        assert cells.apply_elementwise(identity, [[code, 2.0]], classic=True) == [
            [code, 2.0]
        ]


def test_classic_plain_ints_and_bools_are_numbers():
    # Just outside the CVErr range (-2146828288 + 0 ... 65535) ints are numbers.
    below, above = -2146828288 - 1, -2146828288 + 65536
    assert cells.apply_elementwise(
        identity, [[3, True, below, above]], classic=True
    ) == [[3.0, 1.0, float(below), float(above)]]


# --- Dates ---------------------------------------------------------------------


class ComTime(dt.datetime):
    """Stands in for pywintypes.datetime, a datetime subclass with a tzinfo."""


@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone.utc),
        dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=5))),
        dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(-dt.timedelta(hours=8))),
        ComTime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    ],
)
def test_timezone_aware_dates_read_as_the_wall_clock_value(moment):
    # Excel: =DATE(2024,1,1)+TIME(12,0,0) is 45292.5, whatever the zone; the
    # tzinfo is dropped as xlwings' reader does, never converted to UTC.
    for classic in (False, True):
        grid = cells.read([[moment, 1.0]], classic)
        assert grid.values.tolist() == [[45292.5, 1.0]]
        assert grid.errors is None
    assert cells.apply_elementwise(identity, moment) == 45292.5


# --- Integers beyond float64 ------------------------------------------------------

HUGE = [10**400, -(10**400), 2**1024]


@pytest.mark.parametrize("huge", HUGE)
@pytest.mark.parametrize("classic", [False, True])
def test_integers_beyond_float_range_are_num_errors(huge, classic):
    def call(grid):
        return cells.apply_elementwise(sigmoid, grid, classic)

    assert call([[huge, 0.0]]) == [["#NUM!", 0.5]]  # numbers only
    assert call([[huge, "", 0, "#N/A"]]) == [["#NUM!", "", 0.5, "#N/A"]]
    assert call(huge) == "#NUM!"
    rich = {"type": "Double", "basicValue": huge}
    assert cells.apply_elementwise(sigmoid, [[rich]]) == [["#NUM!"]]
    group = cells.apply_grouped(
        activations.softmax, [[0.0, huge], [0.0, 0.0]], "rows", -math.inf, classic
    )
    assert group == [["#NUM!", "#NUM!"], [0.5, 0.5]]


def test_largest_integers_within_float_range_are_numbers():
    largest = int(np.finfo(np.float64).max)
    assert cells.apply_elementwise(identity, [[largest, -largest]]) == [
        [float(largest), -float(largest)]
    ]


# --- Office.js rich values ------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ({"type": "Double", "basicValue": 1.5}, 1.5),
        ({"type": "Double", "basicValue": 2}, 2.0),
        (
            {"type": "FormattedNumber", "basicValue": 0.25, "numberFormat": "0%"},
            0.25,
        ),
        ({"type": "Boolean", "basicValue": True}, 1.0),
        ({"type": "Boolean", "basicValue": False}, 0.0),
        ({"type": "Empty", "basicValue": ""}, ""),
        ({"type": "Error", "basicValue": "#N/A", "errorType": "NotAvailable"}, "#N/A"),
        ({"type": "Error", "basicValue": "#SPILL!", "errorType": "Spill"}, "#SPILL!"),
    ],
)
def test_known_rich_values(cell, expected):
    assert cells.apply_elementwise(identity, [[cell]]) == [[expected]]


UNKNOWN_SHAPES = [
    {},
    {"basicValue": 1.5},
    {"type": "Double"},
    {"type": "Double", "basicValue": None},
    {"type": "Double", "basicValue": "1.5"},
    {"type": "Double", "basicValue": True},
    {"type": "Double", "basicValue": [1.5]},
    {"type": "Double", "basicValue": {"type": "Double", "basicValue": 1.5}},
    {"type": "FormattedNumber", "numberFormat": "0.00"},
    {"type": "Boolean", "basicValue": 1},
    {"type": "String", "basicValue": "abc"},
    {"type": "String", "basicValue": "1.5"},
    {"type": "String", "basicValue": "#N/A"},
    {"type": "Error"},
    {"type": "Error", "basicValue": None, "errorType": "NotAvailable"},
    {"type": "Error", "basicValue": "oops"},
    {"type": "Error", "basicValue": ["#N/A"]},
    {"type": "Entity", "text": "Seattle", "properties": {}},
    {"type": "LinkedEntity", "basicValue": "Microsoft"},
    {"type": "WebImage", "basicValue": "#VALUE!", "address": "https://x"},
    {"type": "Array", "elements": [[1.0]]},
    {"type": "Reference", "reference": 0},
    {"type": "double", "basicValue": 1.5},
    {"type": 1, "basicValue": 1.5},
]


@pytest.mark.parametrize("cell", UNKNOWN_SHAPES)
def test_rich_values_of_unknown_shape_are_value_errors(cell):
    assert cells.apply_elementwise(identity, [[cell, 1.0]]) == [["#VALUE!", 1.0]]
    assert cells.apply_elementwise(identity, cell) == "#VALUE!"
    assert softmax([[cell, 1.0], [1.0, 1.0]]) == [
        ["#VALUE!", "#VALUE!"],
        [0.5, 0.5],
    ]


# --- apply_elementwise -------------------------------------------------------


def test_elementwise_cell_rules():
    result = cells.apply_elementwise(
        sigmoid,
        [
            [0.0, "", None, "#N/A"],
            [NA_DICT, "abc", "1.5", True],
            [DIV0_DICT, False, 2, -1.0],
        ],
    )
    assert result == [
        [0.5, "", "", "#N/A"],
        ["#N/A", "#VALUE!", "#VALUE!", 0.7310585786300049],  # book: sigmoid(1)
        ["#DIV/0!", 0.5, 0.8807970779778823, 0.2689414213699951],  # book figures
    ]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (0.0, 0.5),
        (2, 0.8807970779778823),  # book: sigmoid(2)
        (True, 0.7310585786300049),  # TRUE is 1
        ("", ""),
        (None, ""),
        ("#N/A", "#N/A"),
        (NA_DICT, "#N/A"),
        ("1.5", "#VALUE!"),
        ("abc", "#VALUE!"),
    ],
)
def test_single_value_in_single_value_out(cell, expected):
    assert cells.apply_elementwise(sigmoid, cell) == expected


def test_row_in_gives_one_row_out():
    # A 1-D list is one row of cells (Office.js hands a single row that way).
    assert cells.apply_elementwise(sigmoid, [0.0, ""]) == [[0.5, ""]]


def test_column_and_2d_keep_their_shape():
    assert cells.apply_elementwise(sigmoid, [[0.0], [""], ["x"]]) == [
        [0.5],
        [""],
        ["#VALUE!"],
    ]
    result = cells.apply_elementwise(identity, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert result == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


def test_nan_and_inf_results_become_num_error():
    def blow_up(values):
        out = values.copy()
        out[0, 0] = np.nan
        out[0, 1] = np.inf
        out[0, 2] = -np.inf
        return out

    assert cells.apply_elementwise(blow_up, [[1.0, 2.0, 3.0, 4.0]]) == [
        ["#NUM!", "#NUM!", "#NUM!", 4.0]
    ]
    assert cells.apply_elementwise(blow_up, [[1.0, "", "#N/A", 4.0]]) == [
        ["#NUM!", "", "#N/A", 4.0]
    ]


def test_write_returns_plain_python_values():
    result = cells.apply_elementwise(sigmoid, [[0.0, 1.0]])
    assert all(type(v) is float for v in result[0])


# --- apply_grouped -----------------------------------------------------------


def test_softmax_book_figures_through_cells():
    # book, ch. 3 (softmax examples)
    result = softmax([[0.3, 2.9, 4.0], [1010.0, 1000.0, 990.0]])
    assert result[0] == pytest.approx(
        [0.018211273295547531, 0.24519181293507392, 0.73659691376937864], rel=1e-15
    )
    assert result[1] == pytest.approx(
        [0.99995460007033099, 4.5397868608866663e-05, 2.0610600462090622e-09], rel=1e-15
    )


def test_first_error_in_reading_order_fills_the_group():
    grid = [[1.0, "#DIV/0!", "#N/A"], [2.0, 3.0, 4.0], ["abc", 1.0, "#N/A"]]
    assert softmax(grid, "rows") == [
        ["#DIV/0!"] * 3,
        pytest.approx(activations.softmax([2.0, 3.0, 4.0]).tolist(), rel=1e-15),
        ["#VALUE!"] * 3,
    ]
    by_columns = softmax(grid, "columns")
    assert [row[0] for row in by_columns] == ["#VALUE!"] * 3
    assert [row[1] for row in by_columns] == ["#DIV/0!"] * 3
    assert [row[2] for row in by_columns] == ["#N/A"] * 3
    assert softmax(grid, "all") == [["#DIV/0!"] * 3] * 3


def test_error_dict_fills_its_group():
    assert softmax([[1.0, NA_DICT], [1.0, 1.0]]) == [["#N/A", "#N/A"], [0.5, 0.5]]


def test_blank_takes_no_part_in_softmax():
    result = softmax([[1.0, "", 2.0, None]])
    expected = activations.softmax([1.0, 2.0]).tolist()
    assert result[0][1] == "" and result[0][3] == ""
    assert [result[0][0], result[0][2]] == pytest.approx(expected, rel=1e-15)


def test_all_blank_group_stays_blank():
    assert softmax([["", None], [1.0, 1.0]]) == [["", ""], [0.5, 0.5]]
    assert softmax([["", None]]) == [["", ""]]
    assert softmax("") == ""


def test_single_value_softmax_is_one():
    assert softmax(7.0) == 1.0
    assert softmax("#N/A") == "#N/A"


def test_log_softmax_through_cells():
    result = cells.apply_grouped(
        activations.log_softmax, [[0.0, 1000.0, ""]], None, -math.inf
    )
    assert result == [[-1000.0, 0.0, ""]]


@pytest.mark.parametrize(
    ("direction", "shape", "axis"),
    [
        ("rows", (2, 3), 1),
        ("columns", (2, 3), 0),
        ("all", (2, 3), None),
        ("ROWS", (2, 3), 1),
        ("  Columns ", (2, 3), 0),
        ("All", (1, 3), None),
        ("row", (2, 3), 1),
        ("col", (2, 3), 0),
        ("Column", (2, 3), 0),
        ("whole", (2, 3), None),
        ("rows", (1, 3), 1),
        ("columns", (3, 1), 0),
        # blank or missing: automatic
        (None, (1, 3), None),
        ("", (3, 1), None),
        (None, (1, 1), None),
        (None, (2, 3), 1),
        ("", (3, 2), 1),
    ],
)
def test_group_axis(direction, shape, axis):
    assert cells.group_axis(direction, shape) == axis


@pytest.mark.parametrize(
    "direction", ["diagonal", "r", 1, 0.0, True, ["rows"], "rows,columns"]
)
def test_bad_direction_raises_with_the_allowed_values(direction):
    with pytest.raises(cells.ArgumentError) as info:
        cells.group_axis(direction, (2, 2))
    message = str(info.value)
    for allowed in ('"rows"', '"columns"', '"all"'):
        assert allowed in message
    assert repr(direction) in message


def test_every_accepted_direction_is_documented_where_users_read():
    # The help (Excel's function wizard, xlnn functions), the error message
    # and the README list the same values that are accepted.
    from xlnn import udfs

    accepted = [*cells.DIRECTIONS, *cells.DIRECTION_ALIASES]
    assert {"col", "row", "whole"} <= set(accepted)
    with pytest.raises(cells.ArgumentError) as info:
        cells.group_axis("sideways", (2, 2))
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    functions = readme.split("## The Excel functions")[1].split("\n## ")[0]
    for value in accepted:
        cells.group_axis(value, (2, 2))  # accepted: does not raise
        assert f'"{value}"' in str(info.value), value
        assert f'"{value}"' in udfs.DIRECTION_HELP, value
        assert f'`"{value}"`' in functions, value


def test_bad_direction_through_apply_grouped():
    expected = '"rows" (or "row"), "columns" (or "column", "col", "cols") or "all"'
    with pytest.raises(cells.ArgumentError, match=re.escape(expected)):
        softmax([[1.0, 2.0]], "sideways")


def test_argument_error_is_a_value_error():
    assert issubclass(cells.ArgumentError, ValueError)


def test_direction_columns_on_2d():
    result = softmax([[0.0, 1.0], [0.0, 1.0]], "columns")
    assert result == [[0.5, 0.5], [0.5, 0.5]]
    rows = softmax([[0.0, 0.0], [1.0, 1.0]], "rows")
    assert rows == [[0.5, 0.5], [0.5, 0.5]]
    whole = softmax([[0.0, 0.0], [0.0, 0.0]], "all")
    assert whole == [[0.25, 0.25], [0.25, 0.25]]


# --- Single-number arguments (LEAKY_RELU's alpha) ----------------------------------


def leaky(x, alpha, classic=False):
    return cells.apply_elementwise(
        activations.leaky_relu, x, classic, alpha=cells.Number(alpha, 0.01)
    )


X = [[-4.0, "", 3.0], ["#DIV/0!", -0.5, True]]


@pytest.mark.parametrize(
    ("alpha", "slope"),
    [(None, 0.01), ("", 0.01), (0.5, 0.5), (2, 2.0), (True, 1.0), (-0.1, -0.1)],
)
def test_number_argument_as_a_slope(alpha, slope):
    assert leaky(X, alpha) == [[-4.0 * slope, "", 3.0], ["#DIV/0!", -0.5 * slope, 1.0]]


@pytest.mark.parametrize(
    ("alpha", "error"),
    [
        ("#N/A", "#N/A"),
        ("#SPILL!", "#SPILL!"),
        (NA_DICT, "#N/A"),
        (DIV0_DICT, "#DIV/0!"),
        ({"type": "Error", "basicValue": "#CALC!", "errorType": "Calc"}, "#CALC!"),
        ("abc", "#VALUE!"),
        ("0.5", "#VALUE!"),
        ({"type": "String", "basicValue": "0.5"}, "#VALUE!"),
        ({"basicValue": 0.5}, "#VALUE!"),
        (10**400, "#NUM!"),
        (math.nan, "#NUM!"),
        (math.inf, "#NUM!"),
    ],
)
def test_number_argument_error_fills_every_output_cell(alpha, error):
    # Blanks and the input's own errors included: every cell depends on alpha.
    assert leaky(X, alpha) == [[error] * 3] * 2
    assert leaky(-1.0, alpha) == error
    assert leaky([-1.0, 2.0], alpha) == [[error, error]]


@pytest.mark.parametrize(("code", "error"), sorted(COM_ERRORS.items()))
def test_classic_com_error_as_number_argument(code, error):
    assert leaky(X, code, classic=True) == [[error] * 3] * 2
    # Outside classic xlwings the int is a number (a steep slope).
    assert leaky([[-1.0]], code) == [[-float(code)]]


@pytest.mark.parametrize("alpha", [[0.5, 0.6], [[0.5]], [[0.5], [0.6]], (0.5,)])
def test_number_argument_range_is_an_argument_error(alpha):
    with pytest.raises(cells.ArgumentError, match="alpha must be a single number"):
        leaky(X, alpha)


def test_huge_slope_gives_num_errors_not_inf():
    with np.errstate(over="ignore"):  # alpha * x overflows inside NumPy
        assert leaky([[-1e308, 2.0, -1.0]], 1e10) == [["#NUM!", 2.0, -1e10]]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, 0.01), ("", 0.01), (0.5, 0.5), (2, 2.0), (True, 1.0), (-0.1, -0.1)],
)
def test_read_number(value, expected):
    assert cells.read_number(value, "alpha", 0.01, False) == (expected, None)


# --- to_excel: the same shape on every runtime ----------------------------------

RUNTIMES = [None, "1.1", "1.2", "1.3", "1.4", "1.5", "1.10", 1.4, "junk"]
TYPED = {"1.4", "1.5", "1.10", 1.4}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_to_excel_always_gives_rows(runtime):
    assert cells.to_excel(0.5, runtime) == [[0.5]]
    assert cells.to_excel("", runtime) == [[""]]
    assert cells.to_excel([[0.5, ""], [1.0, 2.0]], runtime) == [[0.5, ""], [1.0, 2.0]]
    na = {"type": "Error", "errorType": "NotAvailable"}
    expected = na if runtime in TYPED else "#N/A"
    assert cells.to_excel("#N/A", runtime) == [[expected]]
    assert cells.to_excel([[1.0, "#N/A"]], runtime) == [[1.0, expected]]


# --- Property: random grids of mixed cells ------------------------------------

ALLOWED_STRINGS = {""} | set(cells.ERRORS)

_CELL = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.booleans(),
    st.none(),
    st.just(""),
    st.text(max_size=6),
    st.sampled_from(sorted(cells.ERRORS)),
    st.sampled_from(
        [
            NA_DICT,
            DIV0_DICT,
            {"type": "Error", "basicValue": "#VALUE!", "errorType": "Value"},
        ]
    ),
    st.sampled_from([10**400, -(10**400)]),
    st.builds(
        lambda v: {"type": "Double", "basicValue": v},
        st.floats(allow_nan=False, allow_infinity=False),
    ),
    st.sampled_from(UNKNOWN_SHAPES),
)


@st.composite
def grids(draw):
    rows = draw(st.integers(1, 6))
    columns = draw(st.integers(1, 6))
    return [[draw(_CELL) for _ in range(columns)] for _ in range(rows)]


def _kind(cell):
    """The test's own reading of a cell: ("blank"|"error"|"number", payload)."""
    if cell is None or (isinstance(cell, str) and cell == ""):
        return "blank", None
    if isinstance(cell, dict):
        kind, value = cell.get("type"), cell.get("basicValue")
        if kind == "Double" and type(value) in (int, float):
            return "number", float(value)
        if kind == "Error" and isinstance(value, str) and value in cells.ERRORS:
            return "error", value
        return "error", "#VALUE!"
    if isinstance(cell, str):
        return "error", cell if cell in cells.ERRORS else "#VALUE!"
    if isinstance(cell, int) and abs(cell) > int(np.finfo(np.float64).max):
        return "error", "#NUM!"
    return "number", float(cell)


def _check_shape_and_cells(grid, result):
    assert isinstance(result, list) and len(result) == len(grid)
    for row_in, row_out in zip(grid, result, strict=True):
        assert len(row_out) == len(row_in)
        for cell in row_out:
            if isinstance(cell, str):
                assert cell in ALLOWED_STRINGS
            else:
                assert type(cell) is float and math.isfinite(cell)


# One draw of a grid serves both rules, elementwise and grouped: the grids
# cost more to make than the checks.
@given(grids(), st.sampled_from([None, "", "rows", "columns", "all", "Rows"]))
@settings(max_examples=3 * settings.default.max_examples, deadline=None)
def test_elementwise_and_softmax_on_random_grids(grid, direction):
    _check_elementwise(grid)
    _check_softmax(grid, direction)


def _check_elementwise(grid):
    kinds = [_kind(cell) for row in grid for cell in row]
    numbers = np.array([payload for kind, payload in kinds if kind == "number"])
    for function in (activations.sigmoid, activations.softplus, activations.leaky_relu):
        result = cells.apply_elementwise(function, grid)
        _check_shape_and_cells(grid, result)
        # the function of the numbers alone, in one call, cell by cell in order
        expected = iter(function(numbers).tolist())
        outs = [out for row in result for out in row]
        for (kind, payload), out in zip(kinds, outs, strict=True):
            if kind == "blank":
                assert out == ""
            elif kind == "error":
                assert out == payload
            else:
                value = next(expected)
                assert out == (value if math.isfinite(value) else "#NUM!")


def _groups(shape, axis):
    rows, columns = shape
    if axis is None:
        return [[(r, c) for r in range(rows) for c in range(columns)]]
    if axis == 1:
        return [[(r, c) for c in range(columns)] for r in range(rows)]
    return [[(r, c) for r in range(rows)] for c in range(columns)]


def _check_softmax(grid, direction):
    result = softmax(grid, direction)
    _check_shape_and_cells(grid, result)
    shape = (len(grid), len(grid[0]))
    explicit = {"rows": 1, "columns": 0, "all": None}
    if direction in (None, ""):
        axis = None if 1 in shape else 1  # a row or column is one group; 2-D: rows
    else:
        axis = explicit[direction.lower()]
    for group in _groups(shape, axis):
        kinds = [_kind(grid[r][c]) for r, c in group]
        outs = [result[r][c] for r, c in group]
        errors = [payload for kind, payload in kinds if kind == "error"]
        if errors:
            assert outs == [errors[0]] * len(group)
            continue
        numbers = [
            out for (kind, _), out in zip(kinds, outs, strict=True) if kind == "number"
        ]
        blanks = [
            out for (kind, _), out in zip(kinds, outs, strict=True) if kind == "blank"
        ]
        assert blanks == [""] * len(blanks)
        if numbers:
            assert all(type(v) is float for v in numbers)
            assert math.fsum(numbers) == pytest.approx(1.0, rel=0, abs=1e-12)
            # and each is the softmax of the group's numbers, blanks left out
            inputs = [payload for kind, payload in kinds if kind == "number"]
            expected = activations.softmax(np.array(inputs)).tolist()
            assert numbers == pytest.approx(expected, rel=1e-12, abs=1e-300)


# --- how many cells a call may take and give -------------------------------------


def _grid(rows: int, columns: int) -> list:
    """A rows x columns grid of zeros, cheap to make: one row object, repeated."""
    return [[0.0] * columns] * rows


def _peak_bytes(function, *args) -> int:
    """The most memory Python allocated while ``function(*args)`` ran."""
    tracemalloc.start()
    try:
        with contextlib.suppress(cells.ArgumentError):
            function(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_range_of_max_cells_is_read():
    side = math.isqrt(cells.MAX_CELLS)
    assert side * side == cells.MAX_CELLS  # 2000 x 2000: exactly the limit
    grid = cells.read(_grid(side, side))
    assert grid.values.shape == (side, side)


@pytest.mark.parametrize(
    "shape", [(2000, 2001), (cells.MAX_CELLS + 1, 1), (1, cells.MAX_CELLS + 1)]
)
def test_a_range_beyond_max_cells_is_refused_naming_its_size(shape):
    rows, columns = shape
    with pytest.raises(cells.ArgumentError) as info:
        cells.read(_grid(rows, columns))
    message = str(info.value)
    assert f"{rows} x {columns}" in message
    assert f"{rows * columns:,} cells" in message
    assert f"at most {cells.MAX_CELLS:,}" in message


def test_a_large_range_is_refused_before_it_is_read():
    # Reading 2000 x 2001 cells would allocate at least their 32 MB of floats.
    assert _peak_bytes(cells.read, _grid(2000, 2001)) < 1_000_000


def test_every_runtime_refuses_through_the_same_rules():
    with pytest.raises(cells.ArgumentError, match="at most 4,000,000"):
        cells.apply_elementwise(np.negative, _grid(2001, 2000), True)
    with pytest.raises(cells.ArgumentError, match="at most 4,000,000"):
        softmax(_grid(2001, 2000), "all")


def _dense(x, weights, bias):
    choice = cells.Choice(None, {"identity": lambda sums: sums}, "identity")
    return cells.apply_dense(x, weights, bias, choice)


def test_dense_refuses_a_result_beyond_max_cells_before_multiplying():
    # The call: 0.2 MB in, 100,000,000 cells (800 MB of floats) out.
    x, weights, bias = _grid(10_000, 1), _grid(1, 10_000), _grid(1, 10_000)
    with pytest.raises(cells.ArgumentError) as info:
        _dense(x, weights, bias)
    assert "the result, 10000 x 10000: 100,000,000 cells" in str(info.value)
    assert _peak_bytes(_dense, x, weights, bias) < 1_000_000


def test_dense_counts_x_w_and_b_together():
    # x and W each hold 2,000,000 cells, b two more: 4,000,002 in all.
    x, weights, bias = _grid(2, 1_000_000), _grid(1_000_000, 2), _grid(1, 2)
    with pytest.raises(cells.ArgumentError, match="x, W and b together: 4,000,002"):
        _dense(x, weights, bias)


def test_dense_at_the_limit_computes():
    x, weights, bias = _grid(2000, 1), _grid(1, 2000), _grid(1, 2000)
    result = _dense(x, weights, bias)
    assert len(result) == 2000 and len(result[0]) == 2000


def test_ragged_rows_are_an_argument_error():
    with pytest.raises(cells.ArgumentError, match="same length"):
        cells.read([[1.0, 2.0], [3.0]])
