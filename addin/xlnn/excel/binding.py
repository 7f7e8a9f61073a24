"""Bind a workbook's xlnn formulas: enter each again where Excel sees the functions.

Excel links a formula to an add-in's function when it parses the formula.
A file written without the add-in (openpyxl writes ``SIGMOID(A1:A3)`` as
text) is parsed when it opens; if xlnn's functions are not registered yet,
the cell shows ``#NAME?`` and keeps it after they load, even through a full
recalculation. Entering the formula again binds it (OfficeDev/office-js
issues 6611, 6395, 6355; OfficeDev/Excel-Custom-Functions issue 108).
:func:`bind` and :func:`bind_classic` do that for every formula that calls an
xlnn function, in one go, and write each call the way the runtime names it:

- Office.js (xlwings Lite, xlwings Server): ``SIGMOID``, or ``NS.SIGMOID``
  with the runtime's namespace (:func:`xlnn.scripts.function_namespace`);
- classic xlwings (VBA wrappers named after the Python functions):
  ``SIGMOID``, and ``STEP_FUNCTION`` for STEP.

A call is recognized in any of the forms a file may hold: ``SIGMOID``, any
``NS.SIGMOID``, Excel's saved form of an Office.js call
``_xldudf_NS_SIGMOID`` (the namespace folded in with an underscore), an
add-in reference such as ``[1]!SIGMOID``, and ``STEP_FUNCTION``. A bare
``TANH`` is Excel's own function and is left alone. Formulas that call no
xlnn function are never touched.

Where the formulas come from depends on the runtime:

- classic Excel (COM): ``Range.formula2`` (or ``formula`` before Excel 365),
  with ``has_array`` and COM's ``CurrentArray`` for legacy array formulas;
- xlwings Lite: ``await sheet.get_used_range()`` and ``await
  rng.get_formula()``. Office.js shows a legacy array's formula in each of
  its cells, so a rectangle of equal formulas is taken as one array;
- xlwings Server: nothing. Its workbook payload carries values only, and
  reading formulas raises (``Range.get_formula`` "is only supported in
  xlwings Lite"). The workbook is recognized as an xlnn sample by its sheet
  names, and the sample's own xlnn formulas are entered again where the
  sheet shows ``#NAME?``.

Writing: a legacy array formula is either entered again as one over its
range (``formula_array``, every Excel; in Office.js it needs the desktop-only
ExcelApiDesktop 1.1 requirement set, so not Excel on the web) or, with
``spill``, its range is cleared and the formula entered in the top-left cell,
where Excel 365 spills it over the same range.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from xlnn import samples
from xlnn.excel import CLASSIC_EXCEL, CLASSIC_EXCEL_WHY
from xlnn.functions import catalog, cells
from xlnn.functions.catalog import Activation
from xlnn.sheets.book_writer import enter_formula
from xlnn.sheets.flavors import ADDIN
from xlnn.sheets.layout import Block, BookLayout

#: Excel's saved form of an Office.js custom function call.
XLDUDF = "_xldudf_"
#: Names of xlnn's functions that are also Excel's own: a bare call is Excel's.
BUILT_IN = frozenset({"TANH"})
#: The error a formula shows while its function is unknown to Excel.
NAME_ERROR = "#NAME?"

_TOKENS = re.compile(
    r"""
    (?P<text>"(?:[^"]|"")*")                # a text literal: left as it is
  | (?P<call>
        (?P<reference>                      # an add-in reference before a call
            (?:'(?:[^']|'')*'|\[\d+\]|[A-Za-z_][\w.]*)!
        )?
        (?P<name>[A-Za-z_\\][\w.]*)
    )(?=\s*\()
  | (?P<quoted>'(?:[^']|'')*')              # a quoted sheet name
  | (?P<word>[A-Za-z_\\][\w.]*)             # any other name, taken whole
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class OtherFunction:
    """An xlnn Excel function that is not an activation of the table (DENSE)."""

    name: str
    excel_name: str
    python_name: str


