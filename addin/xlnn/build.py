"""``xlnn build``: write every sample workbook in both flavors, then verify them.

Nothing is overwritten without ``force``, and each file is written to a
temporary file in the same folder and renamed into place, so an interrupted
build never leaves a half-written workbook behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from xlnn import samples, verify, xlsx_writer
from xlnn.flavors import FLAVORS
from xlnn.layout import BookLayout


class BuildError(Exception):
    """The build cannot go ahead; nothing was written."""


@dataclass
class BuiltWorkbook:
    path: Path
    sheets: list[str]
    formulas: int
    verification: str
    ok: bool


def workbook_name(sample: str, flavor: str) -> str:
    return f"{sample}_{flavor}.xlsx"


def targets(out_dir: Path) -> dict[Path, tuple[str, str]]:
    """Every file a build writes, with its sample and flavor."""
    return {
        out_dir / workbook_name(sample, flavor): (sample, flavor)
        for sample in samples.SAMPLES
        for flavor in FLAVORS
    }


def save_atomically(book: BookLayout, path: Path) -> None:
    """Save to a temporary file beside ``path``, then rename it into place."""
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.stem}-", suffix=".xlsx.tmp"
    )
    os.close(handle)
    try:
        Path(temporary).write_bytes(xlsx_writer.to_bytes(book))
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def verifier(flavor: str) -> tuple[Callable | None, str]:
    """The check for ``flavor``, or None and the reason it is not available."""
    if flavor == "plain":
        from xlnn import recalc

        if recalc.find_soffice() is None:
            return None, "LibreOffice (soffice) not found"
        return verify.verify_with_libreoffice, ""
    try:
        import formulas  # noqa: F401
    except ImportError:
        return None, "the formulas package is not installed"
    return verify.verify_with_formulas, ""


def _verification(path: Path, book: BookLayout, flavor: str) -> tuple[str, bool]:
    """Verify the written ``path``: a status line, and whether it passed."""
    verify_file, reason = verifier(flavor)
    if verify_file is None:
        return f"not verified: {reason}", True
    outcome = verify_file(path, book.checks)
    return outcome.summary(), outcome.ok


def build(
    out_dir: Path,
    force: bool = False,
    check: bool = True,
    report: Callable[[str], None] = print,
) -> list[BuiltWorkbook]:
    """Write every sample workbook into ``out_dir`` and verify each one."""
    out_dir = Path(out_dir)
    planned = targets(out_dir)
    existing = [path.name for path in planned if path.exists()]
    if existing and not force:
        raise BuildError(
            f"{len(existing)} workbook(s) already exist in {out_dir} "
            f"({', '.join(existing)}); pass --force to overwrite them"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    built = []
    for path, (sample, flavor) in planned.items():
        book = samples.SAMPLES[sample](FLAVORS[flavor])
        save_atomically(book, path)
        status, ok = "not verified (--no-verify)", True
        if check:
            status, ok = _verification(path, book, flavor)
        entry = BuiltWorkbook(path, book.sheet_titles, len(book.checks), status, ok)
        report(
            f"{path}  sheets: {', '.join(entry.sheets)}  formulas: "
            f"{entry.formulas}  {entry.verification}"
        )
        built.append(entry)
    return built
