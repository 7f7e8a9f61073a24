"""Loss functions of chapter 4 of "Deep Learning from Scratch", in plain NumPy.

A loss measures how far a network's output ``y`` is from the targets ``t``:
``mean_squared_error`` and ``cross_entropy_error``, as the book defines them
(section 4.2). This module knows nothing of Excel; the Excel functions
MEAN_SQUARED_ERROR and CROSS_ENTROPY_ERROR compute with these.

Samples and targets, the same for both:

- A 1-D ``y`` (or a scalar) is one sample; a 2-D ``y`` is a batch, one sample
  per row, and the loss is the mean of the rows' losses (the book's batch
  form, section 4.2.4).
- ``t`` is either the targets themselves, in ``y``'s shape (one-hot rows for
  a classifier), or one 0-based class index per sample: a single number for
  one sample; a vector of N, or an N x 1 column, for a batch of N rows.
  Indices stand for the one-hot rows they name. When ``t`` has ``y``'s shape
  it is always taken as targets.
- Input types as in :mod:`xlnn.activations`: numbers of any NumPy kind,
  computed in float64; text raises ``TypeError``. A shape that fits neither
  form, a class index that is not a whole number from 0 to the number of
  columns minus 1, and ``y`` of more than two dimensions raise ``ValueError``.
- The result is a ``numpy.float64``. It is NaN (or inf) where the formula
  gives one, without a warning: a NaN anywhere, ``y`` below -1e-7 in the
  cross-entropy, or an overflowing square. An empty batch (no rows) is NaN.

>>> y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
>>> print(round(mean_squared_error(y, 2), 4), round(cross_entropy_error(y, 2), 4))
0.0975 0.5108
"""

from __future__ import annotations

import numpy as np

from xlnn.activations import _as_float

__all__ = ["mean_squared_error", "cross_entropy_error"]

#: The book's guard in the cross-entropy, so that ``log`` never sees 0.
DELTA = 1e-7


def _as_batch(y: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``y`` and ``t`` as two float64 arrays of shape (samples, columns).

    Class indices become the one-hot rows they stand for.
    """
    if y.ndim > 2:
        raise ValueError(f"y must be one sample (1-D) or a batch (2-D), not {y.ndim}-D")
    batch = y.reshape(1, -1) if y.ndim < 2 else y
    samples, columns = batch.shape
    if t.shape == y.shape:
        return batch, t.reshape(batch.shape)
    one_sample = y.ndim < 2 and t.size == 1
    if not (one_sample or (y.ndim == 2 and t.shape in ((samples,), (samples, 1)))):
        raise ValueError(
            f"t must have y's shape {y.shape} (the targets, one-hot for classes) "
            f"or hold one class index per sample ({samples}), not shape {t.shape}"
        )
    return batch, _one_hot(t.reshape(-1), columns)


def _one_hot(indices: np.ndarray, columns: int) -> np.ndarray:
    """One-hot rows of ``columns`` for 0-based class ``indices`` (float64)."""
    whole = np.isfinite(indices) & (indices == np.round(indices))
    valid = whole & (indices >= 0) & (indices < columns)
    if not valid.all():
        bad = indices[~valid][0]
        raise ValueError(
            f"a class index must be a whole number from 0 to {columns - 1} "
            f"(y has {columns} columns), not {float(bad):g}"
        )
    one_hot = np.zeros((indices.size, columns))
    one_hot[np.arange(indices.size), indices.astype(np.intp)] = 1.0
    return one_hot


def _mean_over_samples(per_element: np.ndarray) -> np.float64:
    """The sum over all elements divided by the number of rows (samples)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.float64(np.sum(per_element) / per_element.shape[0])


def mean_squared_error(y, t):
    """Mean squared error, the book's loss for regression (section 4.2.1).

    .. math:: E = \\frac{1}{2} \\sum_k (y_k - t_k)^2

    For a batch (2-D ``y``, one sample per row) the result is the mean of
    :math:`E` over the rows. ``t`` holds the targets (``y``'s shape) or one
    class index per sample, which stands for its one-hot row; see the module
    docstring for the shapes and edge cases.

    Parameters
    ----------
    y : array_like of numbers
        The outputs: one sample (1-D) or one sample per row (2-D).
    t : array_like of numbers
        The targets in ``y``'s shape, or 0-based class indices.

    Returns
    -------
    numpy.float64
        Zero where ``y`` equals the targets; NaN where an input is NaN, inf
        where a square overflows.

    Examples
    --------
    The book's example: the network gives class 2 probability 0.6, and 2 is
    the true class (as an index, or one-hot)

    >>> y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
    >>> print(round(mean_squared_error(y, 2), 15))
    0.0975
    >>> print(round(mean_squared_error(y, [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]), 15))
    0.0975

    A batch of two samples is the mean of their errors

    >>> print(mean_squared_error([[1.0, 0.0], [0.0, 0.0]], [0, 0]))
    0.25
    """
    y, t = _as_batch(_as_float(y, "y"), _as_float(t, "t"))
    with np.errstate(over="ignore", invalid="ignore"):
        return _mean_over_samples(0.5 * (y - t) ** 2)


def cross_entropy_error(y, t):
    """Cross-entropy error, the book's loss for classification (section 4.2.2).

    .. math:: E = -\\sum_k t_k \\log(y_k + 10^{-7})

    The book adds :math:`10^{-7}` so that a probability of 0 gives a large
    loss (about 16.1) instead of ``inf``; a sure and right answer (1 on the
    true class) gives :math:`-\\log(1 + 10^{-7})`, just below 0. For a batch
    (2-D ``y``, one sample per row) the result is the mean of :math:`E` over
    the rows. ``t`` holds the targets (``y``'s shape, one-hot) or one class
    index per sample; see the module docstring for the shapes and edge cases.

    ``y`` should hold probabilities (a softmax's output): any ``y`` below
    :math:`-10^{-7}`, NaN or inf, also where ``t`` is 0, makes the result
    NaN, and :math:`-10^{-7}` where ``t`` is not 0 makes it inf.

    Parameters
    ----------
    y : array_like of numbers
        The probabilities: one sample (1-D) or one sample per row (2-D).
    t : array_like of numbers
        The targets in ``y``'s shape, or 0-based class indices.

    Returns
    -------
    numpy.float64

    Examples
    --------
    The book's two examples, with class 2 true: 0.6 on class 2, then 0.6 on
    class 7

    >>> y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
    >>> print(cross_entropy_error(y, 2))
    0.510825457099338
    >>> y = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]
    >>> print(cross_entropy_error(y, 2))
    2.302584092994546

    A batch, with a column of class indices

    >>> print(round(cross_entropy_error([[0.5, 0.5], [0.9, 0.1]], [[0], [0]]), 6))
    0.399254
    """
    y, t = _as_batch(_as_float(y, "y"), _as_float(t, "t"))
    with np.errstate(invalid="ignore", divide="ignore"):
        return _mean_over_samples(-(t * np.log(y + DELTA)))
