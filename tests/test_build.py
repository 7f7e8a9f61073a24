"""``xlnn build``'s writing and verifying, without the real samples or engines.

The samples are replaced by tiny stand-ins (``build._render``) and the engines
by fakes, so that each test checks one rule of writing or verifying in
milliseconds: nothing overwritten, nothing half-written, every file written
before verification, and each outcome reported as what it is. The tests of
real processes (concurrent builds, a killed build) fork children that do the
same.
"""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from xlnn import cli, files
from xlnn.engines import EngineError, processes
from xlnn.samples import build

NAMES = sorted(path.name for path in build.targets(Path(".")))
PLAIN = [name for name in NAMES if name.endswith("_plain.xlsx")]
ADDIN = [name for name in NAMES if name.endswith("_addin.xlsx")]


@dataclass(frozen=True)
class FakeBlock:
    """The part of a block that verification reads."""

    sheet: str
    row: int
    col: int
    rows: int = 1
    cols: int = 1

    def address(self, i: int = 0, j: int = 0) -> str:
        return f"{chr(ord('A') + self.col - 1 + j)}{self.row + i}"


@dataclass(frozen=True)
class FakeCheck:
    block: FakeBlock
    expected: np.ndarray
    name: str = ""


#: Every stand-in workbook says that cell s!A1 must hold 0.5.
CHECKS = [FakeCheck(FakeBlock("s", 1, 1), np.array([[0.5]]), "x")]


def stand_in(sample: str, flavor: str) -> build.Rendered:
    return build.Rendered(f"{sample} {flavor}".encode(), CHECKS, ["s"])


@pytest.fixture
def tiny(monkeypatch):
    """Replace the samples with :func:`stand_in`."""
    monkeypatch.setattr(build, "_render", stand_in)


