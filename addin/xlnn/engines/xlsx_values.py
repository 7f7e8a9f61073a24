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
from collections.abc import Mapping
from xml.sax.saxutils import unescape

import numpy as np

from xlnn.sheets.layout import column_letter, column_number

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
#: A number cell as LibreOffice and openpyxl write it (attributes r, s, t in
#: that order): its reference and its value, read without a Python step per
#: cell. Cells of any other form go through :data:`_SHOWN`.
_NUMBER = re.compile(
    rb'<c r="([A-Z]+\d+)"(?: s="\d+")?(?: t="n")?>(?:<f[^>]*>[^<]*</f>|<f[^>]*/>)?'
    rb"<v>([^<]+)</v>"
)
_TYPE = re.compile(rb't="(\w+)"')
_INLINE = re.compile(rb"<t[^>]*>([^<]*)</t>")
_REFERENCE = re.compile(r"([A-Z]+)(\d+)")
_ENTITIES = {"&quot;": '"', "&apos;": "'"}


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


class SheetValues(Mapping):
    """One sheet's values: a mapping ``{"A1": value}`` held compactly.

    A row's run of numbers in consecutive columns is one float64 array, not
    a dict entry and a float object per cell (3.2 million of them for a
    batch of 10,000 rows took seconds and hundreds of megabytes); any other
    cell is a dict entry. :meth:`block` hands a checked block back as one
    array, :meth:`inside` the non-blank cells of a block.
    """

    def __init__(self):
        self.cells: dict[str, object] = {}
        self.runs: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)

    def _run_value(self, row: int, col: int):
        for first, values in self.runs.get(row, ()):
            if first <= col < first + len(values):
                return float(values[col - first])
        return None

    def __getitem__(self, address: str):
        value = self.cells.get(address)
        if value is None:
            match = _REFERENCE.fullmatch(address)
            if match:
                col = column_number(match.group(1))
                value = self._run_value(int(match.group(2)), col)
        if value is None:
            raise KeyError(address)
        return value

    def _addresses(self, rows=None):
        for row, runs in sorted(self.runs.items()):
            if rows is None or row in rows:
                for first, values in runs:
                    for k in range(len(values)):
                        yield f"{column_letter(first + k)}{row}", float(values[k])

    def __iter__(self):
        yield from self.cells
        for address, _ in self._addresses():
            yield address

    def __len__(self) -> int:
        return len(self.cells) + sum(
            len(values) for runs in self.runs.values() for _, values in runs
        )

    def block(self, block) -> np.ndarray | None:
        """The block's values as floats, when runs of numbers hold every cell."""
        out = np.empty(block.shape)
        for i in range(block.rows):
            for first, values in self.runs.get(block.row + i, ()):
                if first <= block.col and block.last_col < first + len(values):
                    start = block.col - first
                    out[i] = values[start : start + block.cols]
                    break
            else:
                return None
        return out

    def inside(self, block) -> list[tuple[str, object]]:
        """(address, value) of each non-blank cell of ``block``."""
        found = []
        for address, value in self.cells.items():
            match = _REFERENCE.fullmatch(address)
            row, col = int(match.group(2)), column_number(match.group(1))
            if (
                block.row <= row <= block.last_row
                and block.col <= col <= block.last_col
            ):
                found.append((address, value))
        for row in range(block.row, block.last_row + 1):
            for first, values in self.runs.get(row, ()):
                last = min(first + len(values) - 1, block.last_col)
                for col in range(max(first, block.col), last + 1):
                    found.append(
                        (f"{column_letter(col)}{row}", float(values[col - first]))
                    )
        return found


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


class _RowReader:
    """Reads the wanted column ranges of one row after another.

    Each range is searched from its first cell to the cell that ends it,
    both found with ``bytes.find``. Which cell ends a range (the next
    column's, or the one after a gap column, or none: the row's end) is
    learned on the first row and tried first on the next ones, so that a
    search that fails (and scans the whole row) happens once, not per row.
    """

    def __init__(self, strings):
        self.strings = strings
        self.prefixes: dict[int, bytes] = {}
        self.ends: dict[tuple[int, int], int] = {}

    def _find(self, content: bytes, col: int, number: bytes, start: int) -> int:
        prefix = self.prefixes.get(col)
        if prefix is None:
            prefix = self.prefixes[col] = b'<c r="' + column_letter(col).encode()
        return content.find(prefix + number + b'"', start)

    def _end(self, content: bytes, span: tuple[int, int], number: bytes, start: int):
        """Where the range ``span`` ends in the row: a later cell, or the row's end."""
        learned = self.ends.get(span)
        if learned:
            end = self._find(content, learned, number, start)
            if end >= 0:
                return end
        for col in (span[1] + 1, span[1] + 2):
            end = self._find(content, col, number, start)
            if end >= 0:
                self.ends[span] = col
                return end
        self.ends[span] = 0
        return len(content)

    def read(self, row: int, content: bytes, ranges, out: SheetValues) -> None:
        """Put the values of ``content`` (one row's cells) in ``ranges`` in ``out``.

        Cells come in column order, so when the first and last number found
        lie in the range, all do.
        """
        number, position = str(row).encode(), 0
        for first, last in ranges:
            start = self._find(content, first, number, position)
            start = start if start >= 0 else position
            end = self._end(content, (first, last), number, start)
            position = start
            shown = len(_ANY_SHOWN.findall(content, start, end))
            if not shown:
                continue  # an empty row's cells: no value to read
            numbers = _NUMBER.findall(content, start, end)
            inside = numbers and all(
                first <= column_number(ref.rstrip(b"0123456789")) <= last
                for ref in (numbers[0][0], numbers[-1][0])
            )
            if inside and len(numbers) == shown:
                first_col = column_number(numbers[0][0].rstrip(b"0123456789"))
                last_col = column_number(numbers[-1][0].rstrip(b"0123456789"))
                _, raws = zip(*numbers, strict=True)
                if last_col - first_col + 1 == len(raws):
                    # Consecutive numbers: one array, parsed by NumPy.
                    run = np.array(raws, dtype="S").astype(np.float64)
                    out.runs[row].append((first_col, run))
                else:
                    for reference, raw in numbers:
                        out.cells[reference.decode()] = float(raw)
            else:
                self._each_cell(row, content[start:end], first, last, out)

    def _each_cell(self, row, content, first, last, out) -> None:
        """The careful way: every shown cell, its column and type checked."""
        for letters, attributes, raw, inline in _SHOWN.findall(content):
            if first <= column_number(letters) <= last:
                value = _value(attributes, raw or None, inline, self.strings)
                if value is not None:
                    out.cells[letters.decode() + str(row)] = value


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


def _sheet_values(archive, part: str, blocks, strings) -> SheetValues:
    columns, out, carry = _Columns(blocks), SheetValues(), b""
    reader = _RowReader(strings)
    with archive.open(part) as stream:
        while chunk := stream.read(CHUNK):
            rows, used = _rows(carry + chunk)
            carry = (carry + chunk)[used:]
            for row, content in rows:
                if row > columns.last_row:
                    return out  # the rows below hold nothing wanted
                ranges = columns.of(row)
                if ranges and content:
                    reader.read(row, content, ranges, out)
    return out


def read_blocks(path, blocks) -> dict[str, SheetValues]:
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
        ``{sheet name: {"A1": value}}`` for the non-blank cells of ``blocks``,
        each sheet's mapping a :class:`SheetValues`.
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


__all__ = ["SheetValues", "read_blocks"]
