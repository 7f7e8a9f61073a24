"""Activation functions of a neural network's forward pass, in plain NumPy.

The first five follow chapter 3 of "Deep Learning from Scratch" (Koki Saitoh):
``step``, ``sigmoid``, ``relu``, ``softmax`` and ``identity``. The rest are the
activations a learner meets next. This module knows nothing of Excel.

What every function here shares, said once (each docstring gives only its
formula, its edge cases and examples):

- ``x`` is array_like of numbers and behaves as with NumPy's ufuncs such as
  ``np.exp``: a number or an array-like of numbers (bool, int or float of
  any width). The computation is float64, Excel's number type, in which
  every stability claim is made: float32 or int input gives float64 results
  (cast them back with ``.astype`` if needed), and ``np.longdouble`` is
  rounded to float64 first.
- The result is a ``numpy.float64`` for a scalar ``x`` (a Python number, a
  NumPy scalar or a 0-d array), else a new float64 ``ndarray`` of ``x``'s
  shape.
- Text is not a number: ``str`` or ``bytes``, alone, in a list or in an
  object array, raises ``TypeError`` rather than being parsed, so
  ``sigmoid('1.5')`` is an error, not 0.82. So do ``None``, complex numbers
  and dates, and so does such an ``alpha``. (The Excel path turns text cells
  into #VALUE! before calling these.)
- ``axis`` (softmax, log_softmax; default -1) is the axis along which each
  group lies, so each row of a 2-D batch is one sample; ``None`` makes all of
  ``x`` one group. A scalar is a group of one; an empty ``x``, such as ``[]``
  or shape (0, 3), gives an empty array of its shape.
- Every function is numerically stable over all of float64: no overflow, no
  ``RuntimeWarning``, and no ``inf`` where the true value is finite. ``NaN``
  in gives ``NaN`` out, element by element (for the softmaxes, in the NaN's
  group).

>>> type(sigmoid(0.5)).__name__, type(sigmoid([0.5])).__name__
('float64', 'ndarray')
>>> sigmoid(np.float32(2.0)).dtype
dtype('float64')
"""

from __future__ import annotations

import math
import reprlib

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
    "gelu_tanh",
    "silu",
    "log_softmax",
    "hard_sigmoid",
    # the book's names for step and identity (see the end of this module)
    "step_function",
    "identity_function",
]

#: dtype kinds that hold numbers: bool, signed and unsigned int, float.
_NUMBER_KINDS = frozenset("biuf")


def _as_float(x, name: str = "x") -> np.ndarray:
    """Return ``x`` as a float64 array, or raise TypeError if it is not numbers.

    A numeric array is recognized by its dtype alone, so the Excel path, which
    passes float64 grids, pays nothing per element; only object arrays (mixed
    Python objects) are looked at element by element.
    """
    array = np.asarray(x)
    kind = array.dtype.kind
    if kind == "O":
        for value in array.flat:
            if not _is_number(value):
                raise _not_numbers(name, _describe(value))
    elif kind not in _NUMBER_KINDS:
        what = "text" if kind in "US" else f"{array.dtype} values"
        if array.ndim == 0:
            what += f": {reprlib.repr(array.item())}"
        else:
            what += f" (NumPy dtype {array.dtype})"
        raise _not_numbers(name, what)
    return array.astype(np.float64, copy=False)


def _is_number(value) -> bool:
    """True for a real number: bool, int, float, NumPy's, Fraction, Decimal."""
    if isinstance(value, (str, bytes, bytearray, complex, np.complexfloating)):
        return False
    return hasattr(value, "__float__") or hasattr(value, "__index__")


def _describe(value) -> str:
    if isinstance(value, (str, bytes, bytearray)):
        return f"text: {reprlib.repr(value)}"
    return f"{reprlib.repr(value)} of type {type(value).__name__}"


def _not_numbers(name: str, what: str) -> TypeError:
    return TypeError(f"{name} must hold numbers (bool, int or float), not {what}")


