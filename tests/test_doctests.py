"""The examples in xlnn's docstrings run as tests, and a wrong one fails.

Modules are imported by name here, after tests/conftest.py has set up the
xlwings environment that importing ``xlnn.udfs`` needs; that is why pytest's
``--doctest-modules`` is not used.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import xlnn
from xlnn import activations


def _module_names() -> list[str]:
    """Every module of the xlnn package, except ``__main__``.

    Importing ``xlnn.__main__`` would run the command line.
    """
    found = pkgutil.walk_packages(xlnn.__path__, prefix=f"{xlnn.__name__}.")
    names = [info.name for info in found if not info.name.endswith(".__main__")]
    return [xlnn.__name__, *sorted(names)]


def _doctests(module) -> list[doctest.DocTest]:
    """The docstrings of ``module`` (and of what it defines) that hold examples."""
    return [test for test in doctest.DocTestFinder().find(module) if test.examples]


def _run(tests: list[doctest.DocTest]) -> tuple[int, int, str]:
    """Run ``tests``; return the numbers of failures and of examples, and the report."""
    runner = doctest.DocTestRunner()
    report: list[str] = []
    for test in tests:
        runner.run(test, out=report.append)
    results = runner.summarize(verbose=False)
    return results.failed, results.attempted, "".join(report)


MODULES_WITH_EXAMPLES = [
    name for name in _module_names() if _doctests(importlib.import_module(name))
]


def test_the_activations_module_is_among_those_with_examples():
    assert "xlnn.activations" in MODULES_WITH_EXAMPLES


@pytest.mark.parametrize("name", MODULES_WITH_EXAMPLES)
def test_docstring_examples_pass(name):
    failed, attempted, report = _run(_doctests(importlib.import_module(name)))
    assert attempted > 0
    assert failed == 0, report


def test_every_activation_and_the_module_docstring_have_examples():
    tested = {test.name for test in _doctests(activations)}
    # each function under its own name: the book's second names (step_function)
    # are the same objects, whose examples run once
    functions = {getattr(activations, name) for name in activations.__all__}
    expected = {f"xlnn.activations.{f.__name__}" for f in functions}
    assert expected | {"xlnn.activations"} <= tested


def test_a_wrong_example_fails():
    # The same runner as above, on an example whose expected output is wrong.
    wrong = doctest.DocTestParser().get_doctest(
        ">>> print(sigmoid(0.0))\n0.25\n",
        {"sigmoid": activations.sigmoid},
        "wrong",
        None,
        0,
    )
    failed, attempted, report = _run([wrong])
    assert (failed, attempted) == (1, 1)
    assert "0.25" in report and "0.5" in report
