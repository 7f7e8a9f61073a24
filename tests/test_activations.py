"""xlnn.activations: the book's figures, scipy agreement, stability, properties.

Reference numbers are literals. Those marked "book" come from chapter 3 of
"Deep Learning from Scratch" (Koki Saitoh), float64 as printed by NumPy; scipy
values are computed at test time by scipy.special, an independent
implementation.
"""

from __future__ import annotations

import math
import warnings
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import pytest
import scipy.special
from covering import each_once
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from xlnn import activations

ELEMENTWISE = [
    activations.step,
    activations.sigmoid,
    activations.relu,
    activations.identity,
    activations.tanh,
    activations.leaky_relu,
    activations.elu,
    activations.softplus,
    activations.gelu,
    activations.gelu_tanh,
    activations.silu,
    activations.hard_sigmoid,
]
GROUPED = [activations.softmax, activations.log_softmax]
ALL = ELEMENTWISE + GROUPED

# Every finite float64, from -max to max, subnormals included.
FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)
# Finite floats whose pairwise differences are still finite (|x| <= max/2).
_HALF_MAX = float(np.finfo(np.float64).max) / 2.0
HALF_RANGE = st.floats(min_value=-_HALF_MAX, max_value=_HALF_MAX)


# The Hypothesis tests below turn only RuntimeWarning (NumPy's floating-point
# warnings) into errors, not every warning: when such a test fails, Hypothesis
# imports libcst to report it, which emits a DeprecationWarning; under a plain
# "error" filter that becomes a pytest INTERNALERROR hiding the failing example.


def assert_close(actual, expected, rtol, atol, err_msg=""):
    """``np.testing.assert_allclose``, without its 0.2 ms when the values agree.

    The same test, ``|actual - expected| <= atol + rtol * |expected|`` for each
    value and the same shape; only when it does not hold, or meets an inf or a
    NaN, does ``assert_allclose`` run, to decide and to report. The Hypothesis
    tests below make it thousands of times a run.
    """
    actual, expected = np.asarray(actual), np.asarray(expected)
    agree = expected.ndim == 0 or actual.shape == expected.shape
    if agree:
        # an inf or a NaN anywhere makes error inf or NaN: assert_allclose decides
        with np.errstate(all="ignore"):
            error = np.abs(actual - expected)
            within = error <= atol + rtol * np.abs(expected)
        agree = (np.isfinite(error) & within).all()
    if not agree:
        np.testing.assert_allclose(
            actual, expected, rtol=rtol, atol=atol, err_msg=err_msg
        )


def _ids(functions):
    return [f.__name__ for f in functions]


def strict_fp():
    """Overflow, invalid and divide-by-zero raise FloatingPointError."""
    return np.errstate(over="raise", invalid="raise", divide="raise")


def test_every_public_function_is_tested_here():
    # the book's second names (step_function) are the same objects
    functions = {getattr(activations, name) for name in activations.__all__}
    assert functions == set(ALL)


# --- The book's figures ------------------------------------------------------


def test_sigmoid_book_figures_exactly():
    # book, ch. 3 (sigmoid): sigmoid(np.array([-1.0, 1.0, 2.0])). Compared with
    # ==: these are the float64 values of 1 / (1 + exp(-x)) itself.
    result = activations.sigmoid(np.array([-1.0, 1.0, 2.0]))
    assert result.tolist() == [
        0.2689414213699951,
        0.7310585786300049,
        0.8807970779778823,
    ]


@pytest.mark.parametrize(
    ("a", "expected"),
    [
        # book, ch. 3 (softmax example): a = [0.3, 2.9, 4.0]
        (
            [0.3, 2.9, 4.0],
            [0.018211273295547531, 0.24519181293507392, 0.73659691376937864],
        ),
        # book, ch. 3 (softmax overflow): the naive formula gives NaN here
        (
            [1010.0, 1000.0, 990.0],
            [0.99995460007033099, 4.5397868608866663e-05, 2.0610600462090622e-09],
        ),
    ],
)
@pytest.mark.filterwarnings("error")
def test_softmax_book_figures(a, expected):
    # Relative 1e-15 (about 4 ulp), not ==: the result is divided by a sum whose
    # last bit may depend on summation order, which is not part of the contract.
    with strict_fp():
        result = activations.softmax(np.array(a))
    assert result.tolist() == pytest.approx(expected, rel=1e-15, abs=0)
    assert float(result.sum()) == pytest.approx(1.0, rel=1e-15, abs=0)


