"""Write a :class:`xlnn.sheets.layout.BookLayout` as an xlsx file, with openpyxl.

Every computed block becomes a legacy array formula over its exact range,
which every Excel version, LibreOffice and ``formulas`` compute; a 1x1 block
is a plain formula. Styles, charts, conditional formats and the page setup
live here, not in the layout. The file is reproducible: the same layout gives
the same bytes (fixed timestamps in the document properties and the zip).

Strings are text. Only the layout's :class:`~xlnn.sheets.layout.Formula` entries
become formulas; every text and header (class labels, feature and output
names, file names: strings from a user's file) is a text cell whatever its
first character (``=``, ``+``, ``-``, ``@``), see :func:`text_value`.

Cells are created with one shared style object per kind of cell: building a
style per cell was nine tenths of the generation time. That takes openpyxl's
internals (``Worksheet._cells``, ``Cell._style``), hence its upper bound in
``pyproject.toml``.

The cells of the other blocks of many cells (numeric inputs, array formulas
over more than one cell) are not openpyxl cells either in :func:`to_bytes`:
:class:`_SheetWriter` writes the text openpyxl would write for them, byte for
byte, in the place openpyxl would (a cell object and its serialization cost
about 20 us each, nine tenths of rendering the digits sample's 44,000 cells).

Blocks of many rows (:class:`~xlnn.sheets.layout.RowInputs`,
:class:`~xlnn.sheets.layout.RowFormulas`) never become openpyxl cells in
:func:`to_bytes`: :mod:`xlnn.sheets.row_stream` writes their rows straight into the
sheet's XML as the zip is written. :func:`to_workbook`, which hands back an
openpyxl workbook, makes them cells (fine for small books and tests).
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import zipfile
from collections import defaultdict
from pathlib import Path
from xml.sax.saxutils import escape

from openpyxl import Workbook
from openpyxl.cell._writer import write_cell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.chart import BarChart, Reference, ScatterChart
from openpyxl.chart import Series as ChartSeries
from openpyxl.chart.data_source import StrRef
from openpyxl.chart.series import SeriesLabel
from openpyxl.comments import Comment
from openpyxl.comments.comment_sheet import CommentRecord
from openpyxl.compat import safe_string
from openpyxl.drawing.spreadsheet_drawing import SpreadsheetDrawing
from openpyxl.formatting.rule import CellIsRule, ColorScaleRule, FormulaRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.worksheet.dimensions import SheetDimension
from openpyxl.worksheet.formula import ArrayFormula
from openpyxl.writer.excel import ExcelWriter

from xlnn.sheets import row_stream, styles
from xlnn.sheets.layout import (
    PRINTOUTS,
    Block,
    BookLayout,
    Chart,
    Formula,
    SheetLayout,
    column_letter,
)

_EDGE = Side(style="thin", color=styles.EDGE)
_BOX = Border(left=_EDGE, right=_EDGE, top=_EDGE, bottom=_EDGE)
FILLS = styles.FILLS
FONTS = {kind: Font(**font) for kind, font in styles.FONTS.items()}

#: The time stamped into every file, so that rebuilding changes no byte.
FIXED_TIME = dt.datetime(2024, 1, 1)


def _fill(kind: str) -> PatternFill:
    return PatternFill("solid", fgColor=FILLS[kind])


class _Styles:
    """One style object per (kind, number format), shared by every such cell."""

    def __init__(self, worksheet):
        self._worksheet = worksheet
        self._styles = {}

    def get(self, kind: str, number_format: str = "General"):
        key = (kind, number_format)
        if key not in self._styles:
            scratch = Cell(self._worksheet)
            if kind in FONTS:
                scratch.font = FONTS[kind]
            if kind in FILLS:
                scratch.fill = _fill(kind)
                scratch.border = _BOX
            if kind == "header":
                scratch.alignment = Alignment(horizontal="center")
            scratch.number_format = number_format
            self._styles[key] = scratch._style
        return copy.copy(self._styles[key])


#: What stands in for a character an xlsx file cannot hold.
REPLACEMENT = "\ufffd"


def text_value(text: str) -> str:
    """``text`` as a text cell holds it: each control character that xlsx
    cannot hold (openpyxl's ``ILLEGAL_CHARACTERS_RE``: U+0000 to U+001F but
    tab, line feed and carriage return) becomes U+FFFD; nothing else changes.
    """
    return ILLEGAL_CHARACTERS_RE.sub(REPLACEMENT, text)


def _put(worksheet, row: int, col: int, value, style) -> Cell:
    cell = Cell(worksheet, row=row, column=col, value=value, style_array=style)
    worksheet._cells[(row, col)] = cell
    return cell


def _put_text(worksheet, row: int, col: int, text, style) -> None:
    """A text cell: openpyxl would make a str starting with "=" a formula."""
    if not isinstance(text, str):
        _put(worksheet, row, col, text, style)
        return
    cell = _put(worksheet, row, col, None, style)
    # Set after binding: assigning a str lets openpyxl guess "f" (formula).
    cell._value = text_value(text)
    cell.data_type = "s"


def _write_sheet(worksheet, sheet: SheetLayout, streamed: list | None) -> None:
    """Put ``sheet`` in ``worksheet``; blocks that :class:`_SheetWriter` can write
    go to ``streamed`` instead of cells, unless it is None."""
    styles = _Styles(worksheet)
    for text in sheet.texts:
        _put_text(worksheet, text.block.row, text.block.col, text.text,
                  styles.get(text.style))  # fmt: skip
    for inputs in sheet.inputs:
        block, rows = inputs.block, inputs.values.tolist()
        if streamed is not None and _NumberCells.takes(block, rows):
            style = styles.get("input", inputs.number_format)
            streamed.append(_NumberCells(block, rows, style))
            continue
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                style = styles.get("input", inputs.number_format)
                # An input may be a class name: text, never a formula.
                _put_text(worksheet, block.row + i, block.col + j, value, style)
    for formula in sheet.formulas:
        # A 1x1 formula stays a cell: openpyxl's cell checks its text.
        if streamed is not None and formula.block.shape != (1, 1):
            kind = "output" if formula.output else "computed"
            style = styles.get(kind, formula.number_format)
            streamed.append(_ArrayCells(formula, style))
            if formula.note:
                _note(worksheet, formula.block, formula.note)
            continue
        _put_formula(worksheet, formula, styles)
    _row_block_looks(worksheet, sheet)
    for chart in sheet.charts:
        worksheet.add_chart(_chart(worksheet, chart), chart.anchor.address())
    for heat_map in sheet.heat_maps:
        _heat_map(worksheet, heat_map)
    for highlight in sheet.highlights:
        worksheet.conditional_formatting.add(
            highlight.block.coordinates,
            FormulaRule(formula=[highlight.condition], fill=_fill("wrong")),
        )
    for col, width in sheet.widths.items():
        worksheet.column_dimensions[column_letter(col)].width = width
    for row, height in sheet.heights.items():
        worksheet.row_dimensions[row].height = height
    if sheet.freeze is not None:
        worksheet.freeze_panes = sheet.freeze.address()
    if sheet.print_area is not None:
        worksheet.print_area = sheet.print_area.coordinates
    if sheet.repeat_rows is not None:
        worksheet.print_title_rows = (
            f"{sheet.repeat_rows.row}:{sheet.repeat_rows.last_row}"
        )
    _page_setup(worksheet, sheet)


def _put_formula(worksheet, formula: Formula, styles: _Styles) -> None:
    block = formula.block
    kind = "output" if formula.output else "computed"
    text = f"={formula.body}"
    for i in range(block.rows):
        for j in range(block.cols):
            value = None
            if (i, j) == (0, 0):
                value = text
                if block.shape != (1, 1):
                    value = ArrayFormula(block.coordinates, text)
            style = styles.get(kind, formula.number_format)
            _put(worksheet, block.row + i, block.col + j, value, style)
    if formula.note:
        _note(worksheet, block, formula.note)


def _note(worksheet, block: Block, text: str) -> None:
    note = Comment(text, "xlnn")
    note.width, note.height = 300, 110
    worksheet.cell(block.row, block.col).comment = note


def _row_block_looks(worksheet, sheet: SheetLayout) -> None:
    """What row blocks show besides their cells: empty inputs' shading, notes.

    The empty rows of an input block get no cells: one conditional format
    gives them the input look, so 10,000 empty rows cost one rule.
    """
    for inputs in sheet.row_inputs:
        block = inputs.block
        if inputs.filled < block.rows:
            empty = Block(block.sheet, block.row + inputs.filled, block.col,
                          block.rows - inputs.filled, block.cols)  # fmt: skip
            worksheet.conditional_formatting.add(
                empty.coordinates,
                FormulaRule(formula=["TRUE"], fill=_fill("input"), border=_BOX),
            )
    for formulas in sheet.row_formulas:
        if formulas.note:
            _note(worksheet, formulas.block, formulas.note)


def _row_blocks(worksheet, sheet: SheetLayout) -> row_stream.RowBlocks | None:
    """``sheet``'s row blocks for :mod:`~xlnn.sheets.row_stream`, with style indices."""
    if not (sheet.row_inputs or sheet.row_formulas):
        return None
    styles = _Styles(worksheet)
    table = worksheet.parent._cell_styles

    def index(kind: str, number_format: str) -> int:
        return table.add(styles.get(kind, number_format))

    return row_stream.RowBlocks(
        [(rows, index("input", rows.number_format)) for rows in sheet.row_inputs],
        [
            (rows, index("output" if rows.output else "computed", rows.number_format))
            for rows in sheet.row_formulas
        ],
    )