def _like_ufunc(result: np.ndarray):
    """Return ``result`` as a ufunc would: a ``numpy.float64`` when it is 0-d."""
    return result[()] if result.ndim == 0 else result


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

    ``step(0) == 0``, ``step(inf) == 1``, ``step(-inf) == 0``. The book's
    ``np.array(x > 0, dtype=int)`` maps NaN to 0; here NaN stays NaN, so a
    missing value is never mistaken for "not firing".

    >>> step([-1.0, 0.0, 2.0])
    array([0., 0., 1.])
    >>> print(step(3))
    1.0
    """
    x = _as_float(x)
    return _like_ufunc(np.where(np.isnan(x), np.nan, (x > 0).astype(np.float64)))


def sigmoid(x):
    """Logistic sigmoid, 1 / (1 + exp(-x)), in [0, 1], without overflow.

    .. math:: \\sigma(x) = \\frac{1}{1 + e^{-x}}
              = \\frac{e^{-|x|}}{1 + e^{-|x|}} \\text{ for } x < 0

    Only ``exp(-|x|)``, which lies in (0, 1], is ever computed, so
    ``sigmoid(-1000) == 0.0`` and ``sigmoid(1e308) == 1.0`` without a warning,
    and small results keep full relative precision (like ``scipy.special.expit``).

    >>> sigmoid([-1.0, 1.0, 2.0])
    array([0.26894142, 0.73105858, 0.88079708])
    >>> print(sigmoid(0), sigmoid(-1000.0))
    0.5 0.0
    """
    return _like_ufunc(_blockwise(_sigmoid_block, _as_float(x)))


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

    .. math:: \\mathrm{ReLU}(x) = \\max(0, x)

    Written as the book's ``np.maximum(0, x)``, so ``relu(-0.0)`` is ``-0.0``
    as in the book, and NaN propagates.

    >>> relu([-2.0, 0.0, 3.0])
    array([0., 0., 3.])
    >>> print(relu(-5))
    0.0
    """
    return _like_ufunc(np.maximum(0.0, _as_float(x)))


def identity(x):
    """Identity, the output activation of the book's regression example.

    .. math:: f(x) = x

    ``x`` as float64, in a new array (never ``x`` itself).

    >>> identity([0.5, -1.0])
    array([ 0.5, -1. ])
    >>> print(identity(True))
    1.0
    """
    return _like_ufunc(np.array(_as_float(x), dtype=np.float64))


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


def _empty_like_groups(x: np.ndarray, axis) -> np.ndarray:
    """The (log-)softmax of an empty ``x``: an empty array of its shape.

    ``np.max`` has no value for an empty group, so the usual path would fail.
    """
    np.sum(x, axis=axis)  # still rejects an axis that x does not have
    return np.empty(x.shape)


def softmax(x, axis=-1):
    """Softmax along ``axis``: exp(x) / sum(exp(x)), with the max subtracted first.

    .. math:: \\mathrm{softmax}(x)_i = \\frac{e^{x_i - m}}{\\sum_j e^{x_j - m}},
              \\quad m = \\max_j x_j

    Subtracting the max is the book's trick (section 3.5.2): the largest
    exponent becomes 0, so ``exp`` never overflows and ``softmax([1010, 1000,
    990])`` is exact where the naive formula gives NaN. Each group sums to 1.
    ``-inf`` entries get probability 0; ``+inf`` entries share all of it; a
    NaN makes its whole group NaN; a group of only ``-inf`` is NaN; a scalar's
    softmax is 1.0 (NaN for -inf or NaN).

    >>> softmax([0.3, 2.9, 4.0])
    array([0.01821127, 0.24519181, 0.73659691])
    >>> print(softmax(7.0))
    1.0
    """
    x = _as_float(x)
    if x.size == 0:
        return _empty_like_groups(x, axis)
    exps = np.exp(_shifted_by_max(np.atleast_1d(x), axis))
    exps /= np.sum(exps, axis=axis, keepdims=True)
    return _like_ufunc(exps.reshape(x.shape))


def log_softmax(x, axis=-1):
    """Logarithm of the softmax along ``axis``, without computing the softmax.

    .. math:: \\log \\mathrm{softmax}(x)_i = (x_i - m) - \\log \\sum_j e^{x_j - m}

    Values <= 0, finite where ``log(softmax(x))`` would give ``-inf`` from
    underflow: ``log_softmax([0, 1000])[0] == -1000``. Edge cases as in
    ``softmax``; a scalar's log-softmax is 0.0 (NaN for -inf or NaN).

    >>> log_softmax([0.0, 1000.0])
    array([-1000.,     0.])
    >>> print(log_softmax(7.0))
    0.0
    """
    x = _as_float(x)
    if x.size == 0:
        return _empty_like_groups(x, axis)
    shifted = _shifted_by_max(np.atleast_1d(x), axis)
    shifted -= np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    return _like_ufunc(shifted.reshape(x.shape))


def tanh(x):
    """Hyperbolic tangent, (e^x - e^-x) / (e^x + e^-x), bounded in [-1, 1].

    .. math:: \\tanh(x) = \\frac{e^x - e^{-x}}{e^x + e^{-x}}

    NumPy's ``np.tanh``: ``tanh(±inf) == ±1`` without overflow.

    >>> tanh([0.0, 1.0])
    array([0.        , 0.76159416])
    >>> print(tanh(float("inf")))
    1.0
    """
    return _like_ufunc(np.tanh(_as_float(x)))


