"""Render every sheet of xlsx workbooks to PNG images, for the documentation.

One LibreOffice run recalculates every workbook (a fresh profile that always
recalculates, see :mod:`xlnn.engines.libreoffice`) and prints each to PDF;
``pdftoppm`` turns each PDF page into ``<workbook>-<page>.png``. Pages follow
each sheet's print setup (fit to one page wide is the workbook's job), or,
with ``--one-page-per-sheet``, each sheet becomes a single page however large.

The output folder must be given: the committed pictures in ``docs/images``
are replaced only on purpose.

Example::

    python scripts/render_workbooks.py workbooks/ --output docs/images
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from xlnn.engines import EngineError
from xlnn.engines.libreoffice import DEFAULT_TIMEOUT, LibreOffice

DEFAULT_RESOLUTION = 80
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
PDF = "pdf:calc_pdf_Export"
ONE_PAGE_PER_SHEET_PDF = (
    'pdf:calc_pdf_Export:{"SinglePageSheets":{"type":"boolean","value":"true"}}'
)


class RenderError(RuntimeError):
    """A workbook could not be rendered."""


def find_workbooks(paths: list[Path]) -> list[Path]:
    """Expand folders into the workbooks they hold; keep files as given.

    Excel's lock files (``~$book.xlsx``) are left out.
    """
    workbooks = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in WORKBOOK_SUFFIXES)
            workbooks.extend(p for p in found if not p.name.startswith("~$"))
        elif path.is_file():
            workbooks.append(path)
        else:
            raise RenderError(f"no such file or folder: {path}")
    return workbooks


def page_images(output: Path, stem: str) -> list[Path]:
    """The ``<stem>-<page>.png`` images in ``output``, in page order."""
    page = re.compile(rf"{re.escape(stem)}-(\d+)\.png")
    matches = (page.fullmatch(image.name) for image in output.iterdir())
    numbered = sorted((int(m[1]), output / m[0]) for m in matches if m)
    return [image for _, image in numbered]


def remove_old_pages(output: Path, stem: str) -> None:
    """Delete the ``<stem>-<page>.png`` images of an earlier run."""
    for image in page_images(output, stem):
        image.unlink()


def pdf_to_png(pdf: Path, output: Path, stem: str, resolution: int) -> list[Path]:
    """Turn each page of ``pdf`` into ``output/<stem>-<page>.png``.

    ``pdftoppm`` pads page numbers with zeros when there are ten or more.
    """
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        raise RenderError(
            "pdftoppm was not found: install poppler-utils (Debian) or poppler"
        )
    command = [pdftoppm, "-png", "-r", str(resolution), str(pdf), str(output / stem)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RenderError(f"pdftoppm failed on {pdf}: {result.stderr.strip()}")
    return page_images(output, stem)


def render_workbooks(
    workbooks: list[Path],
    output: Path,
    *,
    resolution: int = DEFAULT_RESOLUTION,
    one_page_per_sheet: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[Path, list[Path] | str]:
    """Render workbooks' sheets to PNG images in ``output``, with one LibreOffice run.

    Returns each workbook's images, or the reason it could not be rendered.
    """
    target = ONE_PAGE_PER_SHEET_PDF if one_page_per_sheet else PDF
    output.mkdir(parents=True, exist_ok=True)
    outcome: dict[Path, list[Path] | str] = {}
    with tempfile.TemporaryDirectory(prefix="xlnn-render-") as scratch:
        try:
            pdfs = LibreOffice(timeout=timeout).convert(
                workbooks, scratch, target=target
            )
        except EngineError as error:
            pdfs = error.done
            outcome = {workbook: str(error) for workbook in workbooks}
        for workbook, pdf in pdfs.items():
            remove_old_pages(output, workbook.stem)
            try:
                outcome[workbook] = pdf_to_png(pdf, output, workbook.stem, resolution)
            except RenderError as error:
                outcome[workbook] = str(error)
    return outcome


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        description="Render every sheet of xlsx workbooks to PNG images "
        "(LibreOffice to PDF, then pdftoppm)."
    )
    parser.add_argument(
        "paths", nargs="+", type=Path, help="xlsx files, or folders holding them"
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="folder for the images, e.g. docs/images (required)",
    )
    parser.add_argument(
        "-r",
        "--resolution",
        type=int,
        default=DEFAULT_RESOLUTION,
        help=f"pixels per inch (default: {DEFAULT_RESOLUTION})",
    )
    parser.add_argument(
        "--one-page-per-sheet",
        action="store_true",
        help="print each sheet on one page of its own size, ignoring page setup",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds LibreOffice may take for all workbooks together "
        f"(default: {DEFAULT_TIMEOUT:g})",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Render the workbooks named on the command line; 1 if any failed."""
    arguments = parse_arguments(argv)
    try:
        workbooks = find_workbooks(arguments.paths)
    except RenderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not workbooks:
        print("error: no xlsx workbooks found", file=sys.stderr)
        return 2
    outcome = render_workbooks(
        workbooks,
        arguments.output,
        resolution=arguments.resolution,
        one_page_per_sheet=arguments.one_page_per_sheet,
        timeout=arguments.timeout,
    )
    failed = 0
    for workbook, result in outcome.items():
        if isinstance(result, str):
            print(f"error: {workbook}: {result}", file=sys.stderr)
            failed += 1
            continue
        for image in result:
            print(image)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
