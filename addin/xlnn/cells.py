"""Cell rules: what Excel hands a function, as arrays, and results back as cells.

Excel (through either xlwings runtime) hands a function a single value, or a
grid of rows holding floats, ints, bools, ``None`` or ``""`` for blanks, text,
and error values. This module turns that into a float64 array plus masks, and
turns a computed array back into what Excel shows, by these rules:

======================  ==================================================
cell                    result cell
======================  ==================================================
number                  computed
TRUE / FALSE            computed as 1 / 0
blank                   blank (in a group: takes no part)
error (#N/A, #DIV/0!)   the same error
text, also "1.5"        #VALUE! (text is never read as a number)
NaN or inf result       #NUM! (they never reach Excel)
======================  ==================================================

In a group (a row, a column or the whole range, see :func:`apply_grouped`), the
first error or text of the group, in reading order, fills every cell of it.
The output has the input's shape; a single value in gives a single value out.
This module knows nothing of activation functions.
"""

from __future__ import annotations

import array
import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

VALUE_ERROR = "#VALUE!"
NUM_ERROR = "#NUM!"
BLANK = ""

#: Excel's error values, as xlwings hands them over as text.
ERRORS = frozenset(
    {
        "#NULL!",
        "#DIV/0!",
        "#VALUE!",
        "#REF!",
        "#NAME?",
        "#NUM!",
        "#N/A",
        "#GETTING_DATA",
        "#SPILL!",
        "#CALC!",
        "#FIELD!",
        "#BLOCKED!",
        "#CONNECT!",
        "#BUSY!",
        "#UNKNOWN!",
        "#PYTHON!",
    }
)

#: Classic xlwings (COM) hands error cells over as these ints when read raw.
CLASSIC_ERROR_CODES = {
    -2146826281: "#DIV/0!",
    -2146826246: "#N/A",
    -2146826259: "#NAME?",
    -2146826288: "#NULL!",
    -2146826252: "#NUM!",
    -2146826265: "#REF!",
    -2146826273: "#VALUE!",
}

_CLASSIC_CODE_VALUES = np.array(sorted(CLASSIC_ERROR_CODES), dtype=np.float64)

_EXCEL_EPOCH = dt.datetime(1899, 12, 30)

# When not every cell is a number, classifying cells by exact type runs at C
# speed through map(); only the few cells that are not plain numbers are then
# looked at one by one.
_NUMBER, _OTHER = 0, 1
_NUMBER_TYPES = {float: _NUMBER, int: _NUMBER, bool: _NUMBER}
_NUMBER_TYPES_CLASSIC = {float: _NUMBER, bool: _NUMBER}


@dataclass(frozen=True)
class Cells:
    """A grid of Excel cells as arrays, all of the same 2-D shape.

    ``values`` holds the numbers (0.0 where a cell is blank or an error),
    ``blank`` marks blank cells, and ``errors`` holds each cell's error text
    (``None`` where there is none), or is ``None`` when no cell has an error.
    ``single`` records that one value, not a range, came in.
    """

    values: np.ndarray
    blank: np.ndarray
    errors: np.ndarray | None
    single: bool = False


def _rows(cells) -> tuple[list, bool]:
    """Return the cells as a list of rows, and whether a single value came in."""
    if not isinstance(cells, (list, tuple)):
        return [[cells]], True
    if len(cells) == 0:
        return [[None]], False
    if not isinstance(cells[0], (list, tuple)):
        return [list(cells)], False
    return cells, False