def test_three_layer_network_forward_pass_book_3_4_3():
    # book, section 3.4.3: init_network() and forward(); figures in float64.
    x = np.array([1.0, 0.5])
    w1 = np.array([[0.1, 0.3, 0.5], [0.2, 0.4, 0.6]])
    b1 = np.array([0.1, 0.2, 0.3])
    w2 = np.array([[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]])
    b2 = np.array([0.1, 0.2])
    w3 = np.array([[0.1, 0.3], [0.2, 0.4]])
    b3 = np.array([0.1, 0.2])

    a1 = np.dot(x, w1) + b1
    z1 = activations.sigmoid(a1)
    a2 = np.dot(z1, w2) + b2
    z2 = activations.sigmoid(a2)
    a3 = np.dot(z2, w3) + b3
    y = activations.identity(a3)

    def close(value, expected):
        assert value.tolist() == pytest.approx(expected, rel=1e-15, abs=0)

    close(a1, [0.30000000000000004, 0.69999999999999996, 1.1000000000000001])
    close(z1, [0.57444251681165903, 0.66818777216816616, 0.75026010559511769])
    close(a2, [0.51615983779333441, 1.2140269561658172])
    close(z2, [0.62624937039907291, 0.7710106968556123])
    # the book prints [0.31682708 0.69627909]
    close(y, [0.31682707641102981, 0.69627908986196685])


def test_step_at_zero_is_zero():
    # book, ch. 3 (step function): 1 where x > 0, else 0, so step(0) = 0.
    assert activations.step(np.array([0.0, -0.0])).tolist() == [0.0, 0.0]
    assert activations.step(np.array([-1.0, 2.0])).tolist() == [0.0, 1.0]


def test_relu_of_negative_zero_is_negative_zero():
    # book, ch. 3 (ReLU): np.maximum(0, x), and relu(-0.0) = -0.0 in NumPy.
    result = activations.relu(np.array([-0.0]))
    assert result[0] == 0.0
    assert np.signbit(result[0])


def test_identity_returns_a_new_float_array():
    x = np.array([1, 2])
    result = activations.identity(x)
    assert result.dtype == np.float64
    assert result.tolist() == [1.0, 2.0]
    assert result is not x


# --- Agreement with scipy.special -------------------------------------------

_RNG = np.random.default_rng(20240601)
_WIDE = np.concatenate(
    [
        _RNG.normal(0.0, 5.0, 2000),
        _RNG.uniform(-750.0, 750.0, 2000),
        np.linspace(-40.0, 40.0, 801),
        [0.0, -0.0, 1e-300, -1e-300, 5e-324, 1e308, -1e308],
    ]
)


def test_sigmoid_agrees_with_scipy_expit():
    # relative 1e-15 for normal results; below 1e-300 the results are subnormal
    # and only absolute agreement (to 1e-307) is meaningful.
    expected = scipy.special.expit(_WIDE)
    np.testing.assert_allclose(
        activations.sigmoid(_WIDE), expected, rtol=1e-15, atol=1e-307
    )


@pytest.mark.parametrize("axis", [-1, 0, 1, None])
def test_softmax_agrees_with_scipy(axis):
    x = _RNG.normal(0.0, 10.0, (40, 7))
    expected = scipy.special.softmax(x, axis=axis)
    np.testing.assert_allclose(
        activations.softmax(x, axis=axis), expected, rtol=1e-15, atol=0
    )


@pytest.mark.parametrize("axis", [-1, 0, 1, None])
def test_log_softmax_agrees_with_scipy(axis):
    x = _RNG.normal(0.0, 10.0, (40, 7))
    expected = scipy.special.log_softmax(x, axis=axis)
    np.testing.assert_allclose(
        activations.log_softmax(x, axis=axis), expected, rtol=1e-14, atol=1e-14
    )


def test_softmax_default_axis_is_last():
    x = _RNG.normal(0.0, 3.0, (5, 4))
    np.testing.assert_allclose(
        activations.softmax(x), scipy.special.softmax(x, axis=-1), rtol=1e-15, atol=0
    )
    np.testing.assert_allclose(
        activations.softmax(x).sum(axis=1), np.ones(5), rtol=1e-15
    )


def test_gelu_agrees_with_erf_form():
    # GELU(x) = x/2 (1 + erf(x/sqrt 2)) with scipy.special.erf. 1 + erf loses
    # digits by cancellation for x < -3, so the comparison stops there.
    x = np.concatenate([np.linspace(-3.0, 50.0, 5301), [1e3, 1e10, 1e300]])
    expected = 0.5 * x * (1.0 + scipy.special.erf(x / np.sqrt(2.0)))
    np.testing.assert_allclose(activations.gelu(x), expected, rtol=1e-13, atol=0)


def test_gelu_far_negative_tail_is_tiny_negative_not_zero_or_nan():
    # erfc keeps the tail: x * Phi(x) is tiny but not 0 for x = -20, -30.
    with strict_fp():
        result = activations.gelu(np.array([-10.0, -20.0, -30.0]))
    assert np.all(result < 0)
    assert np.all(np.abs(result) < 1e-20)
    assert np.all(np.diff(np.abs(result)) < 0)


def _gelu_tanh_by_math_tanh(x: float) -> float:
    # The textbook form, as PyTorch's docs write GELU(approximate="tanh").
    u = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)
    return 0.5 * x * (1.0 + math.tanh(u))


