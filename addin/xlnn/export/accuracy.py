"""The batch sheet's true labels, accuracy and confusion matrix (issue 12).

With the sample rows' true labels (``--sample-labels``), the batch sheet of
a classifier gets, beside the predicted label, an editable ``true label``
column and a ``correct`` column (1 or 0; blank where the row or its true
label is empty), and above the batch's columns, where a reader looks first:

- the accuracy, in one cell named ``accuracy`` (workbook scope): the share of
  the rows with a true label whose prediction is right;
- the confusion matrix, true labels down and predicted labels across, one
  ``COUNTIFS`` over the two label columns per cell, with each true class's
  recall at the end of its row and each predicted class's precision under
  its column.

Every one is a formula of Excel 2010 (COUNTIFS, COUNTIF, SUM, IFERROR,
SUBSTITUTE), the same in both flavors. ``COUNTIFS`` skips a row whose label
is an error, so a text cell in one row's inputs leaves the matrix computed
over the other rows; the accuracy counts the 1s and 0s of ``correct`` for
the same reason.

Each cell is checked against the float64 predictions and against the
framework's (:meth:`xlnn.model.Model.framework_predict`), with the
framework's near-ties given the float64 label, as the predicted-label cells
excuse them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xlnn.sheets.layout import INTEGER, Block, SheetLayout

#: Above this many classes only the accuracy is written: a matrix of
#: ``classes**2`` formulas would be larger than the batch it summarises.
MAX_MATRIX_CLASSES = 50
#: The share format of the accuracy, recall and precision cells.
SHARE = "0.0%"
#: The narrowest column a count or a share is shown in without ###.
MATRIX_WIDTH = 8
#: Characters COUNTIFS reads as wildcards in a text criterion, ``~`` first
#: (it escapes the others). Excel and LibreOffice read ``~~`` as ``~``; the
#: ``formulas`` package does not, so a class with a ``~`` fails the add-in
#: flavor's verification there (honestly: the counts differ).
_WILDCARDS = "~*?"


@dataclass(frozen=True)
class Summary:
    """Where the accuracy and the matrix go: rows reserved above the columns.

    ``truth`` holds one true label per sample row, each an item of
    ``classes`` (the output headers: numbers for numeric classes).
    """

    row: int
    classes: tuple
    truth: tuple

    @property
    def matrix(self) -> bool:
        return len(self.classes) <= MAX_MATRIX_CLASSES

    @property
    def height(self) -> int:
        """Rows taken: accuracy, caption, headers, a row per class, precision, gap."""
        return 2 + (len(self.classes) + 4 if self.matrix else 0)


def reserve(cursor, classes, truth) -> Summary | None:
    """Keep the rows under ``cursor`` for the summary; None without ``truth``.

    The cursor moves below the reserved rows, where the columns' captions go.
    """
    if truth is None:
        return None
    summary = Summary(cursor.row, tuple(classes), tuple(truth))
    cursor.skip(summary.height)
    return summary


def truth_columns(columns) -> tuple[Block, Block]:
    """The ``true label`` and ``correct`` columns, placed by the batch's columns."""
    block = columns.block(
        "true label (editable), correct", ["true label", "correct"], width=10
    )
    return block.column_block(0), block.column_block(1)


def place(summary: Summary, sheet: SheetLayout, *, rows, label, truth, correct,
          predicted, reference) -> None:  # fmt: skip
    """Write the true labels, ``correct``, the accuracy and the matrix.

    Parameters
    ----------
    summary : Summary
        From :func:`reserve`.
    sheet : SheetLayout
        The batch sheet.
    rows : object
        The batch's rows: ``guard(i, body)`` makes a formula blank on an
        empty row.
    label, truth, correct : Block
        The predicted label, true label and correct columns, a cell per row.
    predicted, reference : sequence
        The float64 and the framework's predicted label of each sample row,
        each an item of ``summary.classes``; ``reference`` has the float64
        label where the framework's top two are a near-tie (excused, as in
        the label cells).
    """
    from xlnn.export.sample_labels import is_number  # it imports the sheets, as this

    n_rows, filled = label.rows, len(summary.truth)
    if all(is_number(t) for t in summary.truth):
        # Numbers stream as a row block, like X: no object per empty row.
        sheet.put_row_inputs(truth, np.asarray(summary.truth, float)[:, None],
                             "General")  # fmt: skip
    else:
        padded = np.full((n_rows, 1), None, dtype=object)
        padded[:filled, 0] = summary.truth
        sheet.put_inputs(truth, padded, "General")
    sheet.anchor("truth", truth)
    exact = predicted
    hits = {
        name: np.array([p == t for p, t in zip(labels, summary.truth, strict=True)])
        for name, labels in (("expected", exact), ("framework", reference))
    }
    sheet.put_row_formulas(
        correct,
        lambda i: rows.guard(
            i,
            f'IF({truth.address(i)}="","",'
            f"IF({label.address(i)}={truth.address(i)},1,0))",
        ),
        expected=hits["expected"].astype(float)[:, None],
        framework=hits["framework"].astype(float)[:, None],
        filled=filled,
        number_format=INTEGER,
        name="correct",
    )
    sheet.anchor("correct", correct)
    _accuracy(sheet, summary, label.col, truth.col, correct, hits)
    if summary.matrix:
        _matrix(sheet, summary, label, truth, exact, reference)
        sheet.width(label.col, label.col, 12)


