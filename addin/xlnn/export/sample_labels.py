"""True labels of the sample rows, from a text file: one label a line.

Read as :mod:`xlnn.export.sample_inputs` reads its CSV: a line at a time, UTF-8
(a byte order mark allowed), a line longer than
:data:`xlnn.limits.MAX_LINE_BYTES` refused as soon as that many bytes are
read, and never more lines than the sample rows they label. Blank lines are
skipped, as in the CSV. Each label is one of the model's classes, as the
model names them: a numeric class matches by value (``7``, ``7.0`` and
``7e0`` are the class 7), a text class by its exact text (surrounding
spaces ignored). Every refusal is an :class:`~xlnn.export.sheets.ExportError`
whose one line names the line.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from xlnn import limits
from xlnn.engines import verify
from xlnn.errors import quoted
from xlnn.export.sample_inputs import text_lines
from xlnn.export.sheets import ExportError

__all__ = ["match_all", "read"]

#: Classes named in a message before "...".
_SHOWN_CLASSES = 10


def read(
    path: str | Path,
    classes,
    count: int,
    *,
    more: bool = False,
    max_line_bytes: int = limits.MAX_LINE_BYTES,
) -> list:
    """The ``count`` labels in ``path``, each as its class in ``classes``.

    Parameters
    ----------
    path : str or Path
        The text file, one label a line, in the order of the sample rows.
    classes : sequence of str or numbers
        The model's classes, as the workbook's headers hold them.
    count : int
        The sample rows: the file must hold exactly this many labels.
    more : bool
        The sample inputs' file held rows after the ``count`` read
        (:attr:`xlnn.export.sample_inputs.SampleInputs.more`): the labels after
        the ``count``-th are theirs, and are not read either.
    max_line_bytes : int
        The longest line accepted.

    Returns
    -------
    list
        One item of ``classes`` per sample row.

    Raises
    ------
    ExportError
        The file cannot be read, a line is not a class, or the file holds
        more or fewer labels than ``count``.
    """
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            return _read(stream, path, list(classes), count, more, max_line_bytes)
    except OSError as error:
        raise ExportError(f"{path}: {error.strerror or error}") from None


def _read(stream, path, classes, count, more, max_line_bytes) -> list:
    match = _matcher(classes)
    labels = []
    for number, text in _lines(stream, path, max_line_bytes):
        if len(labels) == count and more:
            break
        if len(labels) == count:
            raise ExportError(
                f"{path}, line {number}: more labels than the {count} sample rows"
            )
        label = match(text)
        if label is None:
            raise ExportError(
                f"{path}, line {number}: {quoted(text)} is not one of the model's "
                f"classes ({_listed(classes)})"
            )
        labels.append(label)
    if len(labels) != count:
        raise ExportError(
            f"{path}: {len(labels)} label{'s' if len(labels) != 1 else ''} for "
            f"{count} sample rows; give one label a line, one per row"
        )
    return labels


def match_all(labels, classes, count: int) -> list:
    """``labels`` given in Python, each as its class in ``classes``.

    A label is matched as a line of a file is (a number by value, text by
    its text), so ``7``, ``7.0``, ``np.int64(7)`` and ``"7"`` are the class 7.

    Raises
    ------
    ExportError
        A label is not one of ``classes``, or there are not ``count``.
    """
    classes = list(classes)
    match = _matcher(classes)
    found = []
    for k, label in enumerate(labels):
        if k == count:
            raise ExportError(f"more sample labels than the {count} sample rows")
        value = verify.plain(label)
        text = str(value).strip() if not is_number(value) else repr(float(value))
        found.append(match(text))
        if found[-1] is None:
            raise ExportError(
                f"sample label {k} ({quoted(str(value))}) is not one of the "
                f"model's classes ({_listed(classes)})"
            )
    if len(found) != count:
        raise ExportError(f"{len(found)} sample labels for {count} sample rows")
    return found


def _matcher(classes):
    """A function from a line's text to its class, or None."""
    by_text = {c: c for c in classes if isinstance(c, str)}
    by_value = {float(c): c for c in classes if is_number(c)}

    def match(text: str):
        if text in by_text:
            return by_text[text]
        try:
            value = float(text)
        except ValueError:
            return None
        return by_value.get(value) if math.isfinite(value) else None

    return match


def is_number(value) -> bool:
    """Whether a class is a number (a bool is not: it is written as text)."""
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)


def _listed(classes) -> str:
    shown = ", ".join(str(c) for c in classes[:_SHOWN_CLASSES])
    return shown + (", ..." if len(classes) > _SHOWN_CLASSES else "")


def _lines(stream, path, max_line_bytes):
    """(line number, stripped text) for each line that is not blank."""
    for number, text in text_lines(stream, path, max_line_bytes, "labels"):
        yield number, text.strip()
