"""Time xlnn's functions side by side with their references, in one run.

Each row of the printed markdown table times an xlnn function and a reference
on the same data, a 1000 x 1000 float64 grid of standard normal values times 5
(fixed seed), as the best of N runs with ``time.perf_counter``. The two take
turns, so that a busy machine slows both alike. Ratio = xlnn / reference.

References: ``scipy.special`` for the activations. For the Excel functions, the
floor of any function that takes a 2-D list and returns one: ``np.asarray(grid)``
plus ``result.tolist()`` on a precomputed result of the same shape.

    python benchmarks/bench_functions.py           # about a minute
    python benchmarks/bench_functions.py --quick   # fewer repeats
"""

from __future__ import annotations

import os

# xlwings.server needs these before xlwings is first imported. They are set
# here, in this script's own process, and never in the package's code.
os.environ["XLWINGS_ON_SERVER"] = "true"
os.environ["XLWINGS_LICENSE_KEY"] = "noncommercial"

import argparse
import asyncio
import gc
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy
import scipy.special
import xlwings
import xlwings.server

from xlnn import activations, udfs

SEED = 20240601
SCALE = 5.0
SIZE = 1000
SMALL_SIZE = 300
BLANK_SHARE = 0.01  # half "" and half None
TEXT_SHARE = 0.001


class Repeats(NamedTuple):
    """Timed runs of each side, per kind of measurement."""

    arrays: int
    lists: int
    xlwings_small: int
    xlwings: int


FULL = Repeats(arrays=100, lists=20, xlwings_small=20, xlwings=7)
QUICK = Repeats(arrays=10, lists=3, xlwings_small=3, xlwings=2)


@dataclass(frozen=True)
class Row:
    """One line of the table: the two best times, in seconds, and the target."""

    measured: str
    ours: float
    reference: float
    target: float

    @property
    def ratio(self) -> float:
        return self.ours / self.reference

    def markdown(self) -> str:
        verdict = "pass" if self.ratio <= self.target else "**miss**"
        return (
            f"| {self.measured} | {_ms(self.ours)} | {_ms(self.reference)} "
            f"| {self.ratio:.2f} | <= {self.target:g} | {verdict} |"
        )


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def best_of(ours: Callable, reference: Callable, repeats: int) -> tuple[float, float]:
    """Best time of ``ours`` and of ``reference``, calling them in turn.

    After one untimed call of each, the garbage collector is off while timing,
    as in ``timeit``.
    """
    ours(), reference()
    best = [float("inf"), float("inf")]
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            for side, function in enumerate((ours, reference)):
                start = time.perf_counter()
                function()
                best[side] = min(best[side], time.perf_counter() - start)
    finally:
        gc.enable()
    return best[0], best[1]


def normal_array(size: int) -> np.ndarray:
    """A size x size float64 array of standard normal values times SCALE."""
    return np.random.default_rng(SEED).standard_normal((size, size)) * SCALE


def with_blanks_and_text(grid: list) -> tuple[list, int, int]:
    """A copy of ``grid`` with BLANK_SHARE blank cells and TEXT_SHARE text cells.

    Returns the copy and its numbers of blank and of text cells.
    """
    width, count = len(grid[0]), len(grid) * len(grid[0])
    blanks, texts = int(count * BLANK_SHARE), int(count * TEXT_SHARE)
    fillers = ["", None] * (blanks // 2) + ["text"] * texts
    picked = np.random.default_rng(SEED + 1).choice(count, len(fillers), replace=False)
    mixed = [list(row) for row in grid]
    for index, filler in zip(picked.tolist(), fillers, strict=True):
        mixed[index // width][index % width] = filler
    return mixed, len(fillers) - texts, texts


def count_cells(grid: list, value) -> int:
    return sum(row.count(value) for row in grid)


def list_floor(grid: list, result: np.ndarray) -> Callable:
    """The least a list-in, list-out function does: read the grid, list a result."""

    def floor():
        np.asarray(grid)
        return result.tolist()

    return floor


def bench_sigmoid(x: np.ndarray, repeats: int) -> Row:
    np.testing.assert_allclose(activations.sigmoid(x), scipy.special.expit(x))
    times = best_of(
        lambda: activations.sigmoid(x), lambda: scipy.special.expit(x), repeats
    )
    return Row("`activations.sigmoid` vs `scipy.special.expit`", *times, 1.2)


def bench_softmax(x: np.ndarray, repeats: int) -> Row:
    np.testing.assert_allclose(
        activations.softmax(x, axis=-1), scipy.special.softmax(x, axis=-1)
    )
    times = best_of(
        lambda: activations.softmax(x, axis=-1),
        lambda: scipy.special.softmax(x, axis=-1),
        repeats,
    )
    return Row("`activations.softmax(axis=-1)` vs `scipy.special.softmax`", *times, 1.2)


def bench_round_trip(x: np.ndarray, repeats: int) -> Row:
    grid, expected = x.tolist(), scipy.special.expit(x)
    np.testing.assert_allclose(udfs.sigmoid(grid), expected)
    times = best_of(lambda: udfs.sigmoid(grid), list_floor(grid, expected), repeats)
    return Row("`udfs.sigmoid(grid)`, 2-D list in and out, vs floor", *times, 1.5)


def bench_round_trip_mixed(x: np.ndarray, repeats: int) -> Row:
    grid, expected = x.tolist(), scipy.special.expit(x)
    mixed, blanks, texts = with_blanks_and_text(grid)
    shown = udfs.sigmoid(mixed)
    assert (count_cells(shown, ""), count_cells(shown, "#VALUE!")) == (blanks, texts)
    times = best_of(lambda: udfs.sigmoid(mixed), list_floor(grid, expected), repeats)
    return Row(
        "the same, 1% blank and 0.1% text cells, vs floor (numeric grid)", *times, 3
    )


def bench_xlwings(size: int, repeats: int) -> Row:
    x = normal_array(size)
    grid, expected = x.tolist(), scipy.special.expit(x)
    payload = {
        "func_name": "sigmoid",
        "args": [grid],
        "version": xlwings.__version__,
        "runtime": "1.4",
    }

    def call():
        return asyncio.run(xlwings.server.custom_functions_call(payload, udfs))

    np.testing.assert_allclose(call(), expected)
    times = best_of(call, list_floor(grid, expected), repeats)
    return Row(f"SIGMOID through `xlwings.server`, {size}x{size}, vs floor", *times, 25)


def describe(repeats: Repeats) -> str:
    return (
        f"Python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, xlwings {xlwings.__version__}; "
        f"{os.cpu_count()} CPUs, {platform.machine()} {platform.system()}.\n"
        f"{SIZE}x{SIZE} float64 unless noted, standard normal x {SCALE:g}, "
        f"seed {SEED}. Best of {repeats.arrays} runs (arrays), {repeats.lists} "
        f"(lists), {repeats.xlwings_small} and {repeats.xlwings} (xlwings)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    repeats = QUICK if parser.parse_args().quick else FULL
    x = normal_array(SIZE)
    rows = [
        bench_sigmoid(x, repeats.arrays),
        bench_softmax(x, repeats.arrays),
        bench_round_trip(x, repeats.lists),
        bench_round_trip_mixed(x, repeats.lists),
        bench_xlwings(SMALL_SIZE, repeats.xlwings_small),
        bench_xlwings(SIZE, repeats.xlwings),
    ]
    print(describe(repeats), end="\n\n")
    print("| Measured | xlnn | Reference | Ratio | Target | Result |")
    print("|---|---:|---:|---:|---:|---|")
    for row in rows:
        print(row.markdown())


if __name__ == "__main__":
    main()
