"""xlnn's file rules (xlnn.files), through the API and the command line.

No file is lost: ``--out`` must name an .xlsx file, ``--force`` replaces only
a regular file and never the model being exported, and a killed export's
scratch folder (and its LibreOffice) does not outlive it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from test_build import dead_pid
from test_cli import one_line_error, user_environment

from xlnn import cli, export, files
from xlnn.engines.libreoffice import SCRATCH_PREFIX
from xlnn.errors import UserError
from xlnn.model import Model
from xlnn.network import Dense, Network


@pytest.fixture
def npz(tmp_path) -> Path:
    """A 3-4-2 network as a user's .npz file."""
    rng = np.random.default_rng(1)
    path = tmp_path / "net.npz"
    np.savez(
        path,
        W1=rng.normal(size=(3, 4)),
        b1=rng.normal(size=4),
        W2=rng.normal(size=(4, 2)),
        b2=rng.normal(size=2),
    )
    return path


@pytest.fixture
def export_cli(in_process):
    """``xlnn export NPZ ARGS`` with the activations of the 3-4-2 network."""

    def export_(npz: Path, *args: str) -> subprocess.CompletedProcess:
        return in_process(
            "export", str(npz), "--activations", "relu,softmax", *args, "--rows", "3"
        )

    return export_


def tiny_model() -> Model:
    rng = np.random.default_rng(2)
    return Model(
        Network((Dense(rng.normal(size=(2, 2)), rng.normal(size=2), "softmax"),)),
        classes=("a", "b"),
    )


# --- write_new ----------------------------------------------------------------------


def test_force_replaces_a_regular_file(tmp_path):
    path = tmp_path / "a.xlsx"
    path.write_bytes(b"old")
    files.write_new(path, b"new", force=True)
    assert path.read_bytes() == b"new"


def test_force_refuses_a_fifo_and_a_link_to_a_device(tmp_path):
    fifo = tmp_path / "pipe.xlsx"
    os.mkfifo(fifo)
    with pytest.raises(files.FileRefused, match="not a regular file"):
        files.write_new(fifo, b"x", force=True)
    device = tmp_path / "null.xlsx"
    device.symlink_to(os.devnull)
    with pytest.raises(files.FileRefused, match="not a regular file"):
        files.write_new(device, b"x", force=True)
    assert device.is_symlink() and fifo.is_fifo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null.xlsx", "pipe.xlsx"]


def test_force_never_replaces_a_protected_file_or_a_link_to_it(tmp_path):
    model = tmp_path / "model.npz"
    model.write_bytes(b"the model")
    link = tmp_path / "link.xlsx"
    link.symlink_to(model)
    hard = tmp_path / "hard.xlsx"
    os.link(model, hard)
    for path in (model, link, hard):
        with pytest.raises(files.FileRefused, match="is the input"):
            files.write_new(path, b"x", force=True, protect=[model])
    assert model.read_bytes() == b"the model" and link.is_symlink()


def test_a_writer_that_fails_half_way_leaves_nothing(tmp_path):
    # xlnn export streams a workbook into the file: a failure after the
    # first megabytes (a disk that fills, a sample file that breaks) must
    # leave neither the file nor a temporary one.
    path = tmp_path / "a.xlsx"

    def write(handle):
        handle.write(b"PK" * 2**20)
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        files.write_new_with(path, write)
    assert list(tmp_path.iterdir()) == []
    path.write_bytes(b"old")
    with pytest.raises(OSError):
        files.write_new_with(path, write, force=True)
    assert path.read_bytes() == b"old" and list(tmp_path.iterdir()) == [path]
    files.write_new_with(path, lambda handle: handle.write(b"new"), force=True)
    assert path.read_bytes() == b"new"


# --- scratch folders ----------------------------------------------------------------


def test_stale_scratch_of_a_dead_process_is_removed_and_others_kept(tmp_path):
    host = files.host()
    stale = tmp_path / f"xlnn-export-{host}-{dead_pid()}-x"
    running = tmp_path / f"xlnn-export-{host}-{os.getpid()}-x"
    elsewhere = tmp_path / f"xlnn-export-otherhost-{dead_pid()}-x"
    other = tmp_path / f"xlnn-other-{host}-{dead_pid()}-x"
    for folder in (stale, running, elsewhere, other):
        (folder / "profile").mkdir(parents=True)
    assert files.remove_stale_scratch("xlnn-export-", tmp_path) == [stale]
    assert not stale.exists()
    assert running.exists() and elsewhere.exists() and other.exists()


