"""The ``xlnn`` command.

Its ``main`` runs in the test's process (the ``in_process`` fixture) wherever
a new interpreter adds nothing; a real subprocess, as a user runs it, checks
the three entry points, Python's own exit on a stdout that is full, closed
or without a reader, a tmpfs that is full or read-only (it needs a private
mount namespace), and a real LibreOffice stopped by a signal.
Failures are provoked for real where this machine allows it: a file in the
way, a full or read-only disk, a LibreOffice stand-in that hangs or crashes.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

import xlnn
from xlnn import cli, udfs
from xlnn.engines.libreoffice import SCRATCH_PREFIX
from xlnn.samples import build

REPO = Path(__file__).resolve().parents[1]
NAMES = sorted(
    f"{sample}_{flavor}.xlsx"
    for sample in ("activations", "three_layer_network", "digits", "training")
    for flavor in ("plain", "addin")
)


def _command() -> list[str]:
    """The console script pip installed next to this Python, else ``-m xlnn``."""
    scripts = Path(sys.executable).parent
    for name in ("xlnn", "xlnn.exe"):
        if (scripts / name).is_file():
            return [str(scripts / name)]
    found = shutil.which("xlnn")
    if found:
        return [found]
    return [sys.executable, "-m", "xlnn"]


def user_environment(**changes: str) -> dict[str, str]:
    """A user's shell: no xlwings server settings from the test process."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("XLWINGS_ON_SERVER", "XLWINGS_LICENSE_KEY")
    }
    env.update(changes)
    return env


def run(
    *args: str, command: list[str] | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*(command or _command()), *args],
        capture_output=True,
        text=True,
        env=env or user_environment(),
        timeout=300,
        check=False,
    )


#: The three ways to start xlnn; each is started for real once, by --version.
COMMANDS = [
    pytest.param(None, id="console-script"),
    pytest.param([sys.executable, "-m", "xlnn"], id="python-m-xlnn"),
    pytest.param([sys.executable, "-m", "xlnn.cli"], id="python-m-xlnn.cli"),
]


def one_line_error(done: subprocess.CompletedProcess) -> str:
    """The error line of a failed build: the last line of stderr, no traceback."""
    assert "Traceback" not in done.stderr, done.stderr
    return done.stderr.strip().splitlines()[-1]


# --- the face -----------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_version_names_xlnn_and_the_libraries_it_builds_on(command):
    done = run("--version", command=command)
    assert done.returncode == 0, done.stderr
    pyproject = (REPO / "pyproject.toml").read_text()
    project_version = re.search(r'^version = "([^"]+)"', pyproject, re.M)[1]
    assert done.stdout.splitlines() == [
        f"xlnn {project_version}",
        f"numpy {version('numpy')}",
        f"xlwings {version('xlwings')}",
        f"openpyxl {version('openpyxl')}",
    ]
    assert xlnn.__version__ == project_version


@pytest.mark.parametrize("subcommand", [[], ["functions"], ["build"]])
def test_every_help_has_a_description_and_examples(in_process, subcommand):
    done = in_process(*subcommand, "--help")
    assert done.returncode == 0, done.stderr
    usage, description = done.stdout.split("\n\n")[:2]
    assert usage.startswith("usage: xlnn")
    assert len(description.split()) >= 10  # a description, not a one-word title
    examples = done.stdout.split("examples:\n")[1].splitlines()
    assert examples and all(line.startswith("  ") for line in examples if line)
    assert any(line.split()[0] in ("xlnn", "python") for line in examples if line)


def test_build_help_names_the_exit_codes_and_options(in_process):
    done = in_process("build", "--help")
    for text in ("--strict", "--timeout SECONDS", "--force", "--no-verify"):
        assert text in done.stdout
    codes = re.findall(r"^  (\d+) ", done.stdout.split("exit codes:")[1], re.M)
    assert codes == ["0", "1", "2", "130"]


@pytest.mark.parametrize("value", ["0", "-3", "soon", "inf"])
def test_a_bad_timeout_is_refused(in_process, value, tmp_path):
    done = in_process("build", "--out", str(tmp_path), "--timeout", value)
    assert done.returncode == 2
    assert "not a positive number of seconds" in done.stderr
    assert list(tmp_path.iterdir()) == []