def _row_blocks_as_cells(worksheet, sheet: SheetLayout) -> None:
    """Every row of ``sheet``'s row blocks as openpyxl cells (:func:`to_workbook`)."""
    styles = _Styles(worksheet)
    for inputs in sheet.row_inputs:
        style = styles.get("input", inputs.number_format)
        for i in range(inputs.filled):
            for j, value in enumerate(inputs.row_values(i)):
                _put(worksheet, inputs.block.row + i, inputs.block.col + j, value,
                     copy.copy(style))  # fmt: skip
    for formulas in sheet.row_formulas:
        for i in range(formulas.block.rows):
            _put_formula(worksheet, formulas.row(i), styles)


def _page_setup(worksheet, sheet: SheetLayout) -> None:
    """No gridlines; one page wide, and landscape as tall as needed, or one page
    (portrait or landscape)."""
    worksheet.sheet_view.showGridLines = False
    worksheet.sheet_properties.pageSetUpPr.fitToPage = True
    worksheet.page_setup.fitToWidth = 1
    if sheet.printout not in PRINTOUTS:
        known = ", ".join(PRINTOUTS)
        raise ValueError(f"{sheet.title}: printout {sheet.printout!r}, not {known}")
    one_page = sheet.printout != "landscape pages"
    worksheet.page_setup.fitToHeight = 1 if one_page else 0
    portrait = sheet.printout == "one portrait page"
    worksheet.page_setup.orientation = "portrait" if portrait else "landscape"
    worksheet.print_options.gridLines = False


