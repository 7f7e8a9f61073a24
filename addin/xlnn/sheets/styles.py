"""How each kind of cell looks, for every writer: colors and fonts as plain data.

Yellow cells are inputs, blue-grey cells computed steps, green cells results.
:mod:`xlnn.sheets.xlsx_writer` and :mod:`xlnn.sheets.book_writer` turn these into their
library's own style objects.
"""

from __future__ import annotations

INK = "1F2937"
MUTED = "6B7280"
ACCENT = "1F4E79"
EDGE = "C8CDD4"

#: Fill color of each kind of cell, as RRGGBB.
FILLS = {
    "input": "FFF4D6",
    "computed": "EEF2F7",
    "output": "DCEFE0",
    "header": "E5E7EB",
    "wrong": "F8D7DA",
}

#: Font of each kind of text: size, bold, italic, color.
FONTS = {
    "title": {"size": 15, "bold": True, "italic": False, "color": ACCENT},
    "caption": {"size": 11, "bold": True, "italic": False, "color": INK},
    "note": {"size": 10, "bold": False, "italic": True, "color": MUTED},
    "header": {"size": 10, "bold": True, "italic": False, "color": INK},
}