def test_gelu_tanh_agrees_with_math_tanh_at_moderate_x():
    # 1 + tanh(u) loses digits by cancellation for negative x, so the
    # textbook form is a fair reference only on [-3, 10].
    x = np.linspace(-3.0, 10.0, 1301)
    expected = [_gelu_tanh_by_math_tanh(v) for v in x]
    np.testing.assert_allclose(activations.gelu_tanh(x), expected, rtol=1e-13, atol=0)


# pi to 50 decimals (OEIS A000796).
_PI = Decimal("3.14159265358979323846264338327950288419716939937510")


def _gelu_tanh_in_decimal(x: float) -> float:
    # 50 digits, correctly rounded exp; 1 + tanh(u) = 2 exp(2u) / (exp(2u) + 1)
    # keeps the far negative tail, where the float64 textbook form cancels.
    with localcontext() as context:
        context.prec = 50
        d = Decimal(x)
        c = (2 / _PI).sqrt()
        u = c * (d + Decimal("0.044715") * d**3)
        e = (2 * u).exp()
        return float(d * e / (e + 1))


def test_gelu_tanh_agrees_with_decimal_down_the_negative_tail():
    x = np.concatenate([np.linspace(-25.0, 25.0, 501), [-9.5, -0.1, 1e-8, -1e-8]])
    expected = [_gelu_tanh_in_decimal(float(v)) for v in x]
    # rtol: exp(-v) for v up to 745 has a relative error of about v * 2**-52
    # from v's rounding alone (1.7e-13); atol: below about x = -21 the result
    # is subnormal, with fewer digits.
    np.testing.assert_allclose(
        activations.gelu_tanh(x), expected, rtol=5e-13, atol=1e-300
    )


def test_gelu_tanh_is_close_to_exact_gelu():
    # The approximation's own error, measured here: at most about 4.7e-4,
    # near |x| = 2. A wrong constant (say 0.04715) would break this.
    x = np.linspace(-8.0, 8.0, 16001)
    difference = np.abs(activations.gelu_tanh(x) - activations.gelu(x))
    assert 1e-4 < difference.max() < 5e-4


def test_gelu_tanh_beyond_the_clamp_is_x_or_zero():
    with strict_fp():
        x = np.array([99.0, 100.0, 101.0, 1e102, 1e103, 1e308, -101.0, -1e103, -1e308])
        result = activations.gelu_tanh(x)
    assert result[:6].tolist() == x[:6].tolist()
    assert result[6:].tolist() == [0.0, 0.0, 0.0]


def test_softplus_agrees_with_log1p_exp():
    # independent reference: math.log1p(math.exp(x)), exact enough for |x| <= 700
    x = np.linspace(-700.0, 700.0, 2801)
    expected = np.array([math.log1p(math.exp(v)) for v in x])
    np.testing.assert_allclose(activations.softplus(x), expected, rtol=1e-15, atol=0)


def test_silu_is_x_times_expit():
    x = np.linspace(-700.0, 700.0, 2801)
    expected = x * scipy.special.expit(x)
    np.testing.assert_allclose(activations.silu(x), expected, rtol=1e-15, atol=1e-307)


def test_elu_and_leaky_relu_by_definition():
    x = np.array([-5.0, -1.0, -1e-10, 0.0, 1e-10, 3.0])
    np.testing.assert_allclose(
        activations.elu(x), np.where(x > 0, x, np.expm1(x)), rtol=1e-15, atol=0
    )
    np.testing.assert_allclose(
        activations.elu(x, alpha=2.0), np.where(x > 0, x, 2.0 * np.expm1(x)), rtol=1e-15
    )
    assert activations.leaky_relu(x).tolist() == [-0.05, -0.01, -1e-12, 0.0, 1e-10, 3.0]
    assert activations.leaky_relu(x, 0.5).tolist() == [
        -2.5,
        -0.5,
        -5e-11,
        0.0,
        1e-10,
        3.0,
    ]


def test_hard_sigmoid_by_definition():
    # PyTorch's torch.nn.Hardsigmoid docs: 0 if x <= -3, 1 if x >= 3,
    # else x / 6 + 1 / 2.
    x = np.array([-1e308, -3.0, -1.5, 0.0, 0.6, 3.0, 7.0])
    assert activations.hard_sigmoid(x).tolist() == [0.0, 0.0, 0.25, 0.5, 0.6, 1.0, 1.0]


def test_tanh_matches_math_tanh():
    x = np.linspace(-30.0, 30.0, 601)
    np.testing.assert_allclose(
        activations.tanh(x), [math.tanh(v) for v in x], rtol=1e-15, atol=0
    )


# --- Numerical stability: no warnings, no overflow --------------------------

