"""Rows of cells streamed into a worksheet's XML, for blocks of many rows.

openpyxl keeps an object per cell, which made a batch of 1,000 rows cost
half a gigabyte and most of the writing time. A :class:`~xlnn.sheets.layout.RowInputs`
or :class:`~xlnn.sheets.layout.RowFormulas` block is therefore not given to
openpyxl: :mod:`xlnn.sheets.xlsx_writer` lets openpyxl write the sheet with its other
cells (texts, notes, formats), then :func:`merge` copies that part into the
zip, inserting the blocks' rows in order as text built from per-block
templates, a few rows at a time. Memory stays flat whatever the row count.

The cells are the ones openpyxl would write: ``<c r= s=>`` with a style
index from the workbook's own style table, a legacy array formula
(``<f t="array" ref=...>``) on a row's first cell and styled empty cells on
the others, numbers with ``<v>``. Numbers are written with ``repr`` (the
shortest text that reads back as the same float64).
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape

from xlnn.sheets.layout import (
    Block,
    RowFormulas,
    RowInputs,
    column_letter,
    column_number,
)

#: Rows gathered before a write to the zip: large enough to amortize the
#: call, small enough to keep memory flat.
ROWS_PER_WRITE = 200

_ROW = re.compile(rb'<row r="(\d+)"([^>]*?)(?:/>|>(.*?)</row>)', re.S)
_CELL = re.compile(rb'<c r="([A-Z]+)\d+"[^>]*?(?:/>|>.*?</c>)', re.S)
_EMPTY_CELL = re.compile(rb'<c r="[A-Z]+\d+"(?: t="n")?\s*/>')
_DIMENSION = re.compile(rb'<dimension ref="([^"]*)"\s*/>')


class _InputRows:
    """Writes the filled rows of a :class:`RowInputs`; the empty rows get no cell."""

    def __init__(self, inputs: RowInputs, style: int):
        self.inputs, self.block = inputs, inputs.block
        cells = (
            f'<c r="{column_letter(self.block.col + j)}{{0}}" s="{style}">'
            f"<v>{{{j + 1}}}</v></c>"
            for j in range(self.block.cols)
        )
        self.template = "".join(cells)

    def cells(self, i: int) -> str:
        values = self.inputs.row_values(i)
        if values is None:
            return ""
        return self.template.format(self.block.row + i, *map(repr, values))


class _FormulaRows:
    """Writes row ``i`` of a :class:`RowFormulas`: its formula, then empty cells."""

    def __init__(self, formulas: RowFormulas, style: int):
        self.formulas, self.block = formulas, formulas.block
        first = column_letter(self.block.col)
        self.head = f'<c r="{first}{{0}}" s="{style}">'
        if self.block.cols > 1:
            last = column_letter(self.block.last_col)
            self.head += f'<f t="array" ref="{first}{{0}}:{last}{{0}}">'
        else:
            self.head += "<f>"
        rest = (
            f'<c r="{column_letter(self.block.col + j)}{{0}}" s="{style}"/>'
            for j in range(1, self.block.cols)
        )
        self.rest = "</f><v/></c>" + "".join(rest)

    def cells(self, i: int) -> str:
        row = self.block.row + i
        body = escape(self.formulas.body(i))
        return f"{self.head.format(row)}{body}{self.rest.format(row)}"


class RowBlocks:
    """The streamed blocks of one sheet, each with its cell style's index.

    Parameters
    ----------
    inputs : list of (RowInputs, int)
    formulas : list of (RowFormulas, int)
    """

    def __init__(self, inputs, formulas):
        writers = [_InputRows(block, style) for block, style in inputs]
        writers += [_FormulaRows(block, style) for block, style in formulas]
        self.writers = sorted(writers, key=lambda writer: writer.block.col)
        self.blocks = [writer.block for writer in self.writers]

    @property
    def first_row(self) -> int:
        return min(block.row for block in self.blocks)

    @property
    def last_row(self) -> int:
        return max(block.last_row for block in self.blocks)

    def row_cells(self, row: int) -> list[tuple[int, int, str]]:
        """(first column, last column, cells) of each block crossing ``row``."""
        return [
            (
                writer.block.col,
                writer.block.last_col,
                writer.cells(row - writer.block.row),
            )
            for writer in self.writers
            if writer.block.row <= row <= writer.block.last_row
        ]

    def extent(self) -> Block:
        col = min(block.col for block in self.blocks)
        last_col = max(block.last_col for block in self.blocks)
        first = self.first_row
        return Block(self.blocks[0].sheet, first, col, self.last_row - first + 1,
                     last_col - col + 1)  # fmt: skip


def _sparse_rows(sheet_data: bytes) -> dict[int, tuple[bytes, list]]:
    """openpyxl's rows: number -> (attributes, [(column, cell XML), ...])."""
    rows = {}
    for match in _ROW.finditer(sheet_data):
        cells = [
            (column_number(cell.group(1).decode()), cell.group(0))
            for cell in _CELL.finditer(match.group(3) or b"")
        ]
        rows[int(match.group(1))] = (match.group(2), cells)
    return rows


