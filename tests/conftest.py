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
import subprocess
import sys

import pytest

from xlnn.engines.libreoffice import find_soffice

# xlwings' Office.js path tries ``from pyodide.ffi import JsNull`` for every
# argument and passes on ImportError. Pyodide exists only in the browser: here
# each try searched all of sys.path again (a third of a call's time). A None
# entry is Python's own "not importable": the same ImportError, at once.
if importlib.util.find_spec("pyodide") is None:
    sys.modules["pyodide"] = None


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


def pytest_collection_modifyitems(items):
    """Every test that needs LibreOffice is an ``engine`` test, marked or not."""
    for item in items:
        if "soffice" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.engine)
