"""Write a :class:`xlnn.sheets.layout.BookLayout` into a live workbook, through xlwings.

The same calls work on every xlwings Book: classic Excel through COM, and the
Office.js add-ins (xlwings Lite, xlwings Server), where each call becomes an
action the add-in applies to the open workbook. Formulas entered this way are
parsed by Excel while xlnn's functions are registered, so they bind.

With ``spill`` (every Office.js runtime has dynamic arrays) each block's
formula goes into its top-left cell only, and Excel spills the result over
the block; without it, each block is one legacy array formula over its exact
range, which every Excel computes. Charts and conditional formats are left to
the xlsx files: this writer puts in values, formulas, names, number formats,
fills, fonts, notes, column widths, row heights and frozen panes (those
only in the Office.js runtimes: classic xlwings has no frozen panes).

Nothing in the workbook is replaced: a sheet or name the layout would create
that already exists stops the writer before it writes anything.
"""

from __future__ import annotations

from itertools import groupby

from xlnn.errors import UserError
from xlnn.sheets import styles
from xlnn.sheets.layout import Block, BookLayout, Formula, SheetLayout, column_letter

#: First characters with which Excel reads an entered value as a formula (or,
#: for ``'``, drops it as the text marker).
_FORMULA_STARTS = ("=", "+", "-", "@", "'")


def as_entered_text(text):
    """``text`` as typed so that Excel keeps it as text, not a formula.

    A value written with ``.value`` is parsed as if typed: ``=1+1`` would
    become a formula, and a label from a user's model file could be any
    string. Excel's own marker, a leading apostrophe, keeps it text and is not
    part of the cell's value. Other texts are left as they are.
    """
    if isinstance(text, str) and text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


class BookConflict(UserError, ValueError):
    """The workbook already has a sheet or a name the sample would create."""


def _existing(book) -> tuple[set[str], set[str]]:
    sheets = {sheet.name.lower() for sheet in book.sheets}
    names = {name.name.lower() for name in book.names}
    return sheets, names


def refuse_conflicts(layout: BookLayout, book) -> None:
    """Raise :class:`BookConflict` naming every sheet and name already taken."""
    sheets, names = _existing(book)
    taken = [f"sheet {t!r}" for t in layout.sheet_titles if t.lower() in sheets]
    taken += [f"name {n!r}" for n in layout.names if n.lower() in names]
    if taken:
        raise BookConflict(
            f"this workbook already has {', '.join(taken)}: insert the sample "
            "into a new workbook, or delete or rename those first"
        )


def write(layout: BookLayout, book, *, spill: bool) -> None:
    """Add every sheet and name of ``layout`` to the xlwings ``book``."""
    refuse_conflicts(layout, book)
    for sheet in layout.sheets:
        worksheet = book.sheets.add(name=sheet.title, after=book.sheets[-1])
        _write_sheet(worksheet, sheet, spill=spill)
    for name, block in layout.names.items():
        book.names.add(name, f"={block.qualified_ref}")


def _write_sheet(worksheet, sheet: SheetLayout, *, spill: bool) -> None:
    worksheet.show_gridlines = False
    for text in sheet.texts:
        cell = worksheet.range(text.block.address())
        cell.value = as_entered_text(text.text)
        _font(cell, text.style)
        if text.style == "header":
            cell.color = f"#{styles.FILLS['header']}"
    for inputs in sheet.inputs:
        block = worksheet.range(inputs.block.coordinates)
        block.value = inputs.values.tolist()
        _format(block, "input", inputs.number_format)
    for formula in sheet.formulas:
        _enter(worksheet, formula, spill=spill)
        block = worksheet.range(formula.block.coordinates)
        _format(block, "output" if formula.output else "computed",
                formula.number_format)  # fmt: skip
        if formula.note:
            worksheet.range(formula.block.address()).add_note(formula.note)
    _write_row_blocks(worksheet, sheet, spill=spill)
    for width, cols in _runs(sheet.widths):
        first, last = column_letter(cols[0]), column_letter(cols[-1])
        worksheet.range(f"{first}:{last}").column_width = _column_width(
            worksheet, width
        )
    for height, rows in _runs(sheet.heights):
        worksheet.range(f"{rows[0]}:{rows[-1]}").row_height = height
    if sheet.freeze is not None:
        _freeze(worksheet, sheet.freeze)


