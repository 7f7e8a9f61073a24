"""scripts/render_workbooks.py: workbooks to PNG, into a folder given on purpose."""

from __future__ import annotations

import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "render_workbooks.py"


def render(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_output_folder_must_be_given(tmp_path, monkeypatch, capsys):
    book = tmp_path / "book.xlsx"
    openpyxl.Workbook().save(book)
    # The script's own argument parsing, run here as ``python SCRIPT book.xlsx``.
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), str(book)])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(SCRIPT), run_name="__main__")
    assert exit_.value.code == 2
    assert (
        "the following arguments are required: -o/--output" in capsys.readouterr().err
    )


def test_git_ignores_the_readme_output_folder():
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", "my-workbooks/digits_plain.xlsx"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.engine
@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs pdftoppm")
def test_renders_every_workbook_given_into_the_output_folder(soffice, tmp_path):
    books = []
    for name in ("first", "second"):
        book = openpyxl.Workbook()
        book.active["A1"] = name
        books.append(tmp_path / f"{name}.xlsx")
        book.save(books[-1])
    out = tmp_path / "images"
    done = render(*map(str, books), "--output", str(out), "-r", "20")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["first-1.png", "second-1.png"]
    assert done.stdout.split() == [str(out / "first-1.png"), str(out / "second-1.png")]
