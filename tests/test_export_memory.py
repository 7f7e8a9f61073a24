"""The batch's rows cost no memory per row (issue 12).

``xlnn export --no-verify`` runs in children forked from one Python that
imported xlnn (the ``forked`` fixture), and their peak resident memory
(``os.wait4``'s ``ru_maxrss``) may grow by at most :data:`GROWTH_MB` from a
few rows to many: with 10 rows filled, at 50 and at 300 batch rows; with
every row filled from a CSV and labelled, at 300 and at 3,000.

The network is 200-16-10, not the MNIST shape: what would grow is per row
(each row's values, its forward pass and checks, or an object per cell),
while the big network's weights only raise the base. The peak wobbles by
about a megabyte with the row count whatever the code (the allocator's
heap, the chunk being read), so the rows are enough for the regressions
below to pass the bound by more than that. Measured against the code before
each fix (as here, in forked children): with an openpyxl object per cell
(9709293's parent), 10 filled rows took 53.8 MB at 50 rows and 82.4 MB at
300; with the CSV's rows held as one float64 array and checked at once
(9387b24), every row filled took 52.1 and 67.0 MB; with only the rows held
as one array (``spill=False`` in ``cli._sample_inputs``), 44.9 and 49.9 MB;
the code since, 43.8 and 44.1 MB, and 45.3 and 46.0 MB. (The MNIST-shaped
test took 11 s of CPU in four new interpreters; a 400-16-10 one at 200 and
3,000 filled rows, about 5; this one about 3.)
"""

from __future__ import annotations

import numpy as np
import pytest

LAYERS = [200, 16, 10]
ACTIVATIONS = "sigmoid,softmax"
#: How much the peak may grow from the few rows to the many: above the wobble
#: of about a megabyte, below the least growth of a regression (4.6 MB).
GROWTH_MB = 2.5


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
    small = _peak(forked, model, tmp_path, 50)
    large = _peak(forked, model, tmp_path, 300)
    assert large - small <= GROWTH_MB, f"{small:.1f} MB at 50, {large:.1f} at 300"


def _samples(tmp_path, rows: int) -> tuple:
    """A CSV of ``rows`` random inputs (3 decimals, a header) and their labels.

    100 random lines repeated: each line is read, kept and written alike
    whatever its values, and making every line took 0.15 s at 3,000.
    """
    rng = np.random.default_rng(rows)
    csv, labels = tmp_path / f"x{rows}.csv", tmp_path / f"t{rows}.txt"
    # Each value's text looked up, not formatted: numpy.savetxt took a second.
    texts = np.array([f"{k / 1000:.3f}" for k in range(1001)])
    lines = list(map(",".join, texts[rng.integers(0, 1001, size=(100, LAYERS[0]))]))
    header = ",".join(f"x{k}" for k in range(LAYERS[0]))
    body = [lines[k % len(lines)] for k in range(rows)]
    csv.write_text("\n".join([header, *body]) + "\n")
    np.savetxt(labels, rng.integers(0, LAYERS[-1], size=rows), fmt="%d")
    return csv, labels


def test_peak_memory_does_not_grow_with_filled_labelled_rows(forked, model, tmp_path):
    # Every row filled from a CSV and labelled: the samples stream to the
    # sheet, and nothing per row is kept for checks nobody asked for.
    # Both counts are above a chunk of rows (SpilledRows.CHUNK_ROWS, 256), so
    # that both peaks hold one chunk being read.
    peaks = {}
    for rows in (300, 3000):
        csv, labels = _samples(tmp_path, rows)
        peaks[rows] = _peak(forked, model, tmp_path, rows, "--sample-inputs",
                            str(csv), "--sample-labels", str(labels))  # fmt: skip
    small, large = peaks[300], peaks[3000]
    assert large - small <= GROWTH_MB, f"{small:.1f} MB at 300, {large:.1f} at 3,000"
