"""``xlnn build``: write every sample workbook in both flavors, then verify them.

Writing. Each workbook is written by :func:`xlnn.files.write_new`: complete
or not at all, never over an existing file without ``--force`` (not even one
that appears meanwhile, so two builds into one folder never replace each
other's files). A killed build leaves no half-written file under a final
name, and the next build into the folder removes its temporary files.

Verifying. All eight files are written first. Then LibreOffice (a program of
its own, in a background thread) recalculates the plain files in one batch,
while ``formulas`` evaluates the add-in files side by side, each in a forked
worker process, up to one per core. A missing, crashing or hanging engine
(or a killed worker) leaves its files "not verified", with the reason; it
never stops the build.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from xlnn import files, samples
from xlnn.engines import Engine, Progress, quiet, verify
from xlnn.engines.libreoffice import DEFAULT_TIMEOUT
from xlnn.engines.processes import ForkedWorkers, WorkerEnded
from xlnn.errors import UserError
from xlnn.sheets import xlsx_writer
from xlnn.sheets.flavors import FLAVORS


class BuildError(UserError):
    """The workbooks cannot be written; the message names the path and why."""


@dataclass(frozen=True)
class Rendered:
    """One generated workbook: the xlsx bytes, its checks and its sheet names."""

    data: bytes
    checks: list
    sheets: list[str]


@dataclass
class BuiltWorkbook:
    """A written workbook and, unless verification was skipped, its outcome."""

    path: Path
    sheets: list[str]
    formulas: int
    verification: verify.Verification | None = None

    @property
    def status(self) -> str:
        if self.verification is None:
            return "not verified (--no-verify)"
        return self.verification.summary()

    @property
    def failed(self) -> bool:
        return self.verification is not None and self.verification.failed

    @property
    def unverified(self) -> bool:
        return self.verification is not None and not self.verification.verified

    def line(self) -> str:
        return (
            f"{self.path}  sheets: {', '.join(self.sheets)}  formulas: "
            f"{self.formulas}  {self.status}"
        )


def workbook_name(sample: str, flavor: str) -> str:
    return f"{sample}_{flavor}.xlsx"


def targets(out_dir: Path) -> dict[Path, tuple[str, str]]:
    """Every file a build writes, with its sample and flavor."""
    return {
        Path(out_dir) / workbook_name(sample, flavor): (sample, flavor)
        for sample in samples.SAMPLES
        for flavor in FLAVORS
    }


def _render(sample: str, flavor: str) -> Rendered:
    """Generate one workbook in memory: the build's only contact with the samples."""
    book = samples.SAMPLES[sample](FLAVORS[flavor])
    return Rendered(xlsx_writer.to_bytes(book), book.checks, book.sheet_titles)


# --- the output folder --------------------------------------------------------