def _inf_times_zero_is_zero(out: np.ndarray, x: np.ndarray, alpha: np.ndarray):
    """Replace by 0 the NaNs that come from ``alpha * x`` being 0 * inf.

    IEEE makes 0 * inf NaN; for ``leaky_relu`` and ``elu`` the value there is
    0: with alpha = 0 the negative side is 0 everywhere, and at x = 0 both
    functions are 0 for every finite alpha. A NaN in ``x`` or ``alpha`` stays.
    """
    nan = np.isnan(out)
    if not nan.any():
        return out
    return np.where(nan & ~np.isnan(x) & ~np.isnan(alpha), 0.0, out)


def leaky_relu(x, alpha=0.01):
    """Leaky ReLU: x where x > 0, else alpha * x (``alpha``, the slope, a number).

    .. math:: f(x) = x \\text{ if } x > 0 \\text{ else } \\alpha x

    For any ``alpha``, without a warning: a product ``alpha * x`` beyond
    float64's range is ``-inf`` (``+inf`` for a negative ``alpha``), the sign
    of the true product (the Excel functions show it as #NUM!). Where the
    product is 0 * inf (``alpha = 0`` and ``x = -inf``, or an infinite
    ``alpha`` and ``x = 0``) the result is 0, the value for every finite
    ``alpha``, not IEEE's NaN. A NaN ``alpha`` gives NaN where ``x <= 0``.

    >>> leaky_relu([-100.0, 2.0])
    array([-1.,  2.])
    >>> print(leaky_relu(-10.0, alpha=1e308))
    -inf
    """
    x, alpha = _as_float(x), _as_float(alpha, "alpha")
    with np.errstate(over="ignore", invalid="ignore"):  # both handled as documented
        out = np.where(x > 0, x, alpha * x)
    return _like_ufunc(_inf_times_zero_is_zero(out, x, alpha))


def elu(x, alpha=1.0):
    """Exponential linear unit: x where x > 0, else alpha * (exp(x) - 1).

    .. math:: \\mathrm{ELU}(x) = x \\text{ if } x > 0
              \\text{ else } \\alpha (e^x - 1)

    ``alpha``, a number, scales the negative side, which tends to -alpha.
    ``expm1`` keeps small negative inputs precise, and only ``min(x, 0)`` is
    exponentiated, so large positive inputs never overflow. As exp(x) - 1 lies
    in [-1, 0), ``elu(-inf) == -alpha`` and the product cannot overflow. An
    infinite ``alpha`` gives ``-inf`` (or ``+inf``) for x < 0 and 0 at x = 0,
    the value for every finite ``alpha``, not IEEE's NaN for inf * 0. A NaN
    ``alpha`` gives NaN where ``x <= 0``. No warnings for any ``alpha``.

    >>> elu([-1.0, 2.0])
    array([-0.63212056,  2.        ])
    >>> print(elu(float("-inf"), alpha=2.0))
    -2.0
    """
    x, alpha = _as_float(x), _as_float(alpha, "alpha")
    with np.errstate(invalid="ignore"):  # inf * 0, handled as documented
        out = np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))
    return _like_ufunc(_inf_times_zero_is_zero(out, x, alpha))


def softplus(x):
    """Softplus, log(1 + exp(x)) >= 0, a smooth ReLU.

    .. math:: \\mathrm{softplus}(x) = \\log(1 + e^x)

    Computed as ``logaddexp(0, x)``, so ``softplus(1000) == 1000`` rather than
    ``inf``, and ``softplus(-30)`` keeps its full precision (9.4e-14).

    >>> softplus([0.0, 1000.0])
    array([6.93147181e-01, 1.00000000e+03])
    >>> print(softplus(-1000))
    0.0
    """
    with np.errstate(invalid="ignore"):  # NaN in gives NaN out, silently
        return _like_ufunc(np.logaddexp(0.0, _as_float(x)))


_erfc = np.frompyfunc(math.erfc, 1, 1)


def gelu(x):
    """Gaussian error linear unit, x * Phi(x), in its exact (erf) form.

    .. math:: \\mathrm{GELU}(x) = x \\, \\Phi(x)
              = \\tfrac{x}{2} \\, \\mathrm{erfc}(-x / \\sqrt{2})

    ``erfc`` rather than ``1 + erf`` keeps the far negative tail precise.
    ``gelu(-inf) == 0``. NumPy has no ``erf``, so this uses ``math.erfc`` per
    element: correct to the last digits, but slower than the other activations.

    >>> gelu([-1.0, 0.0, 1.0])
    array([-0.15865525,  0.        ,  0.84134475])
    >>> print(gelu(float("-inf")))
    0.0
    """
    x = _as_float(x)
    # frompyfunc gives an object array, or a bare float for a 0-d input.
    phi = 0.5 * np.asarray(_erfc(-x / math.sqrt(2.0)), dtype=np.float64)
    with np.errstate(invalid="ignore"):
        out = x * phi
    return _like_ufunc(np.where(np.isneginf(x), 0.0, out))


