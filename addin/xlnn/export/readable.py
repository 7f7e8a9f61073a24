"""An exported workbook readable on screen and on paper (issue 12).

- :func:`fit_widths`: a number wider than its column shows as ``###``; each
  column is widened to the widest number its checks expect there, in the
  column's decimals, and at least to ``-99`` in them, so that an edited
  input does not turn a column to ``###`` at once.
- :func:`print_setup`: the batch sheet prints its results (as many columns
  as a landscape page holds at a readable size, and at least the outputs)
  over as many pages as its rows need, the headers on every page.
"""

from __future__ import annotations

import numpy as np

from xlnn.sheets.layout import Block, SheetLayout

#: The width of a column no layout sized (Excel's and LibreOffice's default).
DEFAULT_WIDTH = 8.43
#: The characters of column width a landscape A4 or Letter page holds at
#: about 80 %, the smallest scale that reads comfortably.
PAGE_WIDTH = 150
#: The least magnitude a column is sized for, whatever the sample gives.
HEADROOM = 99.0


def _decimals(number_format: str | None) -> int | None:
    """The decimals of a fixed format (``0.0000`` -> 4); None for any other."""
    if not number_format or set(number_format) - set("0."):
        return None  # General fits itself to the column; % and text are short
    _, _, decimals = number_format.partition(".")
    return len(decimals)


def _largest(values) -> float | None:
    array = np.asarray(values, dtype=object).ravel()
    try:  # the common case, a block of numbers, at NumPy's speed
        return float(np.max(np.abs(array.astype(np.float64)))) if array.size else None
    except (TypeError, ValueError):
        pass  # blanks ("") of empty rows, or text
    numbers = [
        abs(float(v))
        for v in array
        if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
    ]
    return max(numbers) if numbers else None


def fit_widths(sheet: SheetLayout) -> None:
    """Widen each column of ``sheet`` to show its expected numbers in full."""
    formats = {formula.block: formula.number_format for formula in sheet.formulas}
    # A check's values are read only where its format has fixed decimals:
    # the row blocks' (xlnn.sheets.layout.RowCheck) are computed when first read.
    sized = [
        (check.block, formats.get(check.block), lambda check=check: check.expected)
        for check in sheet.book.checks
        if check.block.sheet == sheet.title
    ]
    # An image's grid keeps its square pixels: it is read by its shades.
    grids = {heat_map.block for heat_map in sheet.heat_maps}
    sized += [
        (e.block, e.number_format, lambda e=e: e.values)
        for e in sheet.inputs
        if e.block not in grids
    ]
    needed: dict[int, float] = {}
    for block, number_format, values in sized:
        decimals = _decimals(number_format)
        largest = _largest(values()) if decimals is not None else None
        if largest is None:
            continue
        width = len(f"-{max(largest, HEADROOM):.{decimals}f}") + 1
        for col in range(block.col, block.last_col + 1):
            needed[col] = max(needed.get(col, 0), width)
    for col, width in needed.items():
        if width > sheet.widths.get(col, DEFAULT_WIDTH):
            sheet.widths[col] = width


def print_setup(sheet: SheetLayout, *, caption_row: int, first: int,
                last: Block) -> None:  # fmt: skip
    """Print the batch's results, their headers (``caption_row`` up to ``first``)
    on every page.

    The printout runs to ``last`` (the outputs) and on as far right as
    :data:`PAGE_WIDTH` allows; the inputs and layers beyond run far right on
    screen only. The writer fits that width to the page and runs as many
    pages down as the rows need.
    """
    used = [entry.block.last_col for entry in (*sheet.inputs, *sheet.formulas)]
    last_col, total = 1, 0.0
    for col in range(1, max(used, default=1) + 1):
        total += sheet.widths.get(col, DEFAULT_WIDTH)
        if col > last.last_col and total > PAGE_WIDTH:
            break
        last_col = col
    sheet.print_area = sheet.block(1, 1, last.last_row, last_col)
    sheet.repeat_rows = sheet.block(caption_row, 1, first - caption_row, 1)