class FakeEngine:
    """Answers every file with ``values``, or raises ``error``; notes each call.

    The add-in flavor's engine (``formulas``, in-process) is called in forked
    workers, whose attributes this process never sees: each call is noted as
    a line in the file ``log`` instead (the process, the files it was given,
    the files in ``folder`` at that moment). ``doing``, if given, runs first
    with the paths (to wait, hang or die as a test needs).
    """

    def __init__(
        self,
        name,
        *,
        values=None,
        error=None,
        missing=None,
        folder=None,
        log=None,
        doing=None,
    ):
        self.name = name
        self.in_process = name == "formulas"
        self.values, self.error, self.reason = values, error, missing
        self.folder, self.log, self.doing = folder, log, doing
        self.stopped = False

    def missing(self):
        return self.reason

    def recalculate(self, paths, *, progress=None):
        if self.log is not None:
            call = {
                "pid": os.getpid(),
                "paths": [path.name for path in paths],
                "folder": sorted(p.name for p in self.folder.iterdir())
                if self.folder
                else [],
            }
            with open(self.log, "a") as log:  # one short line: one write
                log.write(json.dumps(call) + "\n")
        if self.doing:
            self.doing(paths)
        if self.error:
            raise self.error
        return {path: {"s": {"A1": self.values}} for path in paths}

    def calls(self) -> list[dict]:
        """Every call noted in ``log``, in any process."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def stop(self):
        self.stopped = True


def use_engines(monkeypatch, plain: FakeEngine, addin: FakeEngine) -> None:
    monkeypatch.setattr(
        build, "engines", lambda *, timeout: {"plain": plain, "addin": addin}
    )


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def quiet_build(out, **options):
    return build.build(out, report=lambda line: None, **options)


# --- writing ------------------------------------------------------------------


def test_writes_every_workbook_and_leaves_no_temporary_file(tiny, tmp_path):
    built = quiet_build(tmp_path / "new" / "folder", check=False)
    out = tmp_path / "new" / "folder"
    assert sorted(p.name for p in out.iterdir()) == NAMES
    assert [entry.path.name for entry in built] == [p.name for p in build.targets(out)]
    assert (out / "digits_plain.xlsx").read_bytes() == b"digits plain"


def test_existing_workbooks_are_refused_before_anything_is_written(tiny, tmp_path):
    (tmp_path / "digits_addin.xlsx").write_bytes(b"mine")
    with pytest.raises(build.BuildError, match="--force") as refusal:
        quiet_build(tmp_path, check=False)
    assert "digits_addin.xlsx" in str(refusal.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits_addin.xlsx"]
    assert (tmp_path / "digits_addin.xlsx").read_bytes() == b"mine"


def test_force_replaces_existing_workbooks(tiny, tmp_path):
    (tmp_path / "digits_addin.xlsx").write_bytes(b"old")
    quiet_build(tmp_path, check=False, force=True)
    assert (tmp_path / "digits_addin.xlsx").read_bytes() == b"digits addin"
    assert temporaries(tmp_path) == []


def test_a_file_that_appears_during_the_build_is_not_replaced(monkeypatch, tmp_path):
    """The no-overwrite rule holds when writing, not only at the start."""
    late = tmp_path / "three_layer_network_plain.xlsx"

    def render(sample, flavor):
        if (sample, flavor) == ("three_layer_network", "plain"):
            late.write_bytes(b"saved by someone else meanwhile")
        return stand_in(sample, flavor)

    monkeypatch.setattr(build, "_render", render)
    with pytest.raises(build.BuildError) as refusal:
        quiet_build(tmp_path, check=False)
    message = str(refusal.value)
    assert message.startswith(f"{late}: already exists")
    assert f"2 of {len(NAMES)} workbooks were written" in message
    assert late.read_bytes() == b"saved by someone else meanwhile"
    assert temporaries(tmp_path) == []


def test_without_hard_links_a_late_file_is_still_not_replaced(
    tiny, tmp_path, monkeypatch
):
    def no_links(source, target):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "a.xlsx"
    files.write_new(path, b"new")  # the fallback claims the name, then renames
    assert path.read_bytes() == b"new"
    with pytest.raises(FileExistsError):
        files.write_new(path, b"newer")
    assert path.read_bytes() == b"new"
    assert temporaries(tmp_path) == []


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(
    tmp_path, monkeypatch
):
    target = tmp_path / "activations_plain.xlsx"
    target.write_bytes(b"the previous workbook")

    def interrupted(descriptor):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        files.write_new(target, b"PK new", force=True)
    assert target.read_bytes() == b"the previous workbook"
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_disk_problem_names_the_file_and_leaves_nothing_half_written(
    tiny, tmp_path, monkeypatch, code
):
    """Simulated in-process: the write fails as on a full or read-only disk."""

    def failing(descriptor):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", failing)
    with pytest.raises(build.BuildError) as failure:
        quiet_build(tmp_path, check=False)
    first = tmp_path / "activations_plain.xlsx"
    assert str(failure.value) == (
        f"{first}: {os.strerror(code)} "
        f"(0 of {len(NAMES)} workbooks were written before this)"
    )
    assert list(tmp_path.iterdir()) == []


def test_out_that_is_a_file_is_refused(tiny, tmp_path):
    out = tmp_path / "notes.txt"
    out.write_text("x")
    with pytest.raises(build.BuildError, match="is a file, not a folder") as failure:
        quiet_build(out, check=False)
    assert str(failure.value).startswith(str(out))


def test_out_under_a_file_is_refused(tiny, tmp_path):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("x")
    with pytest.raises(build.BuildError) as failure:
        quiet_build(blocker / "sub", check=False)
    assert str(failure.value) == (
        f"{blocker / 'sub'}: {blocker} is a file, not a folder"
    )


@pytest.mark.parametrize("force", [False, True])
def test_a_target_name_that_is_a_folder_is_refused(tiny, tmp_path, force):
    (tmp_path / "digits_plain.xlsx").mkdir()
    with pytest.raises(build.BuildError, match="is a folder, not a workbook"):
        quiet_build(tmp_path, check=False, force=force)
    assert [p.name for p in tmp_path.iterdir()] == ["digits_plain.xlsx"]


def test_force_replaces_no_fifo_and_writes_nothing(tiny, tmp_path):
    fifo = tmp_path / "digits_plain.xlsx"
    os.mkfifo(fifo)
    with pytest.raises(files.FileRefused, match="not a regular file"):
        quiet_build(tmp_path, check=False, force=True)
    assert [p.name for p in tmp_path.iterdir()] == ["digits_plain.xlsx"]
    assert fifo.is_fifo()


def dead_pid() -> int:
    """The id of a process that has ended."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_temporaries_of_killed_builds_are_removed_and_others_kept(tiny, tmp_path):
    host = files.host()
    stale = tmp_path / f".digits_plain.xlsx.{host}-{dead_pid()}-0123abcd.xlnn-tmp"
    running = tmp_path / f".digits_plain.xlsx.{host}-{os.getpid()}-0123abcd.xlnn-tmp"
    elsewhere = (
        tmp_path / f".digits_plain.xlsx.otherhost-{dead_pid()}-0123abcd.xlnn-tmp"
    )
    mine = tmp_path / ".my-notes.xlnn-tmp"
    for path in (stale, running, elsewhere, mine):
        path.write_bytes(b"PK half")
    lines = []
    quiet_build(tmp_path, check=False, progress=lines.append)
    assert not stale.exists()
    assert running.exists() and elsewhere.exists() and mine.exists()
    assert any(stale.name in line for line in lines)