def _accuracy(sheet, summary: Summary, caption: int, col: int, correct, hits):
    """The accuracy in column ``col``, captioned in column ``caption``."""
    row = summary.row
    sheet.text(sheet.block(row, caption), "accuracy", "header")
    right, wrong = (f"COUNTIF({correct.ref},{k})" for k in (1, 0))
    block = sheet.put_formula(
        sheet.block(row, col),
        f'IFERROR({right}/({right}+{wrong}),"")',
        number_format=SHARE,
        output=True,
        name="accuracy",
        **{k: float(np.mean(v)) for k, v in hits.items()},
    )
    sheet.book.name("accuracy", block)
    sheet.text(
        sheet.block(row, col + 1),
        "of the rows with a true label, the share predicted right (named accuracy)",
    )


def _matrix(sheet, summary: Summary, label, truth, exact, reference) -> None:
    """The confusion matrix with recall beside it and precision under it."""
    classes = summary.classes
    k = len(classes)
    top, col = summary.row + 2, label.col
    sheet.text(
        sheet.block(top, col),
        "confusion matrix: true labels down, predicted labels across; recall "
        "of each true label at the right, precision of each predicted label below",
        "caption",
    )
    sheet.headers(sheet.block(top + 1, col, 1, k + 2), ["true \\ predicted",
                  *classes, "recall"])  # fmt: skip
    sheet.headers(sheet.block(top + 2, col, k, 1), classes)
    sheet.text(sheet.block(top + 2 + k, col), "precision", "header")
    across = sheet.block(top + 1, col + 1, 1, k)
    down = sheet.block(top + 2, col, k, 1)
    cells = sheet.block(top + 2, col + 1, k, k)
    counts = {
        "expected": _counts(classes, summary.truth, exact),
        "framework": _counts(classes, summary.truth, reference),
    }
    escape = any(isinstance(c, str) and set(c) & set(_WILDCARDS) for c in classes)
    for i in range(k):
        for j in range(k):
            sheet.put_formula(
                cells.cell(i, j),
                f"COUNTIFS({truth.ref},{_criterion(down.address(i), escape)},"
                f"{label.ref},{_criterion(across.address(0, j), escape)})",
                number_format=INTEGER,
                output=True,
                name="confusion",
                **{name: m[i, j] for name, m in counts.items()},
            )
    sheet.anchor("confusion", cells)
    for n in range(k):
        _share(sheet, cells, n, counts, "recall", axis=1)
        _share(sheet, cells, n, counts, "precision", axis=0)
    for j in range(col + 1, col + k + 2):
        sheet.widths[j] = max(sheet.widths.get(j, MATRIX_WIDTH), MATRIX_WIDTH)


def _share(sheet, cells: Block, n: int, counts, name: str, *, axis: int) -> None:
    """Class ``n``'s diagonal count over its row's sum (``axis=1``, recall,
    written at the row's right) or its column's (``axis=0``, precision,
    written below the column); blank when that sum is 0.
    """
    k = cells.rows
    target, line = (
        (cells.cell(n, k), cells.row_block(n))
        if axis == 1
        else (cells.cell(k, n), cells.column_block(n))
    )
    expected = {}
    for kind, m in counts.items():
        total = m.sum(axis=axis)[n]
        expected[kind] = m[n, n] / total if total else ""
    sheet.put_formula(
        target,
        f'IFERROR({cells.address(n, n)}/SUM({line.ref}),"")',
        number_format=SHARE,
        output=True,
        name=name,
        **expected,
    )
    sheet.anchor(name, target)


def _criterion(address: str, escape: bool) -> str:
    """COUNTIFS's criterion "equals the class in ``address``".

    The leading ``=`` makes a class such as ``<=50K`` a value, not an
    operator; with ``escape`` a ``*``, ``?`` or ``~`` in a class is a
    character, not a wildcard.
    """
    cell = address
    for char in _WILDCARDS if escape else "":
        cell = f'SUBSTITUTE({cell},"{char}","~{char}")'
    return f'"="&{cell}'


def _counts(classes, truth, predicted) -> np.ndarray:
    """The confusion matrix of ``truth`` against ``predicted``, as floats."""
    index = {c: k for k, c in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)))
    for t, p in zip(truth, predicted, strict=True):
        counts[index[t], index[p]] += 1
    return counts


#: The most rows kept frozen above the batch's rows with a summary above
#: them: a laptop's window shows 30 to 40 rows.
MAX_FROZEN_ROWS = 20


def freeze_rows(summary: Summary | None, first: int) -> bool:
    """Whether the rows above ``first`` (the batch's first row) can stay frozen.

    Frozen rows never scroll away: with a tall matrix above the columns they
    would leave little room for the rows themselves, so the columns alone
    are frozen then (the printout repeats the headers on every page anyway).
    """
    return summary is None or first - 1 <= MAX_FROZEN_ROWS
