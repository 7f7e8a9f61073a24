"""The batch's rows cost no memory per row (issue 12).

``xlnn export --no-verify`` of the MNIST-shaped 784-50-100-10 network is run
with 200 and with 2,000 batch rows, each in a process of its own, and their
peak resident memory (``os.wait4``'s ``ru_maxrss``, read by a small launcher
so that pytest's own peak is not inherited) must be within 10%: with 10 rows
filled, and with every row filled from a CSV and labelled. Before the rows
were streamed, every cell was an openpyxl object: 2,000 rows took about a
gigabyte more than 200; before the CSV's rows stayed on disk and the checks
were made only when read, 2,000 filled rows took 123 MB against 85.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_hostile_files import _run

LAYERS = [784, 50, 100, 10]


def _peak(model, tmp_path, rows: int, *extra: str) -> float:
    out = tmp_path / f"m{rows}.xlsx"
    args = ["-m", "xlnn", "export", str(model), "--activations",
            "sigmoid,sigmoid,softmax", "--image", "28x28", "--rows", str(rows),
            "--no-verify", "--out", str(out), *extra]  # fmt: skip
    code, stderr, peak = _run(args, tmp_path)
    assert code == 0, stderr
    assert out.stat().st_size > 0
    out.unlink()
    return peak


@pytest.fixture
def mnist_shaped(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {}
    for k, (n_in, n_out) in enumerate(
        zip(LAYERS[:-1], LAYERS[1:], strict=True), start=1
    ):
        arrays[f"W{k}"] = rng.normal(size=(n_in, n_out)) * 0.05
        arrays[f"b{k}"] = rng.normal(size=n_out) * 0.1
    path = tmp_path / "mnist.npz"
    np.savez(path, **arrays)
    return path


def test_peak_memory_does_not_grow_with_the_batch_rows(mnist_shaped, tmp_path):
    small = _peak(mnist_shaped, tmp_path, 200)
    large = _peak(mnist_shaped, tmp_path, 2000)
    assert large <= 1.1 * small, f"{small:.0f} MB at 200 rows, {large:.0f} MB at 2,000"


def _samples(tmp_path, rows: int) -> tuple:
    """A CSV of ``rows`` random 28x28 images (3 decimals, a header) and labels."""
    rng = np.random.default_rng(rows)
    csv, labels = tmp_path / f"x{rows}.csv", tmp_path / f"t{rows}.txt"
    pixels = rng.integers(0, 1001, size=(rows, LAYERS[0])) / 1000
    with open(csv, "w") as stream:
        stream.write(",".join(f"x{k}" for k in range(LAYERS[0])) + "\n")
        np.savetxt(stream, pixels, fmt="%.3f", delimiter=",")
    np.savetxt(labels, rng.integers(0, LAYERS[-1], size=rows), fmt="%d")
    return csv, labels


def test_peak_memory_does_not_grow_with_filled_labelled_rows(mnist_shaped, tmp_path):
    # Every row filled from a CSV and labelled: the samples stream to the
    # sheet, and nothing per row is kept for checks nobody asked for.
    peaks = {}
    for rows in (200, 2000):
        csv, labels = _samples(tmp_path, rows)
        peaks[rows] = _peak(mnist_shaped, tmp_path, rows, "--sample-inputs",
                            str(csv), "--sample-labels", str(labels))  # fmt: skip
    small, large = peaks[200], peaks[2000]
    assert large <= 1.1 * small, f"{small:.0f} MB at 200 rows, {large:.0f} MB at 2,000"