def _calls() -> dict[str, Activation | OtherFunction]:
    from xlnn import udfs

    names = {}
    for activation in catalog.TABLE:
        names[activation.excel_name.upper()] = activation
        names[activation.python_name.upper()] = activation
    for function in udfs.FUNCTIONS:
        if function.excel_name.upper() not in names:
            other = OtherFunction(
                function.__name__, function.excel_name, function.__name__
            )
            names[other.excel_name.upper()] = other
            names[other.python_name.upper()] = other
    return names


#: Every name that calls an xlnn function, upper-cased: Excel and Python names.
CALLS = _calls()


def xlnn_function(name: str) -> Activation | OtherFunction | None:
    """The activation a function name in a formula calls, or None.

    >>> xlnn_function("_xldudf_XLWINGS_LEAKY_RELU").name
    'leaky_relu'
    >>> xlnn_function("xlwings_dev.sigmoid").name
    'sigmoid'
    >>> xlnn_function("STEP_FUNCTION").name
    'step'
    >>> xlnn_function("_xldudf_XLWINGS_DENSE").excel_name
    'DENSE'
    >>> xlnn_function("TANH") is None, xlnn_function("MMULT") is None
    (True, True)
    """
    upper = name.upper()
    if upper.startswith(XLDUDF.upper()):
        rest = upper[len(XLDUDF) :]
        # The namespace is folded in with "_", as are names like LEAKY_RELU:
        # the longest name the rest ends with is the function.
        found = [call for call in CALLS if rest == call or rest.endswith(f"_{call}")]
        return CALLS[max(found, key=len)] if found else None
    if upper.startswith("_XL"):
        return None  # Excel's own prefixes: _xlfn., _xlws., _xlpm.
    if "." in upper:
        return CALLS.get(upper.rsplit(".", 1)[1])
    if upper in BUILT_IN:
        return None
    return CALLS.get(upper)


def office_js_names(namespace: str) -> Callable[[Activation], str]:
    """How Office.js calls each function: ``SIGMOID`` or ``NS.SIGMOID``."""
    prefix = f"{namespace.upper()}." if namespace else ""
    return lambda activation: f"{prefix}{activation.excel_name}"


def classic_names(activation: Activation) -> str:
    """How classic xlwings calls a function: its VBA wrapper, the Python name."""
    return activation.python_name.upper()


def rename(formula: str, names: Callable[[Activation], str]) -> str | None:
    """``formula`` with every xlnn call written as ``names`` says; None if it has none.

    >>> rename('=SUM(_xldudf_XLWINGS_SOFTMAX(A1:C1),"SIGMOID(")', office_js_names(""))
    '=SUM(SOFTMAX(A1:C1),"SIGMOID(")'
    >>> rename("=MMULT(A1:B1,W_1)+b_1", office_js_names("XLWINGS")) is None
    True
    """
    found = False

    def replace(match: re.Match) -> str:
        nonlocal found
        activation = xlnn_function(match["name"]) if match["call"] else None
        if activation is None:
            return match[0]
        found = True
        return names(activation)

    renamed = _TOKENS.sub(replace, formula)
    return renamed if found else None


@dataclass(frozen=True)
class Entry:
    """One formula to enter again: its cells, its text (with ``=``), its kind.

    ``array`` is a legacy array formula over all of ``block``; otherwise
    ``block`` is one cell.
    """

    block: Block
    formula: str
    array: bool


def equal_rectangles(grid) -> Iterable[tuple[int, int, int, int]]:
    """Rectangles of equal, non-None cells: ``(row, col, rows, cols)``, 0-based.

    Each cell belongs to one rectangle, grown right then down from its
    top-left cell in reading order.

    >>> list(equal_rectangles([["a", "a", None], ["a", "a", "b"]]))
    [(0, 0, 2, 2), (1, 2, 1, 1)]
    """
    taken = set()

    def free(i, j, text):
        return (i, j) not in taken and grid[i][j] == text

    for i, row in enumerate(grid):
        for j, text in enumerate(row):
            if text is None or (i, j) in taken:
                continue
            cols = 1
            while j + cols < len(row) and free(i, j + cols, text):
                cols += 1
            rows = 1
            while i + rows < len(grid) and all(
                j + k < len(grid[i + rows]) and free(i + rows, j + k, text)
                for k in range(cols)
            ):
                rows += 1
            taken.update((i + a, j + b) for a in range(rows) for b in range(cols))
            yield i, j, rows, cols