#: Beyond this |x| the tanh form is x (or 0 for negative x) to the last bit of
#: float64: at 100 the sigmoid below is exp(-71,000) from 1 or 0. Clamping the
#: cubic there keeps x**3, which overflows past 5.6e102, in range.
GELU_TANH_CLAMP = 100.0


def gelu_tanh(x):
    """GELU in its tanh approximation, as PyTorch's ``GELU(approximate="tanh")``.

    .. math:: \\mathrm{GELU_{tanh}}(x) = \\tfrac{x}{2} \\left(1 + \\tanh\\left(
              \\sqrt{2/\\pi} \\, (x + 0.044715 x^3)\\right)\\right)
              = x \\, \\sigma\\left(\\sqrt{8/\\pi} \\, (x + 0.044715 x^3)\\right)

    Also ONNX's ``Gelu`` with ``approximate="tanh"`` and Keras'
    ``gelu(approximate=True)``. Computed in the sigmoid form, as
    ``x * n / (1 + e)`` with ``e = exp(-sqrt(8/pi) (a + 0.044715 a^3))``,
    ``a = min(|x|, 100)`` and ``n`` 1 for x >= 0, else ``e``: only exp of a
    negative number is taken, and ``1 + tanh`` never cancels for negative x.
    The cubic of ``a`` cannot overflow; for |x| > 100 the result is ``x``, or
    -0.0 for negative x (the true value underflows), without a warning.
    ``gelu_tanh(inf) == inf``, ``gelu_tanh(-inf) == 0``.

    >>> gelu_tanh([-1.0, 0.0, 1.0])
    array([-0.15880801,  0.        ,  0.84119199])
    >>> print(gelu_tanh(1e300), gelu_tanh(float("-inf")))
    1e+300 0.0
    """
    x = _as_float(x)
    a = np.minimum(np.abs(x), GELU_TANH_CLAMP)  # NaN stays NaN
    with np.errstate(under="ignore", invalid="ignore"):  # exp(-71,000) is 0
        e = np.exp(-math.sqrt(8.0 / math.pi) * (a + 0.044715 * a**3))
        out = x * np.where(x >= 0, 1.0, e) / (1.0 + e)
    return _like_ufunc(np.where(np.isneginf(x), 0.0, out))


def silu(x):
    """Sigmoid linear unit (swish), x * sigmoid(x).

    .. math:: \\mathrm{SiLU}(x) = x \\, \\sigma(x) = \\frac{x}{1 + e^{-x}}

    ``silu(-inf) == 0``, its limit, instead of ``-inf * 0``.

    >>> silu([-1.0, 0.0, 1.0])
    array([-0.26894142,  0.        ,  0.73105858])
    >>> print(silu(float("-inf")))
    0.0
    """
    x = _as_float(x)
    with np.errstate(invalid="ignore"):
        out = x * _blockwise(_sigmoid_block, x)
    return _like_ufunc(np.where(np.isneginf(x), 0.0, out))


def hard_sigmoid(x):
    """Hard sigmoid, max(0, min(1, x / 6 + 1/2)): a piecewise-linear sigmoid.

    .. math:: \\mathrm{hard\\_sigmoid}(x) = \\max(0, \\min(1, x / 6 + 1/2))

    PyTorch's ``Hardsigmoid`` and Keras 3's ``hard_sigmoid``: 0 for x <= -3,
    1 for x >= 3, a straight line between. ONNX's ``HardSigmoid`` with other
    slopes (alpha) and offsets (beta) is this of ``6 (alpha x + beta - 1/2)``.
    ``hard_sigmoid(-inf) == 0``, ``hard_sigmoid(inf) == 1``.

    >>> hard_sigmoid([-4.0, 0.0, 1.5, 3.0])
    array([0.  , 0.5 , 0.75, 1.  ])
    >>> print(hard_sigmoid(float("inf")))
    1.0
    """
    # np.clip keeps NaN; min/max of inf are the limits 0 and 1.
    return _like_ufunc(np.clip(_as_float(x) / 6.0 + 0.5, 0.0, 1.0))


# The book's names (its common/functions.py), so that chapter 3's code runs
# with ``from xlnn.activations import *`` in place of ``from common.functions
# import *``. The same functions, not copies: the book's step_function returns
# ints, this one float64 like every function here.
step_function = step
identity_function = identity