def _decode(cell, classic: bool) -> tuple[float, bool, str | None]:
    """Return (number, is_blank, error) for one cell that is not a plain number."""
    if cell is None or cell == "":
        return 0.0, True, None
    if isinstance(cell, str):
        return 0.0, False, cell if cell in ERRORS else VALUE_ERROR
    if isinstance(cell, dict):  # Office.js rich values: errors, formatted numbers
        if cell.get("type") == "Error":
            return 0.0, False, cell.get("basicValue") or VALUE_ERROR
        return _decode(cell.get("basicValue"), classic)
    if isinstance(cell, int) and classic and cell in CLASSIC_ERROR_CODES:
        return 0.0, False, CLASSIC_ERROR_CODES[cell]
    if isinstance(cell, dt.datetime):  # a date cell counts as its serial number
        return (cell - _EXCEL_EPOCH) / dt.timedelta(days=1), False, None
    if isinstance(cell, dt.date):
        return float((cell - _EXCEL_EPOCH.date()).days), False, None
    try:
        return float(cell), False, None
    except (TypeError, ValueError):
        # Pyodide's JsNull and anything else without a number are blanks only
        # if they say so; all others are values Excel cannot compute with.
        if type(cell).__name__ == "JsNull":
            return 0.0, True, None
        return 0.0, False, VALUE_ERROR