def _write_row_blocks(worksheet, sheet: SheetLayout, *, spill: bool) -> None:
    """Row blocks: the filled rows' values, each row's formula, one format each."""
    for inputs in sheet.row_inputs:
        block = inputs.block
        if inputs.filled:
            filled = Block(block.sheet, block.row, block.col, inputs.filled, block.cols)
            worksheet.range(filled.coordinates).value = inputs.values.tolist()
        _format(worksheet.range(block.coordinates), "input", inputs.number_format)
    for rows in sheet.row_formulas:
        for i in range(rows.block.rows):
            _enter(worksheet, rows.row(i), spill=spill)
        kind = "output" if rows.output else "computed"
        _format(worksheet.range(rows.block.coordinates), kind, rows.number_format)
        if rows.note:
            worksheet.range(rows.block.address()).add_note(rows.note)


def _enter(worksheet, formula: Formula, *, spill: bool) -> None:
    """A layout's formula: an array over its block unless that is one cell."""
    block = formula.block
    array = block.shape != (1, 1)
    enter_formula(worksheet, block, f"={formula.body}", array=array, spill=spill)


def enter_formula(
    worksheet,
    block: Block,
    text: str,
    *,
    array: bool,
    spill: bool,
    cell_property: str = "formula",
    replacing: bool = False,
) -> None:
    """Enter ``text`` over ``block`` of an xlwings ``worksheet``.

    A single cell takes it through ``cell_property`` (``formula``, or
    ``formula2`` in COM). An ``array`` goes over the whole block as a legacy
    array formula (``formula_array``, which every Excel computes), or with
    ``spill`` into the top-left cell, from where Excel 365 spills it; when
    ``replacing`` a legacy array there, the block is cleared first, as the
    old array would stop the spill.
    """
    if not array:
        setattr(worksheet.range(block.address()), cell_property, text)
    elif spill:
        if replacing:
            worksheet.range(block.coordinates).clear_contents()
        worksheet.range(block.address()).formula2 = text
    else:
        worksheet.range(block.coordinates).formula_array = text


def _format(block, kind: str, number_format: str) -> None:
    block.number_format = number_format
    block.color = f"#{styles.FILLS[kind]}"


def _font(cell, style: str) -> None:
    font = styles.FONTS[style]
    cell.font.size = font["size"]
    cell.font.bold = font["bold"]
    cell.font.italic = font["italic"]
    cell.font.color = f"#{font['color']}"


def _runs(sizes: dict[int, float]):
    """Consecutive columns (or rows) of the same size: (size, [indexes])."""
    ordered = sorted(sizes.items())
    for _, run in groupby(
        enumerate(ordered), key=lambda item: (item[1][0] - item[0], item[1][1])
    ):
        run = [index for _, (index, _) in run]
        yield sizes[run[0]], run


def _column_width(worksheet, characters: float) -> float:
    """A column width in characters, in the unit the engine takes.

    xlwings takes characters in classic Excel and points in the Office.js
    runtimes (its documentation of ``Range.column_width``).
    """
    if worksheet.book.app.engine.type != "remote":
        return characters
    # ECMA-376 Part 1, 18.3.1.13: a character is the widest digit, 7 pixels in
    # Excel's default 11-point font, plus 5 pixels of padding; 96 px is 72 pt.
    return (characters * 7 + 5) * 0.75


def _freeze(worksheet, top_left_unfrozen: Block) -> None:
    try:
        panes = worksheet.freeze_panes
    except NotImplementedError:
        # xlwings (0.37) implements frozen panes only for Office.js; classic
        # Excel raises here. The panes are a convenience, not worth stopping a
        # half-written sheet for.
        return
    frozen = _frozen_range(top_left_unfrozen)
    if frozen:
        panes.freeze_at(frozen)


def _frozen_range(top_left_unfrozen: Block) -> str:
    """Excel's frozen range for panes split above and left of a cell.

    Office.js and COM freeze the rows and columns of the range given: the
    cell ``B5`` (rows 1-4 and column A frozen) is the range ``A1:A4``.
    """
    rows, cols = top_left_unfrozen.row - 1, top_left_unfrozen.col - 1
    if rows and cols:
        return f"A1:{column_letter(cols)}{rows}"
    if rows:
        return f"1:{rows}"
    if cols:
        return f"A:{column_letter(cols)}"
    return ""
