"""Check recalculated workbooks against the values NumPy expects, cell by cell.

An engine (:mod:`xlnn.engines`) recalculates the files; each file's checks
(records with ``block``, ``expected`` and ``name``, written by the generator)
are compared with the engine's values. A file has one of three outcomes:
verified, failed (a cell differs: a real problem) or not verified (the engine
is missing, crashed or hung: nothing is known about the cells).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xlnn.engines import Engine, EngineError, Progress
from xlnn.layout import Check

#: Relative tolerance of every comparison; LibreOffice keeps 15 significant digits.
RELATIVE_TOLERANCE = 1e-9


@dataclass
class Verification:
    """The outcome of comparing one workbook with its checks.

    ``problem`` is set when the engine could not check the file at all; the
    file is then neither verified nor failed.
    """

    engine: str
    cells: int = 0
    worst_relative_error: float = 0.0
    mismatches: list[str] = field(default_factory=list)
    problem: str = ""

    @property
    def verified(self) -> bool:
        """Whether the engine computed the file (so the comparison means something)."""
        return not self.problem

    @property
    def ok(self) -> bool:
        return self.verified and self.cells > 0 and not self.mismatches

    @property
    def failed(self) -> bool:
        """A cell differs, or there was nothing to compare: a real failure."""
        return self.verified and not self.ok

    def summary(self) -> str:
        if not self.verified:
            return f"not verified: {self.problem}"
        if self.ok:
            return (
                f"verified by {self.engine}: {self.cells} cells, worst relative "
                f"error {self.worst_relative_error:.1e}"
            )
        if not self.cells:
            return f"FAILED under {self.engine}: no cells to compare"
        return (
            f"FAILED under {self.engine}: {len(self.mismatches)} of {self.cells} "
            f"cells differ, e.g. {'; '.join(self.mismatches[:3])}"
        )


def _as_error(value) -> str | None:
    """Error text such as ``#NUM!`` for an error value of either engine, else None."""
    text = str(value) if value is not None else ""
    return text if text.startswith("#") else None


def compare(
    checks: list[Check],
    values: Mapping[str, Mapping[str, object]],
    engine: str,
    tolerance: float = RELATIVE_TOLERANCE,
) -> Verification:
    """Compare every checked cell with ``values[sheet][address]``."""
    result = Verification(engine)
    for check in checks:
        sheet = values.get(check.block.sheet, {})
        for (i, j), expected in _cells(check):
            address = check.block.address(i, j)
            got = sheet.get(address)
            result.cells += 1
            problem = _difference(expected, got, tolerance, result)
            if problem:
                result.mismatches.append(f"{check.block.sheet}!{address}: {problem}")
    return result


def _cells(check: Check):
    for i in range(check.block.rows):
        for j in range(check.block.cols):
            expected = check.expected[i, j]
            # plain Python values, so that messages read 0.5, not np.float64(0.5)
            yield (
                (i, j),
                expected.item() if isinstance(expected, np.generic) else expected,
            )


def _difference(expected, got, tolerance, result: Verification) -> str | None:
    if isinstance(expected, str):
        return None if _as_error(got) == expected else f"{got!r} is not {expected}"
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        return f"{got!r} is not a number (expected {expected!r})"
    error = abs(got - expected) / abs(expected) if expected else abs(got)
    if not math.isfinite(error) or error > tolerance:
        return f"{got!r} differs from {expected!r}"
    result.worst_relative_error = max(result.worst_relative_error, error)
    return None


def verify_files(
    engine: Engine,
    checks: Mapping[Path, list[Check]],
    *,
    progress: Progress | None = None,
) -> dict[Path, Verification]:
    """Recalculate every file of ``checks`` with ``engine`` and compare each.

    An engine that is missing or fails leaves the files it did not compute
    "not verified", with its reason; it never raises for that.
    """
    reason = engine.missing()
    if reason:
        return {path: Verification(engine.name, problem=reason) for path in checks}
    try:
        values = engine.recalculate(list(checks), progress=progress)
    except EngineError as error:
        values, reason = error.done, str(error)
    return {
        path: compare(expected, values[path], engine.name)
        if path in values
        else Verification(engine.name, problem=reason or "no result")
        for path, expected in checks.items()
    }


def verify_with_libreoffice(path: Path, checks: list[Check], **options) -> Verification:
    """Recalculate one file with LibreOffice headless and compare.

    ``options`` go to :class:`xlnn.engines.libreoffice.LibreOffice` (``timeout``).
    """
    from xlnn.engines.libreoffice import LibreOffice

    return verify_files(LibreOffice(**options), {Path(path): checks})[Path(path)]


def verify_with_formulas(path: Path, checks: list[Check]) -> Verification:
    """Evaluate one file with the ``formulas`` package and xlnn's functions."""
    from xlnn import udfs
    from xlnn.engines.formulas_engine import Formulas

    engine = Formulas(udfs.by_excel_name())
    return verify_files(engine, {Path(path): checks})[Path(path)]
