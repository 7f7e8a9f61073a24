"""Activation functions of a neural network's forward pass, in plain NumPy.

The first five follow chapter 3 of "Deep Learning from Scratch" (Koki Saitoh):
``step``, ``sigmoid``, ``relu``, ``softmax`` and ``identity``. The rest are the
activations a learner meets next. This module knows nothing of Excel: every
function takes array-likes of float64 and returns a float64 ``ndarray`` of the
same shape.

Every function is numerically stable over all of float64: no overflow, no
``RuntimeWarning``, and no ``inf`` where the true value is finite. ``NaN`` in
gives ``NaN`` out, element by element (for the softmaxes, in the NaN's group).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "step",
    "sigmoid",
    "relu",
    "softmax",
    "identity",
    "tanh",
    "leaky_relu",
    "elu",
    "softplus",
    "gelu",
    "silu",
    "log_softmax",
]


def _as_float(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


#: Elements per block in :func:`_blockwise`, so that a block's temporaries
#: stay in the CPU cache.
_BLOCK = 2**15


def _blockwise(kernel, x: np.ndarray) -> np.ndarray:
    """Return ``kernel`` applied to ``x``, block by block, as a new float64 array.

    ``kernel(block, out)`` computes an element-wise function of ``block`` into
    ``out``. On a large array, each NumPy step of the kernel then reads and
    writes data still in the CPU cache instead of main memory: a chain of
    steps runs about twice as fast on a million elements.
    """
    out = np.empty(x.shape)
    flat_x, flat_out = x.reshape(-1), out.reshape(-1)
    for start in range(0, flat_x.size, _BLOCK):
        block = slice(start, start + _BLOCK)
        kernel(flat_x[block], flat_out[block])
    return out


def step(x):
    """Step function: 1 where x > 0, else 0.

    .. math:: h(x) = 1 \\text{ if } x > 0 \\text{ else } 0

    Edge cases: ``step(0) == 0``, ``step(inf) == 1``, ``step(-inf) == 0``.
    The book's ``np.array(x > 0, dtype=int)`` maps NaN to 0; here NaN stays NaN,
    so a missing value is never mistaken for "not firing". The result is float64.

    Examples
    --------
    >>> step([-1.0, 0.0, 2.0])
    array([0., 0., 1.])
    """
    x = _as_float(x)
    return np.where(np.isnan(x), np.nan, (x > 0).astype(np.float64))


def sigmoid(x):
    """Logistic sigmoid, 1 / (1 + exp(-x)), computed without overflow.

    .. math:: \\sigma(x) = \\frac{1}{1 + e^{-x}}
              = \\frac{e^{-|x|}}{1 + e^{-|x|}} \\text{ for } x < 0

    Only ``exp(-|x|)``, which lies in (0, 1], is ever computed, so
    ``sigmoid(-1000) == 0.0`` and ``sigmoid(1e308) == 1.0`` without a warning,
    and small results keep full relative precision (like ``scipy.special.expit``).

    Examples
    --------
    >>> sigmoid([-1.0, 1.0, 2.0])
    array([0.26894142, 0.73105858, 0.88079708])
    """
    return _blockwise(_sigmoid_block, _as_float(x))


def _sigmoid_block(x, out):
    """Write sigmoid(x) into ``out``: numerator / (1 + e), where e = exp(-|x|).

    The numerator is 1 where x >= 0 and e elsewhere; as e <= 1, that is
    max(e, x >= 0), which NumPy computes much faster than ``np.where``.
    """
    e = np.exp(np.negative(np.abs(x, out=out), out=out))  # out as scratch
    np.greater_equal(x, 0.0, out=out)  # 1.0 where x >= 0, else 0.0
    np.maximum(e, out, out=out)  # the numerator; NaN stays NaN
    e += 1.0
    np.divide(out, e, out=out)


def relu(x):
    """Rectified linear unit, max(0, x).

    Written as the book's ``np.maximum(0, x)``, so ``relu(-0.0)`` is ``-0.0``
    as in the book, and NaN propagates.

    Examples
    --------
    >>> relu([-2.0, 0.0, 3.0])
    array([0., 0., 3.])
    """
    return np.maximum(0.0, _as_float(x))


def identity(x):
    """Identity, the output activation of the book's regression example.

    Examples
    --------
    >>> identity([0.5, -1.0])
    array([ 0.5, -1. ])
    """
    return np.array(x, dtype=np.float64)


def _shifted_by_max(x, axis):
    """Return x - max(x) along ``axis``, the shift that keeps exp from overflowing.

    A difference beyond float64's range (a group holding 1e308 and -1e308) is
    -inf, its limit: that entry's exp is 0. Groups whose max is infinite are
    handled by their limits too: +inf entries share the mass equally (their
    shifted value is 0), and a group of only -inf has no defined softmax and
    becomes NaN. No warnings are raised.
    """
    x_max = np.max(x, axis=axis, keepdims=True)
    if np.isfinite(x_max).all():
        with np.errstate(over="ignore"):
            return x - x_max
    with np.errstate(over="ignore", invalid="ignore"):
        shifted = x - x_max
    shifted[np.isposinf(x) & np.isposinf(x_max)] = 0.0
    shifted[np.broadcast_to(np.isneginf(x_max), x.shape)] = np.nan
    return shifted


def softmax(x, axis=-1):
    """Softmax along ``axis``: exp(x) / sum(exp(x)), with the max subtracted first.

    .. math:: \\mathrm{softmax}(x)_i = \\frac{e^{x_i - m}}{\\sum_j e^{x_j - m}},
              \\quad m = \\max_j x_j

    Subtracting the max is the book's trick (section 3.5.2): the largest
    exponent becomes 0, so ``exp`` never overflows and ``softmax([1010, 1000,
    990])`` is exact where the naive formula gives NaN. For a 2-D batch use
    ``axis=-1``: each row is one sample and sums to 1. ``axis=None`` normalizes
    over all elements. ``-inf`` entries get probability 0; ``+inf`` entries
    share all of it; a NaN makes its whole group NaN; a group of only ``-inf``
    is NaN.

    Examples
    --------
    >>> softmax([0.3, 2.9, 4.0])
    array([0.01821127, 0.24519181, 0.73659691])
    """
    x = _as_float(x)
    exps = np.exp(_shifted_by_max(np.atleast_1d(x), axis))
    exps /= np.sum(exps, axis=axis, keepdims=True)
    return exps.reshape(x.shape)


def log_softmax(x, axis=-1):
    """Logarithm of the softmax along ``axis``, without computing the softmax.

    .. math:: \\log \\mathrm{softmax}(x)_i = (x_i - m) - \\log \\sum_j e^{x_j - m}

    Stays finite where ``log(softmax(x))`` would give ``-inf`` from underflow:
    ``log_softmax([0, 1000])[0] == -1000``. Edge cases as in ``softmax``.

    Examples
    --------
    >>> log_softmax([0.0, 1000.0])
    array([-1000.,     0.])
    """
    x = _as_float(x)
    shifted = _shifted_by_max(np.atleast_1d(x), axis)
    shifted -= np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    return shifted.reshape(x.shape)


def tanh(x):
    """Hyperbolic tangent, (e^x - e^-x) / (e^x + e^-x), bounded in [-1, 1].

    Examples
    --------
    >>> tanh([0.0, 1.0])
    array([0.        , 0.76159416])
    """
    return np.tanh(_as_float(x))


def leaky_relu(x, alpha=0.01):
    """Leaky ReLU: x where x > 0, else alpha * x.

    Examples
    --------
    >>> leaky_relu([-100.0, 2.0])
    array([-1.,  2.])
    """
    x = _as_float(x)
    return np.where(x > 0, x, alpha * x)


def elu(x, alpha=1.0):
    """Exponential linear unit: x where x > 0, else alpha * (exp(x) - 1).

    ``expm1`` keeps small negative inputs precise, and only ``min(x, 0)`` is
    exponentiated, so large positive inputs never overflow.

    Examples
    --------
    >>> elu([-1.0, 2.0])
    array([-0.63212056,  2.        ])
    """
    x = _as_float(x)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def softplus(x):
    """Softplus, log(1 + exp(x)), a smooth ReLU.

    Computed as ``logaddexp(0, x)``, so ``softplus(1000) == 1000`` rather than
    ``inf``, and ``softplus(-30)`` keeps its full precision (9.4e-14).

    Examples
    --------
    >>> softplus([0.0, 1000.0])
    array([6.93147181e-01, 1.00000000e+03])
    """
    with np.errstate(invalid="ignore"):  # NaN in gives NaN out, silently
        return np.logaddexp(0.0, _as_float(x))


_erfc = np.frompyfunc(math.erfc, 1, 1)


def gelu(x):
    """Gaussian error linear unit, x * Phi(x), in its exact (erf) form.

    .. math:: \\mathrm{GELU}(x) = x \\, \\Phi(x)
              = \\tfrac{x}{2} \\, \\mathrm{erfc}(-x / \\sqrt{2})

    ``erfc`` rather than ``1 + erf`` keeps the far negative tail precise.
    ``gelu(-inf) == 0``. NumPy has no ``erf``, so this uses ``math.erfc`` per
    element: correct to the last digits, but slower than the other activations.

    Examples
    --------
    >>> gelu([-1.0, 0.0, 1.0])
    array([-0.15865525,  0.        ,  0.84134475])
    """
    x = _as_float(x)
    # frompyfunc gives an object array, or a bare float for a 0-d input.
    phi = 0.5 * np.asarray(_erfc(-x / math.sqrt(2.0)), dtype=np.float64)
    with np.errstate(invalid="ignore"):
        out = x * phi
    return np.where(np.isneginf(x), 0.0, out)


def silu(x):
    """Sigmoid linear unit (swish), x * sigmoid(x).

    ``silu(-inf) == 0``, its limit, instead of ``-inf * 0``.

    Examples
    --------
    >>> silu([-1.0, 0.0, 1.0])
    array([-0.26894142,  0.        ,  0.73105858])
    """
    x = _as_float(x)
    with np.errstate(invalid="ignore"):
        out = x * sigmoid(x)
    return np.where(np.isneginf(x), 0.0, out)