# --- real processes -----------------------------------------------------------
# Builds in processes of their own, forked from this one: each has its own pid
# (which names its temporaries) and runs beside the others, without the 0.4 s
# of imports a new interpreter would spend.


def fork_build(out: Path, errors: Path, *, hang_in_save: Path | None = None) -> int:
    """Fork a child that runs ``xlnn build --out OUT --no-verify``; its pid.

    The child exits with the build's code; its stderr goes to the file
    ``errors``. With ``hang_in_save``, the child creates that file and hangs
    in the middle of its first save.
    """
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:  # never back into pytest: os._exit, whatever happens
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - os._exit closes it
        sys.stderr = open(errors, "w")  # noqa: SIM115
        if hang_in_save is not None:

            def hang(descriptor):
                hang_in_save.touch()
                time.sleep(60)

            os.fsync = hang
        code = cli.main(["build", "--out", str(out), "--no-verify"])
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def exit_code(pid: int, timeout: float = 60) -> int:
    """The exit code of the child ``pid``, killed if it takes over ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError(f"child {pid} still ran after {timeout} s")
        time.sleep(0.01)


def racing(barrier: Path):
    """A ``build._render`` whose workbooks hold the pid of the process that made
    them, and that waits for a second process to start writing too."""

    def render(sample: str, flavor: str) -> build.Rendered:
        (barrier / f"ready-{os.getpid()}").touch()
        while len(list(barrier.glob("ready-*"))) < 2:
            time.sleep(0.01)
        return build.Rendered(f"{os.getpid()}".encode(), [], ["s"])

    return render


@pytest.mark.skipif(os.name == "nt", reason="pids in file names, POSIX fork")
def test_two_builds_into_one_folder_never_replace_each_others_files(
    tmp_path, monkeypatch
):
    out, barrier = tmp_path / "out", tmp_path / "barrier"
    barrier.mkdir()
    monkeypatch.setattr(build, "_render", racing(barrier))
    pids = [fork_build(out, tmp_path / f"errors-{i}") for i in range(2)]
    codes = [exit_code(pid) for pid in pids]
    errors = [(tmp_path / f"errors-{i}").read_text() for i in range(2)]
    assert sorted(codes) == [0, 2], errors
    winner, loser = (pids[codes.index(code)] for code in (0, 2))
    loser_err = errors[codes.index(2)]
    # every file is the winner's; the loser replaced nothing and said why
    assert {p.name: p.read_text() for p in out.iterdir()} == {
        name: str(winner) for name in NAMES
    }
    assert "already exists" in loser_err and "Traceback" not in loser_err
    assert loser_err.strip().count("\n") <= 1  # its one line, after progress
    assert str(loser) not in {p.read_text() for p in out.iterdir()}


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL")
def test_a_killed_build_leaves_no_final_file_and_the_next_build_cleans_up(
    tiny, tmp_path
):
    out, saving = tmp_path / "out", tmp_path / "saving"
    child = fork_build(out, tmp_path / "errors", hang_in_save=saving)
    deadline = time.monotonic() + 30
    while not saving.exists():
        assert os.waitpid(child, os.WNOHANG)[0] == 0, (tmp_path / "errors").read_text()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(child, signal.SIGKILL)
    assert exit_code(child) == -signal.SIGKILL
    left = sorted(p.name for p in out.iterdir())
    assert len(left) == 1 and f"-{child}-" in left[0]  # only its temporary
    assert not any(name in NAMES for name in left)
    quiet_build(out, check=False)
    assert sorted(p.name for p in out.iterdir()) == NAMES


# --- verifying ----------------------------------------------------------------


@pytest.mark.parametrize("forking", [True, False], ids=["forked", "no-fork"])
def test_every_file_is_written_before_any_engine_runs(
    tiny, tmp_path, monkeypatch, forking
):
    """LibreOffice gets the plain files at once; each add-in file has a job.

    Where processes cannot fork, the jobs run in this process instead.
    """
    monkeypatch.setattr(processes, "FORKING", forking)
    out = tmp_path / "out"
    plain = FakeEngine("LibreOffice", values=0.5, folder=out, log=tmp_path / "p")
    addin = FakeEngine("formulas", values=0.5, folder=out, log=tmp_path / "a")
    use_engines(monkeypatch, plain, addin)
    built = quiet_build(out)
    assert [call["folder"] for call in plain.calls() + addin.calls()] == [NAMES] * 5
    assert [sorted(call["paths"]) for call in plain.calls()] == [PLAIN]
    assert sorted(call["paths"][0] for call in addin.calls()) == ADDIN
    assert all(len(call["paths"]) == 1 for call in addin.calls())
    in_this_process = {call["pid"] == os.getpid() for call in addin.calls()}
    assert in_this_process == {not forking}
    assert all(entry.verification.ok for entry in built)


def test_an_engine_problem_leaves_its_files_not_verified(tiny, tmp_path, monkeypatch):
    plain = FakeEngine("LibreOffice", error=EngineError("LibreOffice hung"))
    addin = FakeEngine(
        "formulas",
        missing='formulas missing: pip install -e ".[verify]"',
        log=tmp_path / "calls",
    )
    use_engines(monkeypatch, plain, addin)
    out = tmp_path / "out"
    built = quiet_build(out)
    assert sorted(p.name for p in out.iterdir()) == NAMES  # all written
    assert all(entry.unverified and not entry.failed for entry in built)
    assert {entry.verification.problem for entry in built} == {
        "LibreOffice hung",
        'formulas missing: pip install -e ".[verify]"',
    }
    assert addin.calls() == []  # a missing engine is not asked


def test_results_an_engine_finished_before_failing_are_kept(
    tiny, tmp_path, monkeypatch
):
    first = tmp_path / "activations_plain.xlsx"
    error = EngineError("crashed on the rest", done={first: {"s": {"A1": 0.5}}})
    use_engines(
        monkeypatch,
        FakeEngine("LibreOffice", error=error),
        FakeEngine("formulas", values=0.5),
    )
    by_name = {entry.path.name: entry for entry in quiet_build(tmp_path)}
    assert by_name["activations_plain.xlsx"].verification.ok
    assert by_name["digits_plain.xlsx"].verification.problem == "crashed on the rest"


def test_a_wrong_cell_is_a_failure(tiny, tmp_path, monkeypatch):
    use_engines(
        monkeypatch,
        FakeEngine("LibreOffice", values=0.5),
        FakeEngine("formulas", values=0.25),
    )
    built = quiet_build(tmp_path)
    failed = sorted(entry.path.name for entry in built if entry.failed)
    assert failed == sorted(name for name in NAMES if "addin" in name)
    assert "s!A1: 0.25 differs from 0.5" in built[1].status


def test_ctrl_c_in_a_worker_stops_every_engine_and_worker(tiny, tmp_path, monkeypatch):
    plain = FakeEngine("LibreOffice", values=0.5)
    addin = FakeEngine("formulas", error=KeyboardInterrupt())
    use_engines(monkeypatch, plain, addin)
    with pytest.raises(KeyboardInterrupt):
        quiet_build(tmp_path)
    assert plain.stopped and addin.stopped
    assert multiprocessing.active_children() == []
    assert temporaries(tmp_path) == []


# --- the add-in files' workers ------------------------------------------------


def files_in(folder: Path) -> int:
    return len(list(folder.iterdir()))


#: Tests of what the workers do where there are workers (see processes.FORKING).
forking_only = pytest.mark.skipif(
    not processes.FORKING, reason="no forked workers here: files run in this process"
)


@pytest.fixture
def two_cores(monkeypatch):
    """Size the workers' pool as on a 2-core machine, whatever this one has."""
    monkeypatch.setattr(os, "cpu_count", lambda: 2)


