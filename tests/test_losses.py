"""xlnn.losses: the book's loss functions (chapter 4), in NumPy.

The figures are the book's: "Deep Learning from Scratch" (Koki Saitoh),
section 4.2.1 (mean squared error) and 4.2.2 (cross-entropy error), where the
network's output y gives the true class 2 probability 0.6, then gives 0.6 to
class 7 instead.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from xlnn import losses
from xlnn.losses import cross_entropy_error, mean_squared_error

# Book, section 4.2.1: y with 0.6 at index 2 (right), then at index 7 (wrong).
Y_RIGHT = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
Y_WRONG = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]
T_ONE_HOT = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]  # the true class is 2

# The book's results for those two outputs.
BOOK = {
    "mean_squared_error": (0.0975, 0.5975),
    "cross_entropy_error": (0.510825457099338, 2.302584092994546),
}
FUNCTIONS = {
    "mean_squared_error": mean_squared_error,
    "cross_entropy_error": cross_entropy_error,
}


@pytest.mark.parametrize("name", BOOK)
@pytest.mark.parametrize("t", [T_ONE_HOT, 2, np.int64(2), 2.0, [2]], ids=repr)
def test_the_books_figures(name, t):
    function = FUNCTIONS[name]
    right, wrong = BOOK[name]
    assert function(Y_RIGHT, t) == pytest.approx(right, rel=1e-15, abs=0)
    assert function(Y_WRONG, t) == pytest.approx(wrong, rel=1e-15, abs=0)


@pytest.mark.parametrize("name", BOOK)
def test_a_batch_is_the_mean_over_its_rows(name):
    function = FUNCTIONS[name]
    batch = np.array([Y_RIGHT, Y_WRONG])
    expected = sum(BOOK[name]) / 2
    assert function(batch, np.array([T_ONE_HOT, T_ONE_HOT])) == pytest.approx(expected)
    assert function(batch, [2, 2]) == pytest.approx(expected)
    assert function(batch, [[2], [2]]) == pytest.approx(expected)  # a column
    assert function(batch[:1], [2]) == pytest.approx(BOOK[name][0])  # a batch of one


def test_the_batch_cross_entropy_is_the_books_formula():
    # Book, section 4.2.4: -np.sum(t * np.log(y + 1e-7)) / batch_size
    rng = np.random.default_rng(0)
    y = rng.dirichlet(np.ones(5), size=4)
    t = np.eye(5)[[0, 3, 3, 1]]
    book = -np.sum(t * np.log(y + 1e-7)) / 4
    assert cross_entropy_error(y, t) == pytest.approx(book, rel=1e-15)
    assert cross_entropy_error(y, [0, 3, 3, 1]) == pytest.approx(book, rel=1e-15)


def test_results_are_numpy_float64():
    assert type(mean_squared_error(Y_RIGHT, 2)) is np.float64
    assert type(cross_entropy_error([[0.5, 0.5]], [0])) is np.float64


def test_targets_need_not_be_one_hot():
    assert mean_squared_error([1.0, 2.0], [0.0, 0.0]) == 2.5
    assert mean_squared_error(3.0, 1.0) == 2.0  # a scalar is one sample of one


def test_a_probability_of_zero_is_a_large_loss_not_inf():
    assert cross_entropy_error([1.0, 0.0], 1) == pytest.approx(-np.log(1e-7))


@pytest.mark.parametrize(
    "y, t",
    [
        ([-0.5, 1.0], [0, 1]),  # log of a negative: NaN even where t is 0
        ([np.nan, 1.0], 1),
        ([np.inf, 0.0], 1),
    ],
)
def test_invalid_probabilities_give_nan_without_a_warning(y, t):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(cross_entropy_error(y, t))


def test_overflow_gives_inf_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mean_squared_error([1e200], [0.0]) == np.inf
        assert cross_entropy_error([-1e-7, 1.0], 0) == np.inf


def test_empty_inputs():
    assert mean_squared_error([], []) == 0.0  # one sample with no values
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(cross_entropy_error(np.zeros((0, 3)), np.zeros(0)))


@pytest.mark.parametrize(
    "y, t, words",
    [
        (Y_RIGHT, 10, "from 0 to 9"),
        (Y_RIGHT, -1, "not -1"),
        (Y_RIGHT, 1.5, "not 1.5"),
        (Y_RIGHT, np.nan, "not nan"),
        ([[0.5, 0.5], [0.5, 0.5]], [0, 2], "not 2"),
        ([[0.5, 0.5], [0.5, 0.5]], [0, 1, 1], "shape (2, 2)"),
        ([[0.5, 0.5], [0.5, 0.5]], [[0, 1]], "one class index per sample (2)"),
        ([[0.5, 0.5], [0.5, 0.5]], np.ones((2, 2)).T.reshape(4), "not shape (4,)"),
        ([0.5, 0.5], [[1, 0]], "not shape (1, 2)"),
        (np.ones((2, 2, 2)), 0, "not 3-D"),
    ],
)
@pytest.mark.parametrize("function", FUNCTIONS.values(), ids=FUNCTIONS)
def test_shapes_and_indices_that_do_not_fit_are_value_errors(function, y, t, words):
    with pytest.raises(ValueError) as info:
        function(y, t)
    assert words in str(info.value)


@pytest.mark.parametrize("function", FUNCTIONS.values(), ids=FUNCTIONS)
def test_text_is_not_a_number(function):
    with pytest.raises(TypeError, match="t must hold numbers"):
        function([0.5, 0.5], ["1", "0"])
    with pytest.raises(TypeError, match="y must hold numbers"):
        function("0.5", 0)


def test_int_and_bool_inputs_compute_in_float64():
    assert mean_squared_error(np.array([1, 0], dtype=np.int8), [True, False]) == 0.0
    assert cross_entropy_error(np.float32([0.5, 0.5]), 0) == pytest.approx(
        -np.log(0.5 + 1e-7), rel=1e-15
    )


def test_the_guard_is_the_books():
    assert losses.DELTA == 1e-7
