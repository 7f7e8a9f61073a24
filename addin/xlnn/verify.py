"""Check a recalculated workbook against the values NumPy expects, cell by cell.

The plain flavor is recalculated by LibreOffice, the add-in flavor by the
``formulas`` package with xlnn's own Excel functions registered; both are
compared with the :class:`xlnn.layout.Check` records the generator wrote.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from xlnn.layout import Check

#: Relative tolerance of every comparison; LibreOffice keeps 15 significant digits.
RELATIVE_TOLERANCE = 1e-9


@dataclass
class Verification:
    """The outcome of comparing one workbook with its checks."""

    engine: str
    cells: int = 0
    worst_relative_error: float = 0.0
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.cells > 0 and not self.mismatches

    def summary(self) -> str:
        if self.ok:
            return (
                f"verified by {self.engine}: {self.cells} cells, worst relative "
                f"error {self.worst_relative_error:.1e}"
            )
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
            yield (i, j), check.expected[i, j]


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


def verify_with_libreoffice(path: Path, checks: list[Check]) -> Verification:
    """Recalculate ``path`` with LibreOffice headless and compare."""
    from xlnn import recalc

    with tempfile.TemporaryDirectory(prefix="xlnn-verify-") as out_dir:
        recalculated = recalc.recalculate_with_libreoffice(Path(path), Path(out_dir))
        values = recalc.read_values(recalculated)
    return compare(checks, values, "LibreOffice")


def verify_with_formulas(path: Path, checks: list[Check]) -> Verification:
    """Evaluate ``path`` with the ``formulas`` package and xlnn's functions."""
    from xlnn import recalc, udfs

    values = recalc.evaluate_with_formulas(Path(path), udfs.by_excel_name())
    return compare(checks, values, "formulas")