@forking_only
def test_add_in_files_are_evaluated_side_by_side(
    tiny, two_cores, tmp_path, monkeypatch
):
    """Each evaluation waits until two have started: one at a time never does."""
    started = tmp_path / "started"
    started.mkdir()

    def meet(paths):
        (started / paths[0].name).touch()
        deadline = time.monotonic() + 30
        while files_in(started) < 2:
            if time.monotonic() > deadline:
                raise EngineError("no other evaluation started within 30 s")
            time.sleep(0.01)

    addin = FakeEngine("formulas", values=0.5, log=tmp_path / "calls", doing=meet)
    use_engines(monkeypatch, FakeEngine("LibreOffice", values=0.5), addin)
    built = quiet_build(tmp_path / "out")
    assert [entry.status for entry in built if not entry.verification.ok] == []
    workers = {call["pid"] for call in addin.calls()}
    assert len(workers) == 2 and os.getpid() not in workers


def test_an_error_in_a_worker_stops_the_build_with_its_traceback(
    tiny, tmp_path, monkeypatch
):
    plain = FakeEngine("LibreOffice", values=0.5)
    addin = FakeEngine("formulas", error=RuntimeError("a bug in the engine"))
    use_engines(monkeypatch, plain, addin)
    with pytest.raises(RuntimeError, match="^a bug in the engine$") as raised:
        quiet_build(tmp_path)
    cause = raised.value.__cause__
    assert isinstance(cause, processes.WorkerTraceback)
    assert "in recalculate" in str(cause) and "a bug in the engine" in str(cause)
    assert plain.stopped and addin.stopped
    assert multiprocessing.active_children() == []
    assert temporaries(tmp_path) == []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@forking_only