def _heat_map(worksheet, heat_map) -> None:
    where = heat_map.block.coordinates
    worksheet.conditional_formatting.add(
        where,
        ColorScaleRule(
            start_type="num",
            start_value=heat_map.low,
            start_color="FFFFFF",
            end_type="num",
            end_value=heat_map.high,
            end_color=styles.INK,
        ),
    )
    # Light digits on dark cells, so every value stays readable.
    middle = (heat_map.low + heat_map.high) / 2
    worksheet.conditional_formatting.add(
        where,
        CellIsRule(operator="greaterThan", formula=[repr(middle)],
                   font=Font(color="FFFFFF")),
    )  # fmt: skip


def _reference(worksheet, block) -> Reference:
    return Reference(
        worksheet,
        min_col=block.col,
        max_col=block.last_col,
        min_row=block.row,
        max_row=block.last_row,
    )


def _series_label(title) -> SeriesLabel:
    """A series' name: its own text, or a reference to the cell that holds it."""
    if isinstance(title, str):
        return SeriesLabel(v=title)
    return SeriesLabel(strRef=StrRef(title.qualified_ref))


def _chart(worksheet, chart: Chart):
    if chart.kind == "line":
        drawn = ScatterChart()
        drawn.style = 2
        for series in chart.series:
            line = ChartSeries(
                _reference(worksheet, series.values),
                _reference(worksheet, series.x or chart.categories),
            )
            line.tx = _series_label(series.title)
            line.marker.symbol = "none"
            line.smooth = False
            drawn.series.append(line)
    elif chart.kind == "bar":
        drawn = BarChart()
        drawn.type = "col"
        for series in chart.series:
            drawn.add_data(_reference(worksheet, series.values),
                           from_rows=series.values.rows == 1)  # fmt: skip
        drawn.set_categories(_reference(worksheet, chart.categories))
    else:
        raise ValueError(f"unknown chart kind {chart.kind!r}")
    drawn.title = chart.title
    drawn.height, drawn.width = chart.size
    if chart.x_title:
        drawn.x_axis.title = chart.x_title
    if chart.y_title:
        drawn.y_axis.title = chart.y_title
    if chart.x_range:
        drawn.x_axis.scaling.min, drawn.x_axis.scaling.max = chart.x_range
    if chart.y_range:
        drawn.y_axis.scaling.min, drawn.y_axis.scaling.max = chart.y_range
    drawn.y_axis.number_format = chart.number_format
    # The x axis's labels go along the bottom, not across the middle at y = 0.
    drawn.x_axis.crosses = "min"
    # openpyxl 3.1 marks axes as deleted unless told otherwise; Excel hides them.
    drawn.x_axis.delete = False
    drawn.y_axis.delete = False
    if not chart.legend:
        drawn.legend = None
    return drawn