def _formula_text(cell) -> str | None:
    """A cell's formula, ``=`` first; None for a constant or a blank."""
    if not isinstance(cell, str):
        return None
    if cell.startswith("{=") and cell.endswith("}"):
        cell = cell[1:-1]  # a legacy array formula as Excel's formula bar shows it
    return cell if cell.startswith("=") else None


def renamed_grid(formulas, names) -> list[list[str | None]]:
    """Each cell's formula renamed by :func:`rename`, or None where no xlnn call is."""
    grid = []
    for row in cells.as_rows(formulas):
        renamed = []
        for cell in row:
            text = _formula_text(cell)
            renamed.append(rename(text, names) if text else None)
        grid.append(renamed)
    return grid


# --- reading: xlwings Lite ---------------------------------------------------


async def read_lite(book, names) -> list[Entry]:
    """Every xlnn formula of ``book``, read through xlwings Lite's async API."""
    entries = []
    for sheet in book.sheets:
        used = await sheet.get_used_range()
        if used is None:
            continue
        grid = renamed_grid(await used.options(ndim=2).get_formula(), names)
        entries += grid_entries(sheet.name, used.row, used.column, grid)
    return entries


def grid_entries(sheet: str, row: int, col: int, grid) -> list[Entry]:
    """The entries of a grid of formulas read with Office.js, its top-left
    cell at (``row``, ``col``): a legacy array shows its formula in each of
    its cells, so a rectangle of one formula is one array.

    Unless the formula reads single cells only: ``=SIGMOID($A$1)`` typed in
    two cells is two formulas (as one array it would spill one value,
    deleting the other cell's formula), and, one value wherever it is, it
    shows the same entered cell by cell even where it was one array.

    >>> [e.block.coordinates for e in grid_entries("S", 1, 1, [["=F($A$1:$A$2)",
    ...     "=F($A$1:$A$2)"], ["=G($A$1)", "=G($A$1)"]])]
    ['A1:B1', 'A2', 'B2']
    """
    entries = []
    for i, j, rows, cols in equal_rectangles(grid):
        text = grid[i][j]
        if _reads_single_cells(text):
            shapes = [(i + a, j + b, 1, 1) for a in range(rows) for b in range(cols)]
        else:
            shapes = [(i, j, rows, cols)]
        for top, left, height, width in shapes:
            block = Block(sheet, row + top, col + left, height, width)
            entries.append(Entry(block, text, array=(height, width) != (1, 1)))
    return entries


_TEXT = re.compile(r'"(?:[^"]|"")*"')
_SHEET_PREFIX = re.compile(r"(?:'(?:[^']|'')*'|[A-Za-z_][\w.]*)!")
_CALL_NAME = re.compile(r"[A-Za-z_\\][\w.]*(?=\s*\()")
_CELL = re.compile(r"(?<![\w.$])\$?[A-Za-z]{1,3}\$?[0-9]+(?![\w.(])")


def _reads_single_cells(text: str) -> bool:
    """Whether formula ``text`` reads nothing but single cells and numbers: no
    range, name or array constant, so that it gives one value.

    >>> _reads_single_cells("=SIGMOID(Sheet1!$A$1)+B2"), _reads_single_cells("=F(x)")
    (True, False)
    """
    rest = _CALL_NAME.sub("", _SHEET_PREFIX.sub("", _TEXT.sub("", text)))
    return re.search(r"[A-Za-z_\\:{]", _CELL.sub("", rest)) is None


# --- reading: xlwings Server, from the sample's own layout --------------------