def test_ctrl_c_ends_the_workers_in_the_middle_of_their_jobs(
    tiny, two_cores, tmp_path, monkeypatch
):
    """Ctrl-C is pressed once both workers are at a job that would take 60 s."""
    hanging = tmp_path / "hanging"
    hanging.mkdir()

    def hang(paths):
        (hanging / str(os.getpid())).touch()
        time.sleep(60)

    def press_ctrl_c(paths):  # in the plain engine's thread
        deadline = time.monotonic() + 30
        while files_in(hanging) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    plain = FakeEngine("LibreOffice", values=0.5, doing=press_ctrl_c)
    addin = FakeEngine("formulas", values=0.5, doing=hang)
    use_engines(monkeypatch, plain, addin)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        quiet_build(tmp_path / "out")
    assert time.monotonic() - started < 30
    workers = [int(path.name) for path in hanging.iterdir()]
    assert len(workers) == 2 and not any(map(alive, workers))
    assert plain.stopped and addin.stopped
    assert multiprocessing.active_children() == []


@forking_only
@pytest.mark.parametrize(
    ("cores", "training"),
    [(2, "verified"), (1, "not verified: no worker process was left to run it")],
)
def test_a_killed_worker_leaves_its_file_not_verified(
    tiny, tmp_path, monkeypatch, cores, training
):
    """Killed at digits_addin.xlsx; with one worker, no worker is left for the next."""

    def die_at_digits(paths):
        if paths[0].name == "digits_addin.xlsx":
            os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    addin = FakeEngine("formulas", values=0.5, doing=die_at_digits)
    use_engines(monkeypatch, FakeEngine("LibreOffice", values=0.5), addin)
    built = {entry.path.name: entry for entry in quiet_build(tmp_path)}
    assert built["digits_addin.xlsx"].status == (
        "not verified: its worker process ended (killed by SIGKILL)"
    )
    assert built["training_addin.xlsx"].status.startswith(training)
    assert built["activations_addin.xlsx"].verification.ok
    assert multiprocessing.active_children() == []


