"""What goes in which cell: a workbook described, for any writer to apply.

A :class:`BookLayout` holds sheets of text, editable inputs, formulas,
charts and formatting rules, the workbook's defined names, and for every
formula the values NumPy expects there (a :class:`Check`), so that a
recalculated workbook can be compared cell by cell. It knows neither openpyxl
nor xlwings: :mod:`xlnn.sheets.xlsx_writer` turns it into a file.

Cells are placed with a :class:`Cursor`, which moves down a sheet as blocks
are written, and found again by name (:meth:`BookLayout.find`), so a block's
coordinates need not be spelled out where it is placed or where a test
looks for it.

Every computed block is one formula over its exact range: a writer enters it
as a legacy array formula (or, where dynamic arrays exist, a formula that
spills from its top-left cell).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from xlnn.limits import EXCEL_COLUMNS

# Number formats.
NUMBER = "0.000000"
WEIGHT = "0.000"
PROBABILITY = "0.0000"
INTEGER = "0"
SHORT = "0.0"
#: Four decimals, for wide blocks such as a batch's layers.
COMPACT = "0.0000"
#: Width of the narrow column that separates two blocks side by side.
GAP_WIDTH = 2


class PastLastColumn(ValueError):
    """A column beyond XFD, the last of a sheet's 16,384."""

    def __init__(self, col: int):
        super().__init__(
            f"column {col:,} is past XFD, the last of a sheet's "
            f"{EXCEL_COLUMNS:,} columns"
        )
        self.col = col


def column_letter(col: int) -> str:
    """Excel's letters for a 1-based column number: 1 -> A, 27 -> AA.

    Raises :class:`PastLastColumn` past XFD (16,384), which no sheet has.
    """
    if col < 1:
        raise ValueError(f"column numbers start at 1, not {col}")
    if col > EXCEL_COLUMNS:
        raise PastLastColumn(col)
    letters = ""
    while col > 0:
        col, remainder = divmod(col - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def column_number(letters: str | bytes) -> int:
    """The 1-based column number of Excel's letters: A -> 1, AA -> 27.

    Bytes too, as a sheet's XML holds them (``b"AA"``), with no decoding.
    """
    number = 0
    for code in letters.encode("ascii") if isinstance(letters, str) else letters:
        number = number * 26 + code - 64  # ord("A") is 65
    return number


def quote_sheet(title: str) -> str:
    """A sheet name as a formula refers to it: ``'my sheet'``."""
    return "'{}'".format(title.replace("'", "''"))


@dataclass(frozen=True)
class Block:
    """A rectangle of cells: top-left ``row`` and ``col`` (1-based) and a shape."""

    sheet: str
    row: int
    col: int
    rows: int = 1
    cols: int = 1

    def __post_init__(self):
        if min(self.row, self.col, self.rows, self.cols) < 1:
            raise ValueError(
                f"a block needs a row and column from 1 and at least one cell, "
                f"not row={self.row}, col={self.col}, {self.rows}x{self.cols}"
            )

    def address(self, i: int = 0, j: int = 0, absolute: bool = False) -> str:
        letter, number = column_letter(self.col + j), self.row + i
        return f"${letter}${number}" if absolute else f"{letter}{number}"

    @property
    def coordinates(self) -> str:
        """``B3:D4`` (or ``B3`` for one cell)."""
        last = self.address(self.rows - 1, self.cols - 1)
        return self.address() if self.shape == (1, 1) else f"{self.address()}:{last}"

    @property
    def ref(self) -> str:
        """Absolute reference on its own sheet: ``$B$3:$D$4``."""
        first = self.address(absolute=True)
        last = self.address(self.rows - 1, self.cols - 1, absolute=True)
        return first if self.shape == (1, 1) else f"{first}:{last}"

    @property
    def qualified_ref(self) -> str:
        """Reference from any sheet: ``'network'!$B$3:$D$4``."""
        return f"{quote_sheet(self.sheet)}!{self.ref}"

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.cols)

    @property
    def last_row(self) -> int:
        return self.row + self.rows - 1

    @property
    def last_col(self) -> int:
        return self.col + self.cols - 1

    def cell(self, i: int = 0, j: int = 0) -> Block:
        return Block(self.sheet, self.row + i, self.col + j)

    def row_block(self, i: int) -> Block:
        return Block(self.sheet, self.row + i, self.col, 1, self.cols)

    def column_block(self, j: int) -> Block:
        return Block(self.sheet, self.row, self.col + j, self.rows, 1)


