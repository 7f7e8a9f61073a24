"""``xlnn build``: write every sample workbook in both flavors, then verify them.

Writing. Each workbook goes to a temporary file in the output folder first,
then takes its final name with a hard link, which fails if that name exists:
the no-overwrite rule holds at the moment of writing, so two builds into one
folder, or a file that appears meanwhile, are never replaced (``--force``
renames over the old file instead). A killed build leaves no half-written file
under a final name; its temporary files carry this host's name and the
build's process id, and the next build into the folder removes those whose
process is gone, never those of a build still running.

Verifying. All six files are written first. Then each engine recalculates the
files of its flavor in one batch: LibreOffice (a program of its own, in a
background thread) at the same time as ``formulas`` (in this thread). A
missing, crashing or hanging engine leaves its files "not verified", with the
reason; it never stops the build.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from xlnn import samples, verify, xlsx_writer
from xlnn.engines import Engine, Progress, quiet
from xlnn.engines.libreoffice import DEFAULT_TIMEOUT
from xlnn.errors import UserError
from xlnn.flavors import FLAVORS

TEMPORARY_SUFFIX = ".xlnn-tmp"

# errno values with which os.link says the filesystem has no hard links.
_NO_HARD_LINKS = {
    errno.EPERM,
    errno.EINVAL,
    errno.ENOSYS,
    errno.EOPNOTSUPP,
    getattr(errno, "ENOTSUP", errno.EOPNOTSUPP),
}
_TEMPORARY = re.compile(
    r"\.(?P<name>.+)\.(?P<host>\w*)-(?P<pid>\d+)-[0-9a-f]{8}"
    + re.escape(TEMPORARY_SUFFIX)
)


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


def _problem(error: OSError) -> str:
    """What went wrong, in words, without the path (the caller names it)."""
    if isinstance(error, FileExistsError):
        return "already exists (it appeared while this build ran); it was not replaced"
    if isinstance(error, IsADirectoryError):
        return "is a folder, not a workbook; move it away"
    return error.strerror or str(error)


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest of ``path`` and its parents that exists and is not a folder."""
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return None if candidate.is_dir() else candidate
    return None


def prepare_folder(out_dir: Path) -> None:
    """Create ``out_dir`` if needed, or raise a :class:`BuildError` saying why not."""
    blocker = _file_in_the_way(out_dir)
    if blocker == out_dir:
        raise BuildError(f"{out_dir}: is a file, not a folder")
    if blocker is not None:
        raise BuildError(f"{out_dir}: {blocker} is a file, not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BuildError(f"{out_dir}: {_problem(error)}") from None


def refuse_conflicts(planned, *, force: bool) -> None:
    """Refuse target names taken by folders, or by files unless ``force``."""
    folders = [path for path in planned if path.is_dir()]
    if folders:
        raise BuildError(f"{folders[0]}: is a folder, not a workbook; move it away")
    existing = [path for path in planned if os.path.lexists(path)]
    if existing and not force:
        raise BuildError(
            f"{existing[0].parent}: {len(existing)} workbook(s) already exist "
            f"({', '.join(path.name for path in existing)}); "
            "pass --force to overwrite them"
        )


def _host() -> str:
    return re.sub(r"\W", "_", socket.gethostname())


def temporary_name(path: Path) -> str:
    """``.NAME.HOST-PID-RANDOM.xlnn-tmp``: whose it is, so that others leave it."""
    token = secrets.token_hex(4)
    return f".{path.name}.{_host()}-{os.getpid()}-{token}{TEMPORARY_SUFFIX}"


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs; on Windows, always assumed (no safe probe)."""
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(out_dir: Path) -> list[Path]:
    """Remove the temporary files of killed builds on this host; return them."""
    removed = []
    host = _host()
    for entry in out_dir.iterdir():
        match = _TEMPORARY.fullmatch(entry.name)
        if not match or match["host"] != host or _alive(int(match["pid"])):
            continue
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            removed.append(entry)
    return removed


def _link_new(temporary: Path, path: Path) -> None:
    """Give ``temporary`` the name ``path``, failing if ``path`` exists."""
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise
    except OSError as error:
        if error.errno not in _NO_HARD_LINKS:
            raise
        # No hard links here (FAT, some network shares): claim the name with an
        # empty file, which fails if it exists, then rename over that claim.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        os.replace(temporary, path)


def write_new(path: Path, data: bytes, *, force: bool = False) -> None:
    """Write ``data`` as ``path``, complete or not at all.

    Without ``force`` an existing ``path`` is never replaced, even one that
    appeared a moment ago (:class:`FileExistsError`). The temporary file is
    removed whatever happens, short of the process being killed.
    """
    temporary = path.with_name(temporary_name(path))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    descriptor = os.open(temporary, flags, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if force:
            os.replace(temporary, path)
        else:
            _link_new(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _write_all(planned, *, force: bool, progress: Progress) -> dict[Path, Rendered]:
    """Generate and write every planned workbook; stop at the first problem."""
    written = {}
    for path, (sample, flavor) in planned.items():
        started = time.monotonic()
        rendered = _render(sample, flavor)
        try:
            write_new(path, rendered.data, force=force)
        except OSError as error:
            raise BuildError(
                f"{path}: {_problem(error)} ({len(written)} of {len(planned)} "
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
    """Verify each ``(engine, {path: checks})`` group; engines run side by side.

    Engines in programs of their own run in background threads, the others in
    this thread. On any exception (Ctrl-C) every engine is stopped, and the
    background threads are waited for, so their temporary files are removed.
    """
    for engine, _ in groups:
        # Load every engine (formulas imports its function modules) before any
        # runs, so that a Ctrl-C while LibreOffice runs never lands in an import.
        engine.missing()
    background = [group for group in groups if not group[0].in_process]
    foreground = [group for group in groups if group[0].in_process]
    results = {}
    with ThreadPoolExecutor(max_workers=max(1, len(background))) as pool:
        try:
            futures = [
                pool.submit(verify.verify_files, engine, checks, progress=progress)
                for engine, checks in background
            ]
            for engine, checks in foreground:
                results.update(verify.verify_files(engine, checks, progress=progress))
            for future in futures:
                results.update(future.result())
        except BaseException:
            for engine, _ in groups:
                engine.stop()
            raise
    return results


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
        stale = remove_stale_temporaries(out_dir)
    except OSError as error:
        raise BuildError(f"{out_dir}: {_problem(error)}") from None
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
