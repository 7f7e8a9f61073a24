"""Recalculate a workbook with a real spreadsheet engine, without Excel.

Two engines, each returning the values as ``{sheet name: {"A1": value}}``
(blank cells left out, errors as text such as ``"#N/A"``), so that their
results compare directly:

- LibreOffice (:func:`recalculate_with_libreoffice`, then :func:`read_values`):
  a headless ``soffice`` converts the workbook to a new xlsx, recalculating
  every formula on load. Each run gets a fresh user profile whose
  ``OOXMLRecalcMode`` is 0 ("always"); LibreOffice's default keeps the cached
  values of a file that already has them. It knows no custom functions (#NAME?).
- The ``formulas`` package (:func:`evaluate_with_formulas`), where custom Excel
  functions can be registered. Each one is given as an adapter that takes what
  Excel hands an xlwings function and returns what xlwings hands back
  (:func:`formulas_function` converts both ways).

How ``formulas`` 1.3.4 behaves (checked on small workbooks):

- Ranges reach a function as 2-D ``object`` arrays, also a single cell
  (shape (1, 1)); literals as Python scalars. Numbers are ``int`` or ``float``,
  text ``str``, a blank cell the token ``schedula.EMPTY`` (a ``str`` subclass
  whose text is ``"empty"``), an error an ``XlError`` token (a ``str``
  subclass compared by identity; the standard ones are
  ``formulas.tokens.operand.Error.errors["#N/A"]`` and so on).
- A function must return a ``formulas.functions.Array`` (an ``ndarray`` view).
  A legacy array formula (openpyxl ``ArrayFormula``) fills its range as Excel
  does: a larger range is padded with #N/A, a single row repeated downwards.
  A plain formula keeps the top-left value of an ``Array`` result, and gives
  #VALUE! for a plain ``ndarray`` of another shape.
- An exception raised by a function gives #VALUE!. A returned ``EMPTY`` shows
  as 0, a returned ``""`` as empty text.
- An omitted argument (``=F(A1:C1,)``) arrives as 0, not as a blank.
- MMULT, SUM and the other built-ins work inside array formulas and nest with
  custom functions (``=SUM(SIGMOID(A1:C1))``).
- Workbook-level defined names work; sheet-level ones are ignored (#REF!).
- Cross-sheet references work, also to sheet names with spaces; a sheet name
  with an apostrophe breaks the references on that sheet (#REF!).
- Results come keyed ``"'[book.xlsx]SHEET1'!A1:B2"``, sheet names upper-cased.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import openpyxl
from openpyxl.utils import get_column_letter

from xlnn.cells import ERRORS

__all__ = [
    "DEFAULT_TIMEOUT",
    "RecalcError",
    "Values",
    "convert_with_libreoffice",
    "evaluate_with_formulas",
    "excel_argument",
    "excel_cell",
    "find_soffice",
    "formulas_cell",
    "formulas_function",
    "formulas_result",
    "python_value",
    "read_values",
    "recalculate_with_libreoffice",
    "register_functions",
    "solution_values",
    "write_recalc_profile",
]

#: Values per sheet name, then per cell reference such as ``"A1"``.
Values = dict[str, dict[str, object]]

#: Environment variable naming the LibreOffice program to use.
SOFFICE_VARIABLE = "SOFFICE"
DEFAULT_TIMEOUT = 120.0

_KNOWN_SOFFICE_PATHS = (
    "/Applications/LibreOffice.app/Contents/MacOS/soffice",
    r"C:\Program Files\LibreOffice\program\soffice.exe",
)

#: A LibreOffice user profile setting that recalculates every file on load.
RECALC_ALWAYS_PROFILE = """\
<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
 xmlns:xs="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">\
<prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">\
<prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


class RecalcError(RuntimeError):
    """A spreadsheet engine is missing, failed or did not finish in time."""


# --- LibreOffice -------------------------------------------------------------