def _signature(function) -> str:
    parts = []
    for parameter in inspect.signature(function).parameters.values():
        optional = parameter.default is not inspect.Parameter.empty
        parts.append(f"[{parameter.name}]" if optional else parameter.name)
    return f"{function.excel_name}({', '.join(parts)})"


def test_functions_lists_every_function_with_its_signature(in_process):
    # main() as each entry point calls it (test_version_... starts all three)
    done = in_process("functions")
    assert done.returncode == 0, done.stderr
    table = done.stdout.split("\n\n")[0].splitlines()
    assert len(table) == len(udfs.FUNCTIONS)
    for function, line in zip(udfs.FUNCTIONS, table, strict=True):
        signature = _signature(function)
        assert line.startswith(signature + " ")
        summary = inspect.getdoc(function).splitlines()[0]
        assert line[len(signature) :].strip() == summary
    assert "STEP_FUNCTION" in done.stdout  # the note on classic xlwings


def test_functions_signatures_literal(in_process):
    # The signatures users see, spelled out.
    done = in_process("functions")
    assert done.returncode == 0, done.stderr
    for expected in (
        "STEP(x)",
        "SIGMOID(x)",
        "RELU(x)",
        "IDENTITY(x)",
        "TANH(x)",
        "SOFTPLUS(x)",
        "GELU(x)",
        "GELU_TANH(x)",
        "SILU(x)",
    ):
        assert f"\n{expected} " in "\n" + done.stdout
    assert "LEAKY_RELU(x, [alpha])" in done.stdout
    assert "ELU(x, [alpha])" in done.stdout
    assert "SOFTMAX(x, [direction])" in done.stdout
    assert "LOG_SOFTMAX(x, [direction])" in done.stdout
    assert "DENSE(x, W, b, [activation], [parameter])" in done.stdout


def test_no_command_prints_the_usage_and_exits_2(capsys):
    assert cli.main([]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: xlnn")
    assert "examples:" in err  # the whole help, so a newcomer sees the commands


def test_unknown_command_fails(in_process):
    done = in_process("no-such-command")
    assert done.returncode != 0
    assert "invalid choice" in done.stderr


# --- standard output that cannot be written --------------------------------------
# What xlnn says and returns is checked in this process, for each way a command
# writes: lite in one large write, functions by print (failing at the flush at
# its end), --version by argparse's exit. A real interpreter, once for each kind
# of stdout, checks that Python's own flush at exit adds no message and keeps
# the exit code (a failing one prints "Exception ignored" and exits 120).


@pytest.fixture
def dev_full():
    """/dev/full open for writing, as ``> /dev/full`` gives it.

    A test makes it ``sys.stdout`` itself: pytest's capture sets ``sys.stdout``
    again between a fixture and the test.
    """
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    full = open("/dev/full", "w")  # noqa: SIM115 - closed after the test
    yield full
    with contextlib.suppress(OSError):  # what a failed test left buffered
        full.close()


@pytest.mark.parametrize("args", [["lite"], ["functions"], ["--version"]], ids=" ".join)
def test_a_full_stdout_is_one_line_and_exit_2(
    in_process, lite_made_once, dev_full, monkeypatch, args
):
    monkeypatch.setattr(sys, "stdout", dev_full)
    done = in_process(*args)
    assert (done.returncode, "Traceback" in done.stderr) == (2, False), done.stderr
    name = f"xlnn {args[0]}" if not args[0].startswith("-") else "xlnn"
    assert done.stderr == (
        f"{name}: cannot write to standard output: No space left on device\n"
    )


def test_a_closed_stdout_is_one_line_and_exit_2(in_process, monkeypatch):
    # Python started with descriptor 1 closed (the shell's  >&- ) has no stdout.
    monkeypatch.setattr(sys, "stdout", None)
    done = in_process("functions")
    assert done.returncode == 2, done.stderr
    assert done.stderr == "xlnn functions: cannot write to standard output: closed\n"


def test_a_reader_that_went_away_is_silent_and_exit_2(
    in_process, lite_made_once, monkeypatch
):
    # as in  xlnn lite | head -1 : head exits, the pipe has no reader left
    reading, writing = os.pipe()
    os.close(reading)
    with os.fdopen(writing, "w") as pipe:
        monkeypatch.setattr(sys, "stdout", pipe)
        done = in_process("lite")
        assert (done.returncode, done.stderr) == (2, "")
        # discard() pointed the descriptor at the null device: closing is quiet


def run_with_stdout(stdout, *args: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "xlnn", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env=user_environment(),
        timeout=120,
        check=False,
        **options,
    )


@contextlib.contextmanager
def unwritable_stdout(kind: str):
    """Keyword arguments for :func:`run_with_stdout`: a stdout of ``kind``."""
    if kind == "full":
        with open("/dev/full", "w") as full:
            yield {"stdout": full}
    elif kind == "closed":  # as the shell's  >&-
        yield {"stdout": None, "close_fds": True, "preexec_fn": lambda: os.close(1)}
    else:  # a pipe whose reader has gone
        reading, writing = os.pipe()
        os.close(reading)
        try:
            yield {"stdout": writing}
        finally:
            os.close(writing)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("full", "xlnn: cannot write to standard output: No space left on device\n"),
        ("closed", "xlnn: cannot write to standard output: closed\n"),
        ("gone", ""),
    ],
    ids=["full", "closed", "gone"],
)
def test_an_interpreter_on_an_unwritable_stdout_exits_2_saying_only_that(kind, said):
    # --version: the cheapest command; what each command says is checked above
    with unwritable_stdout(kind) as options:
        done = run_with_stdout(options.pop("stdout"), "--version", **options)
    assert (done.returncode, done.stderr) == (2, said)