@functools.cache
def sample_titles(make: Callable[..., BookLayout]) -> tuple[str, ...]:
    """The sheet titles of the sample ``make`` lays out, the same in every flavor.

    Laid out once a process: each request would otherwise lay out every
    sample (the training sample's 31 bands of formulas among them) to learn
    its titles.
    """
    return tuple(make(ADDIN).sheet_titles)


def recognized_samples(book, namespace: str) -> list[BookLayout]:
    """The xlnn samples whose sheets are all in ``book``, laid out for ``namespace``."""
    titles = {sheet.name.lower() for sheet in book.sheets}
    flavor = ADDIN.in_namespace(namespace)
    return [
        make(flavor)
        for make in samples.SAMPLES.values()
        if all(title.lower() in titles for title in sample_titles(make))
    ]


def _shows_name_error(book, block: Block) -> bool:
    values = book.sheets[block.sheet].range(block.coordinates)
    rows = values.options(ndim=2, err_to_str=True).value
    return any(cell == NAME_ERROR for row in rows for cell in row)


def read_samples(book, namespace: str) -> list[Entry]:
    """The xlnn formulas of the samples in ``book`` whose cells show ``#NAME?``.

    For xlwings Server, which cannot read formulas: the sample is recognized
    by its sheet names. Raises ValueError when no sample is.
    """
    layouts = recognized_samples(book, namespace)
    if not layouts:
        expected = "; ".join(
            ", ".join(sample_titles(make)) for make in samples.SAMPLES.values()
        )
        raise ValueError(
            "xlwings Server cannot read formulas, so bind_formulas only binds "
            f"xlnn's samples, recognized by their sheets ({expected}); this "
            "workbook has none of them. Enter the formulas again by hand (Find & "
            "Replace '=' with '='), or run bind_formulas in xlwings Lite."
        )
    names = office_js_names(namespace)
    entries = []
    for layout in layouts:
        for sheet in layout.sheets:
            for formula in sheet.formulas:
                text = rename(f"={formula.body}", names)
                if text and _shows_name_error(book, formula.block):
                    array = formula.block.shape != (1, 1)
                    entries.append(Entry(formula.block, text, array))
    return entries


# --- reading: classic Excel through COM --------------------------------------


def _com_formulas(used):
    # Formula2 (Excel 365) reads and writes a formula as it is, spilling or
    # not; Formula would add an implicit intersection (@) to a spilling one.
    # Excel before 365 has no Formula2: COM raises, and Formula is exact there.
    try:
        return used.formula2, "formula2"
    except Exception:
        return used.formula, "formula"


def read_com(book, names) -> tuple[list[Entry], str]:
    """Every xlnn formula of a classic (COM) ``book``, and the property read.

    The property (``"formula2"`` or ``"formula"``) is the one to write single
    cells back with.
    """
    entries, prop = [], "formula"
    for sheet in book.sheets:
        used = sheet.used_range
        formulas, prop = _com_formulas(used)
        grid = renamed_grid(formulas, names)
        done = set()
        for i, row in enumerate(grid):
            for j, text in enumerate(row):
                if text is None or (i, j) in done:
                    continue
                cell = sheet.range((used.row + i, used.column + j))
                if cell.has_array:
                    # xlwings has no CurrentArray: ask COM for the array's range.
                    array = sheet.range(cell.api.CurrentArray.Address)
                    block = Block(sheet.name, array.row, array.column, *array.shape)
                    entries.append(Entry(block, text, array=True))
                    done.update(
                        (array.row - used.row + a, array.column - used.column + b)
                        for a in range(block.rows)
                        for b in range(block.cols)
                    )
                else:
                    block = Block(sheet.name, cell.row, cell.column)
                    entries.append(Entry(block, text, array=False))
    return entries, prop


# --- writing -----------------------------------------------------------------


def write(book, entries: Iterable[Entry], *, spill: bool, cell_property="formula"):
    """Enter each formula again through xlwings' Book API.

    A legacy array goes back over its range (``formula_array``), or with
    ``spill`` into its top-left cell after its range is cleared; a single
    cell through ``cell_property`` (``formula``, or ``formula2`` in COM).
    """
    for entry in entries:
        enter_formula(
            book.sheets[entry.block.sheet],
            entry.block,
            entry.formula,
            array=entry.array,
            spill=spill,
            cell_property=cell_property,
            replacing=True,
        )


