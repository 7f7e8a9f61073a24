"""Recalculation engines: spreadsheet programs that compute a workbook without Excel.

Every engine has the same small interface (:class:`Engine`), so that the build
and the tests treat them alike:

- ``name``: how messages call it (``"LibreOffice"``, ``"formulas"``);
- ``in_process``: whether it computes inside this Python process (then it runs
  in the caller's thread, where Ctrl-C interrupts it, or ``xlnn build`` gives
  each file to a forked worker) or in a program of its own (then ``stop()``
  ends a run from another thread);
- ``missing()``: ``None`` when the engine can run, else why not and how to
  install it;
- ``recalculate(paths)``: recalculates several workbooks in one go and returns
  ``{path: {sheet name: {"A1": value}}}`` (blank cells left out, errors as text
  such as ``"#N/A"``), so that the engines' results compare directly;
- ``stop()``: ends a run in progress; its temporary files are still removed.

The engines are :class:`xlnn.engines.libreoffice.LibreOffice` (built-in formulas
only, in a headless ``soffice``) and :class:`xlnn.engines.formulas_engine.Formulas`
(the ``formulas`` package, where xlnn's own Excel functions can be registered).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["Engine", "EngineError", "Progress", "Values"]

#: Values per sheet name, then per cell reference such as ``"A1"``.
Values = dict[str, dict[str, object]]

#: Receives one line of progress, such as ``"formulas: digits_addin.xlsx, 8.8 s"``.
Progress = Callable[[str], None]


class EngineError(RuntimeError):
    """An engine is missing, failed or did not finish in time.

    ``done`` holds the results of the files it did finish before the problem
    (path to values for :meth:`Engine.recalculate`), so that they are not lost.
    """

    def __init__(self, message: str, *, done: Mapping[Path, object] | None = None):
        super().__init__(message)
        self.done = dict(done or {})


@runtime_checkable
class Engine(Protocol):
    """What every recalculation engine offers (see the module docstring)."""

    name: str
    in_process: bool

    def missing(self) -> str | None: ...

    def recalculate(
        self, paths: Sequence[Path], *, progress: Progress | None = None, only=None
    ) -> dict[Path, Values]: ...

    def stop(self) -> None: ...


def quiet(line: str) -> None:
    """A :data:`Progress` that shows nothing."""