# --- build: nothing lost, every failure one clear line --------------------------


def test_out_that_is_a_file_exits_2_with_one_line(in_process, tmp_path):
    out = tmp_path / "notes.txt"
    out.write_text("keep me")
    done = in_process("build", "--out", str(out))
    assert done.returncode == 2
    assert one_line_error(done) == f"xlnn build: {out}: is a file, not a folder"
    assert out.read_text() == "keep me"


def test_out_under_a_file_exits_2_with_one_line(in_process, tmp_path):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("keep me")
    done = in_process("build", "--out", str(blocker / "sub"))
    assert done.returncode == 2
    assert one_line_error(done) == (
        f"xlnn build: {blocker / 'sub'}: {blocker} is a file, not a folder"
    )


def test_a_target_name_that_is_a_folder_exits_2(in_process, tmp_path):
    (tmp_path / "digits_addin.xlsx").mkdir()
    done = in_process("build", "--out", str(tmp_path), "--force")
    assert done.returncode == 2
    assert one_line_error(done) == (
        f"xlnn build: {tmp_path / 'digits_addin.xlsx'}: is a folder, not a "
        "workbook; move it away"
    )


def test_existing_workbooks_exit_2_and_stay_as_they_were(in_process, tmp_path):
    mine = tmp_path / "activations_plain.xlsx"
    mine.write_bytes(b"my own edits")
    done = in_process("build", "--out", str(tmp_path), "--no-verify")
    assert done.returncode == 2
    assert "pass --force to overwrite them" in one_line_error(done)
    assert [p.name for p in tmp_path.iterdir()] == [mine.name]
    assert mine.read_bytes() == b"my own edits"


def namespaces_work() -> bool:
    """Whether this user may make a private mount namespace with a tmpfs."""
    if shutil.which("unshare") is None or sys.platform != "linux":
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=16k tmpfs /mnt"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


needs_namespaces = pytest.mark.skipif(
    not namespaces_work(), reason="needs unshare -rm (user and mount namespaces)"
)


#: ``xlnn``'s main once for each command line given (JSON), each one's exit
#: code and stderr printed as JSON, with stand-ins of the samples' sizes (about
#: 10 KB, the digits 170 KB): the disk tests check the writing, not what is
#: written, and rendering the real digits would double their cost.
SIZED_STAND_INS = """
import contextlib, io, json, sys
from xlnn import cli
from xlnn.samples import build

def render(sample, flavor):
    size = 170_000 if sample == "digits" else 10_000
    return build.Rendered(b"PK" + bytes(size), [], ["s"])

build._render = render
done = []
for argv in json.loads(sys.argv[1]):
    with contextlib.redirect_stderr(io.StringIO()) as stderr:
        done.append([cli.main(argv), stderr.getvalue()])
print(json.dumps(done))
"""


