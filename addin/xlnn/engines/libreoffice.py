"""LibreOffice headless as a recalculation engine (built-in formulas only).

One ``soffice --convert-to`` call converts every given workbook to a new xlsx,
recalculating every formula on load; :func:`read_values` reads the results.
LibreOffice knows no custom functions (they give #NAME?).

The profile. Each run gets a fresh user profile in a temporary folder, removed
afterwards, also when the run is interrupted or stopped. Its
``OOXMLRecalcMode`` is 0 ("always"): LibreOffice's default keeps the cached
values of a file that already has them. It also gets ``user/extensions/buildid``:
on a profile without that file, the first ``soffice.bin`` sets up the
extension cache, asks for a restart and exits with code 81; ``oosplash`` then
starts ``soffice.bin`` a second time, which does the conversion.
LibreOffice compares that file with the ``buildid`` of its
``program/versionrc`` (``cleanExtensionCache`` in
``desktop/source/app/app.cxx``), so writing the same text up front makes the
first start the only one. When the build id cannot be found (a wrapper script
on the PATH, say), the profile goes without it and LibreOffice starts twice,
as before.

The process. ``soffice`` runs in a process group of its own, so that a timeout,
an exception (Ctrl-C) or :meth:`LibreOffice.stop` ends ``oosplash`` and
``soffice.bin`` together. On Linux it also dies with its parent, should
Python be killed outright (SIGKILL, no ``finally`` runs): see
:func:`xlnn.engines.processes.die_with_parent_hook`. The next run removes the
scratch folder a killed one left (:func:`xlnn.files.scratch_folder`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from xlnn import files
from xlnn.engines import EngineError, Progress, Values, quiet
from xlnn.engines.processes import (
    HeldInterrupts,
    describe_exit,
    die_with_parent_hook,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "INSTALL_HINT",
    "LibreOffice",
    "build_id",
    "find_soffice",
    "read_values",
    "write_profile",
]

#: Environment variable naming the LibreOffice program to use.
SOFFICE_VARIABLE = "SOFFICE"
#: Seconds one ``soffice`` run (all files of a call) may take.
DEFAULT_TIMEOUT = 120.0
INSTALL_HINT = (
    "install LibreOffice (Debian/Ubuntu: apt-get install libreoffice-calc-nogui) "
    f"or set {SOFFICE_VARIABLE} to its soffice program"
)
#: Prefix of the temporary folder of each run (profile and converted files).
SCRATCH_PREFIX = "xlnn-soffice-"

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

#: Seconds to wait for a killed process group to be gone before cleaning up.
_GROUP_EXIT_WAIT = 5.0


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


def build_id(soffice: str) -> str | None:
    """The ``buildid`` of the LibreOffice installation ``soffice`` belongs to.

    Read from ``versionrc`` beside the program (Linux; ``version.ini`` on
    Windows, ``../Resources/versionrc`` on macOS). ``None`` when not found, or
    when it holds bootstrap macros this module does not expand.
    """
    program = Path(soffice).resolve().parent
    for ini in (
        program / "versionrc",
        program / "version.ini",
        program.parent / "Resources" / "versionrc",
    ):
        try:
            lines = ini.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            key, _, value = line.partition("=")
            if key.strip() == "buildid" and value and "$" not in value:
                return value.strip()
    return None


def write_profile(profile_dir: Path, soffice: str | None = None) -> str:
    """Create a LibreOffice user profile that recalculates on load, started once.

    Parameters
    ----------
    profile_dir : Path
        A new folder for the profile.
    soffice : str, optional
        The program that will use it; its build id goes into
        ``user/extensions/buildid`` (see the module docstring).

    Returns
    -------
    str
        The profile's ``file://`` URI, for ``-env:UserInstallation=``.
    """
    user = profile_dir / "user"
    user.mkdir(parents=True, exist_ok=True)
    (user / "registrymodifications.xcu").write_text(
        RECALC_ALWAYS_PROFILE, encoding="utf-8"
    )
    identifier = build_id(soffice) if soffice else None
    if identifier:
        (user / "extensions").mkdir(exist_ok=True)
        # No newline: LibreOffice compares the whole first line.
        (user / "extensions" / "buildid").write_bytes(identifier.encode("utf-8"))
    return profile_dir.resolve().as_uri()


def read_values(path, only=None) -> Values:
    """Read the cached value of every non-blank cell of a workbook.

    Parameters
    ----------
    path : str or Path
        The workbook.
    only : iterable of Block, optional
        Read these blocks' cells only, streamed
        (:func:`xlnn.engines.xlsx_values.read_blocks`): what verification
        compares, without the thousands of input cells around them.

    Returns
    -------
    dict
        ``{sheet name: {"A1": value}}`` with values as openpyxl reads them
        (numbers, text, bools, dates; errors as text such as ``"#N/A"``).
    """
    # Imported here: the command's parser reads DEFAULT_TIMEOUT from this
    # module, and openpyxl with NumPy would cost every xlnn command 0.3 s.
    if only is not None:
        from xlnn.engines.xlsx_values import read_blocks

        return read_blocks(path, only)
    import openpyxl

    book = openpyxl.load_workbook(path, data_only=True, read_only=True)
    try:
        return {
            sheet.title: {
                cell.coordinate: cell.value
                for row in sheet.iter_rows()
                for cell in row
                if cell.value is not None
            }
            for sheet in book.worksheets
        }
    finally:
        book.close()


def _output_name(source: Path, target: str) -> str:
    """The file name LibreOffice gives ``source`` converted to ``target``."""
    return f"{source.stem}.{target.split(':', 1)[0]}"


def _checked_sources(paths: Sequence) -> list[Path]:
    """The workbooks as absolute paths; refuse missing ones and equal stems."""
    sources = [Path(path).resolve() for path in paths]
    for source in sources:
        if not source.is_file():
            raise EngineError(f"no such workbook: {source}")
    stems = [source.stem for source in sources]
    twins = sorted({stem for stem in stems if stems.count(stem) > 1})
    if twins:
        raise EngineError(
            f"two workbooks named {twins[0]} would convert to one file; "
            "convert them in separate calls"
        )
    return sources


def _scratch_environment(folder: Path) -> dict[str, str]:
    """This process's environment with its temporary folder inside ``folder``.

    LibreOffice keeps temporary files of its own (``lu*.tmp``) there; a killed
    ``soffice.bin`` cannot remove them, but they go with the scratch folder.
    """
    folder.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "TMPDIR": str(folder),
        "TMP": str(folder),
        "TEMP": str(folder),
    }


def _raise_for_missing(paths: Sequence, outcome: str, done: dict) -> None:
    """Raise an :class:`EngineError` if any of ``paths`` is not in ``done``."""
    missing = [Path(path).name for path in paths if path not in done]
    if missing:
        raise EngineError(
            f"LibreOffice produced nothing for {', '.join(missing)} ({outcome})",
            done=done,
        )


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies do not count).

    A killed ``soffice.bin`` is reparented to init, which may take a while to
    reap it; on Linux ``/proc`` tells a zombie from a live process.
    """
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            state, _parent, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue  # the process ended while being looked at
        if int(group) == pgid and state != "Z":
            return True
    return False