# (function, input, expected): the limits at the ends of float64.
_EXTREMES = [
    (activations.sigmoid, -1000.0, 0.0),
    (activations.sigmoid, 1e308, 1.0),
    (activations.sigmoid, -1e308, 0.0),
    (activations.sigmoid, math.inf, 1.0),
    (activations.sigmoid, -math.inf, 0.0),
    (activations.step, math.inf, 1.0),
    (activations.step, -math.inf, 0.0),
    (activations.relu, -math.inf, 0.0),
    (activations.relu, math.inf, math.inf),
    (activations.tanh, 1e308, 1.0),
    (activations.tanh, -math.inf, -1.0),
    (activations.leaky_relu, -1e308, -1e306),
    (activations.leaky_relu, -math.inf, -math.inf),
    (activations.softplus, 1000.0, 1000.0),
    (activations.softplus, 1e308, 1e308),
    (activations.softplus, -1e308, 0.0),
    (activations.softplus, math.inf, math.inf),
    (activations.softplus, -math.inf, 0.0),
    (activations.silu, math.inf, math.inf),
    (activations.silu, -math.inf, 0.0),
    (activations.silu, 1e308, 1e308),
    (activations.silu, -1e308, 0.0),
    (activations.gelu, math.inf, math.inf),
    (activations.gelu, -math.inf, 0.0),
    (activations.gelu, 1e308, 1e308),
    (activations.gelu, -1e308, 0.0),
    (activations.elu, math.inf, math.inf),
    (activations.elu, -math.inf, -1.0),
    (activations.elu, 1e308, 1e308),
    (activations.elu, -1e308, -1.0),
    (activations.gelu_tanh, math.inf, math.inf),
    (activations.gelu_tanh, -math.inf, 0.0),
    (activations.gelu_tanh, 1e308, 1e308),
    (activations.gelu_tanh, -1e308, 0.0),
    (activations.gelu_tanh, 6e102, 6e102),  # x**3 would overflow
    (activations.gelu_tanh, -6e102, 0.0),
    (activations.hard_sigmoid, math.inf, 1.0),
    (activations.hard_sigmoid, -math.inf, 0.0),
    (activations.hard_sigmoid, 1e308, 1.0),
]


@pytest.mark.parametrize(
    ("function", "x", "expected"),
    _EXTREMES,
    ids=[f"{f.__name__}({x})" for f, x, _ in _EXTREMES],
)
@pytest.mark.filterwarnings("error")
def test_limits_without_warnings(function, x, expected):
    with strict_fp():
        result = function(np.array([x, 0.5]))
    assert result[0] == expected
    assert result[1] == function(np.array([0.5]))[0]


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        # book, ch. 3 (softmax overflow)
        (
            [1010.0, 1000.0, 990.0],
            [0.99995460007033099, 4.5397868608866663e-05, 2.0610600462090622e-09],
        ),
        ([math.inf, 0.0], [1.0, 0.0]),
        ([math.inf, math.inf, 0.0], [0.5, 0.5, 0.0]),
        ([-math.inf, 0.0, -math.inf], [0.0, 1.0, 0.0]),
        ([1e308, 1e308], [0.5, 0.5]),
        ([-1e308, -1e308, -1e308, -1e308], [0.25, 0.25, 0.25, 0.25]),
    ],
)
@pytest.mark.filterwarnings("error")
def test_softmax_extremes_without_warnings(x, expected):
    with strict_fp():
        result = activations.softmax(np.array(x))
    assert result.tolist() == pytest.approx(expected, rel=1e-15, abs=0)


@pytest.mark.filterwarnings("error")
def test_softmax_group_of_only_minus_inf_is_nan():
    # documented: a group of only -inf has no softmax
    with strict_fp():
        result = activations.softmax(np.array([[-math.inf, -math.inf], [0.0, 0.0]]))
    assert np.isnan(result[0]).all()
    assert result[1].tolist() == [0.5, 0.5]


@pytest.mark.filterwarnings("error")
def test_log_softmax_stays_finite_where_softmax_underflows():
    with strict_fp():
        result = activations.log_softmax(np.array([0.0, 1000.0]))
        underflowed = activations.softmax(np.array([0.0, 1000.0]))
    assert result.tolist() == [-1000.0, 0.0]
    assert underflowed.tolist() == [0.0, 1.0]  # so log(softmax) would be -inf


@pytest.mark.filterwarnings("error")
def test_log_softmax_of_infinities_without_warnings():
    with strict_fp():
        result = activations.log_softmax(np.array([math.inf, math.inf, 0.0]))
    assert result[:2].tolist() == pytest.approx([-math.log(2.0)] * 2, rel=1e-15)
    assert result[2] == -math.inf


@pytest.mark.filterwarnings("error")
def test_softmax_whose_spread_exceeds_float64_is_still_right_without_warnings():
    # The difference 1e308 - (-1e308) is not a float64; the answer is the limit,
    # reached without an overflow.
    with strict_fp():
        result = activations.softmax(np.array([1e308, -1e308]))
        logs = activations.log_softmax(np.array([1e308, -1e308]))
    assert result.tolist() == [1.0, 0.0]
    assert logs.tolist() == [0.0, -math.inf]


# --- NaN in, NaN out ---------------------------------------------------------


@pytest.mark.parametrize("function", ELEMENTWISE, ids=_ids(ELEMENTWISE))
def test_nan_gives_nan_elementwise(function):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # warnings: next test
        result = function(np.array([np.nan, 1.0, np.nan]))
    assert np.isnan(result[0]) and np.isnan(result[2])
    assert result[1] == function(np.array([1.0]))[0]