@pytest.fixture(scope="module")
def disk_builds(
    tmp_path_factory,
) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """``xlnn build --out OUT --no-verify`` on a full disk and on a read-only one.

    A 64 KiB tmpfs and a read-only one are mounted in a private namespace,
    which ends with the one Python that runs the three builds: into the full
    disk, into the read-only disk itself, and into a new folder on it.
    """
    root = tmp_path_factory.mktemp("disks")
    full, read_only = root / "full", root / "read-only"
    full.mkdir()
    read_only.mkdir()
    outs = {
        "full": full / "out",
        "read-only": read_only,
        "read-only/new": read_only / "new",
    }
    commands = [["build", "--out", str(out), "--no-verify"] for out in outs.values()]
    script = (
        'mount -t tmpfs -o size=64k tmpfs "$1" && '
        'mount -t tmpfs -o ro,size=64k tmpfs "$2" && shift 2 && exec "$@"'
    )
    ran = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, "sh", str(full), str(read_only)]
        + [sys.executable, "-c", SIZED_STAND_INS, json.dumps(commands)],
        capture_output=True,
        text=True,
        env=user_environment(),
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    return {
        name: (out, subprocess.CompletedProcess(command, code, "", stderr))
        for (name, out), command, (code, stderr) in zip(
            outs.items(), commands, json.loads(ran.stdout), strict=True
        )
    }


@needs_namespaces
def test_a_full_disk_exits_2_naming_the_file_and_keeps_what_was_written(disk_builds):
    # 64 KiB: the two small samples fit, the digits workbooks (~170 KB) do not.
    out, done = disk_builds["full"]
    assert done.returncode == 2
    assert re.fullmatch(
        rf"xlnn build: {re.escape(str(out))}/digits_\w+\.xlsx: No space left "
        rf"on device \(4 of {len(NAMES)} workbooks were written before this\)",
        one_line_error(done),
    ), done.stderr
    # (the mount is gone; what it held is unreachable, so check the report)
    assert done.stderr.count("wrote ") == 4


@needs_namespaces
@pytest.mark.parametrize("where", ["read-only", "read-only/new"])
def test_a_read_only_disk_exits_2_with_one_line(disk_builds, where):
    out, done = disk_builds[where]
    assert done.returncode == 2
    line = one_line_error(done)
    assert line.startswith(f"xlnn build: {out}") and "Read-only file system" in line


def fake_soffice(folder: Path, script: str) -> str:
    program = folder / "soffice"
    program.write_text(f"#!/bin/sh\n{script}\n")
    program.chmod(0o755)
    return str(program)


@pytest.fixture
def no_formulas(monkeypatch):
    """``import formulas`` fails, as where it is not installed."""
    monkeypatch.setitem(sys.modules, "formulas", None)


@pytest.mark.skipif(os.name == "nt", reason="POSIX shell stand-in")
@pytest.mark.parametrize(
    ("script", "reason"),
    [
        ("sleep 60", "LibreOffice did not finish within 0.5 s and was stopped"),
        ("kill -SEGV $$", "killed by SIGSEGV"),
    ],
    ids=["hangs", "crashes"],
)
def test_an_engine_that_hangs_or_crashes_costs_no_workbook(
    in_process, no_formulas, monkeypatch, tmp_path, script, reason
):
    # The engines need files, not real workbooks: tiny stand-ins for the samples.
    stand_in = build.Rendered(b"PK", [], ["s"])
    monkeypatch.setattr(build, "_render", lambda sample, flavor: stand_in)
    soffice = fake_soffice(tmp_path, f"PATH=/bin:/usr/bin; {script}")
    monkeypatch.setenv("SOFFICE", soffice)
    out = tmp_path / "out"
    done = in_process("build", "--out", str(out), "--timeout", "0.5")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == NAMES
    assert f"{out}: 0 verified, {len(NAMES)} not verified" in done.stdout
    assert reason in done.stdout
    strict = in_process(
        "build", "--out", str(tmp_path / "strict"), "--timeout", "0.5", "--strict"
    )
    assert strict.returncode == 1
    assert "--strict counts files not verified as a failure" in strict.stdout


