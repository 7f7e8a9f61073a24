"""The batch's rows cost no memory per row (issue 12).

``xlnn export --no-verify`` runs in children forked from one Python that
imported xlnn (the ``forked`` fixture), and their peak resident memory
(``os.wait4``'s ``ru_maxrss``) must be within 10% of each other: with 10
rows filled, at 200 and at 2,000 batch rows; with every row filled from a
CSV and labelled, at 200 and at 3,000.

The network is 400-16-10, not the MNIST shape: what would grow is per row
(each row's values, its forward pass and checks, or an object per cell),
while the big network's weights only raised the base that the 10% is
taken of, and 784 inputs cost more cells per row. Measured against the
code before each fix (as here, in forked children): with an openpyxl
object per cell, 10 filled rows took 91 MB at 200 rows and 482 MB at
2,000 (9709293's parent); with the CSV's rows held as one float64 array
and checked at once, every row filled took 56 and 80 MB (9387b24); with
only the rows held as one array (``spill=False`` in ``cli._sample_inputs``),
49 and 59 MB; the code since, 46 and 46 MB, and 49 and 51 MB. (The
MNIST-shaped test took 11 s of CPU in four new interpreters; this one
about 5.)
"""

from __future__ import annotations

import numpy as np
import pytest

LAYERS = [400, 16, 10]
ACTIVATIONS = "sigmoid,softmax"


def _peak(forked, model, tmp_path, rows: int, *extra: str) -> float:
    out = tmp_path / f"m{rows}.xlsx"
    args = ["export", str(model), "--activations", ACTIVATIONS,
            "--rows", str(rows), "--no-verify", "--out", str(out), *extra]  # fmt: skip
    code, stderr, peak = forked(tmp_path, *args)
    assert code == 0, stderr
    assert out.stat().st_size > 0
    out.unlink()
    return peak


@pytest.fixture
def model(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {}
    for k, (n_in, n_out) in enumerate(
        zip(LAYERS[:-1], LAYERS[1:], strict=True), start=1
    ):
        arrays[f"W{k}"] = rng.normal(size=(n_in, n_out)) * 0.05
        arrays[f"b{k}"] = rng.normal(size=n_out) * 0.1
    path = tmp_path / "model.npz"
    np.savez(path, **arrays)
    return path


def test_peak_memory_does_not_grow_with_the_batch_rows(forked, model, tmp_path):
    small = _peak(forked, model, tmp_path, 200)
    large = _peak(forked, model, tmp_path, 2000)
    assert large <= 1.1 * small, f"{small:.0f} MB at 200 rows, {large:.0f} MB at 2,000"


def _samples(tmp_path, rows: int) -> tuple:
    """A CSV of ``rows`` random inputs (3 decimals, a header) and their labels."""
    rng = np.random.default_rng(rows)
    csv, labels = tmp_path / f"x{rows}.csv", tmp_path / f"t{rows}.txt"
    # Each value's text looked up, not formatted: numpy.savetxt took a second.
    texts = np.array([f"{k / 1000:.3f}" for k in range(1001)])
    pixels = texts[rng.integers(0, 1001, size=(rows, LAYERS[0]))]
    header = ",".join(f"x{k}" for k in range(LAYERS[0]))
    csv.write_text("\n".join([header, *map(",".join, pixels)]) + "\n")
    np.savetxt(labels, rng.integers(0, LAYERS[-1], size=rows), fmt="%d")
    return csv, labels


def test_peak_memory_does_not_grow_with_filled_labelled_rows(forked, model, tmp_path):
    # Every row filled from a CSV and labelled: the samples stream to the
    # sheet, and nothing per row is kept for checks nobody asked for.
    peaks = {}
    for rows in (200, 3000):
        csv, labels = _samples(tmp_path, rows)
        peaks[rows] = _peak(forked, model, tmp_path, rows, "--sample-inputs",
                            str(csv), "--sample-labels", str(labels))  # fmt: skip
    small, large = peaks[200], peaks[3000]
    assert large <= 1.1 * small, f"{small:.0f} MB at 200 rows, {large:.0f} MB at 3,000"
