"""Every ``pip install`` that xlnn tells a user works from a clone, as written.

xlnn is not on a package index: ``pip install "xlnn[verify]"`` fails, so
every hint (README, docs, help texts, error messages) installs from the
clone's folder, and every extra it names is one pyproject.toml defines.
"""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

from xlnn.errors import install_hint

REPO = Path(__file__).resolve().parents[1]
EXTRAS = set(
    tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
)
# What a user reads: the docs, and every module whose text reaches them.
TEXTS = sorted(
    [
        REPO / "README.md",
        *(REPO / "docs").glob("**/*.md"),
        *(REPO / "addin").glob("**/*.py"),
        *(REPO / "scripts").glob("*.py"),
        *(REPO / "benchmarks").glob("*.py"),
        REPO / ".ci" / "run",
    ]
)
# pip install ., pip install -e ".[onnx]", pip install -q -e ".[test]", and
# install_hint's own template (".[{extra}]")
FROM_THE_CLONE = re.compile(
    r'pip install (?:-q )?(?:-e )?(?:\.|"\.\[([a-z]+|\{extra\})\]")(?!\S)'
)
# Named arguments of pip that are not a requirement (pip's own upgrade).
NOT_XLNN = re.compile(r"pip install -q --upgrade pip\b")


def hints(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return re.findall(r"pip install [^\n`]*", text)


def test_every_pip_install_installs_from_the_clone():
    wrong = []
    for path in TEXTS:
        name = str(path.relative_to(REPO))
        for hint in hints(path):
            found = FROM_THE_CLONE.match(hint)
            if NOT_XLNN.match(hint):
                continue
            if not found or found[1] not in (None, "{extra}", *EXTRAS):
                wrong.append(f"{name}: {hint}")
        if "xlnn[" in path.read_text(encoding="utf-8"):  # not on an index
            wrong.append(f"{name}: xlnn[")
    assert wrong == []


def test_the_texts_hold_hints():
    # the scan above reads the files the hints are in
    every = [hint for path in TEXTS for hint in hints(path)]
    assert any('pip install -e ".[verify]"' in hint for hint in every)
    assert any('pip install -e ".[server]"' in hint for hint in every)


def test_the_hint_names_the_folder_it_works_in():
    assert install_hint("onnx") == 'pip install -e ".[onnx]" (in xlnn\'s folder)'
    assert FROM_THE_CLONE.match(install_hint("onnx"))[1] == "onnx"