def test_missing_engines_still_write_every_real_workbook(
    in_process, no_formulas, render_once, monkeypatch, tmp_path
):
    """No LibreOffice on the PATH, no formulas: all written, hints given."""
    monkeypatch.setattr(build, "_render", render_once)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("SOFFICE", raising=False)
    out = tmp_path / "out"
    done = in_process("build", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == NAMES
    assert all(zipfile.is_zipfile(out / name) for name in NAMES)
    lines = done.stdout.splitlines()
    assert (
        f"{len(NAMES)} workbooks written to {out}: 0 verified, "
        f"{len(NAMES)} not verified"
    ) in lines
    plain = next(line for line in lines if line.startswith("not verified by Libre"))
    addin = next(line for line in lines if line.startswith("not verified by form"))
    assert "apt-get install libreoffice-calc-nogui" in plain
    assert 'pip install -e ".[verify]" (in xlnn\'s folder)' in addin
    for name in NAMES:
        assert name in (plain if "plain" in name else addin)
    # progress on stderr names each file with the time it took
    for name in NAMES:
        assert re.search(rf"^\[ *[\d.]+ s\] wrote {name} in [\d.]+ s$",
                         done.stderr, re.M)  # fmt: skip


# --- build with the real engines ----------------------------------------------


@pytest.mark.engine
def test_build_writes_and_verifies_every_workbook(soffice, tmp_path):
    """The README's main command."""
    out = tmp_path / "my-workbooks"
    done = run("build", "--out", str(out), command=[sys.executable, "-m", "xlnn"])
    assert done.returncode == 0, done.stderr
    assert (
        f"{len(NAMES)} workbooks written to {out}: {len(NAMES)} verified"
    ) in done.stdout.splitlines()
    assert sorted(p.name for p in out.iterdir()) == NAMES
    # progress names each engine and what it works on, with elapsed times
    assert re.search(r"LibreOffice: recalculating .*digits_plain\.xlsx", done.stderr)
    assert re.search(r"formulas: digits_addin\.xlsx in [\d.]+ s", done.stderr)


def processes_with(*markers: str) -> list[int]:
    """Pids of live processes whose command line contains every marker."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().decode(errors="replace")
        except OSError:
            continue
        if all(marker in text for marker in markers):
            found.append(int(cmdline.parent.name))
    return found


def soffice_processes(marker: str) -> list[int]:
    return processes_with(marker, "soffice")


@pytest.mark.engine
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds processes in /proc")
@pytest.mark.parametrize(
    ("sent", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["INT", "TERM"]
)
def test_a_signal_stops_libreoffice_and_removes_its_profile(
    soffice, tmp_path, sent, code
):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    out = tmp_path / "out"
    build = subprocess.Popen(
        [sys.executable, "-m", "xlnn", "build", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=user_environment(TMPDIR=str(scratch)),
    )
    deadline = time.monotonic() + 120
    while not soffice_processes(str(scratch)):
        assert build.poll() is None, build.communicate()
        assert time.monotonic() < deadline, "LibreOffice never started"
        time.sleep(0.05)
    assert list(scratch.glob(f"{SCRATCH_PREFIX}*"))
    # the build and its formulas workers, forked copies with its command line
    assert len(processes_with("xlnn", "build", str(out))) >= 2
    build.send_signal(sent)
    _, stderr = build.communicate(timeout=60)
    assert build.returncode == code, stderr
    assert stderr.strip().splitlines()[-1] == (
        f"xlnn build: stopped by {'Ctrl-C' if sent == signal.SIGINT else 'SIGTERM'}; "
        "nothing half-written was left"
    )
    assert "Traceback" not in stderr
    assert soffice_processes(str(scratch)) == []
    assert processes_with("xlnn", "build", str(out)) == []
    assert list(scratch.iterdir()) == []
    assert sorted(p.name for p in out.iterdir()) == NAMES  # written before