@pytest.mark.parametrize("function", ELEMENTWISE, ids=_ids(ELEMENTWISE))
@pytest.mark.filterwarnings("error")
def test_nan_gives_no_warning_elementwise(function):
    with strict_fp():
        result = function(np.array([np.nan]))
    assert np.isnan(result[0])


@pytest.mark.parametrize("function", GROUPED, ids=_ids(GROUPED))
@pytest.mark.filterwarnings("error")
def test_nan_fills_only_its_group(function):
    x = np.array([[np.nan, 1.0, 2.0], [0.0, 1.0, 2.0]])
    with strict_fp():
        by_rows = function(x, axis=-1)
        by_columns = function(x, axis=0)
        whole = function(x, axis=None)
        one_d = function(np.array([3.0, np.nan]))
    assert np.isnan(by_rows[0]).all()
    assert by_rows[1].tolist() == function(np.array([0.0, 1.0, 2.0])).tolist()
    assert np.isnan(by_columns[:, 0]).all()
    assert not np.isnan(by_columns[:, 1:]).any()
    assert np.isnan(whole).all()
    assert np.isnan(one_d).all()


@pytest.mark.parametrize("function", GROUPED, ids=_ids(GROUPED))
@pytest.mark.filterwarnings("error")
def test_nan_with_plus_inf_in_group_is_nan(function):
    with strict_fp():
        result = function(np.array([math.inf, np.nan, 0.0]))
    assert np.isnan(result).all()


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)], ids=["0-d", "1-d", "2-d"])
@pytest.mark.parametrize(
    "function",
    [pytest.param(f, id=f.__name__) for f in ALL],
)
def test_shape_and_dtype_are_kept(function, shape):
    x = np.full(shape, 0.25)
    result = function(x)
    assert np.shape(result) == shape
    assert np.asarray(result).dtype == np.float64
    if function in ELEMENTWISE:
        assert np.asarray(result).ravel()[0] == function(np.array([0.25]))[0]


@pytest.mark.parametrize("function", ALL, ids=_ids(ALL))
def test_plain_lists_and_python_floats_are_accepted(function):
    assert np.asarray(function([0.25, -1.5])).shape == (2,)
    assert float(function(0.25)) == function(np.array([0.25]))[0]


# --- What comes back, as with NumPy's ufuncs --------------------------------

_SCALARS = [0.25, 3, True, np.float32(0.25), np.int8(-2), np.array(0.25)]


# Every function and every kind of scalar once, not every pair: _as_float makes
# each kind a 0-d float64 array before any function sees it.
@pytest.mark.parametrize(
    ("function", "x"),
    [pytest.param(f, x, id=f"{f.__name__}-{x!r}") for f, x in each_once(ALL, _SCALARS)],
)
def test_scalar_in_gives_numpy_float64_like_a_ufunc(function, x):
    # The reference is what a NumPy ufunc returns for the same input.
    assert type(np.exp(np.asarray(x, dtype=np.float64))) is np.float64
    result = function(x)
    assert type(result) is np.float64
    if function in ELEMENTWISE:
        assert result == function(np.array([x], dtype=np.float64))[0]


@pytest.mark.parametrize(
    "x", [[0.25], [[0.25, -1.0]], np.zeros((2, 0, 3))], ids=["list", "nested", "0x"]
)
@pytest.mark.parametrize("function", ALL, ids=_ids(ALL))
def test_array_like_in_gives_float64_ndarray(function, x):
    result = function(x)
    assert type(result) is np.ndarray
    assert result.dtype == np.float64
    assert result.shape == np.shape(x)


@pytest.mark.parametrize("function", GROUPED, ids=_ids(GROUPED))
def test_softmax_of_a_scalar_is_a_group_of_one(function):
    # documented: a scalar is a group of one, so softmax 1 and log-softmax 0
    expected = 1.0 if function is activations.softmax else 0.0
    for x in (7.0, -1e308, math.inf, np.array(-3.0)):
        assert function(x) == expected
        assert function(x, axis=None) == expected
    assert np.isnan(function(-math.inf))
    assert np.isnan(function(math.nan))


def test_float32_is_computed_in_float64():
    # documented: the computation is float64. exp(-100) is about 3.7e-44, a
    # float32 subnormal with only a few significant bits, and normal in float64.
    x32 = np.float32(-100.0)
    result = activations.sigmoid(x32)
    assert result.dtype == np.float64
    expected = scipy.special.expit(np.float64(-100.0))
    assert result == pytest.approx(expected, rel=1e-15, abs=0)
    # scipy keeps float32, and so loses the digits that float64 keeps:
    assert scipy.special.expit(x32).dtype == np.float32
    assert float(scipy.special.expit(x32)) != pytest.approx(expected, rel=1e-3, abs=0)
    batch = np.array([[-100.0, 0.5], [3.0, -2.5]], dtype=np.float32)
    for function in ALL:
        got = function(batch)
        assert got.dtype == np.float64, function.__name__
        assert got.tolist() == function(batch.astype(np.float64)).tolist()


