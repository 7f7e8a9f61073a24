"""``xlnn build``'s writing and verifying, without the real samples or engines.

The samples are replaced by tiny stand-ins (``build._render``) and the engines
by fakes, so that each test checks one rule of writing or verifying in
milliseconds: nothing overwritten, nothing half-written, every file written
before verification, and each outcome reported as what it is. The tests of
real processes (concurrent builds, a killed build) run Python children that do
the same.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from xlnn import cli, files
from xlnn.engines import EngineError
from xlnn.samples import build

NAMES = sorted(path.name for path in build.targets(Path(".")))


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
    """Answers every file with ``values``, or raises ``error``; notes what it saw."""

    def __init__(self, name, *, values=None, error=None, missing=None, folder=None):
        self.name = name
        self.in_process = name == "formulas"
        self.values, self.error, self.reason = values, error, missing
        self.folder = folder
        self.seen: list[Path] = []
        self.files_when_called: list[str] = []
        self.stopped = False

    def missing(self):
        return self.reason

    def recalculate(self, paths, *, progress=None):
        self.seen = list(paths)
        if self.folder is not None:
            self.files_when_called = sorted(p.name for p in self.folder.iterdir())
        if self.error:
            raise self.error
        return {path: {"s": {"A1": self.values}} for path in paths}

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
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


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

#: A child that builds with the stand-in samples. Each workbook holds the
#: child's pid; a barrier makes two children start writing together; a child
#: told to hang does so in the middle of its first save.
CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from xlnn.samples import build
    from xlnn import cli

    out, barrier, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]

    def render(sample, flavor):
        (barrier / f"ready-{os.getpid()}").touch()
        while len(list(barrier.glob("ready-*"))) < int(mode == "race") + 1:
            time.sleep(0.01)
        return build.Rendered(f"{os.getpid()}".encode(), [], ["s"])

    def hang(descriptor):
        (barrier / "saving").touch()
        time.sleep(60)

    build._render = render
    if mode == "hang":
        os.fsync = hang
    sys.exit(cli.main(["build", "--out", str(out), "--no-verify"]))
    """
)


def start_child(out: Path, barrier: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(out), str(barrier), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.skipif(os.name == "nt", reason="pids in file names, POSIX signals")
def test_two_builds_into_one_folder_never_replace_each_others_files(tmp_path):
    out, barrier = tmp_path / "out", tmp_path / "barrier"
    barrier.mkdir()
    children = [start_child(out, barrier, "race") for _ in range(2)]
    results = [child.communicate(timeout=60) for child in children]
    codes = sorted(child.returncode for child in children)
    assert codes == [0, 2], results
    winner = next(c for c in children if c.returncode == 0)
    loser, (_, loser_err) = next(
        (c, r) for c, r in zip(children, results, strict=True) if c.returncode == 2
    )
    # every file is the winner's; the loser replaced nothing and said why
    assert {p.name: p.read_text() for p in out.iterdir()} == {
        name: str(winner.pid) for name in NAMES
    }
    assert "already exists" in loser_err and "Traceback" not in loser_err
    assert loser_err.strip().count("\n") <= 1  # its one line, after progress
    assert str(loser.pid) not in {p.read_text() for p in out.iterdir()}


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL")
def test_a_killed_build_leaves_no_final_file_and_the_next_build_cleans_up(
    tiny, tmp_path
):
    out, barrier = tmp_path / "out", tmp_path / "barrier"
    barrier.mkdir()
    child = start_child(out, barrier, "hang")
    deadline = time.monotonic() + 30
    while not (barrier / "saving").exists():
        assert child.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.communicate()
    left = sorted(p.name for p in out.iterdir())
    assert len(left) == 1 and f"-{child.pid}-" in left[0]  # only its temporary
    assert not any(name in NAMES for name in left)
    quiet_build(out, check=False)
    assert sorted(p.name for p in out.iterdir()) == NAMES


# --- verifying ----------------------------------------------------------------


def test_every_file_is_written_before_any_engine_runs(tiny, tmp_path, monkeypatch):
    plain = FakeEngine("LibreOffice", values=0.5, folder=tmp_path)
    addin = FakeEngine("formulas", values=0.5, folder=tmp_path)
    use_engines(monkeypatch, plain, addin)
    built = quiet_build(tmp_path)
    assert plain.files_when_called == NAMES and addin.files_when_called == NAMES
    assert sorted(p.name for p in plain.seen) == sorted(
        n for n in NAMES if "plain" in n
    )
    assert sorted(p.name for p in addin.seen) == sorted(
        n for n in NAMES if "addin" in n
    )
    assert all(entry.verification.ok for entry in built)


def test_an_engine_problem_leaves_its_files_not_verified(tiny, tmp_path, monkeypatch):
    plain = FakeEngine("LibreOffice", error=EngineError("LibreOffice hung"))
    addin = FakeEngine(
        "formulas", missing='formulas missing: pip install -e ".[verify]"'
    )
    use_engines(monkeypatch, plain, addin)
    built = quiet_build(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == NAMES  # all written
    assert all(entry.unverified and not entry.failed for entry in built)
    assert {entry.verification.problem for entry in built} == {
        "LibreOffice hung",
        'formulas missing: pip install -e ".[verify]"',
    }
    assert addin.seen == []  # a missing engine is not asked


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


def test_ctrl_c_while_verifying_stops_every_engine(tiny, tmp_path, monkeypatch):
    plain = FakeEngine("LibreOffice", values=0.5)
    addin = FakeEngine("formulas", error=KeyboardInterrupt())
    use_engines(monkeypatch, plain, addin)
    with pytest.raises(KeyboardInterrupt):
        quiet_build(tmp_path)
    assert plain.stopped and addin.stopped


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
