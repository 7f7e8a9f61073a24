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
a date                  its serial number (the wall-clock date and time shown)
integer beyond float64  #NUM!
Office.js rich value    a number for Double, FormattedNumber and Boolean;
                        #VALUE! for text and for any other or broken shape
NaN or inf result       #NUM! (they never reach Excel)
======================  ==================================================

In a group (a row, a column or the whole range, see :func:`apply_grouped`), the
first error or text of the group, in reading order, fills every cell of it.
A single-number argument (LEAKY_RELU's ``alpha``, see :class:`Number`) that is
an error fills every output cell with that error, and text fills them with
#VALUE!. The output has the input's shape; a single value in gives a single
value out, and :func:`to_excel` makes every result a list of rows for xlwings.
A dense layer (:func:`apply_dense`, DENSE) goes row by row: each row of x is
one sample, and W and b must hold numbers only. A loss (:func:`apply_loss`)
gives one cell from two ranges: the first error, or the number.
No call takes in or gives back more than :data:`MAX_CELLS` cells: a larger
one is an :class:`ArgumentError`, raised before any cell is read.
This module knows nothing of activation functions.
"""

from __future__ import annotations

import array
import datetime as dt
import itertools
from collections.abc import Callable, Mapping
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

#: Classic Excel's error values, by their number in Microsoft's XlCVError
#: enumeration (the ``n`` of VBA's ``CVErr(n)``). Microsoft's reference lists
#: 2000-2045, xlErrNull to xlErrSpill (learn.microsoft.com/office/vba/api/
#: excel.xlcverror; MicrosoftDocs/VBA-Docs, api/Excel.XlCVError.md). The other
#: members are in Excel's type library, as com4j generated it from there in
#: exceljava/jinx-com4j (jinx-com4j/src/main/java/com/exceljava/com4j/excel/
#: XlCVError.java): xlErrGettingData 2043, xlErrConnect 2046, xlErrBlocked 2047,
#: xlErrUnknown 2048, xlErrField 2049, xlErrCalc 2050. Neither has a member for
#: #BUSY!, so no COM code for it is known (see :func:`classic_error`).
XL_CV_ERRORS = {
    2000: "#NULL!",
    2007: "#DIV/0!",
    2015: "#VALUE!",
    2023: "#REF!",
    2029: "#NAME?",
    2036: "#NUM!",
    2042: "#N/A",
    2043: "#GETTING_DATA",
    2045: "#SPILL!",
    2046: "#CONNECT!",
    2047: "#BLOCKED!",
    2048: "#UNKNOWN!",
    2049: "#FIELD!",
    2050: "#CALC!",
}

# COM passes CVErr(n) as a VT_ERROR variant whose SCODE is 0x800A0000 + n, and
# pywin32 hands that over as a signed 32-bit int: #DIV/0! (2007) is -2146826281,
# as in xlwings' own table (xlwings/_xlwindows.py, cell_errors).
_CVERR_BASE = 0x800A0000 - 2**32
_CVERR_LAST = _CVERR_BASE + 0xFFFF  # CVErr takes 0 to 65535

#: Classic xlwings (COM) hands error cells over as these ints when read raw.
CLASSIC_ERROR_CODES = {_CVERR_BASE + n: text for n, text in XL_CV_ERRORS.items()}

_EXCEL_EPOCH = dt.datetime(1899, 12, 30)

# When not every cell is a number, classifying cells by exact type runs at C
# speed through map(); only the few cells that are not plain numbers are then
# looked at one by one.
_NUMBER, _OTHER = 0, 1
_NUMBER_TYPES = {float: _NUMBER, int: _NUMBER, bool: _NUMBER}
_NUMBER_TYPES_CLASSIC = {float: _NUMBER, bool: _NUMBER}


#: The most cells one function call takes in (all its ranges together) and
#: gives back. A cell costs about 200 bytes on its way through a call (the
#: JSON text, Python's list of floats, the float64 arrays, the list of results
#: and its JSON), so 4,000,000 cells keep one call under about 1 GB while a
#: 1000 x 1000 range (the benchmarks') fits four times over. See
#: :func:`check_cells`.
MAX_CELLS = 4_000_000


class ArgumentError(ValueError):
    """An argument Excel cannot compute with: a bad ``direction`` or ``alpha``,
    an unknown name, shapes that do not fit, or too many cells.

    The message says what is wrong and what would do; the adapters in
    :mod:`xlnn.udfs` hand it on to Excel, where it shows instead of a result.
    """


def check_cells(count: int, what: str) -> None:
    """Refuse, before any work, a call that would take or give more than
    :data:`MAX_CELLS` cells.

    ``what`` names the cells counted (``"the range is 3000 x 3000"``).

    >>> check_cells(4_000_000, "the range")
    >>> check_cells(4_000_001, "the range")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xlnn.functions.cells.ArgumentError: the range: 4,000,001 cells; ...
    """
    if count > MAX_CELLS:
        raise ArgumentError(
            f"{what}: {count:,} cells; xlnn's functions take and return at most "
            f"{MAX_CELLS:,} cells per call: split the range into smaller ones"
        )


def _size(cells) -> tuple[int, int]:
    """The (rows, columns) of what Excel handed over, without reading a cell."""
    rows, _ = _rows(cells)
    return len(rows), len(rows[0])


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


def as_rows(raw) -> list[list]:
    """What xlwings read from a range, as a list of rows (lists): it gives one
    cell as a value, and one row or column as a flat list.

    >>> as_rows(1.5), as_rows([1, 2]), as_rows([[1], [2]])
    ([[1.5]], [[1, 2]], [[1], [2]])
    """
    if not isinstance(raw, (list, tuple)):
        return [[raw]]
    if raw and not isinstance(raw[0], (list, tuple)):
        return [list(raw)]
    return [list(row) for row in raw]


def _rows(cells) -> tuple[list, bool]:
    """Return the cells as a list of rows, and whether a single value came in."""
    if not isinstance(cells, (list, tuple)):
        return [[cells]], True
    if len(cells) == 0:
        return [[None]], False
    if not isinstance(cells[0], (list, tuple)):
        return [list(cells)], False
    return cells, False


_Decoded = tuple[float, bool, "str | None"]  # (number, is blank, error text)

_BLANK: _Decoded = (0.0, True, None)


def _error(text: str) -> _Decoded:
    return 0.0, False, text


def classic_error(code: int) -> str | None:
    """Return the error text of a classic (COM) error int, or None if it is none.

    Every int of the ``CVErr`` form is an error, so that a code no table here
    knows (#BUSY!, or one a later Excel adds) is never computed as a number; it
    shows as #VALUE!. Only error cells reach a function as ints through COM:
    numbers arrive as floats.

    >>> classic_error(-2146826243), classic_error(-2146828288 + 2051)
    ('#SPILL!', '#VALUE!')
    """
    if _CVERR_BASE <= code <= _CVERR_LAST:
        return CLASSIC_ERROR_CODES.get(code, VALUE_ERROR)
    return None


def _number(value) -> _Decoded:
    """A number cell; an int beyond float64 (Python ints have no bound) is #NUM!."""
    try:
        return float(value), False, None
    except OverflowError:
        return _error(NUM_ERROR)


def _text(text: str) -> _Decoded:
    return _error(text if text in ERRORS else VALUE_ERROR)


def _serial(moment: dt.date) -> float:
    """Excel's serial number of a date or datetime, as the cell shows it.

    pywin32 hands dates over with a tzinfo; Excel reads the wall-clock date
    and time, so the tzinfo is dropped, not converted, as xlwings' own reader
    does (xlwings/_xlwindows.py, _com_time_to_datetime).
    """
    if not isinstance(moment, dt.datetime):
        return float((moment - _EXCEL_EPOCH.date()).days)
    wall_clock = dt.datetime(
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
    )
    return (wall_clock - _EXCEL_EPOCH) / dt.timedelta(days=1)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _decode_rich(cell: dict) -> _Decoded:
    """Decode an Office.js cell value, a dict with a ``type`` and ``basicValue``.

    xlwings registers its functions with ``allowCustomDataForDataTypeAny``, so
    Excel may send any ``Excel.CellValueType`` (learn.microsoft.com/javascript/
    api/excel/excel.cellvaluetype): Array, Boolean, Double, Empty, Entity,
    Error, ExternalCodeServiceObject, FormattedNumber, Function, LinkedEntity,
    LocalImage, NotAvailable, Reference, String, WebImage. Errors keep their
    text, numbers and booleans compute, Empty is blank; anything else, and any
    of these with a missing or mistyped ``basicValue``, is #VALUE!.
    """
    kind, value = cell.get("type"), cell.get("basicValue")
    if kind == "Error":
        known = isinstance(value, str) and value in ERRORS
        return _error(value if known else VALUE_ERROR)
    if kind == "Empty":
        return _BLANK
    if kind in ("Double", "FormattedNumber") and _is_number(value):
        return _number(value)
    if kind == "Boolean" and isinstance(value, bool):
        return float(value), False, None
    return _error(VALUE_ERROR)


def _decode(cell, classic: bool) -> _Decoded:
    """Return (number, is_blank, error) for one cell that is not a plain float."""
    if cell is None or (isinstance(cell, str) and cell == ""):
        return _BLANK
    if isinstance(cell, str):
        return _text(cell)
    if isinstance(cell, dict):
        return _decode_rich(cell)
    if isinstance(cell, int) and not isinstance(cell, bool):
        error = classic_error(cell) if classic else None
        return _error(error) if error else _number(cell)
    if isinstance(cell, dt.date):  # a date cell counts as its serial number
        return _serial(cell), False, None
    if type(cell).__name__ == "JsNull":  # Pyodide's JavaScript null: a blank
        return _BLANK
    try:
        return _number(cell)
    except (TypeError, ValueError):
        return _error(VALUE_ERROR)  # nothing Excel could compute with


def _only_numbers(flat: list, classic: bool) -> np.ndarray | None:
    """Return the cells as float64 if every one is a number, else None.

    This is the common case, done at C speed: ``array("d")`` takes floats, ints
    and bools (and numbers such as NumPy scalars, as ``float()`` does) and
    rejects text, blanks, dicts, dates and ints beyond float64. Classic error
    ints would pass as numbers, so a classic range holding a value in their
    range returns None (a float there is then still read as a number).
    """
    try:
        values = np.frombuffer(array.array("d", flat), dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None
    if classic and ((values >= _CVERR_BASE) & (values <= _CVERR_LAST)).any():
        return None
    return values


def _decode_all(flat: list, indices, classic: bool, blank, errors) -> bool:
    """Decode the cells at ``indices`` in place; return whether one is an error."""
    any_error = False
    for i in indices:
        flat[i], blank[i], errors[i] = _decode(flat[i], classic)
        any_error = any_error or errors[i] is not None
    return any_error


def read(cells, classic: bool = False) -> Cells:
    """Turn what Excel hands a function into :class:`Cells`.

    ``cells`` is a scalar, a row (list) or a list of rows. Set ``classic`` for
    classic xlwings on Windows, where error cells arrive as COM error ints.
    """
    rows, single = _rows(cells)
    width = len(rows[0])
    check_cells(len(rows) * width, f"a range of {len(rows)} x {width}")
    if any(len(row) != width for row in rows):
        raise ArgumentError("all rows of a range must have the same length")
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
    blank = np.zeros(len(flat), dtype=bool)
    errors = np.full(len(flat), None, dtype=object)
    others = np.flatnonzero(kind).tolist()
    any_error = _decode_all(flat, others, classic, blank, errors)
    try:
        values = np.fromiter(flat, dtype=np.float64, count=len(flat))
    except OverflowError:  # an int beyond float64 among the numbers: #NUM!
        ints = [i for i, cell in enumerate(flat) if type(cell) is int]
        any_error = _decode_all(flat, ints, classic, blank, errors) or any_error
        values = np.fromiter(flat, dtype=np.float64, count=len(flat))
    errors = errors.reshape(shape) if any_error else None
    return Cells(values.reshape(shape), blank.reshape(shape), errors, single)


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


def _takes_typed_errors(runtime) -> bool:
    """Whether an Office.js custom functions ``runtime`` ("1.4") is 1.4 or later.

    Compared as a version, so that a "1.10" would count as later than "1.4".
    """
    try:
        version = tuple(int(part) for part in str(runtime).split("."))
    except ValueError:  # None (classic xlwings) or anything unreadable
        return False
    return version >= (1, 4)


def to_excel(shown, runtime=None) -> list:
    """Encode what :func:`write` returned as xlwings hands it to Excel.

    Always a list of rows, a single value as a 1x1 grid, on every runtime:
    Office.js custom functions return a matrix, and xlwings' own converters
    make every result 2-D (``Ensure2DStage``) for classic xlwings too, where a
    single cell shows a 1x1 array's value. ``runtime`` is the Office.js custom
    functions runtime xlwings passes on ("1.4"); from 1.4 on, errors become
    typed values (:func:`to_officejs`). Below 1.4, and in classic xlwings
    (``runtime`` None), they stay text, as in xlwings' own Office.js engine
    (xlwings/pro/_xlofficejs.py, errorstr_to_errortype).

    >>> to_excel(0.5), to_excel("#N/A", "1.3"), to_excel("#N/A", "1.4")
    ([[0.5]], [['#N/A']], [[{'type': 'Error', 'errorType': 'NotAvailable'}]])
    """
    if _takes_typed_errors(runtime):
        return to_officejs(shown)
    return shown if isinstance(shown, list) else [[shown]]


@dataclass(frozen=True)
class Number:
    """A single-number argument, such as LEAKY_RELU's ``alpha``, as Excel sent it.

    ``value`` is the argument as handed over; blank or missing means
    ``default``. See :func:`read_number`.
    """

    value: object
    default: float


def read_number(
    value, name: str, default: float, classic: bool = False
) -> tuple[float, str | None]:
    """Read a single-number argument: ``(number, None)`` or ``(nan, error)``.

    A blank gives ``default``; an error (text such as "#N/A", an Office.js
    error value, a classic COM error int) gives that error; text gives
    #VALUE!; NaN or inf (possible only from Python) gives #NUM!. A range is
    not a single number: it raises :class:`ArgumentError`.
    """
    if isinstance(value, (list, tuple)):
        raise ArgumentError(f"{name} must be a single number, not a range")
    number, is_blank, error = _decode(value, classic)
    if is_blank:
        return float(default), None
    if error is None and not np.isfinite(number):
        error = NUM_ERROR
    return (np.nan, error) if error is not None else (number, None)


def read_optional_number(
    value, name: str, classic: bool = False
) -> tuple[float | None, str | None]:
    """As :func:`read_number`, but a blank gives ``(None, None)``: not given.

    >>> read_optional_number(None, "parameter"), read_optional_number(0.5, "parameter")
    ((None, None), (0.5, None))
    """
    if not isinstance(value, (list, tuple)) and _decode(value, classic)[1]:
        return None, None
    number, error = read_number(value, name, np.nan, classic)
    return (None, error) if error is not None else (number, None)


def _every_cell(grid: Cells, error: str):
    """What Excel shows when ``error`` fills every cell of ``grid``'s shape."""
    errors = np.full(grid.values.shape, error, dtype=object)
    return write(grid.values, Cells(grid.values, grid.blank, errors, grid.single))


def apply_elementwise(
    function: Callable, cells, classic: bool = False, **numbers: Number
):
    """Apply an element-wise ``function`` to Excel ``cells`` by the cell rules.

    ``numbers`` are further single-number arguments, each passed on to
    ``function`` by its name once read (:func:`read_number`). One that is an
    error, or text, makes every output cell that error (or #VALUE!), since
    every cell depends on it. For example, LEAKY_RELU's adapter is
    ``apply_elementwise(leaky_relu, x, classic, alpha=Number(alpha, 0.01))``.
    """
    grid = read(cells, classic)
    arguments = {}
    for name, number in numbers.items():
        value, error = read_number(number.value, name, number.default, classic)
        if error is not None:
            return _every_cell(grid, error)
        arguments[name] = value
    return write(function(grid.values, **arguments), grid)


#: SOFTMAX's ``direction`` argument: which cells form one group.
DIRECTIONS = {"rows": 1, "columns": 0, "all": None}
#: Other words Excel users type for a direction, accepted as that direction
#: (refusing "row" for "rows" would only annoy); the help lists them.
DIRECTION_ALIASES = {
    "row": "rows",
    "column": "columns",
    "col": "columns",
    "cols": "columns",
    "whole": "all",
    "range": "all",
}


def _with_aliases(direction: str) -> str:
    aliases = [f'"{a}"' for a, meant in DIRECTION_ALIASES.items() if meant == direction]
    return f'"{direction}" (or {", ".join(aliases)})' if aliases else f'"{direction}"'


#: Every accepted value, as the function's help and its error message say it:
#: '"rows" (or "row"), "columns" (or "column", "col", "cols") or "all" (...)'.
_LISTED = [_with_aliases(direction) for direction in DIRECTIONS]
DIRECTION_CHOICES = f"{', '.join(_LISTED[:-1])} or {_LISTED[-1]}"


def group_axis(direction, shape: tuple[int, int]) -> int | None:
    """Return the axis whose groups ``direction`` names, for a range of ``shape``.

    ``direction`` is ``"rows"``, ``"columns"`` or ``"all"``, or one of their
    :data:`DIRECTION_ALIASES` (any case; blank or missing means automatic): a
    single row or column is one group, and a 2-D range is grouped by rows,
    since each row is one sample.
    """
    if direction is None or direction == "" or type(direction).__name__ == "JsNull":
        return None if 1 in shape else DIRECTIONS["rows"]
    key = str(direction).strip().lower() if isinstance(direction, str) else None
    key = DIRECTION_ALIASES.get(key, key)
    if key not in DIRECTIONS:
        raise ArgumentError(
            f"direction must be {DIRECTION_CHOICES}, or left out; got {direction!r}"
        )
    return DIRECTIONS[key]


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


@dataclass(frozen=True)
class Choice:
    """A name argument, such as DENSE's ``activation``, as Excel sent it.

    ``choices`` maps each accepted name (lower case, ``_`` between words) to
    what it stands for; blank or missing means ``default``. See
    :func:`read_choice`.
    """

    value: object
    choices: Mapping[str, object]
    default: str
    argument: str = "the argument"


def read_choice(choice: Choice, classic: bool = False) -> tuple[object, str | None]:
    """Read a name argument: ``(what it stands for, None)`` or ``(None, error)``.

    Names are read in any case, with spaces or hyphens for underscores
    (``"Log-Softmax"`` is ``log_softmax``). A blank gives the default; an error
    cell gives that error, which then fills every output cell, as for
    :func:`read_number`. An unknown name, a number or a range raises
    :class:`ArgumentError`, listing the names.

    >>> read_choice(Choice(" ReLU ", {"relu": 1, "identity": 2}, "identity"))
    (1, None)
    >>> read_choice(Choice(None, {"relu": 1, "identity": 2}, "identity"))
    (2, None)
    """
    value, choices = choice.value, choice.choices
    names = ", ".join(choices)
    if isinstance(value, (list, tuple)):
        raise ArgumentError(
            f"{choice.argument} must be one name ({names}), not a range"
        )
    _, is_blank, error = _decode(value, classic)
    if is_blank:
        return choices[choice.default], None
    if isinstance(value, str) and value not in ERRORS:
        key = value.strip().lower().replace("-", "_").replace(" ", "_")
        if key in choices:
            return choices[key], None
    elif error is not None:
        return None, error
    raise ArgumentError(
        f"{choice.argument} must be one of {names}, or left out; got {value!r}"
    )


def _shape_text(grid: Cells) -> str:
    rows, columns = grid.values.shape
    return f"{rows} x {columns}"


def _layer_outputs(x: Cells, weights: Cells, bias: Cells) -> int:
    """Check that x, W and b make a layer; return its number of outputs.

    ``b`` is a row of one value per column of W, or such a column.
    """
    n_in, n_out = weights.values.shape
    if x.values.shape[1] != n_in:
        raise ArgumentError(
            f"x has {x.values.shape[1]} columns but W has {n_in} rows: W needs "
            f"one row per input, x one sample per row (x is {_shape_text(x)}, "
            f"W is {_shape_text(weights)})"
        )
    if 1 not in bias.values.shape or bias.values.size != n_out:
        raise ArgumentError(
            f"b must be a row of {n_out} values, one per column of W "
            f"(W is {_shape_text(weights)}, b is {_shape_text(bias)})"
        )
    return n_out


def _first_unusable(grid: Cells) -> str | None:
    """The error of a constant range's first blank, text or error cell, or None.

    A blank is #VALUE! (a missing weight is not a zero), text is #VALUE!, an
    error is itself; the first in reading order counts.
    """
    unusable = grid.blank.copy()
    if grid.errors is not None:
        unusable |= grid.errors != None  # noqa: E711 (elementwise)
    if not unusable.any():
        return None
    first = int(np.argmax(unusable.reshape(-1)))
    error = None if grid.errors is None else grid.errors.reshape(-1)[first]
    return error if error is not None else VALUE_ERROR


def _row_errors(x: Cells) -> tuple[np.ndarray, np.ndarray]:
    """Each row's error (None where the row computes), and which rows are blank.

    A row with an error or text takes its first (reading order); a row with
    some blanks among numbers is #VALUE!, since a missing input is not a zero.
    """
    blank_rows = x.blank.all(axis=1)
    row_errors = np.full(x.values.shape[0], None, dtype=object)
    if x.errors is not None:
        has_error = x.errors != None  # noqa: E711 (elementwise)
        first = np.argmax(has_error, axis=1)
        in_error = has_error.any(axis=1)
        row_errors[in_error] = x.errors[np.flatnonzero(in_error), first[in_error]]
    partly_blank = x.blank.any(axis=1) & ~blank_rows & (row_errors == None)  # noqa: E711
    row_errors[partly_blank] = VALUE_ERROR
    return row_errors, blank_rows


def _weighted_sums(values: np.ndarray, weights: Cells, bias: Cells) -> np.ndarray:
    """x . W + b; a sum that overflows is NaN, so that it shows as #NUM!.

    NaN, not inf: an activation such as sigmoid would squash inf into a number
    and hide the overflow.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        sums = values @ weights.values + bias.values.reshape(1, -1)
    sums[~np.isfinite(sums)] = np.nan
    return sums


def apply_dense(
    x, weights, bias, activation: Choice, classic: bool = False, parameter=None
):
    """One dense layer, ``activation(x . W + b)``, on Excel cells, row by row.

    ``x`` holds one sample per row (n_in columns), ``weights`` (W) is
    n_in x n_out and ``bias`` (b) a row of n_out (a column is taken too); the
    result has one row per row of x and n_out columns. ``activation`` names
    the function applied to the whole (rows x n_out) array of sums, which
    must treat each row as one sample (a softmax normalizes each row).

    Rules, row by row: a row of blanks gives a row of blanks; a row holding
    errors or text gives its first (reading order) in every cell of that row,
    #VALUE! for text; a row with some blanks among numbers gives #VALUE!;
    other rows compute, TRUE/FALSE as 1/0. A blank, text or error anywhere in
    W or b, or an error as the activation, makes every output cell one error:
    the first (reading order: W, then b), a blank or text being #VALUE!.
    A sum or result that is NaN or inf is #NUM!.

    ``parameter`` is the activation's single-number argument as Excel sent
    it (LEAKY_RELU's alpha), read by :func:`read_optional_number`: a blank
    calls ``function(sums)``, a number ``function(sums, number)``, and an
    error or text fills every output cell like an error in W.

    Shapes that do not make a layer, an unknown activation name, and more
    than :data:`MAX_CELLS` cells in (x, W and b together) or out raise
    :class:`ArgumentError`, the cell counts before any cell is read.
    """
    sizes = [_size(x), _size(weights), _size(bias)]
    check_cells(
        sum(rows * columns for rows, columns in sizes),
        "x, W and b together",
    )
    # x's rows and W's columns give the output's shape before any sum is made.
    out_rows, out_columns = sizes[0][0], sizes[1][1]
    check_cells(out_rows * out_columns, f"the result, {out_rows} x {out_columns}")
    grid = read(x, classic)
    weight_cells = read(weights, classic)
    bias_cells = read(bias, classic)
    n_out = _layer_outputs(grid, weight_cells, bias_cells)
    function, activation_error = read_choice(activation, classic)
    number, parameter_error = read_optional_number(parameter, "parameter", classic)
    shape = (grid.values.shape[0], n_out)
    zeros = np.zeros(shape)
    error = (
        _first_unusable(weight_cells)
        or _first_unusable(bias_cells)
        or activation_error
        or parameter_error
    )
    if error is not None:
        errors = np.full(shape, error, dtype=object)
        return write(zeros, Cells(zeros, np.zeros(shape, dtype=bool), errors))
    row_errors, blank_rows = _row_errors(grid)
    skipped = blank_rows | (row_errors != None)  # noqa: E711 (elementwise)
    values = np.where(skipped[:, None], 0.0, grid.values)
    sums = _weighted_sums(values, weight_cells, bias_cells)
    with np.errstate(invalid="ignore"):
        result = function(sums) if number is None else function(sums, number)
    errors = None
    if not np.all(row_errors == None):  # noqa: E711 (elementwise)
        errors = np.broadcast_to(row_errors[:, None], shape)
    blank = np.broadcast_to(blank_rows[:, None], shape)
    return write(result, Cells(zeros, blank, errors))


def _loss_targets(y: Cells, t: Cells) -> tuple[bool, bool]:
    """How ``t`` fits ``y`` for a loss: (one sample?, t holds class indices?).

    A single row or column of ``y`` is one sample, and ``t`` is a row or
    column of as many cells, or one cell holding its class index. Any other
    ``y`` is a batch, one sample per row, and ``t`` has its shape or is one
    column of a class index per row. Anything else is an ArgumentError.
    """
    rows, columns = y.values.shape
    t_rows, t_columns = t.values.shape
    if rows == 1 or columns == 1:
        if 1 in (t_rows, t_columns) and t.values.size == y.values.size:
            return True, False
        if t.values.size == 1:
            return True, True
        raise ArgumentError(
            f"y is one sample of {y.values.size} values ({_shape_text(y)}), so t "
            f"must be a row or column of {y.values.size} targets or one cell "
            f"holding the class index (t is {_shape_text(t)})"
        )
    if (t_rows, t_columns) == (rows, columns):
        return False, False
    if (t_rows, t_columns) == (rows, 1):
        return False, True
    raise ArgumentError(
        f"y is {_shape_text(y)}, one sample per row, so t must be {rows} x "
        f"{columns} (the targets, one-hot) or {rows} x 1 (one class index per "
        f"row), not {_shape_text(t)}"
    )


def apply_loss(function: Callable, y, t, classic: bool = False):
    """A loss of :mod:`xlnn.losses` on Excel cells: one number, by the cell rules.

    ``function(y, t)`` takes a 1-D ``y`` (one sample) or a 2-D one (a batch,
    one sample per row) and ``t`` as targets of ``y``'s shape or as class
    indices (see :func:`_loss_targets` for which ranges fit). Rules:

    - An error in ``y`` or ``t`` is the result: the first in reading order,
      ``y`` before ``t``; text is #VALUE!.
    - A sample whose cells, in ``y`` and in ``t``, are all blank takes no
      part (the mean is over the others); when no sample is left the result
      is blank. A sample with some blanks is #VALUE!: a missing value is not
      a zero.
    - TRUE/FALSE are 1/0; a NaN or inf result is #NUM!.

    Ranges that do not fit each other, a class index that is not a whole
    number from 0 to ``y``'s columns minus 1 (the function's ``ValueError``)
    and more than :data:`MAX_CELLS` cells in ``y`` and ``t`` together raise
    :class:`ArgumentError`.
    """
    (y_rows, y_columns), (t_rows, t_columns) = _size(y), _size(t)
    check_cells(y_rows * y_columns + t_rows * t_columns, "y and t together")
    y_cells, t_cells = read(y, classic), read(t, classic)
    one_sample, indices = _loss_targets(y_cells, t_cells)
    error = _first_error(y_cells) or _first_error(t_cells)
    if error is not None:
        return _one_cell(error=error)
    y_blank, t_blank = y_cells.blank, t_cells.blank
    if one_sample:  # the whole range is one sample, as one row
        y_blank, t_blank = y_blank.reshape(1, -1), t_blank.reshape(1, -1)
    blank_samples = y_blank.all(axis=1) & t_blank.all(axis=1)
    partly_blank = y_blank.any(axis=1) | t_blank.any(axis=1)
    if (partly_blank & ~blank_samples).any():
        return _one_cell(error=VALUE_ERROR)
    if blank_samples.all():
        return _one_cell(blank=True)
    y_values, t_values = y_cells.values, t_cells.values
    if one_sample:
        y_values = y_values.reshape(-1)
        t_values = t_values.reshape(()) if indices else t_values.reshape(-1)
    else:
        keep = ~blank_samples
        y_values, t_values = y_values[keep], t_values[keep]
    try:
        result = function(y_values, t_values)
    except ValueError as problem:  # a class index out of range
        raise ArgumentError(str(problem)) from None
    return _one_cell(result)


def _one_cell(value: float = 0.0, error: str | None = None, blank: bool = False):
    """What Excel shows for a one-cell result: ``value``, ``error`` or a blank."""
    errors = None if error is None else np.array([[error]], dtype=object)
    shape = (1, 1)
    return write(
        np.full(shape, value),
        Cells(np.zeros(shape), np.full(shape, blank), errors, True),
    )


def _first_error(grid: Cells) -> str | None:
    """The first error of ``grid`` in reading order (text is #VALUE!), or None."""
    if grid.errors is None:
        return None
    has_error = grid.errors != None  # noqa: E711 (elementwise)
    return grid.errors.reshape(-1)[int(np.argmax(has_error.reshape(-1)))]