@pytest.mark.engine
def test_build_verifies_add_in_files_in_workers_as_in_this_process(tmp_path):
    """The real ``formulas`` engine: the same Verification objects either way."""
    from xlnn import udfs
    from xlnn.engines import verify
    from xlnn.engines.formulas_engine import Formulas

    engine = Formulas(udfs.by_excel_name())
    checks = {}
    for sample in ("activations", "three_layer_network"):
        rendered = build._render(sample, "addin")
        path = tmp_path / build.workbook_name(sample, "addin")
        path.write_bytes(rendered.data)
        checks[path] = rendered.checks
    in_workers = build.verify_all([(engine, checks)])
    assert in_workers == verify.verify_files(engine, checks)
    assert all(entry.ok and entry.cells > 0 for entry in in_workers.values())


# --- exit codes (in-process cli.main with the fakes) --------------------------


@pytest.mark.parametrize(
    ("plain", "strict", "code"),
    [
        (FakeEngine("LibreOffice", values=0.5), False, 0),
        (FakeEngine("LibreOffice", values=0.7), False, 1),  # mismatch
        (FakeEngine("LibreOffice", error=EngineError("hung")), False, 0),
        (FakeEngine("LibreOffice", error=EngineError("hung")), True, 1),
        (FakeEngine("LibreOffice", missing="no soffice: apt-get ..."), True, 1),
    ],
    ids=["verified", "mismatch", "not-verified", "strict", "strict-missing"],
)
def test_exit_codes(tiny, tmp_path, monkeypatch, capsys, plain, strict, code):
    use_engines(monkeypatch, plain, FakeEngine("formulas", values=0.5))
    argv = ["build", "--out", str(tmp_path / "out"), *(["--strict"] if strict else [])]
    assert cli.main(argv) == code
    summary = capsys.readouterr().out
    if plain.error or plain.reason:
        assert "not verified by LibreOffice (activations_plain.xlsx, " in summary
        assert ("--strict counts" in summary) == strict


def test_not_verified_summary_names_files_reason_and_hint(
    tiny, tmp_path, monkeypatch, capsys
):
    hint = "LibreOffice (soffice) was not found: apt-get install libreoffice-calc-nogui"
    use_engines(
        monkeypatch,
        FakeEngine("LibreOffice", missing=hint),
        FakeEngine("formulas", values=0.5),
    )
    assert cli.main(["build", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    half = len(NAMES) // 2
    assert (
        f"{len(NAMES)} workbooks written to {tmp_path}: {half} verified, "
        f"{half} not verified"
    ) in lines
    assert (
        "not verified by LibreOffice (activations_plain.xlsx, "
        "three_layer_network_plain.xlsx, digits_plain.xlsx, "
        f"training_plain.xlsx): {hint}"
    ) in lines


# --- signals (in-process) -------------------------------------------------------


class Thing:
    pass


@pytest.mark.skipif(os.name == "nt", reason="SIGTERM, a blocking pipe read")
def test_a_signal_swallowed_by_a_finalizer_is_raised_again():
    """A signal handled inside a finalizer is "ignored" by Python: not here.

    After the finalizer, ``run`` blocks reading a pipe. Only a watchdog writes
    to it, 30 s later; the signal, raised again, must end the read first.
    """
    steps, fired = [], []
    reader, writer = os.pipe()
    cancel = threading.Event()

    def watchdog():
        if not cancel.wait(30):
            fired.append(True)
            os.write(writer, b"x")

    def run():
        def finalizer():
            signal.raise_signal(signal.SIGTERM)  # handled here, then swallowed
            steps.append("finalizer went on")

        thing = Thing()
        weakref.finalize(thing, finalizer)
        del thing
        steps.append("after the finalizer")
        os.read(reader, 1)
        steps.append("read returned")
        return 0

    threading.Thread(target=watchdog, daemon=True).start()
    try:
        assert cli.interruptible(run, "test") == 143
    finally:
        cancel.set()
        os.close(reader)
        os.close(writer)
    assert steps == ["after the finalizer"] and not fired
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored


def test_interruptible_passes_the_exit_code_on():
    assert cli.interruptible(lambda: 7, "test") == 7