def test_ints_and_bools_are_numbers():
    assert activations.sigmoid([True, False]).tolist() == [
        activations.sigmoid(1.0),
        0.5,
    ]
    small = np.array([-2, 3], dtype=np.int8)
    assert activations.relu(small).tolist() == [0.0, 3.0]
    assert activations.relu(small).dtype == np.float64
    assert activations.identity(np.array([2**53 + 1], dtype=np.uint64))[0] == 2.0**53


def test_object_arrays_of_numbers_are_accepted():
    mixed = np.array([1, 0.5, True, np.float32(2.0), Fraction(1, 4)], dtype=object)
    assert activations.identity(mixed).tolist() == [1.0, 0.5, 1.0, 2.0, 0.25]
    assert activations.identity([Decimal("1.5")]).tolist() == [1.5]


def test_long_double_is_rounded_to_float64_first():
    x = np.longdouble(1.0) + np.longdouble(2.0) ** -60  # 1.0 once in float64
    assert activations.identity(x) == 1.0
    assert type(activations.identity(x)) is np.float64


# --- Text and other non-numbers raise TypeError -----------------------------

_TEXT = {
    "str": "1.5",
    "numpy str": np.str_("1.5"),
    "bytes": b"1.5",
    "list with str": [1.0, "2"],
    "list with bytes": [b"1", 2.0],
    "nested list with str": [[1.0], ["x"]],
    "str array": np.array(["1.5", "2"]),
    "bytes array": np.array([b"1.5"]),
    "object array with str": np.array([1.0, "2"], dtype=object),
    "0-d object array with str": np.array("1.5", dtype=object),
    "empty str array": np.array([], dtype=str),
}


# Every function and every kind of text once, not every pair: each function
# passes x to the same _as_float first, and each kind is one of its branches.
@pytest.mark.parametrize(
    ("function", "x"),
    [
        pytest.param(f, _TEXT[kind], id=f"{f.__name__}-{kind}")
        for f, kind in each_once(ALL, list(_TEXT))
    ],
)
def test_text_raises_type_error(function, x):
    with pytest.raises(TypeError, match=r"^x must hold numbers .*not text"):
        function(x)


_NOT_NUMBERS = {
    "None": None,
    "list with None": [1.0, None],
    "complex": 1j,
    "complex array": np.array([1.0 + 2.0j]),
    "object array with complex": np.array([1.0, np.complex128(1j)], dtype=object),
    "datetime64": np.datetime64("2024-01-01"),
    "object array with dict": np.array([{}], dtype=object),
}


# As for text: every function and every kind once, through the same _as_float.
@pytest.mark.parametrize(
    ("function", "x"),
    [
        pytest.param(f, _NOT_NUMBERS[kind], id=f"{f.__name__}-{kind}")
        for f, kind in each_once(ALL, list(_NOT_NUMBERS))
    ],
)
def test_other_non_numbers_raise_type_error(function, x):
    with pytest.raises(TypeError, match=r"^x must hold numbers \(bool, int or float\)"):
        function(x)


def test_type_error_names_the_text():
    with pytest.raises(TypeError, match=r"not text: '1\.5'$"):
        activations.sigmoid("1.5")
    with pytest.raises(TypeError, match=r"not text: 'oops'$"):
        activations.sigmoid(np.array([2.0, "oops"], dtype=object))
    with pytest.raises(TypeError, match=r"not text \(NumPy dtype <U"):
        activations.sigmoid(["1.5", "2"])


@pytest.mark.parametrize("function", [activations.leaky_relu, activations.elu])
def test_text_alpha_raises_type_error(function):
    with pytest.raises(TypeError, match=r"^alpha must hold numbers .*not text"):
        function([1.0, -1.0], alpha="0.1")


# --- Empty input ---------------------------------------------------------------


@pytest.mark.parametrize("axis", [-1, 0, None])
@pytest.mark.parametrize("shape", [(0,), (0, 3), (3, 0), (2, 0, 4)])
@pytest.mark.parametrize("function", GROUPED, ids=_ids(GROUPED))
@pytest.mark.filterwarnings("error")
def test_grouped_of_empty_is_empty_without_warnings(function, shape, axis):
    with strict_fp():
        result = function(np.zeros(shape), axis=axis)
    assert type(result) is np.ndarray
    assert result.shape == shape
    assert result.dtype == np.float64


@pytest.mark.parametrize("function", GROUPED, ids=_ids(GROUPED))
@pytest.mark.filterwarnings("error")
def test_grouped_of_empty_list_is_empty_float64_array(function):
    with strict_fp():
        result = function([])
    assert (type(result), result.shape, result.dtype) == (np.ndarray, (0,), np.float64)


@pytest.mark.parametrize("function", GROUPED, ids=_ids(GROUPED))
def test_grouped_of_empty_still_rejects_a_missing_axis(function):
    with pytest.raises(ValueError, match="axis"):
        function(np.zeros((0, 3)), axis=2)