@dataclass(frozen=True)
class Check:
    """What a recalculated block must hold: numbers, or error text such as #NUM!.

    ``scale`` (optional, shaped like the block) is the size of the terms each
    cell sums, so that a value near 0 among large terms is judged against
    the terms (:mod:`xlnn.engines.verify`). ``framework`` (optional) holds what the
    framework that trained the model gives for an output, compared at the
    framework's own precision besides the float64 ``expected``.
    """

    block: Block
    expected: np.ndarray
    name: str = ""
    scale: np.ndarray | None = None
    framework: np.ndarray | None = None


# --- what a sheet holds ------------------------------------------------------

#: Text styles: a sheet's title, a block's caption, a note, a column header.
TEXT_STYLES = ("title", "caption", "note", "header")


@dataclass(frozen=True)
class Text:
    block: Block
    text: str
    style: str = "note"


@dataclass(frozen=True)
class Inputs:
    """Editable constants, one cell per value of a 2-D ``values``."""

    block: Block
    values: np.ndarray
    number_format: str


@dataclass(frozen=True)
class Formula:
    """One formula computing all of ``block``; ``body`` has no leading ``=``.

    ``output`` marks a result a reader looks for (the network's outputs, an
    accuracy) rather than an intermediate step. ``note`` explains the formula
    to a reader who clicks on it (a cell note).
    """

    block: Block
    body: str
    number_format: str
    output: bool = False
    note: str = ""


@dataclass(frozen=True)
class RowInputs:
    """Editable rows of which only the first ``len(values)`` are filled.

    The rows below stay empty cells that look editable (a writer shades them
    without writing a cell each), so a batch of 10,000 rows with 10 samples
    costs 10 rows of cells, not 10,000. ``values`` is a float64 array, or
    rows read from disk a chunk at a time
    (:class:`xlnn.export.sample_inputs.SpilledRows`): writers ask for one row at a
    time, in order.
    """

    block: Block
    values: np.ndarray  # float64, (filled rows, block.cols), or SpilledRows
    number_format: str

    @property
    def filled(self) -> int:
        return len(self.values)

    def row_values(self, i: int) -> list[float] | None:
        """Row ``i``'s values, or None when it is one of the empty rows."""
        return self.values[i].tolist() if i < len(self.values) else None


def row_chunks(rows, size: int):
    """The rows of an array or of :class:`~xlnn.export.sample_inputs.SpilledRows`,
    as arrays of at most ``size`` rows, in order."""
    if isinstance(rows, np.ndarray):
        for start in range(0, len(rows), size):
            yield rows[start : start + size]
    else:
        yield from rows.chunks(size)


@dataclass(frozen=True)
class RowFormulas:
    """One formula per row of ``block``: ``body(i)`` computes row ``i``.

    The same as a :class:`Formula` over each ``block.row_block(i)``, without
    one object per row: writers ask for each row's body while streaming.
    """

    block: Block
    body: Callable[[int], str]
    number_format: str
    output: bool = False
    note: str = ""

    def row(self, i: int) -> Formula:
        """Row ``i`` as a plain :class:`Formula` (for writers that want one)."""
        return Formula(
            self.block.row_block(i), self.body(i), self.number_format, self.output
        )


@dataclass(frozen=True)
class Series:
    """One line or set of bars: its values, and a title cell or text.

    ``x`` gives a line its own x values instead of the chart's categories.
    """

    values: Block
    title: Block | str
    x: Block | None = None


@dataclass(frozen=True)
class Chart:
    """A chart: ``kind`` is ``"line"`` (x-y lines) or ``"bar"`` (columns).

    ``categories`` gives the x values of a line chart or the labels of a bar
    chart. ``y_range`` fixes the y axis; ``number_format`` formats its labels.
    ``anchor`` is the top-left cell; ``size`` is (height, width) in cm.
    """

    kind: str
    title: str
    anchor: Block
    categories: Block
    series: tuple[Series, ...]
    size: tuple[float, float] = (7.5, 12.0)
    x_title: str = ""
    y_title: str = ""
    x_range: tuple[float, float] | None = None
    y_range: tuple[float, float] | None = None
    number_format: str = "General"
    legend: bool = True


@dataclass(frozen=True)
class HeatMap:
    """Cells shaded from white (``low``) to ink (``high``), light text when dark."""

    block: Block
    low: float
    high: float


