"""The ``formulas`` package as a recalculation engine, with custom functions.

Custom Excel functions can be registered. Each one is given as an adapter that
takes what Excel hands an xlwings function and returns what xlwings hands back
(:func:`formulas_function` converts both ways). The evaluation runs in this
process, in the caller's thread, so Ctrl-C interrupts it there.

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
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import openpyxl
from openpyxl.utils import get_column_letter

from xlnn.engines import EngineError, Progress, Values, quiet
from xlnn.engines.verify import plain
from xlnn.errors import install_hint
from xlnn.functions.cells import ERRORS

__all__ = [
    "INSTALL_HINT",
    "Formulas",
    "evaluate",
    "excel_argument",
    "excel_cell",
    "formulas_cell",
    "formulas_function",
    "formulas_result",
    "python_value",
    "register_functions",
    "solution_values",
]

INSTALL_HINT = install_hint("verify")


class Formulas:
    """Evaluate workbooks with the ``formulas`` package.

    Parameters
    ----------
    functions : mapping, optional
        Custom Excel functions, Excel name to Excel-style adapter (see
        :func:`formulas_function`), registered before each workbook loads.
    """

    name = "formulas"
    in_process = True

    def __init__(self, functions: Mapping[str, Callable] | None = None):
        self.functions = dict(functions or {})

    def missing(self) -> str | None:
        """Why ``formulas`` cannot run here, with how to install it; else ``None``."""
        try:
            import formulas

            # Its function modules load lazily, on the first evaluation; load
            # them now, before any engine runs, so that a Ctrl-C never lands
            # in an import (where a library's bare except could swallow it).
            formulas.get_functions()
        except ImportError as error:
            return f"the formulas package cannot be imported ({error}): {INSTALL_HINT}"
        return None

    def stop(self) -> None:
        """Nothing to stop elsewhere: the evaluation runs in the caller's thread."""

    def recalculate(
        self, paths: Sequence, *, progress: Progress | None = None, only=None
    ) -> dict[Path, Values]:
        """Evaluate several workbooks, one after the other.

        ``only`` (blocks to read back) is accepted for the shared interface
        and ignored: ``formulas`` evaluates every cell in Python anyway.

        Returns
        -------
        dict
            ``{path: {sheet name: {"A1": value}}}`` (see :func:`evaluate`).

        Raises
        ------
        EngineError
            ``formulas`` is missing or failed on a workbook; the others are
            still evaluated, and ``done`` holds their values.
        """
        reason = self.missing()
        if reason:
            raise EngineError(reason)
        progress = progress or quiet
        done, failures = {}, []
        for path in paths:
            name = Path(path).name
            progress(f"{self.name}: evaluating {name}")
            started = time.monotonic()
            try:
                done[path] = evaluate(path, self.functions)
            except Exception as error:  # any failure: the file is "not verified"
                failures.append(f"{name}: {type(error).__name__}: {error}")
                continue
            progress(f"{self.name}: {name} in {time.monotonic() - started:.1f} s")
        if failures:
            raise EngineError(f"{self.name} failed on {'; '.join(failures)}", done=done)
        return done


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
    return plain(cell)


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


def evaluate(path, functions: Mapping[str, Callable] | None = None) -> Values:
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