@pytest.mark.parametrize("function", ELEMENTWISE, ids=_ids(ELEMENTWISE))
@pytest.mark.filterwarnings("error")
def test_elementwise_of_empty_is_empty_without_warnings(function):
    with strict_fp():
        result = function([])
    assert (type(result), result.shape, result.dtype) == (np.ndarray, (0,), np.float64)


# --- alpha: no warnings for any value ---------------------------------------

_ALPHA_CASES = [
    # (function, x, alpha, expected), from the documented decisions
    (activations.leaky_relu, -10.0, 1e308, -math.inf),  # product overflows
    (activations.leaky_relu, -10.0, -1e308, math.inf),
    (activations.leaky_relu, -1e308, 1e308, -math.inf),
    (activations.leaky_relu, 1e308, 10.0, 1e308),  # positive side: x itself
    (activations.leaky_relu, -1.0, math.inf, -math.inf),
    (activations.leaky_relu, 0.0, math.inf, 0.0),  # not inf * 0 = NaN
    (activations.leaky_relu, -0.0, -math.inf, 0.0),
    (activations.leaky_relu, -math.inf, 0.0, 0.0),  # alpha 0 is ReLU
    (activations.leaky_relu, math.inf, math.inf, math.inf),
    (activations.leaky_relu, -1.0, math.nan, math.nan),
    (activations.leaky_relu, 1.0, math.nan, 1.0),
    (activations.elu, -1.0, math.inf, -math.inf),
    (activations.elu, 0.0, math.inf, 0.0),  # not inf * 0 = NaN
    (activations.elu, -0.0, -math.inf, 0.0),
    (activations.elu, -math.inf, math.inf, -math.inf),
    (activations.elu, -math.inf, 1e308, -1e308),
    (activations.elu, -math.inf, 0.0, 0.0),
    (activations.elu, 1e308, math.inf, 1e308),
    (activations.elu, -1.0, math.nan, math.nan),
    (activations.elu, 1.0, math.nan, 1.0),
]


@pytest.mark.parametrize(
    ("function", "x", "alpha", "expected"),
    _ALPHA_CASES,
    ids=[f"{f.__name__}({x},alpha={a})" for f, x, a, _ in _ALPHA_CASES],
)
@pytest.mark.filterwarnings("error")
def test_alpha_extremes_without_warnings(function, x, alpha, expected):
    with strict_fp():
        result = function(np.array([x, 2.0]), alpha=alpha)
        scalar = function(x, alpha=alpha)
    assert result[1] == 2.0
    for got in (result[0], scalar):
        assert got == expected or (math.isnan(got) and math.isnan(expected))


_ANY_ALPHA = st.floats(allow_nan=False, width=64)
_ANY_X = hnp.arrays(
    np.float64, st.integers(1, 20), elements=st.floats(allow_nan=False, width=64)
)


@given(_ANY_X, _ANY_ALPHA)
@settings(max_examples=3 * settings.default.max_examples, deadline=None)
@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_leaky_relu_and_elu_any_alpha_without_warnings_or_nan(x, alpha):
    with strict_fp():
        leaky = activations.leaky_relu(x, alpha=alpha)
        exponential = activations.elu(x, alpha=alpha)
    assert not np.isnan(leaky).any()
    assert not np.isnan(exponential).any()
    # The positive side is x itself, whatever alpha is.
    positive = x > 0
    assert (leaky[positive] == x[positive]).all()
    assert (exponential[positive] == x[positive]).all()
    # Elsewhere, the product alpha * x as Python floats give it (an overflow is
    # +-inf there too), except 0 * inf, documented as 0.
    expected = [alpha * v if alpha != 0 and v != 0 else 0.0 for v in x.tolist()]
    assert leaky[~positive].tolist() == [
        e for e, p in zip(expected, positive.tolist(), strict=True) if not p
    ]
    # ELU's: alpha * expm1(x) by math.expm1, with the same 0 * inf rule.
    negative = x[~positive].tolist()
    expected = [
        alpha * math.expm1(v) if alpha != 0 and v != 0 else 0.0 for v in negative
    ]
    assert_close(exponential[~positive], expected, rtol=1e-15, atol=0)


# --- Properties over all finite float64 -------------------------------------


def _softplus_by_math(v: float) -> float:
    # log(1 + e^v), written so that exp never overflows: v + log(1 + e^-v) for v > 0
    return v + math.log1p(math.exp(-v)) if v > 0 else math.log1p(math.exp(v))