def find_soffice() -> str | None:
    """Return the path of LibreOffice's ``soffice`` program, or ``None``.

    The environment variable ``SOFFICE`` comes first, then ``soffice`` and
    ``libreoffice`` on the ``PATH``, then the usual macOS and Windows places.
    """
    candidates = [os.environ.get(SOFFICE_VARIABLE), "soffice", "libreoffice"]
    for candidate in [*candidates, *_KNOWN_SOFFICE_PATHS]:
        found = candidate and shutil.which(candidate)
        if found:
            return found
    return None


def write_recalc_profile(profile_dir: Path) -> str:
    """Create a LibreOffice user profile that always recalculates on load.

    Returns
    -------
    str
        The profile's ``file://`` URI, for ``-env:UserInstallation=``.
    """
    settings = profile_dir / "user" / "registrymodifications.xcu"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(RECALC_ALWAYS_PROFILE, encoding="utf-8")
    return profile_dir.resolve().as_uri()


def _kill_process_group(process: subprocess.Popen) -> None:
    """Kill ``process`` and the ``soffice.bin`` it started."""
    if hasattr(os, "killpg"):
        os.killpg(process.pid, signal.SIGKILL)
    else:
        process.kill()


def _run(command: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Run ``command`` in its own process group, killed as a whole on timeout."""
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_process_group(process)
            process.communicate()
            raise RecalcError(
                f"LibreOffice did not finish within {timeout:g} s: {command}"
            ) from None
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _soffice_command(
    soffice: str, profile_uri: str, source: Path, target: str, out_dir: Path
) -> list[str]:
    """The command line that converts ``source`` into ``out_dir``."""
    return [
        soffice,
        f"-env:UserInstallation={profile_uri}",
        "--headless",
        "--calc",
        "--norestore",
        "--convert-to",
        target,
        "--outdir",
        str(out_dir),
        str(source),
    ]


def _output_path(source: Path, out_dir: Path, target: str) -> Path:
    """Where LibreOffice writes ``source`` converted to ``target``."""
    extension = target.split(":", 1)[0]
    return out_dir / f"{source.stem}.{extension}"


def _checked_paths(path, out_dir, target: str) -> tuple[Path, Path]:
    """Return (source, destination), refusing a missing or overwritten input."""
    source = Path(path).resolve()
    if not source.is_file():
        raise RecalcError(f"no such workbook: {source}")
    destination = _output_path(source, Path(out_dir).resolve(), target)
    if destination == source:
        raise RecalcError(
            f"converting {source.name} into its own folder would overwrite it; "
            "choose another output folder"
        )
    return source, destination


def _require_soffice() -> str:
    """Return the ``soffice`` path, or raise a :class:`RecalcError` saying why."""
    soffice = find_soffice()
    if soffice is None:
        raise RecalcError(
            "LibreOffice (soffice) was not found: install it (Debian: "
            "apt-get install libreoffice-calc-nogui) or set SOFFICE to its path"
        )
    return soffice


def convert_with_libreoffice(
    path, out_dir, target: str = "xlsx", timeout: float = DEFAULT_TIMEOUT
) -> Path:
    """Convert a workbook with headless LibreOffice, recalculating it on load.

    Parameters
    ----------
    path : str or Path
        The workbook; it is never modified.
    out_dir : str or Path
        Folder for the converted copy (created if missing). An existing file
        of the same name is replaced.
    target : str
        ``--convert-to`` argument: ``"xlsx"``, ``"pdf"``, or with a filter and
        options, e.g. ``'pdf:calc_pdf_Export:{"SinglePageSheets": ...}'``.
    timeout : float
        Seconds to wait for LibreOffice, per attempt.

    Returns
    -------
    Path
        The converted copy, ``out_dir / (path's stem + "." + extension)``.

    Raises
    ------
    RecalcError
        LibreOffice is missing, failed (its output is in the message) or timed
        out, or the copy would overwrite the input.
    """
    source, destination = _checked_paths(path, out_dir, target)
    soffice = _require_soffice()
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="xlnn-soffice-") as scratch:
        scratch = Path(scratch)
        profile_uri = write_recalc_profile(scratch / "profile")
        produced = _output_path(source, scratch / "out", target)
        command = _soffice_command(
            soffice, profile_uri, source, target, scratch / "out"
        )
        # A first start on a fresh profile occasionally ends before converting.
        for _attempt in range(2):
            result = _run(command, timeout)
            if produced.is_file():
                shutil.move(produced, destination)
                return destination
    raise RecalcError(
        f"LibreOffice could not convert {source} to {target} "
        f"(exit code {result.returncode}).\n"
        f"stderr: {result.stderr.strip()}\nstdout: {result.stdout.strip()}"
    )


def recalculate_with_libreoffice(
    path, out_dir, timeout: float = DEFAULT_TIMEOUT
) -> Path:
    """Recalculate every formula of a workbook with LibreOffice.

    Returns the path of the recalculated xlsx copy in ``out_dir``; read its
    values with :func:`read_values`. See :func:`convert_with_libreoffice`.
    """
    return convert_with_libreoffice(path, out_dir, "xlsx", timeout)


def read_values(path) -> Values:
    """Read the cached value of every non-blank cell of a workbook.

    Returns
    -------
    dict
        ``{sheet name: {"A1": value}}`` with values as openpyxl reads them
        (numbers, text, bools, dates; errors as text such as ``"#N/A"``).
    """
    book = openpyxl.load_workbook(path, data_only=True)
    return {
        sheet.title: {
            cell.coordinate: cell.value
            for row in sheet.iter_rows()
            for cell in row
            if cell.value is not None
        }
        for sheet in book.worksheets
    }


# --- formulas: Excel functions given as xlwings-style adapters ---------------


def excel_cell(cell):
    """Turn one cell as ``formulas`` passes it into what Excel hands over.

    Blank becomes ``None``, an error its text (``"#N/A"``), a number a
    ``float``; bools and text stay as they are.
    """
    import schedula
    from formulas.tokens.operand import XlError

    if cell is schedula.EMPTY:
        return None
    if isinstance(cell, XlError):
        return str(cell)
    if isinstance(cell, (bool, np.bool_)):
        return bool(cell)
    if isinstance(cell, (int, float, np.number)):
        return float(cell)
    if isinstance(cell, str):
        return str(cell)
    return cell


def excel_argument(value):
    """Turn one argument as ``formulas`` passes it into what Excel hands over.

    A range becomes a list of rows of cells, a single cell or a literal a
    single value (see :func:`excel_cell`).
    """
    if isinstance(value, np.ndarray):
        if value.size == 1:
            return excel_cell(value.reshape(-1)[0])
        return [[excel_cell(cell) for cell in row] for row in np.atleast_2d(value)]
    return excel_cell(value)


def formulas_cell(cell):
    """Turn one returned cell into what ``formulas`` computes with.

    An error text (``"#NUM!"``) becomes ``formulas``' error token, NaN and inf
    become #NUM!, ``None`` a blank; numbers become ``float``.
    """
    import schedula
    from formulas.tokens.operand import Error, XlError

    if cell is None:
        return schedula.EMPTY
    if isinstance(cell, str):
        if cell in ERRORS:
            return Error.errors.get(cell) or XlError(cell)
        return cell
    if isinstance(cell, (bool, np.bool_)):
        return bool(cell)
    if isinstance(cell, (int, float, np.number)):
        number = float(cell)
        return number if math.isfinite(number) else Error.errors["#NUM!"]
    return cell


def formulas_result(result):
    """Turn an adapter's result (a value, a row or rows) into a ``formulas`` Array."""
    from formulas.functions import Array

    if isinstance(result, np.ndarray):
        result = result.tolist()
    rows = result if isinstance(result, (list, tuple)) else [[result]]
    if not rows:
        raise ValueError("a function returned an empty range")
    if not isinstance(rows[0], (list, tuple)):
        rows = [rows]
    array = np.empty((len(rows), len(rows[0])), dtype=object)
    for i, row in enumerate(rows):
        array[i, :] = [formulas_cell(cell) for cell in row]
    return array.view(Array)


def formulas_function(adapter: Callable) -> Callable:
    """Wrap an Excel-style ``adapter`` as a function ``formulas`` can register.

    Arguments are converted by :func:`excel_argument`, the result by
    :func:`formulas_result`; an exception gives #VALUE!.
    """
    import formulas.functions

    def bridge(*args):
        return formulas_result(adapter(*map(excel_argument, args)))

    functools.update_wrapper(bridge, adapter)
    return formulas.functions.wrap_func(bridge)


def register_functions(functions: Mapping[str, Callable]) -> None:
    """Register Excel functions with ``formulas``, by Excel name.

    ``functions`` maps an Excel name (``"SIGMOID"``) to an adapter. The
    registry is global to the process; register before loading a workbook.
    """
    import formulas

    registry = formulas.get_functions()
    for excel_name, adapter in functions.items():
        registry[excel_name.upper()] = formulas_function(adapter)


def python_value(cell):
    """Turn one computed ``formulas`` cell into a plain Python value.

    Blank gives ``None``, an error its text, a NumPy scalar a Python one.
    """
    import schedula
    from formulas.tokens.operand import XlError

    if cell is schedula.EMPTY:
        return None
    if isinstance(cell, XlError):
        return str(cell)
    return cell.item() if isinstance(cell, np.generic) else cell


def _sheet_names(path) -> dict[str, str]:
    """Map each upper-cased sheet name of a workbook to its real name."""
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        return {name.upper(): name for name in book.sheetnames}
    finally:
        book.close()


def _range_cells(bounds: Mapping, value) -> dict[str, object]:
    """Spread a computed range's 2-D value over its cells, leaving out blanks."""
    first_row, first_column = int(bounds["r1"]), int(bounds["n1"])
    cells = {}
    for (i, j), cell in np.ndenumerate(np.atleast_2d(np.asarray(value, object))):
        cell = python_value(cell)
        if cell is not None:
            reference = f"{get_column_letter(first_column + j)}{first_row + i}"
            cells[reference] = cell
    return cells


def solution_values(solution: Mapping, sheet_names: Mapping[str, str]) -> Values:
    """Turn a ``formulas`` solution into ``{sheet name: {"A1": value}}``.

    Defined names and keys that are not single ranges on a sheet are left out;
    ``sheet_names`` maps upper-cased sheet names back to the real ones.
    """
    from formulas.ranges import Ranges

    values: Values = {name: {} for name in sheet_names.values()}
    for computed in solution.values():
        if not isinstance(computed, Ranges) or len(computed.ranges) != 1:
            continue
        bounds = computed.ranges[0]
        sheet = bounds.get("sheet")
        if not sheet:
            continue
        sheet = sheet_names.get(sheet.upper(), sheet)
        values.setdefault(sheet, {}).update(_range_cells(bounds, computed.value))
    return values


def evaluate_with_formulas(
    path, functions: Mapping[str, Callable] | None = None
) -> Values:
    """Evaluate a workbook with the ``formulas`` package.

    Parameters
    ----------
    path : str or Path
        The workbook (xlsx); it is only read.
    functions : mapping, optional
        Custom Excel functions, Excel name to Excel-style adapter (see
        :func:`formulas_function`), registered before the workbook loads.

    Returns
    -------
    dict
        ``{sheet name: {"A1": value}}`` for every cell ``formulas`` computed
        or read (formula cells and the cells they refer to), blanks left out,
        errors as text such as ``"#N/A"``.
    """
    import formulas

    register_functions(functions or {})
    source = str(Path(path).resolve())
    # Built-ins such as EXP warn on overflow before giving #NUM!, as in Excel.
    with np.errstate(over="ignore"), _no_progress_bars():
        model = formulas.ExcelModel().loads(source).finish()
        solution = model.calculate()
    return solution_values(solution, _sheet_names(source))


@contextlib.contextmanager
def _no_progress_bars():
    """Keep ``formulas``' tqdm progress bars off the user's terminal."""
    previous = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["TQDM_DISABLE"]
        else:
            os.environ["TQDM_DISABLE"] = previous