def summary(entries: list[Entry]) -> str:
    """One line saying what was entered again, for the user."""
    if not entries:
        return "bind_formulas: no formula calls an xlnn function; nothing to do."
    arrays = sum(entry.array for entry in entries)
    sheets = sorted({entry.block.sheet for entry in entries})
    return (
        f"bind_formulas: entered {len(entries)} formulas that call xlnn functions "
        f"again ({arrays} over ranges, {len(entries) - arrays} in single cells) "
        f"on {len(sheets)} sheets: {', '.join(sheets)}."
    )


async def bind(book, *, namespace: str, spill: bool = True) -> list[Entry]:
    """Enter every xlnn formula of an Office.js ``book`` again; return them.

    In xlwings Lite the formulas are read from the workbook; in xlwings
    Server, which cannot read them, they come from the recognized sample
    (:func:`read_samples`). ``namespace`` is the runtime's prefix of xlnn's
    functions (``""`` or ``"XLWINGS"``). ``spill`` enters each legacy array
    as one spilling formula (every Office.js host has dynamic arrays, while
    re-entering a legacy array needs desktop Excel).
    """
    names = office_js_names(namespace)
    if sys.platform == "emscripten":  # xlwings Lite runs in Pyodide
        entries = await read_lite(book, names)
    else:
        entries = read_samples(book, namespace)
    write(book, entries, spill=spill)
    return entries


def bind_classic(book, *, spill: bool = False) -> list[Entry]:
    """Enter every xlnn formula of a classic (COM) ``book`` again; return them.

    Classic xlwings calls STEP ``STEP_FUNCTION`` and has no namespace. Legacy
    arrays go back as legacy arrays, which every Excel computes; ``spill``
    (Excel 365) enters each as one spilling formula instead.

    From VBA, with the xlwings add-in: ``RunPython "import xlnn.excel.binding as b;
    b.bind_active()"``, or ``xlnn bind`` in a terminal.
    """
    entries, prop = read_com(book, classic_names)
    write(book, entries, spill=spill, cell_property=prop)
    return entries


class NoExcel(RuntimeError):
    """No workbook of classic Excel could be reached through xlwings."""


def active_book():
    """Classic Excel's active workbook, through xlwings.

    xlnn's formulas compute only where xlwings' UDFs run, classic Excel on
    Windows (:data:`xlnn.excel.CLASSIC_EXCEL_WHY`). Raises :class:`NoExcel`,
    its message the reason in one line, when this is not Windows, or there is
    no Excel, no xlwings engine or no open workbook.
    """
    if sys.platform != "win32":
        raise NoExcel(f"this is {sys.platform}: {CLASSIC_EXCEL_WHY}")
    try:
        import xlwings as xw

        book = xw.books.active
        if book is None:
            raise NoExcel("Excel has no workbook open")
        book.name  # noqa: B018 -- fails when Excel has no workbook open
    except Exception as error:  # xlwings' errors differ by platform and version
        reason = str(error).strip().splitlines()[0] if str(error) else repr(error)
        raise NoExcel(reason) from error
    return book


def bind_active(*, spill: bool = False) -> str:
    """``xlnn bind``: bind the active workbook of classic Excel; return the summary.

    Raises :class:`NoExcel` (a RuntimeError), saying why, when no workbook
    of Excel can be reached, or this is not Windows
    (:data:`xlnn.excel.CLASSIC_EXCEL_WHY`).
    """
    try:
        book = active_book()
    except NoExcel as error:
        raise NoExcel(
            f"no workbook open in Excel could be reached ({error}); open it in "
            f"{CLASSIC_EXCEL} with xlnn's functions imported (xlwings tab, UDF "
            "Modules xlnn.udfs, Import Functions) and run this again. In xlwings "
            "Lite or xlwings Server, run the script bind_formulas instead."
        ) from error
    return summary(bind_classic(book, spill=spill))
