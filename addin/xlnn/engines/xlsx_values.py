"""Read the cached values of chosen blocks of an xlsx file, streamed.

Verification needs the values of the checked blocks only. Reading every cell
with openpyxl (one Python object per cell, input cells included) took 167 s
for a batch of 10,000 rows. Here each worksheet part is decompressed a few
megabytes at a time; in each row only the wanted columns are parsed, found
by their cell reference with ``bytes.find`` (a C scan), so the 784 input
cells between the outputs and the layers are skipped unparsed.

Values follow :func:`openpyxl.load_workbook` (``data_only=True``), except
that every number is a float: text, bools, errors as text such as
``"#N/A"``; blank cells and empty text are left out.
"""

from __future__ import annotations

import re
import zipfile
from collections import defaultdict
from xml.sax.saxutils import unescape

from xlnn.layout import column_letter

#: Bytes decompressed at a time.
CHUNK = 1 << 22

_SHEET = re.compile(rb'<sheet [^>]*?name="([^"]*)"[^>]*?r:id="([^"]*)"')
_REL = re.compile(rb"<Relationship [^>]*?>")
_ATTRIBUTE = re.compile(rb'(\w+)="([^"]*)"')
#: A cell showing something: a non-empty <v> (after its formula, if any), or
#: an inline string. Blank cells and empty results never match, so the regex
#: engine skips them in C.
_SHOWN = re.compile(
    rb'<c r="([A-Z]+)\d+"([^>]*)>(?:<f[^>]*>[^<]*</f>|<f[^>]*/>)?'
    rb"(?:<v>([^<]+)</v>|<is>(.*?)</is>)",
    re.S,
)
_ANY_SHOWN = re.compile(rb"<v>[^<]|<is>")
_TYPE = re.compile(rb't="(\w+)"')
_INLINE = re.compile(rb"<t[^>]*>([^<]*)</t>")
_ENTITIES = {"&quot;": '"', "&apos;": "'"}


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> its part in the zip (``xl/worksheets/sheet1.xml``)."""
    targets = {}
    for rel in _REL.findall(archive.read("xl/_rels/workbook.xml.rels")):
        attributes = dict(_ATTRIBUTE.findall(rel))
        target = attributes.get(b"Target", b"").decode()
        target = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        targets[attributes.get(b"Id")] = target
    return {
        unescape(name.decode(), _ENTITIES): targets[rid]
        for name, rid in _SHEET.findall(archive.read("xl/workbook.xml"))
        if rid in targets
    }


class _Columns:
    """The wanted column ranges of each row of a sheet, from its blocks."""

    def __init__(self, blocks):
        self.bands = defaultdict(list)  # (first row, last row) -> [(c0, c1)]
        for block in blocks:
            self.bands[(block.row, block.last_row)].append((block.col, block.last_col))
        self.last_row = max(block.last_row for block in blocks)
        self._cache = {}

    def of(self, row: int) -> tuple:
        key = tuple(band for band in self.bands if band[0] <= row <= band[1])
        if key not in self._cache:
            ranges = sorted(r for band in key for r in self.bands[band])
            merged = []
            for first, last in ranges:
                if merged and first <= merged[-1][1] + 1:
                    merged[-1] = (merged[-1][0], max(merged[-1][1], last))
                else:
                    merged.append((first, last))
            self._cache[key] = tuple(merged)
        return self._cache[key]


def _value(attributes: bytes, raw: bytes | None, inline: bytes | None, strings):
    """A cell's cached value as openpyxl's data_only reading gives it."""
    if raw is None:
        text = b"".join(_INLINE.findall(inline or b""))
        return unescape(text.decode(), _ENTITIES) or None
    kind = _TYPE.search(attributes)
    kind = kind.group(1) if kind else b"n"
    if kind == b"n":
        return float(raw)
    if kind == b"s":
        return strings()[int(raw)]
    if kind == b"b":
        return raw == b"1"
    return unescape(raw.decode(), _ENTITIES)  # str, e (an error's text)


def _find_cell(content: bytes, col: int, number: bytes, start: int = 0) -> int:
    return content.find(b'<c r="' + column_letter(col).encode() + number + b'"', start)


def _row_values(row: int, content: bytes, ranges, strings, out: dict) -> None:
    """The values of ``content`` (one row's cells) in the column ``ranges``.

    Each range is searched between its first cell and the cell after its
    last (or the one after that, past a gap column), found with
    ``bytes.find``; when one is blank, the search widens to the whole row
    and each cell's column is checked.
    """
    number = str(row).encode()
    suffix = str(row)
    for first, last in ranges:
        start = _find_cell(content, first, number)
        end = _find_cell(content, last + 1, number, max(start, 0))
        if end < 0:
            end = _find_cell(content, last + 2, number, max(start, 0))
        exact = start >= 0 and end >= 0
        start, end = max(start, 0), end if end >= 0 else len(content)
        if not _ANY_SHOWN.search(content, start, end):
            continue  # an empty row's cells: no value to read
        for letters, attributes, raw, inline in _SHOWN.findall(content, start, end):
            if not exact and not first <= _column_number(letters) <= last:
                continue
            if raw and attributes.endswith(b'"n"'):
                value = float(raw)  # LibreOffice's common case, kept fast
            else:
                value = _value(attributes, raw or None, inline, strings)
            if value is not None:
                out[letters.decode() + suffix] = value


def _rows(data: bytes):
    """(row number, cells) of each complete ``<row>`` in ``data``, and where they end.

    Found with ``bytes.find``: a regex with a lazy ``.*?</row>`` took a
    quarter of the reading time.
    """
    rows, position = [], 0
    while (start := data.find(b'<row r="', position)) >= 0:
        tag_end = data.find(b">", start)
        if tag_end < 0:
            break
        number = int(data[start + 8 : data.index(b'"', start + 8)])
        if data[tag_end - 1 : tag_end] == b"/":
            rows.append((number, b""))
            position = tag_end + 1
            continue
        close = data.find(b"</row>", tag_end)
        if close < 0:
            break
        rows.append((number, data[tag_end + 1 : close]))
        position = close + len(b"</row>")
    return rows, position


def _sheet_values(archive, part: str, blocks, strings) -> dict:
    columns, out, carry = _Columns(blocks), {}, b""
    with archive.open(part) as stream:
        while chunk := stream.read(CHUNK):
            rows, used = _rows(carry + chunk)
            carry = (carry + chunk)[used:]
            for row, content in rows:
                if row > columns.last_row:
                    return out  # the rows below hold nothing wanted
                ranges = columns.of(row)
                if ranges and content:
                    _row_values(row, content, ranges, strings, out)
    return out


def read_blocks(path, blocks) -> dict[str, dict[str, object]]:
    """The cached values of the cells of ``blocks`` in the xlsx file ``path``.

    Parameters
    ----------
    path : str or Path
        An xlsx file with cached values (one LibreOffice has recalculated).
    blocks : iterable of Block
        The cells wanted; sheets without any are not read.

    Returns
    -------
    dict
        ``{sheet name: {"A1": value}}`` for the non-blank cells of ``blocks``.
    """
    by_sheet = defaultdict(list)
    for block in blocks:
        by_sheet[block.sheet].append(block)
    with zipfile.ZipFile(path) as archive:
        table = []

        def strings():
            if not table:
                from openpyxl.reader.strings import read_string_table

                with archive.open("xl/sharedStrings.xml") as part:
                    table.append(read_string_table(part))
            return table[0]

        parts = _parts(archive)
        return {
            sheet: _sheet_values(archive, parts[sheet], sheet_blocks, strings)
            for sheet, sheet_blocks in by_sheet.items()
            if sheet in parts
        }


__all__ = ["read_blocks"]