@dataclass(frozen=True)
class Highlight:
    """Cells of ``block`` marked where ``condition`` holds.

    ``condition`` is a formula written for the block's top-left cell, with
    relative references, as Excel's conditional formatting takes it.
    """

    block: Block
    condition: str


#: A sheet's printouts: landscape, one page wide and as tall as needed (a
#: long table); one upright page; one landscape page (a wide print area that
#: must stay whole).
PRINTOUTS = ("landscape pages", "one portrait page", "one landscape page")


@dataclass
class SheetLayout:
    """One worksheet: its contents, column widths, frozen panes and printout."""

    title: str
    book: BookLayout
    texts: list[Text] = field(default_factory=list)
    inputs: list[Inputs] = field(default_factory=list)
    formulas: list[Formula] = field(default_factory=list)
    row_inputs: list[RowInputs] = field(default_factory=list)
    row_formulas: list[RowFormulas] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    heat_maps: list[HeatMap] = field(default_factory=list)
    highlights: list[Highlight] = field(default_factory=list)
    widths: dict[int, float] = field(default_factory=dict)
    heights: dict[int, float] = field(default_factory=dict)
    anchors: dict[str, Block] = field(default_factory=dict)
    freeze: Block | None = None
    print_area: Block | None = None
    #: Rows printed at the top of every page (a table's headers).
    repeat_rows: Block | None = None
    #: How it prints: one of :data:`PRINTOUTS`.
    printout: str = "landscape pages"

    def block(self, row: int, col: int, rows: int = 1, cols: int = 1) -> Block:
        return Block(self.title, row, col, rows, cols)

    def cursor(self, row: int = 1, col: int = 1) -> Cursor:
        return Cursor(self, row, col)

    def text(self, block: Block, text: str, style: str = "note") -> Block:
        if style not in TEXT_STYLES:
            raise ValueError(f"unknown text style {style!r}")
        self.texts.append(Text(block, text, style))
        return block

    def headers(self, block: Block, labels) -> Block:
        """Column headers along a one-row ``block`` (or down a one-column one)."""
        labels = list(labels)
        if len(labels) != block.rows * block.cols or 1 not in block.shape:
            raise ValueError(f"{len(labels)} headers do not fit {block.coordinates}")
        for k, label in enumerate(labels):
            cell = block.cell(0, k) if block.rows == 1 else block.cell(k, 0)
            self.text(cell, label, "header")
        return block

    def put_inputs(self, block: Block, values, number_format: str) -> Block:
        values = np.atleast_2d(np.asarray(values))
        if values.shape != block.shape:
            raise ValueError(f"{values.shape} values do not fit {block.coordinates}")
        self.inputs.append(Inputs(block, values, number_format))
        return block

    def put_formula(
        self,
        block: Block,
        body: str,
        *,
        expected,
        number_format: str = NUMBER,
        output: bool = False,
        name: str = "",
        note: str = "",
        scale=None,
        framework=None,
    ) -> Block:
        """One formula over exactly ``block``, and the values it must give.

        ``name`` labels the check and makes the block findable with
        :meth:`BookLayout.find`; ``note`` becomes the formula's cell note.
        ``scale`` and ``framework`` go to the :class:`Check`.
        """
        expected, scale, framework = (
            _fitted(values, block, what)
            for values, what in (
                (expected, "expected"), (scale, "scale"), (framework, "framework")
            )
        )  # fmt: skip
        self.formulas.append(Formula(block, body, number_format, output, note))
        self.book.checks.append(Check(block, expected, name, scale, framework))
        if name:
            self.anchor(name, block)
        return block

    def put_row_inputs(self, block: Block, values, number_format: str) -> Block:
        """Rows of ``block`` filled from the top with ``values``; the rest empty.

        ``values`` is array-like, or rows on disk
        (:class:`~xlnn.export.sample_inputs.SpilledRows`), which are kept as they are.
        """
        if hasattr(values, "chunks"):
            if values.shape[1] != block.cols:
                raise ValueError(
                    f"rows of {values.shape[1]} values do not fit {block.coordinates}"
                )
        else:
            values = np.asarray(values, dtype=np.float64).reshape(-1, block.cols)
        if len(values) > block.rows:
            raise ValueError(f"{len(values)} rows do not fit {block.coordinates}")
        self.row_inputs.append(RowInputs(block, values, number_format))
        return block

    def put_row_formulas(
        self,
        block: Block,
        body: Callable[[int], str],
        *,
        expected,
        filled: int,
        number_format: str = NUMBER,
        output: bool = False,
        name: str = "",
        note: str = "",
        scale=None,
        framework=None,
        empty="",
    ) -> Block:
        """A formula per row of ``block``, ``body(i)`` for row ``i``.

        ``expected``, ``scale`` and ``framework`` hold the first ``filled``
        rows (as arrays, not one object per cell); every cell of the rows
        below must show ``empty`` (blank by default). That makes two checks,
        the filled rows' and the empty rows' (:func:`blank_check`), whatever
        the number of rows. A ``expected`` with an ``array()`` method
        (:class:`Deferred`) makes the filled rows' check a :class:`RowCheck`,
        whose arrays are computed when first read.
        """
        self.row_formulas.append(RowFormulas(block, body, number_format, output, note))
        top = (
            Block(block.sheet, block.row, block.col, filled, block.cols)
            if filled
            else None
        )
        if top is not None and hasattr(expected, "array"):
            self.book.checks.append(RowCheck(top, name, expected, scale, framework))
        elif top is not None:
            expected, scale, framework = (
                _fitted(source, top, what)
                for source, what in (
                    (expected, "expected"),
                    (scale, "scale"),
                    (framework, "framework"),
                )
            )
            self.book.checks.append(Check(top, expected, name, scale, framework))
        if filled < block.rows:
            rest = Block(
                block.sheet,
                block.row + filled,
                block.col,
                block.rows - filled,
                block.cols,
            )
            self.book.checks.append(
                blank_check(rest, name, framework is not None, empty)
            )
        if name:
            self.anchor(name, block)
        return block

    def anchor(self, name: str, block: Block) -> Block:
        """Remember ``block`` under ``name``, for :meth:`BookLayout.find`."""
        self.anchors[name] = block
        return block

    def each_formula(self):
        """Every formula of the sheet, a row block's as one :class:`Formula` a row.

        For tests and small sheets: a batch of many rows makes many objects.
        """
        yield from self.formulas
        for rows in self.row_formulas:
            for i in range(rows.block.rows):
                yield rows.row(i)

    def width(self, first_col: int, last_col: int, width: float) -> None:
        for col in range(first_col, last_col + 1):
            self.widths[col] = width


