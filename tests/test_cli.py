"""The ``xlnn`` command, run as a real subprocess like a user runs it."""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import xlnn
from xlnn import udfs


def _command() -> list[str]:
    """The console script pip installed next to this Python, else ``-m xlnn.cli``."""
    scripts = Path(sys.executable).parent
    for name in ("xlnn", "xlnn.exe"):
        if (scripts / name).is_file():
            return [str(scripts / name)]
    found = shutil.which("xlnn")
    if found:
        return [found]
    return [sys.executable, "-m", "xlnn.cli"]


def run(*args: str, command: list[str] | None = None) -> subprocess.CompletedProcess:
    # A user's shell: no xlwings server settings from the test process.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("XLWINGS_ON_SERVER", "XLWINGS_LICENSE_KEY")
    }
    return subprocess.run(
        [*(command or _command()), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


COMMANDS = [
    pytest.param(None, id="console-script"),
    pytest.param([sys.executable, "-m", "xlnn.cli"], id="python-m"),
]


@pytest.mark.parametrize("command", COMMANDS)
def test_version(command):
    done = run("--version", command=command)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == xlnn.__version__
    assert xlnn.__version__ not in ("", "0.0.0+unknown")


def _signature(function) -> str:
    parts = []
    for parameter in inspect.signature(function).parameters.values():
        optional = parameter.default is not inspect.Parameter.empty
        parts.append(f"[{parameter.name}]" if optional else parameter.name)
    return f"{function.excel_name}({', '.join(parts)})"


@pytest.mark.parametrize("command", COMMANDS)
def test_functions_lists_every_function_with_its_signature(command):
    done = run("functions", command=command)
    assert done.returncode == 0, done.stderr
    table = done.stdout.split("\n\n")[0].splitlines()
    assert len(table) == len(udfs.FUNCTIONS)
    for function, line in zip(udfs.FUNCTIONS, table, strict=True):
        signature = _signature(function)
        assert line.startswith(signature + " ")
        summary = inspect.getdoc(function).splitlines()[0]
        assert line[len(signature) :].strip() == summary
    assert "STEP_FUNCTION" in done.stdout  # the note on classic xlwings


def test_functions_signatures_literal():
    # The signatures users see, spelled out.
    done = run("functions")
    assert done.returncode == 0, done.stderr
    for expected in (
        "STEP(x)",
        "SIGMOID(x)",
        "RELU(x)",
        "IDENTITY(x)",
        "TANH(x)",
        "ELU(x)",
        "SOFTPLUS(x)",
        "GELU(x)",
        "SILU(x)",
    ):
        assert f"\n{expected} " in "\n" + done.stdout
    assert "LEAKY_RELU(x, [alpha])" in done.stdout
    assert "SOFTMAX(x, [direction])" in done.stdout
    assert "LOG_SOFTMAX(x, [direction])" in done.stdout


def test_unknown_command_fails():
    done = run("no-such-command")
    assert done.returncode != 0
    assert "invalid choice" in done.stderr