def _merged_row(row: int, attributes: bytes, sparse: list, streamed: list) -> bytes:
    """One ``<row>``: openpyxl's cells and the streamed blocks, by column.

    ``streamed`` holds (first column, last column, cells); openpyxl's cells
    inside those columns are empty anchors (see :func:`merge`) and are dropped.
    """
    parts = [(col, text) for col, _, text in streamed]
    for col, cell in sparse:
        if not any(first <= col <= last for first, last, _ in streamed):
            parts.append((col, cell.decode()))
    parts.sort(key=lambda part: part[0])
    cells = "".join(text for _, text in parts)
    return f'<row r="{row}"{attributes.decode()}>{cells}</row>'.encode()


def _dimension(head: bytes, extent: Block) -> bytes:
    """``<dimension>`` widened to the streamed blocks."""
    match = _DIMENSION.search(head)
    if match is None:
        return head
    corners = match.group(1).decode().split(":")
    cols = [extent.col, extent.last_col]
    rows = [extent.row, extent.last_row]
    for corner in corners:
        letters = corner.rstrip("0123456789")
        cols.append(column_number(letters))
        rows.append(int(corner[len(letters) :]))
    ref = f"{column_letter(min(cols))}{min(rows)}:{column_letter(max(cols))}{max(rows)}"
    return (
        head[: match.start()]
        + f'<dimension ref="{ref}"/>'.encode()
        + head[match.end() :]
    )


def merge(xml: bytes, blocks: RowBlocks, out) -> None:
    """Write the sheet ``xml`` (openpyxl's) to ``out`` with ``blocks``' rows in it.

    A cell of openpyxl's that a block covers must be empty (a note's anchor,
    say); anything else there is a layout error.
    """
    start = xml.find(b"<sheetData")
    if start < 0:
        raise ValueError("the worksheet XML has no sheetData")
    open_end = xml.index(b">", start) + 1
    if xml[open_end - 2 : open_end] == b"/>":
        head, sheet_data, tail = xml[:start], b"", xml[open_end:]
    else:
        close = xml.index(b"</sheetData>", open_end)
        head, sheet_data = xml[:start], xml[open_end:close]
        tail = xml[close + len(b"</sheetData>") :]
    sparse = _sparse_rows(sheet_data)
    _refuse_overlaps(sparse, blocks)
    out.write(_dimension(head, blocks.extent()) + b"<sheetData>")
    numbers = sorted(sparse)
    pending = [
        _merged_row(row, *sparse[row], []) for row in numbers if row < blocks.first_row
    ]
    for row in range(blocks.first_row, blocks.last_row + 1):
        attributes, cells = sparse.get(row, (b"", []))
        pending.append(_merged_row(row, attributes, cells, blocks.row_cells(row)))
        if len(pending) >= ROWS_PER_WRITE:
            out.write(b"".join(pending))
            pending.clear()
    for row in (row for row in numbers if row > blocks.last_row):
        pending.append(_merged_row(row, *sparse[row], []))
    out.write(b"".join(pending) + b"</sheetData>" + tail)


def _refuse_overlaps(sparse: dict, blocks: RowBlocks) -> None:
    for row, (_, cells) in sparse.items():
        for block in blocks.blocks:
            if not block.row <= row <= block.last_row:
                continue
            for col, cell in cells:
                inside = block.col <= col <= block.last_col
                if inside and not _EMPTY_CELL.fullmatch(cell):
                    raise ValueError(
                        f"{block.sheet}!{column_letter(col)}{row} is both in a "
                        f"row block ({block.coordinates}) and a cell of its own"
                    )