def _wait_for_group_exit(pgid: int) -> None:
    """Wait until no process of group ``pgid`` runs (or a few seconds pass).

    ``soffice.bin`` is a grandchild: without this wait it could still be
    writing into the profile while the profile is removed.
    """
    deadline = time.monotonic() + _GROUP_EXIT_WAIT
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.02)


def _kill_group(process: subprocess.Popen) -> None:
    """Kill ``process`` and every program it started (``soffice.bin``)."""
    if hasattr(os, "killpg"):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    else:  # Windows: no process groups; soffice.exe ends soffice.bin itself
        process.kill()


class LibreOffice:
    """Recalculate or convert workbooks with headless LibreOffice.

    Parameters
    ----------
    timeout : float
        Seconds one ``soffice`` run may take; it converts all files of a call.
    soffice : str, optional
        The program; by default :func:`find_soffice` looks for it.
    """

    name = "LibreOffice"
    in_process = False

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT, soffice: str | None = None):
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds: {timeout}")
        self.timeout = timeout
        self.soffice = soffice
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen] = set()
        self._stopped = False

    def missing(self) -> str | None:
        """Why LibreOffice cannot run here, with how to install it; else ``None``."""
        if self.soffice or find_soffice():
            return None
        return f"LibreOffice (soffice) was not found: {INSTALL_HINT}"

    def stop(self) -> None:
        """End every run in progress and refuse new ones (from any thread).

        Each run's own thread still removes its temporary profile.
        """
        with self._lock:
            self._stopped = True
            running = list(self._running)
        for process in running:
            _kill_group(process)

    def recalculate(
        self, paths: Sequence, *, progress: Progress | None = None, only=None
    ) -> dict[Path, Values]:
        """Recalculate every formula of several workbooks in one ``soffice`` run.

        ``only`` (blocks) limits the values read back (see :func:`read_values`).

        Returns
        -------
        dict
            ``{path: {sheet name: {"A1": value}}}``, keyed by the paths as given.

        Raises
        ------
        EngineError
            LibreOffice is missing, failed, timed out or was stopped; ``done``
            holds the values of the workbooks it did recalculate.
        """
        with files.scratch_folder(SCRATCH_PREFIX) as scratch:
            converted, outcome = self._convert_into(paths, scratch, "xlsx", progress)
            values = {path: read_values(out, only) for path, out in converted.items()}
        _raise_for_missing(paths, outcome, values)
        return values

    def convert(
        self,
        paths: Sequence,
        out_dir,
        *,
        target: str = "xlsx",
        progress: Progress | None = None,
    ) -> dict[Path, Path]:
        """Convert workbooks with one ``soffice`` run, recalculating them on load.

        Parameters
        ----------
        paths : sequence of str or Path
            The workbooks (distinct file names); they are never modified.
        out_dir : str or Path
            Folder for the converted copies (created if missing); an existing
            file of the same name is replaced, the input never.
        target : str
            ``--convert-to`` argument: ``"xlsx"``, ``"pdf"``, or with a filter
            and options, e.g. ``'pdf:calc_pdf_Export:{"SinglePageSheets": ...}'``.

        Returns
        -------
        dict
            Each given path to its copy, ``out_dir / (stem + "." + extension)``.
        """
        out_dir = Path(out_dir).resolve()
        for source in _checked_sources(paths):
            if out_dir / _output_name(source, target) == source:
                raise EngineError(
                    f"converting {source.name} into its own folder would overwrite "
                    "it; choose another output folder"
                )
        out_dir.mkdir(parents=True, exist_ok=True)
        with files.scratch_folder(SCRATCH_PREFIX) as scratch:
            converted, outcome = self._convert_into(paths, scratch, target, progress)
            moved = {
                path: Path(shutil.move(out, out_dir / out.name))
                for path, out in converted.items()
            }
        _raise_for_missing(paths, outcome, moved)
        return moved

    def _convert_into(
        self, paths: Sequence, scratch: Path, target: str, progress: Progress | None
    ) -> tuple[dict, str]:
        """Run ``soffice`` once.

        Returns each path that LibreOffice converted with its output in
        ``scratch``, and how the run ended (exit code and stderr).
        """
        sources = _checked_sources(paths)
        soffice = self.soffice or find_soffice()
        if soffice is None:
            raise EngineError(f"LibreOffice (soffice) was not found: {INSTALL_HINT}")
        progress = progress or quiet
        profile_uri = write_profile(scratch / "profile", soffice)
        out_dir = scratch / "out"
        command = [
            soffice,
            f"-env:UserInstallation={profile_uri}",
            "--headless",
            "--calc",
            "--norestore",
            "--convert-to",
            target,
            "--outdir",
            str(out_dir),
            *map(str, sources),
        ]
        names = ", ".join(source.name for source in sources)
        progress(f"{self.name}: recalculating {names}")
        started = time.monotonic()
        result = self._run(command, _scratch_environment(scratch / "tmp"))
        seconds = time.monotonic() - started
        progress(f"{self.name}: {len(sources)} file(s) in {seconds:.1f} s")
        outcome = (
            f"{describe_exit(result.returncode)}; "
            f"stderr: {result.stderr.strip() or '(empty)'}"
        )
        outputs = {
            path: out_dir / _output_name(source, target)
            for path, source in zip(paths, sources, strict=True)
        }
        return {path: out for path, out in outputs.items() if out.is_file()}, outcome

    def _run(self, command: list[str], env: dict) -> subprocess.CompletedProcess:
        """Run ``command`` in its own process group, ended as a whole on failure."""
        process, held = None, HeldInterrupts()
        try:
            with self._lock:
                if self._stopped:
                    raise EngineError(f"{self.name} was stopped")
                process = subprocess.Popen(
                    command,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    text=True,
                    start_new_session=True,
                    preexec_fn=die_with_parent_hook(),
                )
                self._running.add(process)
            held.release()  # a Ctrl-C pressed since Popen is raised here
            stdout, stderr = process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self._end(process)
            raise EngineError(
                f"{self.name} did not finish within {self.timeout:g} s and was stopped"
            ) from None
        except BaseException:  # Ctrl-C, SIGTERM turned into an exception
            held.release()
            if process is not None:
                self._end(process)
            raise
        finally:
            with self._lock:
                self._running.discard(process)
        if self._stopped:
            self._end(process)
            raise EngineError(f"{self.name} was stopped")
        if hasattr(os, "killpg"):
            _wait_for_group_exit(process.pid)
        return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)

    @staticmethod
    def _end(process: subprocess.Popen) -> None:
        _kill_group(process)
        process.communicate()
        if hasattr(os, "killpg"):
            _wait_for_group_exit(process.pid)
