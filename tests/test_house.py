"""The house rules a maintainer checks by eye, checked by a test (issue 13)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _long_functions():
    path = REPO / "scripts" / "long_functions.py"
    spec = importlib.util.spec_from_file_location("long_functions", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.long_functions


def test_no_function_is_over_80_lines():
    assert _long_functions()(REPO / "addin" / "xlnn", 80) == []


def test_the_length_rule_finds_a_long_function(tmp_path):
    body = "".join(f"    x{k} = {k}\n" for k in range(80))
    (tmp_path / "m.py").write_text(f"def long():\n{body}\n\ndef short():\n    pass\n")
    found = _long_functions()(tmp_path, 80)
    assert [text.split()[-1] for _, text in found] == ["long"]