class Deferred:
    """Values computed when first asked for: ``array()`` gives them.

    For the checks of a row block's filled rows (:class:`RowCheck`): a batch
    of 30,000 rows holds 75 MB of expected values and as much of term sizes,
    which an export that is not verified never needs.
    """

    def array(self) -> np.ndarray:  # pragma: no cover - an interface
        raise NotImplementedError


class RowCheck:
    """A :class:`Check` of a row block's filled rows, its arrays computed on demand.

    ``expected``, ``scale`` and ``framework`` are :class:`Deferred` (or
    arrays, or None) until read; then they are arrays shaped like ``block``,
    as a :class:`Check`'s are, and kept. Every reader of a check reads one
    of these as it reads a Check.
    """

    def __init__(self, block: Block, name: str, expected, scale=None, framework=None):
        self.block, self.name = block, name
        self._sources = {"expected": expected, "scale": scale,
                         "framework": framework}  # fmt: skip

    def _resolve(self, what: str):
        return _fitted(self._sources[what], self.block, what)

    @functools.cached_property
    def expected(self) -> np.ndarray:
        return self._resolve("expected")

    @functools.cached_property
    def scale(self) -> np.ndarray | None:
        return self._resolve("scale")

    @functools.cached_property
    def framework(self) -> np.ndarray | None:
        return self._resolve("framework")

    def __repr__(self) -> str:
        return f"RowCheck({self.block.qualified_ref}, {self.name!r})"


def is_uniform(check: Check) -> bool:
    """Whether ``check`` expects one value everywhere (from :func:`blank_check`)."""
    expected = check.expected
    return (
        isinstance(expected, np.ndarray)
        and expected.size > 1
        and not any(expected.strides)
    )


#: How a message names each array of a check.
_ARRAY_NAMES = {"expected": "expected values", "scale": "scales",
                "framework": "framework values"}  # fmt: skip


def _fitted(source, block: Block, what: str) -> np.ndarray | None:
    """A check's array ``what`` (``expected``, ``scale``, ``framework``) from
    ``source``, an array, a :class:`Deferred` or None, shaped like ``block``."""
    if source is None:
        return None
    values = source.array() if hasattr(source, "array") else source
    return _fit_array(values, block, _ARRAY_NAMES[what])