def test_the_next_export_removes_a_killed_exports_scratch(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    stale = tmp_path / f"xlnn-export-{files.host()}-{dead_pid()}-x"
    (stale / "trial").mkdir(parents=True)
    lines = []
    export.to_workbook(
        tiny_model(), tmp_path / "m.xlsx", rows=2, verify=False, progress=lines.append
    )
    assert not stale.exists()
    assert any(stale.name in line for line in lines)


# --- the command line ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["new.csv", "new", "new.xlsx.txt"])
def test_out_must_end_in_xlsx(export_cli, npz, tmp_path, name):
    out = tmp_path / name
    done = export_cli(npz, "--out", str(out))
    assert done.returncode == 2
    assert one_line_error(done) == (
        f"xlnn export: {out}: the workbook's name must end in .xlsx"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.npz"]


def test_force_never_replaces_the_model_even_through_a_symlink(
    export_cli, npz, tmp_path
):
    before = npz.read_bytes()
    link = tmp_path / "net.xlsx"
    link.symlink_to(npz)
    done = export_cli(npz, "--out", str(link), "--force")
    assert done.returncode == 2
    assert "is the input" in one_line_error(done)
    assert npz.read_bytes() == before and link.is_symlink()


def test_force_refuses_a_fifo(export_cli, npz, tmp_path):
    fifo = tmp_path / "pipe.xlsx"
    os.mkfifo(fifo)
    done = export_cli(npz, "--out", str(fifo), "--force", "--flavor", "plain")
    assert done.returncode == 2
    assert one_line_error(done) == (
        f"xlnn export: {fifo}: is not a regular file; --force replaces only files"
    )
    assert fifo.is_fifo()


def test_an_unreadable_model_is_one_line_and_exit_2(export_cli, npz, tmp_path):
    npz.chmod(0)
    if os.access(npz, os.R_OK):
        pytest.skip("running as a user who reads any file")
    done = export_cli(npz, "--out", str(tmp_path / "m.xlsx"))
    assert done.returncode == 2
    assert one_line_error(done).startswith(f"xlnn export: {npz}: Permission denied")


def test_every_user_error_is_one_line_whatever_the_command(
    lite_made_once, tmp_path, capsys
):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["lite", "--out", str(blocker / "main.py")]) == 2
    assert capsys.readouterr().err == (
        f"xlnn lite: {blocker / 'main.py'}: {blocker} is a file, not a folder\n"
    )


def test_lite_force_refuses_a_fifo(lite_made_once, tmp_path, capsys):
    fifo = tmp_path / "main.py"
    os.mkfifo(fifo)
    assert cli.main(["lite", "--out", str(fifo), "--force"]) == 2
    assert capsys.readouterr().err == (
        f"xlnn lite: {fifo}: is not a regular file; --force replaces only files\n"
    )
    assert fifo.is_fifo()


def test_a_bug_is_not_dressed_as_a_user_error(monkeypatch):
    """A ValueError from NumPy is a bug: a traceback, not exit 2."""

    def broken(*args, **kwargs):
        raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr(export, "as_model", broken)
    with pytest.raises(ValueError, match="broadcast"):
        cli.main(["export", "m.npz", "--out", "m.xlsx"])


# --- a killed export ----------------------------------------------------------------

#: A parent that recalculates many workbooks in one LibreOffice run (a minute
#: or so: long enough to be killed in the middle) and says when it started.
PARENT = textwrap.dedent(
    """
    import shutil, sys
    from pathlib import Path
    import openpyxl
    from xlnn.engines.libreoffice import LibreOffice

    folder = Path(sys.argv[1])
    book = openpyxl.Workbook()
    for row in range(1, 200):
        book.active.cell(row, 1, row)
        book.active.cell(row, 2, f"=SUM(A1:A{row})*SIN(A{row})")
    book.save(folder / "w0.xlsx")
    paths = [folder / "w0.xlsx"]
    for k in range(1, 400):
        paths.append(Path(shutil.copy(paths[0], folder / f"w{k}.xlsx")))

    def progress(line):
        if "recalculating" in line:
            print("started", flush=True)

    LibreOffice(timeout=600).recalculate(paths, progress=progress)
    print("finished", flush=True)
    """
)


def _children_groups(pid: int) -> set[int]:
    """Process groups of ``pid``'s children (soffice runs in one of its own)."""
    groups = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                groups.add(int(fields[2]))
    return groups


def _alive_in_group(group: int) -> list[int]:
    """Processes of ``group`` that run (a zombie has ended)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == group and fields[0] != "Z":
                alive.append(int(entry.name))
    return alive


@pytest.mark.engine
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_libreoffice_dies_with_its_parent_and_its_scratch_goes_next_time(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    books = tmp_path / "books"
    books.mkdir()
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(books)],
        stdout=subprocess.PIPE,
        env=user_environment(TMPDIR=str(scratch)),
        text=True,
    )
    groups: set[int] = set()
    try:
        assert parent.stdout.readline() == "started\n"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            groups = _children_groups(parent.pid)
            # soffice.bin, started by oosplash, is what must not survive.
            if groups and len(_alive_in_group(next(iter(groups)))) >= 2:
                break
            time.sleep(0.05)
        (group,) = groups
        assert len(_alive_in_group(group)) >= 2, "soffice.bin never started"
        time.sleep(1)  # well into the conversion, which takes far longer
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 5
        while _alive_in_group(group) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _alive_in_group(group) == [], "LibreOffice outlived its parent"
    finally:
        for group in groups:  # only the group this test's parent started
            if _alive_in_group(group):
                os.killpg(group, signal.SIGKILL)
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    left = [p for p in scratch.iterdir() if p.name.startswith(SCRATCH_PREFIX)]
    assert len(left) == 1, "the killed run left no scratch folder to clean"
    assert files.remove_stale_scratch(SCRATCH_PREFIX, scratch) == left


def test_user_error_is_the_one_base_class():
    from xlnn.excel.lite import LiteError
    from xlnn.export.sheets import ExportError
    from xlnn.export.sources import SourceError
    from xlnn.export.sources.onnx_source import UnsupportedModel
    from xlnn.samples.build import BuildError
    from xlnn.sheets.book_writer import BookConflict

    for error in (BookConflict, BuildError, ExportError, LiteError, SourceError,
                  UnsupportedModel, files.FileRefused):  # fmt: skip
        assert issubclass(error, UserError), error