def _references(x: np.ndarray) -> dict:
    """Each elementwise function's value at ``x`` by an independent route, with
    (rtol, atol): scipy.special where it has the function, else the definition.
    The tolerances allow a few ulp (subnormal results: only absolute ones);
    the tests above hold each function to its own tighter bound.
    """
    listed = x.tolist()
    return {
        # book, ch. 3: step is 1 where x > 0, else 0; ReLU is max(0, x)
        activations.step: ((x > 0).astype(float), 0, 0),
        activations.relu: (np.maximum(0.0, x), 0, 0),
        activations.identity: (x, 0, 0),
        activations.sigmoid: (scipy.special.expit(x), 4e-15, 1e-307),
        activations.tanh: ([math.tanh(v) for v in listed], 1e-15, 0),
        activations.leaky_relu: (np.where(x > 0, x, 0.01 * x), 0, 0),
        activations.elu: ([v if v > 0 else math.expm1(v) for v in listed], 1e-15, 0),
        activations.softplus: ([_softplus_by_math(v) for v in listed], 1e-15, 1e-307),
        activations.silu: (x * scipy.special.expit(x), 4e-15, 1e-307),
        # erfc's argument is rounded: far out, erfc's relative error grows with it
        activations.gelu: (
            x * (0.5 * scipy.special.erfc(-x / np.sqrt(2.0))),
            1e-12,
            1e-300,
        ),
        # PyTorch's torch.nn.Hardsigmoid docs: x / 6 + 1/2 between 0 and 1
        activations.hard_sigmoid: (np.clip(x / 6.0 + 0.5, 0.0, 1.0), 0, 0),
    }


@given(hnp.arrays(np.float64, st.integers(1, 40), elements=FINITE))
@settings(max_examples=2 * settings.default.max_examples, deadline=None)
@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_elementwise_over_all_finite_floats(x):
    """Finite, bounded and right, without a warning, for every finite float64."""
    with strict_fp():
        results = {function: function(x) for function in ELEMENTWISE}
    for function, result in results.items():
        assert result.shape == x.shape
        assert np.isfinite(result).all(), function.__name__
    s = results[activations.sigmoid]
    t = results[activations.tanh]
    r = results[activations.relu]
    p = results[activations.softplus]
    h = results[activations.step]
    assert ((s >= 0.0) & (s <= 1.0)).all()
    assert ((t >= -1.0) & (t <= 1.0)).all()
    assert (r >= 0.0).all()
    assert (p >= 0.0).all() and (p >= x).all()
    assert set(h.tolist()) <= {0.0, 1.0}
    for function, (expected, rtol, atol) in _references(x).items():
        assert_close(results[function], expected, rtol, atol, function.__name__)
    # No reference computes the tanh form here; it stays within its own
    # approximation error (under 5e-4, test_gelu_tanh_is_close_to_exact_gelu) of GELU.
    difference = results[activations.gelu_tanh] - results[activations.gelu]
    assert (np.abs(difference) < 5e-4).all()


@given(FINITE, FINITE)
@settings(max_examples=3 * settings.default.max_examples, deadline=None)
@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_sigmoid_is_monotone(a, b):
    low, high = min(a, b), max(a, b)
    with strict_fp():
        s_low, s_high = activations.sigmoid(np.array([low, high]))
    assert s_low <= s_high


@given(hnp.arrays(np.float64, st.integers(2, 60), elements=FINITE, unique=True))
@settings(max_examples=settings.default.max_examples, deadline=None)
@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_sigmoid_is_monotone_along_sorted_arrays(x):
    with strict_fp():
        s = activations.sigmoid(np.sort(x))
    assert (np.diff(s) >= 0).all()


_ROWS = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=8),
    elements=FINITE,
)


@given(_ROWS)
@settings(max_examples=2 * settings.default.max_examples, deadline=None)
@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_softmax_rows_over_all_floats_and_log_softmax_is_their_log(x):
    with np.errstate(invalid="raise", divide="raise"):
        result = activations.softmax(x, axis=-1)
    assert np.isfinite(result).all()
    assert ((result >= 0.0) & (result <= 1.0)).all()
    assert_close(result.sum(axis=-1), 1.0, rtol=0, atol=1e-12)
    logs = activations.log_softmax(x, axis=-1)
    keep = result > 1e-300
    assert keep.any()
    assert_close(logs[keep], np.log(result[keep]), rtol=1e-12, atol=1e-12)
    assert (logs <= 0.0).all()


@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=8),
        elements=HALF_RANGE,
    )
)
@settings(max_examples=2 * settings.default.max_examples, deadline=None)
@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_softmax_and_log_softmax_without_warnings(x):
    # Every difference of two inputs is a finite float64 here; spreads beyond
    # float64 are tested above.
    axes = (-1, 0, None)
    with strict_fp():
        results = [activations.softmax(x, axis=axis) for axis in axes]
        logs = [activations.log_softmax(x, axis=axis) for axis in axes]
    # scipy outside strict_fp: only xlnn's functions are held to no warnings
    for axis, result, log in zip(axes, results, logs, strict=True):
        assert np.isfinite(result).all()
        assert np.isfinite(log).all()
        assert_close(result.sum(axis=axis), 1.0, rtol=0, atol=1e-12)
        expected = scipy.special.softmax(x, axis=axis)
        assert_close(result, expected, rtol=1e-12, atol=1e-300)
        expected = scipy.special.log_softmax(x, axis=axis)
        assert_close(log, expected, rtol=1e-12, atol=1e-12)
