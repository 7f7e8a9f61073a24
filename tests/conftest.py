"""Shared test fixtures."""

from __future__ import annotations

# --- xlwings Office.js runtime for the tests (tests/test_udfs_officejs.py) ---
# xlwings reads XLWINGS_ON_SERVER once, when it is first imported: only then are
# xlwings.func/arg/ret the real xlwings.server decorators (on Linux they are
# no-ops otherwise). Test modules, and modules imported below, may import
# xlnn.udfs and with it xlwings, so this must run before any other import here.
# "noncommercial" is xlwings' offline license key for open-source projects; it
# is set for the test process only, never in the package's own code.
import os

os.environ.setdefault("XLWINGS_ON_SERVER", "true")
os.environ.setdefault("XLWINGS_LICENSE_KEY", "noncommercial")
# --- end of the xlwings block ---

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

import xlnn
from xlnn.engines.libreoffice import find_soffice

# xlwings' Office.js path tries ``from pyodide.ffi import JsNull`` for every
# argument and passes on ImportError. Pyodide exists only in the browser: here
# each try searched all of sys.path again (a third of a call's time). A None
# entry is Python's own "not importable": the same ImportError, at once.
if importlib.util.find_spec("pyodide") is None:
    sys.modules["pyodide"] = None

#: The folder that holds the xlnn package under test, for child processes.
ADDIN = Path(xlnn.__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def soffice() -> str:
    """Path of LibreOffice's ``soffice``.

    Without LibreOffice the test is skipped, except under ``CI=true``, where a
    missing LibreOffice fails it: CI must run the LibreOffice tests.
    """
    path = find_soffice()
    if path is None:
        message = "LibreOffice (soffice) is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}, and CI=true requires it")
        pytest.skip(message)
    return path


@pytest.fixture
def in_process(capsys, monkeypatch):
    """Run ``xlnn ARGS`` in this process: its exit code and what it printed.

    The same ``cli.main`` the console script calls, without the half second
    of a new interpreter; tests keep a process of their own only where the
    process is what they check (entry points, exit status of an interpreter,
    signals, a mount namespace, peak memory).
    """
    from xlnn import cli

    # argparse wraps help to the terminal's width; a piped process sees 80.
    monkeypatch.setenv("COLUMNS", "80")

    def run(*args: str) -> subprocess.CompletedProcess:
        capsys.readouterr()  # only what this command prints
        try:
            code = cli.main(list(args))
        except SystemExit as exit:  # argparse: --help, a bad option
            code = exit.code
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["xlnn", *args], code, out, err)

    return run


@pytest.fixture(scope="session")
def render_once():
    """``build._render`` that makes each real sample workbook once a run.

    For tests that build the real samples to check what happens around them
    (the command's report, the committed copies): the bytes and checks are
    those of the real render, made once instead of once per test (2 s).
    Use it with ``monkeypatch.setattr(build, "_render", render_once)``.
    """
    from xlnn.samples import build

    real, made = build._render, {}

    def render(sample: str, flavor: str):
        if (sample, flavor) not in made:
            made[sample, flavor] = real(sample, flavor)
        return made[sample, flavor]

    return render


@pytest.fixture(scope="session")
def lite_text() -> str:
    """The file ``xlnn lite`` writes, made once a run (0.1 to 0.3 s a time)."""
    from xlnn.excel import lite

    return lite.paste_file()


@pytest.fixture
def lite_made_once(monkeypatch, lite_text):
    """``xlnn lite`` writes the file made once a run, for the tests of how the
    command writes it: the file is the same every time (a test in test_lite
    makes it twice), and what is in it is checked on its own."""
    from xlnn.excel import lite

    monkeypatch.setattr(lite, "paste_file", lambda: lite_text)


# The quick run (an -m expression that holds "not engine") differs from every
# other run, CI's full one among them, in two ways. pytest_configure runs
# before any test module is imported, so before either matters.
#
# Hypothesis: a profile of 10 examples a test, a tenth of Hypothesis' default
# 100. Tests that want more give it as a multiple of the default,
# settings(max_examples=3 * settings.default.max_examples): 300 in the full
# run, 30 in the quick one.
#
# Plain asserts: pytest rewrites every test module's asserts to show the values
# beside a failing one, and with PYTHONDONTWRITEBYTECODE (set on these
# machines) it rewrites them again at each start, 2-3 s of CPU, half of the
# quick run's collection. In the quick run a failing assert still fails, its
# line shown; to see the values, run that test alone: python -m pytest TEST.
def pytest_configure(config):
    if "not engine" in (config.option.markexpr or ""):
        from hypothesis import settings  # here: other runs skip its 0.25 s import

        settings.register_profile("quick", max_examples=10)
        settings.load_profile("quick")
        _stop_rewriting_asserts(config)


def _stop_rewriting_asserts(config) -> None:
    # pytest installs its import hook before any plugin or conftest could choose
    # (its --assert option is read first); taking the hook out of sys.meta_path
    # before collection leaves the test modules' asserts plain. pytest's own
    # names: if they change, the asserts stay rewritten, and nothing else.
    try:
        from _pytest.assertion.rewrite import assertstate_key

        hook = config.stash[assertstate_key].hook
    except (ImportError, KeyError, AttributeError):
        return
    if hook in sys.meta_path:
        sys.meta_path.remove(hook)


def pytest_collection_modifyitems(items):
    """Every test that needs LibreOffice is an ``engine`` test, marked or not."""
    for item in items:
        if "soffice" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.engine)


#: Imports xlnn once; then, for each request (a JSON line: the folder to run
#: in, and argv for ``xlnn`` or Python code with its sys.argv), forks a child
#: that runs it and prints the child's exit status, stderr and peak resident
#: memory (KB). A new ``python -m xlnn`` spends 0.4 s of CPU on imports; a
#: fork, a few ms. The child's peak counts what it shares with this parent:
#: xlnn and its libraries, as in any process that runs xlnn (about 70 MB).
_FORKER = """
import json, os, sys, traceback
from xlnn import cli
from xlnn.export import sample_inputs, sources

for line in sys.stdin:
    request = json.loads(line)
    read, write = os.pipe()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.dup2(write, 2)
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        os.chdir(request["cwd"])
        try:
            if "xlnn" in request:
                code = cli.main(request["xlnn"])
            else:
                sys.argv = ["-c", *request["args"]]
                exec(request["code"], {"__name__": "__main__"})
                code = 0
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else exit.code is not None
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    os.close(write)
    with os.fdopen(read, errors="replace") as pipe:
        stderr = pipe.read()
    _, status, usage = os.wait4(pid, 0)
    result = [os.waitstatus_to_exitcode(status), stderr, usage.ru_maxrss]
    print(json.dumps(result), flush=True)
"""


@pytest.fixture(scope="session")
def forked():
    """Run ``xlnn ARGS`` (or Python code) in a child of :data:`_FORKER`.

    Returns its exit status, stderr and peak resident memory (MB). One
    forker serves the whole run (test_hostile_files, test_export_memory).
    """
    forker = subprocess.Popen(
        [sys.executable, "-c", _FORKER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ADDIN)},
    )

    def run(cwd: Path, *xlnn: str, code: str = "", args=()) -> tuple[int, str, float]:
        request = {"cwd": str(cwd)}
        request.update({"xlnn": xlnn} if xlnn else {"code": code, "args": list(args)})
        forker.stdin.write(json.dumps(request) + "\n")
        forker.stdin.flush()
        status, stderr, peak_kb = json.loads(forker.stdout.readline())
        return status, stderr, peak_kb / 1024

    yield run
    forker.stdin.close()
    forker.wait(timeout=60)
