"""Lay out blocks of cells with openpyxl: inputs, array formulas, captions.

A :class:`SheetBuilder` writes every computed block as a legacy array formula
over its exact output range and records, for each, the values NumPy expects
there (a :class:`Check`), so that a recalculated workbook can be compared cell
by cell. It knows nothing of xlwings or of neural networks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.formula import ArrayFormula

INK = "1F2937"
MUTED = "6B7280"
ACCENT = "1F4E79"
INPUT_FILL = PatternFill("solid", fgColor="FFF4D6")
COMPUTED_FILL = PatternFill("solid", fgColor="EEF2F7")
OUTPUT_FILL = PatternFill("solid", fgColor="DCEFE0")
HEADER_FILL = PatternFill("solid", fgColor="E5E7EB")
_EDGE = Side(style="thin", color="C8CDD4")
BOX = Border(left=_EDGE, right=_EDGE, top=_EDGE, bottom=_EDGE)

NUMBER = "0.000000"
WEIGHT = "0.000"
PROBABILITY = "0.0000"
INTEGER = "0"


@dataclass(frozen=True)
class Block:
    """A rectangle of cells: top-left ``row`` and ``col`` (1-based) and a shape."""

    sheet: str
    row: int
    col: int
    rows: int = 1
    cols: int = 1

    def address(self, i: int = 0, j: int = 0, absolute: bool = False) -> str:
        letter, number = get_column_letter(self.col + j), self.row + i
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
        return f"{quote_sheetname(self.sheet)}!{self.ref}"

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.cols)

    def row_block(self, i: int) -> Block:
        return Block(self.sheet, self.row + i, self.col, 1, self.cols)

    def column_block(self, j: int) -> Block:
        return Block(self.sheet, self.row, self.col + j, self.rows, 1)


@dataclass(frozen=True)
class Check:
    """What a recalculated block must hold: numbers, or error text such as #NUM!."""

    block: Block
    expected: np.ndarray
    name: str = ""


@dataclass
class BookBuilder:
    """A workbook being laid out, with the checks of every sheet."""

    workbook: Workbook = field(default_factory=Workbook)
    checks: list[Check] = field(default_factory=list)

    def __post_init__(self):
        self.workbook.remove(self.workbook.active)

    def sheet(self, title: str) -> SheetBuilder:
        return SheetBuilder(self, self.workbook.create_sheet(title))

    def name(self, name: str, block: Block) -> str:
        """Define a workbook-wide name for ``block``; return the name."""
        self.workbook.defined_names[name] = DefinedName(
            name, attr_text=block.qualified_ref
        )
        return name


class SheetBuilder:
    """Writes styled blocks on one worksheet."""

    def __init__(self, book: BookBuilder, worksheet):
        self.book = book
        self.ws = worksheet
        self.ws.sheet_view.showGridLines = False
        self.ws.sheet_properties.pageSetUpPr.fitToPage = True
        self.ws.page_setup.fitToWidth = 1
        self.ws.page_setup.fitToHeight = 0
        self.ws.page_setup.orientation = "landscape"

    @property
    def title(self) -> str:
        return self.ws.title

    def block(self, row, col, rows=1, cols=1) -> Block:
        return Block(self.title, row, col, rows, cols)

    def text(self, row, col, text, style="note"):
        """A line of text: ``title``, ``caption``, ``note`` or ``header``."""
        cell = self.ws.cell(row, col, text)
        cell.font = {
            "title": Font(size=15, bold=True, color=ACCENT),
            "caption": Font(size=11, bold=True, color=INK),
            "note": Font(size=10, italic=True, color=MUTED),
            "header": Font(size=10, bold=True, color=INK),
        }[style]
        if style == "header":
            cell.fill = HEADER_FILL
            cell.alignment = Alignment(horizontal="center")
            cell.border = BOX
        return cell

    def headers(self, row, col, labels, vertical=False):
        for k, label in enumerate(labels):
            self.text(
                row + k if vertical else row,
                col if vertical else col + k,
                label,
                "header",
            )

    def _style(self, block: Block, fill, number_format):
        for row in self.ws.iter_rows(
            min_row=block.row,
            max_row=block.row + block.rows - 1,
            min_col=block.col,
            max_col=block.col + block.cols - 1,
        ):
            for cell in row:
                cell.fill = fill
                cell.border = BOX
                cell.number_format = number_format

    def inputs(self, row, col, values, number_format=WEIGHT) -> Block:
        """Editable constants, one cell per value of a 2-D ``values``."""
        values = np.atleast_2d(np.asarray(values))
        block = self.block(row, col, *values.shape)
        for i, j in np.ndindex(values.shape):
            self.ws.cell(row + i, col + j, values[i, j].item())
        self._style(block, INPUT_FILL, number_format)
        return block

    def array_formula(
        self,
        block: Block,
        body: str,
        expected,
        number_format=NUMBER,
        output=False,
        name: str = "",
    ) -> Block:
        """One legacy array formula over exactly ``block``, and its check.

        ``name`` (a symbol such as ``a1`` or ``y``) labels the check.
        """
        expected = np.asarray(expected, dtype=object).reshape(block.shape)
        if block.shape == (1, 1):
            self.ws[block.address()] = f"={body}"
        else:
            self.ws[block.address()] = ArrayFormula(block.coordinates, f"={body}")
        self._style(block, OUTPUT_FILL if output else COMPUTED_FILL, number_format)
        self.book.checks.append(Check(block, expected, name))
        return block

    def formula(
        self, row, col, body, expected, number_format=NUMBER, output=False
    ) -> Block:
        """A single-cell formula and its check."""
        return self.array_formula(
            self.block(row, col), body, [[expected]], number_format, output
        )

    def widths(self, first_col, last_col, width):
        for col in range(first_col, last_col + 1):
            self.ws.column_dimensions[get_column_letter(col)].width = width