class _NumberCells:
    """An input block of numbers as openpyxl writes it: ``<c r s t="n"><v>``."""

    def __init__(self, block: Block, rows: list, style):
        self.block, self.style, self.rows = block, style, rows
        self.letters = [column_letter(block.col + j) for j in range(block.cols)]

    @staticmethod
    def takes(block: Block, rows: list) -> bool:
        """Whether ``rows`` fill ``block`` with ints and floats (no bool, no text)."""
        if len(rows) != block.rows or any(len(row) != block.cols for row in rows):
            return False
        return all(type(value) in (int, float) for row in rows for value in row)

    def cells(self, i: int, style: str) -> str:
        row = self.block.row + i
        parts = []
        for letter, value in zip(self.letters, self.rows[i], strict=True):
            # openpyxl's own formatting; NaN and infinities become <v />.
            text = safe_string(value)
            content = f"<v>{text}</v>" if text else "<v />"
            parts.append(f'<c r="{letter}{row}"{style} t="n">{content}</c>')
        return "".join(parts)


class _ArrayCells:
    """A legacy array formula as openpyxl writes it: the formula on the first
    cell, then the block's other cells empty and styled."""

    def __init__(self, formula: Formula, style):
        self.block, self.style = formula.block, style
        self.body = escape(formula.body)
        self.letters = [
            column_letter(self.block.col + j) for j in range(self.block.cols)
        ]

    def cells(self, i: int, style: str) -> str:
        row = self.block.row + i
        empty = (f'<c r="{letter}{row}"{style} t="n" />' for letter in self.letters)
        if i > 0:
            return "".join(empty)
        next(empty)
        first = (
            f'<c r="{self.letters[0]}{row}"{style}>'
            f'<f t="array" ref="{self.block.coordinates}">{self.body}</f><v /></c>'
        )
        return first + "".join(empty)