def prepare_folder(out_dir: Path) -> None:
    """Create ``out_dir`` if needed, or raise a :class:`BuildError` saying why not."""
    blocker = files.file_in_the_way(out_dir)
    if blocker == out_dir:
        raise BuildError(f"{out_dir}: is a file, not a folder")
    if blocker is not None:
        raise BuildError(f"{out_dir}: {blocker} is a file, not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BuildError(f"{out_dir}: {files.problem(error)}") from None


def refuse_conflicts(planned, *, force: bool) -> None:
    """Refuse names taken by folders, or by files unless ``force`` (regular ones)."""
    folders = [path for path in planned if path.is_dir()]
    if folders:
        raise BuildError(f"{folders[0]}: is a folder, not a workbook; move it away")
    existing = [path for path in planned if os.path.lexists(path)]
    if force:
        for path in existing:
            files.check_replaceable(path)
    if existing and not force:
        raise BuildError(
            f"{existing[0].parent}: {len(existing)} workbook(s) already exist "
            f"({', '.join(path.name for path in existing)}); "
            "pass --force to overwrite them"
        )


def _write_all(planned, *, force: bool, progress: Progress) -> dict[Path, Rendered]:
    """Generate and write every planned workbook; stop at the first problem."""
    written = {}
    for path, (sample, flavor) in planned.items():
        started = time.monotonic()
        rendered = _render(sample, flavor)
        try:
            files.write_new(path, rendered.data, force=force)
        except OSError as error:
            raise BuildError(
                f"{path}: {files.problem(error)} ({len(written)} of {len(planned)} "
                "workbooks were written before this)"
            ) from None
        progress(f"wrote {path.name} in {time.monotonic() - started:.1f} s")
        written[path] = rendered
    return written


# --- verification -------------------------------------------------------------


def engines(*, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Engine]:
    """The engine that verifies each flavor, by flavor name."""
    from xlnn import udfs
    from xlnn.engines.formulas_engine import Formulas
    from xlnn.engines.libreoffice import LibreOffice

    by_engine = {
        "libreoffice": LibreOffice(timeout=timeout),
        "formulas": Formulas(udfs.by_excel_name()),
    }
    return {name: by_engine[flavor.verified_by] for name, flavor in FLAVORS.items()}


def verify_all(
    groups, *, progress: Progress = quiet
) -> dict[Path, verify.Verification]:
    """Verify each ``(engine, {path: checks})`` group; engines and files side by side.

    Engines in programs of their own (LibreOffice) run in background threads.
    The files of engines that compute in this process (``formulas``) go one
    per job to forked workers (:class:`~xlnn.engines.processes.ForkedWorkers`),
    up to one per core, forked before any thread starts; the system shares
    the cores between them and the background engines. On any exception
    (Ctrl-C, or one a job raised in its worker) every engine is stopped, the
    workers are ended, and the background threads are waited for, so their
    temporary files are removed.
    """
    for engine, _ in groups:
        # Load every engine (formulas imports its function modules) before any
        # runs, so that a Ctrl-C while LibreOffice runs never lands in an
        # import, and the workers inherit the modules instead of importing.
        engine.missing()
    background = [group for group in groups if not group[0].in_process]
    in_process_files = [
        (engine, path, checks)
        for engine, checks_by_path in groups
        if engine.in_process
        for path, checks in checks_by_path.items()
    ]
    jobs = [functools.partial(_verify_one, *file) for file in in_process_files]
    results = {}
    # The pool of threads starts its threads when given work, after the fork.
    with (
        ThreadPoolExecutor(max_workers=max(1, len(background))) as threads,
        ForkedWorkers(jobs, os.cpu_count() or 1) as workers,
    ):
        try:
            futures = [
                threads.submit(verify.verify_files, engine, checks, progress=progress)
                for engine, checks in background
            ]
            for index, outcome in workers.outcomes(progress):
                results.update(_file_outcome(*in_process_files[index], outcome))
            for future in futures:
                results.update(future.result())
        except BaseException:
            for engine, _ in groups:
                engine.stop()
            raise
    return results


def _verify_one(engine, path, checks, progress) -> dict[Path, verify.Verification]:
    """One file's verification by ``engine``: a worker's job."""
    return verify.verify_files(engine, {path: checks}, progress=progress)


def _file_outcome(engine, path, checks, outcome) -> dict[Path, verify.Verification]:
    """A job's result, or "not verified" if its worker ended first."""
    if isinstance(outcome, WorkerEnded):
        return {path: verify.Verification(engine.name, problem=str(outcome))}
    return outcome


def _verify_written(written, planned, *, timeout, progress):
    by_flavor = engines(timeout=timeout)
    groups = [
        (
            engine,
            {
                path: rendered.checks
                for path, rendered in written.items()
                if planned[path][1] == flavor
            },
        )
        for flavor, engine in by_flavor.items()
    ]
    return verify_all([group for group in groups if group[1]], progress=progress)


def build(
    out_dir: Path,
    *,
    force: bool = False,
    check: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    report: Callable[[str], None] = print,
    progress: Progress | None = None,
) -> list[BuiltWorkbook]:
    """Write every sample workbook into ``out_dir``, then verify each one.

    Parameters
    ----------
    out_dir : Path
        The folder; created if missing.
    force : bool
        Replace existing workbooks of the same names.
    check : bool
        Verify with the engines; ``False`` only writes.
    timeout : float
        Seconds LibreOffice may take for all plain files together.
    report : callable
        Receives one line per workbook: path, sheets, formulas, verification.
    progress : callable, optional
        Receives a line at each step (file written, engine started or done).

    Raises
    ------
    BuildError
        A workbook could not be written (the message names the path and the
        problem); workbooks written before it stay, complete.
    """
    progress = progress or quiet
    out_dir = Path(out_dir)
    planned = targets(out_dir)
    prepare_folder(out_dir)
    refuse_conflicts(planned, force=force)
    try:
        stale = files.remove_stale_temporaries(out_dir)
    except OSError as error:
        raise BuildError(f"{out_dir}: {files.problem(error)}") from None
    for path in stale:
        progress(f"removed {path.name}, left by a build that was killed")
    written = _write_all(planned, force=force, progress=progress)
    verifications = (
        _verify_written(written, planned, timeout=timeout, progress=progress)
        if check
        else {}
    )
    built = [
        BuiltWorkbook(
            path, rendered.sheets, len(rendered.checks), verifications.get(path)
        )
        for path, rendered in written.items()
    ]
    for entry in built:
        report(entry.line())
    return built
