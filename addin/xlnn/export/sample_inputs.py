"""Verification inputs from a CSV file: one sample per row, numbers only.

The file is read a line at a time and reading stops after ``max_rows`` rows
(the export's ``--rows``), so a file of a million rows costs no more than
the rows used; a line longer than :data:`xlnn.limits.MAX_LINE_BYTES` (a file
without line ends, ``/dev/zero``) is refused as soon as that many bytes are
read. Every refusal is an :class:`~xlnn.export.sheets.ExportError` whose one
line names the line, and the column where one is to blame.

The format:

* UTF-8, with or without a byte order mark. Other encodings are refused
  naming the line, rather than guessed: a Latin-1 byte read as something
  else would turn a name into another one.
* Cells separated by commas; quotes as in any CSV. Blank lines are skipped.
* The first line is a header when none of its cells is a number: its cells
  become the feature names. A first line mixing numbers and text is
  refused, naming the first cell that is not a number (a header with a name
  such as ``2`` would otherwise be taken for a row, or a row with a typo for
  a header).
* Every other cell is a finite number: NaN and infinities are refused, since
  a workbook's cell cannot hold them and the comparison would be meaningless.
* With ``label_column`` (``xlnn train``), the header is required and names
  that column, whose cells are labels: any text but empty, kept apart from
  the numbers.
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xlnn import limits
from xlnn.errors import quoted
from xlnn.export.sheets import ExportError

__all__ = ["SampleInputs", "SpilledRows", "read"]

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class SampleInputs:
    """The rows of a CSV of sample inputs, and its header's names if it had one.

    Attributes
    ----------
    rows : numpy.ndarray or SpilledRows
        ``float64``, one sample per row, every value finite; with ``spill``
        (:func:`read`), kept on disk and read a chunk at a time.
    feature_names : tuple of str or None
        The header's cells, one per column of ``rows``; ``None`` without a
        header.
    more : bool
        The file holds rows after the ``max_rows`` read.
    labels : tuple of str or None
        With ``label_column``, each row's label (stripped), else ``None``.
    """

    rows: np.ndarray
    feature_names: tuple[str, ...] | None = None
    more: bool = False
    labels: tuple[str, ...] | None = None


def read(
    path: str | Path,
    n_inputs: int | None = None,
    *,
    max_rows: int | None = None,
    max_line_bytes: int = limits.MAX_LINE_BYTES,
    label_column: str | None = None,
    spill: bool = False,
) -> SampleInputs:
    """The sample inputs in the CSV ``path``, at most ``max_rows`` of them.

    Parameters
    ----------
    path : str or Path
        The CSV file.
    n_inputs : int, optional
        The values each row must have (the model's inputs); by default the
        width of the first line.
    max_rows : int, optional
        Stop after this many rows; by default
        :data:`xlnn.limits.MAX_SAMPLE_ROWS`.
    max_line_bytes : int
        The longest line accepted.
    label_column : str, optional
        The header's name of a column of labels (text), returned apart as
        :attr:`SampleInputs.labels`; the header is then required. Not with
        ``n_inputs``.
    spill : bool
        Keep the rows in an anonymous temporary file as they are read
        (:class:`SpilledRows`) instead of in memory: every line is still
        read and checked here, once, but the rows are never in memory all
        at once (30,000 rows of 784 values are 188 MB).

    Raises
    ------
    ExportError
        The file cannot be read, or a line is not as the module docstring
        says (named, with its column when one cell is to blame).
    """
    path = Path(path)
    max_rows = limits.MAX_SAMPLE_ROWS if max_rows is None else max_rows
    if max_rows < 1:
        raise ExportError(f"{path}: max_rows must be at least 1, not {max_rows}")
    if label_column is not None and n_inputs is not None:
        raise ValueError("n_inputs counts the numbers; not with label_column")
    rows = (_Spill if spill else _Rows)(max_rows, limits.MAX_ARRAY_BYTES // 8)
    try:
        with open(path, "rb") as stream:
            return _read(
                stream, path, n_inputs, max_rows, max_line_bytes, rows, label_column
            )
    except OSError as error:
        raise ExportError(f"{path}: {error.strerror or error}") from None


def _read(
    stream, path, n_inputs, max_rows, max_line_bytes, rows, label_column=None
) -> SampleInputs:
    names: tuple[str, ...] | None = None
    width = n_inputs
    labels = None if label_column is None else _Labels(label_column)
    for number, cells in _lines(stream, path, max_line_bytes):
        where = f"{path}, line {number}"
        values = _numbers(cells)
        first = not rows and names is None
        if first and all(value is None for value in values):
            names = _header(cells, width, where)
            width = len(names)
            if labels is not None:
                labels.find(names, where)
            continue
        if labels is not None:
            labels.take(cells, values, width, where)
        if None in values:
            column = values.index(None) + 1
            hint = (
                " (the first line mixes numbers and text: a header has no "
                "numbers, a row only numbers)"
                if first
                else ""
            )
            raise ExportError(
                f"{where}, column {column}: {quoted(cells[column - 1])} is not a "
                f"number{hint}"
            )
        if width is None:
            width = len(values)
        if len(values) != width:
            raise ExportError(
                f"{where}: {len(values)} values, "
                + (
                    f"the model takes {n_inputs}"
                    if n_inputs is not None
                    else f"the first line has {width}"
                )
            )
        if not all(map(math.isfinite, values)):
            column = next(j for j, v in enumerate(values, 1) if not math.isfinite(v))
            raise ExportError(
                f"{where}, column {column}: {quoted(cells[column - 1])} is not "
                "a finite number"
            )
        if labels is not None:
            del values[labels.index]
        if not rows.add(values):
            raise ExportError(
                f"{where}: more values than xlnn.limits.MAX_ARRAY_BYTES allows"
            )
        if len(rows) == max_rows:
            # Whatever follows is not read, let alone checked: only whether
            # there is more than blank space.
            more = bool(stream.read(4096).strip())
            return _inputs(rows, names, labels, more)
    if not len(rows):
        raise ExportError(f"{path}: no rows of numbers")
    return _inputs(rows, names, labels, False)


def _inputs(rows, names, labels, more: bool) -> SampleInputs:
    if labels is None:
        return SampleInputs(rows.array(), names, more=more)
    features = names[: labels.index] + names[labels.index + 1 :]
    return SampleInputs(rows.array(), features, more, tuple(labels.texts))


class _Labels:
    """The column of labels named ``name``: found in the header, taken per row.

    :meth:`take` keeps a row's label and puts 0.0 in its place among the
    row's values, so that every other check sees the row's true columns;
    :func:`_read` then drops it before storing the row.
    """

    def __init__(self, name: str):
        self.name = name
        self.index: int | None = None
        self.texts: list[str] = []

    def find(self, names: tuple[str, ...], where: str) -> None:
        found = [i for i, header in enumerate(names) if header == self.name]
        if len(found) != 1:
            how = "twice" if found else "no column"
            raise ExportError(
                f"{where}: the header has {how} named {self.name!r}"
                + ("" if found else f" (its columns: {_listed(names)})")
            )
        self.index = found[0]

    def take(self, cells: list[str], values: list, width: int, where: str) -> None:
        if self.index is None:
            raise ExportError(
                f"{where}: the first line must be a header naming the columns "
                f"(none of its cells a number), one of them {self.name!r}"
            )
        if len(cells) != width:
            raise ExportError(f"{where}: {len(cells)} cells, the header has {width}")
        label = cells[self.index]
        if not label:
            raise ExportError(f"{where}, column {self.index + 1}: the label is empty")
        self.texts.append(label)
        values[self.index] = 0.0


def _listed(names: tuple[str, ...], most: int = 8) -> str:
    shown = ", ".join(quoted(name) for name in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _lines(stream, path, max_line_bytes):
    """(line number, cells) for each line that is not blank."""
    for number, text in text_lines(stream, path, max_line_bytes):
        try:
            cells = next(csv.reader([text], strict=True))
        except csv.Error as error:
            raise ExportError(f"{path}, line {number}: {error}") from None
        yield number, [cell.strip() for cell in cells]


def text_lines(stream, path, max_line_bytes, kind: str = "CSV"):
    """(line number, text) for each line of a UTF-8 ``stream`` that is not blank.

    A byte order mark before the first line is dropped; a line longer than
    ``max_line_bytes`` or not UTF-8 is refused naming its number (``kind``
    says what the file should be: "CSV", "labels").
    """
    number = 0
    while True:
        raw = stream.readline(max_line_bytes + 1)
        if not raw:
            return
        number += 1
        if len(raw) > max_line_bytes:
            what = "a CSV file" if kind == "CSV" else f"a file of {kind}"
            raise ExportError(
                f"{path}, line {number}: longer than {max_line_bytes} bytes "
                f"(xlnn.limits.MAX_LINE_BYTES); is it {what}?"
            )
        if number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ExportError(
                f"{path}, line {number}: not UTF-8 (byte 0x{raw[error.start]:02x} "
                f"at byte {error.start + 1}); save the {kind} as UTF-8"
            ) from None
        if text.strip():
            yield number, text


def _numbers(cells: list[str]) -> list[float | None]:
    """Each cell as a number, None where it is not one."""
    try:  # the common line, numbers only: a quarter of the time cell by cell
        return [float(cell) for cell in cells]
    except ValueError:
        return [_number(cell) for cell in cells]


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def _header(cells: list[str], width: int | None, where: str) -> tuple[str, ...]:
    if "" in cells:
        raise ExportError(
            f"{where}, column {cells.index('') + 1}: the header's cell is empty"
        )
    if width is not None and len(cells) != width:
        hint = (
            " (cells are separated by commas, not semicolons)"
            if any(";" in cell for cell in cells)
            else ""
        )
        raise ExportError(
            f"{where}: the header names {len(cells)} column"
            f"{'s' if len(cells) != 1 else ''}, the model takes {width}{hint}"
        )
    return tuple(cells)


def _capacity(max_rows: int, max_cells: int, width: int) -> int:
    """The rows kept at most: ``max_rows``, fewer when they are wide."""
    return min(max_rows, max_cells // max(1, width))


class _Rows:
    """The rows read so far, in one float64 array made for all of them.

    The array is allocated for ``max_rows`` rows (at most ``max_cells``
    values) as soon as the width is known; ``numpy.empty`` only reserves the
    memory, so the rows never read cost none, and no second copy is made.
    """

    def __init__(self, max_rows: int, max_cells: int):
        self.max_rows, self.max_cells = max_rows, max_cells
        self.values: np.ndarray | None = None
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def add(self, row: list[float]) -> bool:
        """Append ``row``; False past ``max_cells``."""
        if self.values is None:
            capacity = _capacity(self.max_rows, self.max_cells, len(row))
            self.values = np.empty((capacity, len(row)))
        if self.count == len(self.values):
            return False
        self.values[self.count] = row
        self.count += 1
        return True

    def array(self) -> np.ndarray:
        return self.values[: self.count]


class _Spill:
    """The rows read so far, written to a :class:`SpilledRows` a chunk at a time.

    It refuses rows past ``max_cells`` values as :class:`_Rows` does, so a
    file is read or refused alike either way.
    """

    def __init__(self, max_rows: int, max_cells: int):
        self.max_rows, self.max_cells = max_rows, max_cells
        self.rows: SpilledRows | None = None
        self.capacity = 0
        self.pending: list[list[float]] = []

    def __len__(self) -> int:
        return 0 if self.rows is None else len(self.rows) + len(self.pending)

    def add(self, row: list[float]) -> bool:
        if self.rows is None:
            self.capacity = _capacity(self.max_rows, self.max_cells, len(row))
            self.rows = SpilledRows(len(row))
        if len(self) == self.capacity:
            return False
        self.pending.append(row)
        if len(self.pending) == SpilledRows.CHUNK_ROWS:
            self._flush()
        return True

    def _flush(self) -> None:
        self.rows.extend(np.array(self.pending, dtype=np.float64))
        self.pending.clear()

    def array(self) -> SpilledRows:
        self._flush()
        return self.rows


class SpilledRows:
    """float64 rows of one width in an anonymous temporary file.

    :func:`read` with ``spill`` fills it as the CSV is read; :meth:`chunks`
    and indexing read it back a chunk of :data:`CHUNK_ROWS` rows at a time,
    so that the rows are never in memory all at once. The file has no name
    (:func:`tempfile.TemporaryFile`): it goes when this object does, or
    when the process dies. It looks enough like a 2-D array for the export
    (``len``, ``shape``, ``rows[i]``), and ``numpy.asarray`` reads it whole.
    """

    #: Rows read or written at once: a few hundred kilobytes at 784 values.
    CHUNK_ROWS = 256

    def __init__(self, width: int):
        self.width = width
        self.count = 0
        self._file = tempfile.TemporaryFile(prefix="xlnn-rows-")
        self._cached: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.count

    @property
    def shape(self) -> tuple[int, int]:
        return (self.count, self.width)

    def extend(self, rows: np.ndarray) -> None:
        """Append ``rows`` (an array of this width) at the end of the file."""
        try:
            self._file.seek(0, os.SEEK_END)
            self._file.write(np.ascontiguousarray(rows, np.float64).tobytes())
        except OSError as error:
            raise ExportError(
                f"cannot keep the sample rows in the temporary folder "
                f"{tempfile.gettempdir()}: {error.strerror or error}"
            ) from None
        self.count += len(rows)

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start`` to ``stop`` (excluded) as a new array."""
        start, stop = max(0, start), min(stop, self.count)
        values = np.empty((max(0, stop - start), self.width))
        if values.size:
            self._file.seek(start * self.width * 8)
            if self._file.readinto(values) != values.nbytes:
                raise OSError("the temporary file of the sample rows is short")
        return values

    def chunks(self, size: int = CHUNK_ROWS):
        """Every row in order, as arrays of at most ``size`` rows."""
        for start in range(0, self.count, size):
            yield self.rows(start, start + size)

    def __getitem__(self, i: int) -> np.ndarray:
        """Row ``i`` (a 1-D array); the rows around it are kept for the next."""
        i = int(i) + (self.count if i < 0 else 0)
        if not 0 <= i < self.count:
            raise IndexError(f"row {i} of {self.count}")
        start = i - i % self.CHUNK_ROWS
        if self._cached is None or self._cached[0] != start:
            self._cached = (start, self.rows(start, start + self.CHUNK_ROWS))
        return self._cached[1][i - start].copy()

    def __array__(self, dtype=None, copy=None):
        return self.rows(0, self.count).astype(dtype or np.float64, copy=False)