def _only_numbers(flat: list, classic: bool) -> np.ndarray | None:
    """Return the cells as float64 if every one is a number, else None.

    This is the common case, done at C speed: ``array("d")`` takes floats, ints
    and bools (and numbers such as NumPy scalars, as ``float()`` does) and
    rejects text, blanks, dicts and dates. Classic error ints would pass as
    numbers, so a classic range holding an error code's value returns None.
    """
    try:
        values = np.frombuffer(array.array("d", flat), dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None
    if classic and np.isin(values, _CLASSIC_CODE_VALUES).any():
        return None
    return values


def read(cells, classic: bool = False) -> Cells:
    """Turn what Excel hands a function into :class:`Cells`.

    ``cells`` is a scalar, a row (list) or a list of rows. Set ``classic`` for
    classic xlwings on Windows, where error cells arrive as COM error ints.
    """
    rows, single = _rows(cells)
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        raise ValueError("all rows of a range must have the same length")
    shape = (len(rows), width)
    flat = list(itertools.chain.from_iterable(rows))
    values = _only_numbers(flat, classic)
    if values is not None:
        return Cells(values.reshape(shape), np.zeros(shape, dtype=bool), None, single)
    kinds = _NUMBER_TYPES_CLASSIC if classic else _NUMBER_TYPES
    kind = np.fromiter(
        map(kinds.get, map(type, flat), itertools.repeat(_OTHER)),
        dtype=np.int8,
        count=len(flat),
    )
    others = np.flatnonzero(kind)
    blank = np.zeros(len(flat), dtype=bool)
    errors = None
    if others.size:
        errors = np.full(len(flat), None, dtype=object)
        for i in others.tolist():
            flat[i], blank[i], errors[i] = _decode(flat[i], classic)
        if not any(e is not None for e in errors[others]):
            errors = None
        else:
            errors = errors.reshape(shape)
    values = np.fromiter(flat, dtype=np.float64, count=len(flat)).reshape(shape)
    return Cells(values, blank.reshape(shape), errors, single)


def write(result: np.ndarray, cells: Cells):
    """Turn a result computed from ``cells`` into what Excel shows.

    Blanks stay blank, errors stay errors, and NaN or inf becomes ``#NUM!``.
    Returns a list of rows of floats and strings, or a single value when a
    single value came in.
    """
    result = np.asarray(result, dtype=np.float64)
    not_finite = ~np.isfinite(result)
    if not (not_finite.any() or cells.blank.any() or cells.errors is not None):
        out = result.tolist()
    else:
        shown = result.astype(object)
        shown[not_finite] = NUM_ERROR
        shown[cells.blank] = BLANK
        if cells.errors is not None:
            has_error = cells.errors != None  # noqa: E711 (elementwise)
            shown[has_error] = cells.errors[has_error]
        out = shown.tolist()
    return out[0][0] if cells.single else out


#: Office.js custom functions (runtime 1.4+) return errors as typed values;
#: these seven are the only errors a custom function can return.
OFFICE_JS_ERROR_TYPES = {
    "#DIV/0!": "Div0",
    "#N/A": "NotAvailable",
    "#NAME?": "Name",
    "#NULL!": "Null",
    "#NUM!": "Num",
    "#REF!": "Ref",
    "#VALUE!": "Value",
}


def _officejs_error(text: str) -> dict:
    error_type = OFFICE_JS_ERROR_TYPES.get(text, "Value")
    return {"type": "Error", "errorType": error_type}


def to_officejs(shown):
    """Encode what :func:`write` returned for an Office.js custom function.

    Error text becomes Excel's typed error value; an error no custom function
    can return (#SPILL!, #CALC!, #BUSY!, ...) becomes #VALUE!. A single value
    becomes a 1x1 grid, since Office.js functions always return a matrix.
    """
    rows = shown if isinstance(shown, list) else [[shown]]
    return [
        [_officejs_error(c) if c.__class__ is str and c else c for c in row]
        for row in rows
    ]


def apply_elementwise(function: Callable, cells, classic: bool = False):
    """Apply an element-wise ``function`` to Excel ``cells`` by the cell rules."""
    grid = read(cells, classic)
    return write(function(grid.values), grid)


#: SOFTMAX's ``direction`` argument: which cells form one group.
DIRECTIONS = {"rows": 1, "columns": 0, "all": None}
_DIRECTION_ALIASES = {
    "row": "rows",
    "column": "columns",
    "col": "columns",
    "cols": "columns",
    "whole": "all",
    "range": "all",
}


class ArgumentError(ValueError):
    """An argument that is not a range (``direction``, ``alpha``) is invalid."""


def group_axis(direction, shape: tuple[int, int]) -> int | None:
    """Return the axis whose groups ``direction`` names, for a range of ``shape``.

    ``direction`` is ``"rows"``, ``"columns"`` or ``"all"`` (any case; blank or
    missing means automatic): a single row or column is one group, and a 2-D
    range is grouped by rows, since each row is one sample.
    """
    if direction is None or direction == "" or type(direction).__name__ == "JsNull":
        return None if 1 in shape else DIRECTIONS["rows"]
    key = str(direction).strip().lower() if isinstance(direction, str) else None
    key = _DIRECTION_ALIASES.get(key, key)
    if key not in DIRECTIONS:
        raise ArgumentError(
            'direction must be "rows", "columns" or "all", or left out; '
            f"got {direction!r}"
        )
    return DIRECTIONS[key]


def number_argument(value, name: str, default: float) -> float:
    """Read a single-number argument such as ``alpha``; blank means ``default``."""
    if isinstance(value, (list, tuple)):
        raise ArgumentError(f"{name} must be a single number, not a range")
    number, is_blank, error = _decode(value, classic=False)
    if is_blank:
        return default
    if error is not None or not np.isfinite(number):
        raise ArgumentError(f"{name} must be a number; got {value!r}")
    return number


def _first_error_fills_group(errors: np.ndarray, axis: int | None) -> np.ndarray:
    """Spread each group's first error (in reading order) over the whole group."""
    has_error = errors != None  # noqa: E711 (elementwise)
    if axis is None:
        first = errors.flat[np.argmax(has_error)] if has_error.any() else None
        return np.full(errors.shape, first, dtype=object)
    first_index = np.expand_dims(np.argmax(has_error, axis=axis), axis)
    first = np.take_along_axis(errors, first_index, axis=axis)
    return np.broadcast_to(first, errors.shape).copy()


def apply_grouped(
    function: Callable, cells, direction, blank_value: float, classic: bool = False
):
    """Apply ``function(values, axis)`` to groups of cells named by ``direction``.

    Groups are rows, columns or the whole range (see :func:`group_axis`).
    Blank cells enter the computation as ``blank_value`` (chosen by the caller
    so that they take no part) and come out blank; an error or text anywhere
    in a group makes every cell of that group that error.
    """
    grid = read(cells, classic)
    axis = group_axis(direction, grid.values.shape)
    values = np.where(grid.blank, blank_value, grid.values)
    result = function(values, axis)
    errors = grid.errors
    if errors is not None:
        errors = _first_error_fills_group(errors, axis)
    return write(result, Cells(values, grid.blank, errors, grid.single))