def _fit_array(values, block: Block, what: str) -> np.ndarray:
    """``values`` shaped like ``block``, keeping a numeric array's dtype.

    Anything else becomes objects as given: ``np.asarray`` of a list that
    mixes text and numbers would turn the numbers into text.
    """
    if not (isinstance(values, np.ndarray) and values.dtype.kind in "fiub"):
        values = np.asarray(values, dtype=object)
    if values.size != block.rows * block.cols:
        raise ValueError(f"{values.size} {what} do not fit {block.coordinates}")
    return values.reshape(block.shape)


def blank_check(
    block: Block, name: str = "", framework: bool = False, value=""
) -> Check:
    """A check that every cell of ``block`` shows ``value`` (blank), in constant memory.

    Its arrays are one value seen through zero strides (``np.broadcast_to``):
    indexing, ``.size`` and ``.ravel()`` work as on any array.
    """
    blank = np.broadcast_to(np.array(value, dtype=object), block.shape)
    return Check(block, blank, name, None, blank if framework else None)


@dataclass
class Cursor:
    """A position on a sheet that moves down as blocks are placed under it."""

    sheet: SheetLayout
    row: int
    col: int

    def at(self, rows: int = 1, cols: int = 1, right: int = 0) -> Block:
        """The block of ``rows`` x ``cols`` at the cursor, ``right`` columns over."""
        return self.sheet.block(self.row, self.col + right, rows, cols)

    def skip(self, rows: int = 1) -> Cursor:
        self.row += rows
        return self

    def text(self, text: str, style: str = "note", right: int = 0) -> Block:
        """A line of text at the cursor; the cursor moves to the next row."""
        block = self.sheet.text(self.at(right=right), text, style)
        self.row += 1
        return block

    def headers(self, labels, right: int = 0) -> Block:
        labels = list(labels)
        block = self.sheet.headers(self.at(1, len(labels), right), labels)
        self.row += 1
        return block

    def inputs(self, values, number_format: str, right: int = 0) -> Block:
        """Editable values at the cursor; the cursor moves below them."""
        values = np.atleast_2d(np.asarray(values))
        block = self.at(*values.shape, right)
        self.sheet.put_inputs(block, values, number_format)
        self.row = block.last_row + 1
        return block

    def formula(self, body: str, *, expected, right: int = 0, **options) -> Block:
        """A formula over a block shaped like ``expected``; the cursor moves below."""
        shape = np.atleast_2d(np.asarray(expected, dtype=object)).shape
        block = self.sheet.put_formula(
            self.at(*shape, right), body, expected=expected, **options
        )
        self.row = block.last_row + 1
        return block


@dataclass
class BookLayout:
    """A workbook being described: sheets, defined names and checks."""

    sheets: list[SheetLayout] = field(default_factory=list)
    names: dict[str, Block] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)

    def sheet(self, title: str) -> SheetLayout:
        if any(sheet.title == title for sheet in self.sheets):
            raise ValueError(f"a sheet is already called {title!r}")
        sheet = SheetLayout(title, self)
        self.sheets.append(sheet)
        return sheet

    def name(self, name: str, block: Block) -> str:
        """Define a workbook-wide name for ``block``; return the name."""
        self.names[name] = block
        return name

    def find(self, sheet: str, name: str) -> Block:
        """The block placed under ``name`` on ``sheet`` (see :meth:`anchor`)."""
        for candidate in self.sheets:
            if candidate.title == sheet and name in candidate.anchors:
                return candidate.anchors[name]
        raise KeyError(f"no block named {name!r} on sheet {sheet!r}")

    def check(self, sheet: str, name: str) -> Check:
        """The check of the formula named ``name`` on ``sheet``."""
        for check in self.checks:
            if check.block.sheet == sheet and check.name == name:
                return check
        raise KeyError(f"no check named {name!r} on sheet {sheet!r}")

    @property
    def formula_count(self) -> int:
        """Formulas written: one per :class:`Formula`, one per row of a row block."""
        return sum(
            len(sheet.formulas) + sum(rows.block.rows for rows in sheet.row_formulas)
            for sheet in self.sheets
        )

    def move_sheet(self, title: str, position: int) -> None:
        """Put the sheet called ``title`` at ``position`` in the tab order."""
        sheet = next((sheet for sheet in self.sheets if sheet.title == title), None)
        if sheet is None:
            raise KeyError(f"no sheet called {title!r}")
        self.sheets.remove(sheet)
        self.sheets.insert(position, sheet)

    @property
    def sheet_titles(self) -> list[str]:
        return [sheet.title for sheet in self.sheets]