class _SheetWriter(WorksheetWriter):
    """openpyxl's worksheet writer, writing also the blocks in ``streamed``.

    Their cells go where openpyxl's would, and each block's style joins the
    workbook's style table at the block's first cell, the order in which
    openpyxl would add it: the bytes are those of openpyxl's cells.
    """

    def __init__(self, worksheet, streamed: list):
        self.streamed = streamed
        self.style_ids = {}
        super().__init__(worksheet)

    def write_dimensions(self):
        cells = list(self.ws._cells)
        for writer in self.streamed:
            cells += [(writer.block.row, writer.block.col),
                      (writer.block.last_row, writer.block.last_col)]  # fmt: skip
        if not cells:
            return super().write_dimensions()
        rows, cols = [row for row, _ in cells], [col for _, col in cells]
        first = f"{column_letter(min(cols))}{min(rows)}"
        ref = f"{first}:{column_letter(max(cols))}{max(rows)}"
        self.xf.send(SheetDimension(ref).to_tree())

    def rows(self):
        rows = defaultdict(list, super().rows())
        for writer in self.streamed:
            for row in range(writer.block.row, writer.block.last_row + 1):
                rows[row].append(writer)
        return sorted(rows.items())

    def write_row(self, xf, row, row_idx):
        writers = [item for item in row if not isinstance(item, Cell)]
        if not writers:
            return super().write_row(xf, row, row_idx)
        writers.sort(key=lambda writer: writer.block.col)
        for left, right in zip(writers, writers[1:], strict=False):
            if right.block.col <= left.block.last_col:
                raise ValueError(
                    f"{self.ws.title}: blocks {left.block.coordinates} and "
                    f"{right.block.coordinates} overlap"
                )
        items = [(writer.block.col, writer) for writer in writers]
        for cell in row:
            if isinstance(cell, Cell):
                items.append((cell.column, self._cell_or_note(cell, writers)))
        attributes = {"r": f"{row_idx}"}
        attributes.update(self.ws.row_dimensions.get(row_idx, {}))
        with xf.element("row", attributes):
            for _, item in sorted(items, key=lambda item: item[0]):
                if isinstance(item, Cell):
                    self._write_cell(xf, item)
                elif isinstance(item, CommentRecord):
                    self.ws._comments.append(item)
                else:
                    # et_xmlfile's writer: the text is XML already.
                    xf._file(item.cells(row_idx - item.block.row, self._style(item)))

    def _write_cell(self, xf, cell: Cell) -> None:
        """One cell as openpyxl's ``write_row`` writes it."""
        if cell._comment is not None:
            self.ws._comments.append(CommentRecord.from_cell(cell))
        if cell._value is None and not cell.has_style and not cell._comment:
            return
        write_cell(xf, self.ws, cell, cell.has_style)

    def _cell_or_note(self, cell: Cell, writers: list):
        """``cell``, or its note if a block covers it (the note's empty anchor)."""
        covering = [
            w for w in writers if w.block.col <= cell.column <= w.block.last_col
        ]
        if not covering:
            return cell
        if cell._value is not None or cell.has_style or cell._comment is None:
            raise ValueError(
                f"{self.ws.title}!{cell.coordinate} is both in a block "
                f"({covering[0].block.coordinates}) and a cell of its own"
            )
        return CommentRecord.from_cell(cell)

    def _style(self, writer) -> str:
        """`` s="N"`` for ``writer``'s cells, adding its style at its first cell."""
        if writer not in self.style_ids:
            table = self.ws.parent._cell_styles
            styled = any(writer.style)
            self.style_ids[writer] = f' s="{table.add(writer.style)}"' if styled else ""
        return self.style_ids[writer]


class _ExcelWriter(ExcelWriter):
    """openpyxl's writer, with a :class:`_SheetWriter` for each worksheet.

    ``streamed`` maps a sheet's title to its blocks without cells.
    """

    def __init__(self, workbook: Workbook, archive, streamed: dict):
        super().__init__(workbook, archive)
        self.streamed = streamed

    def write_worksheet(self, ws):
        # openpyxl 3.1's ExcelWriter.write_worksheet (no write-only sheets here)
        ws._drawing = SpreadsheetDrawing()
        ws._drawing.charts = ws._charts
        ws._drawing.images = ws._images
        writer = _SheetWriter(ws, self.streamed.get(ws.title, []))
        writer.write()
        ws._rels = writer._rels
        self._archive.write(writer.out, ws.path[1:])
        self.manifest.append(ws)
        writer.cleanup()


def to_workbook(layout: BookLayout) -> Workbook:
    """An openpyxl Workbook holding everything ``layout`` describes."""
    workbook = _workbook(layout, None)
    for sheet in layout.sheets:
        _row_blocks_as_cells(workbook[sheet.title], sheet)
    return workbook


def _workbook(layout: BookLayout, streamed: dict | None) -> Workbook:
    """The workbook without the rows of row blocks (:mod:`~xlnn.sheets.row_stream`)
    and, unless ``streamed`` is None, without the cells of the blocks it gets
    for :class:`_SheetWriter` (sheet title -> blocks)."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for sheet in layout.sheets:
        blocks = None if streamed is None else streamed.setdefault(sheet.title, [])
        _write_sheet(workbook.create_sheet(sheet.title), sheet, blocks)
    for name, block in layout.names.items():
        workbook.defined_names[name] = DefinedName(name, attr_text=block.qualified_ref)
    workbook.properties.creator = "xlnn"
    workbook.properties.created = workbook.properties.modified = FIXED_TIME
    return workbook


def _entry(name: str) -> zipfile.ZipInfo:
    entry = zipfile.ZipInfo(name, date_time=FIXED_TIME.timetuple()[:6])
    entry.compress_type = zipfile.ZIP_DEFLATED
    entry.external_attr = 0o644 << 16
    return entry


class _FixedTimeZip(zipfile.ZipFile):
    """A zip whose entries all carry :data:`FIXED_TIME`, whatever the clock says.

    ``row_blocks`` maps a worksheet's part name to the rows to stream into it.
    """

    row_blocks: dict = {}

    def writestr(self, name, data, compress_type=None, compresslevel=None):
        if isinstance(name, str):
            name = _entry(name)
        super().writestr(name, data, compress_type, compresslevel)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):
        name = arcname or str(filename)
        blocks = self.row_blocks.get(name)
        if blocks is None:
            self.writestr(name, Path(filename).read_bytes())
            return
        with self.open(_entry(name), "w", force_zip64=True) as out:
            row_stream.merge(Path(filename).read_bytes(), blocks, out)


def to_bytes(layout: BookLayout) -> bytes:
    """The xlsx file ``layout`` describes, as bytes; the same layout, the same bytes."""
    buffer = io.BytesIO()
    write(layout, buffer)
    return buffer.getvalue()


def write(layout: BookLayout, stream) -> None:
    """Write the xlsx file ``layout`` describes into the binary ``stream``.

    ``stream`` must be seekable (a file, :class:`io.BytesIO`); the bytes are
    those of :func:`to_bytes`, and the row blocks go to ``stream`` a few rows
    at a time, so a large batch is never in memory whole.
    """
    streamed = {}
    workbook = _workbook(layout, streamed)
    with _FixedTimeZip(stream, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        archive.row_blocks = {}
        for number, sheet in enumerate(layout.sheets, start=1):
            blocks = _row_blocks(workbook[sheet.title], sheet)
            if blocks is not None:
                # The part openpyxl's ExcelWriter gives the sheet in this place.
                archive.row_blocks[f"xl/worksheets/sheet{number}.xml"] = blocks
        # ExcelWriter, unlike Workbook.save, leaves the modified time alone.
        _ExcelWriter(workbook, archive, streamed).write_data()
