"""xlnn.learning: the book's chapters 4 and 5 (gradients, layers, the two-layer net)."""

from __future__ import annotations

import numpy as np
import pytest

from xlnn import activations, learning
from xlnn.learning import (
    Affine,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
    TwoLayerNet,
    gradient_descent,
    numerical_gradient,
    train,
)


def function_2(x):
    """The book's function_2 (section 4.3.3): x0^2 + x1^2."""
    return np.sum(x**2)


@pytest.mark.parametrize(
    "point, expected",
    # Book, section 4.4: the gradients of function_2 at three points.
    [([3.0, 4.0], [6.0, 8.0]), ([0.0, 2.0], [0.0, 4.0]), ([3.0, 0.0], [6.0, 0.0])],
)
def test_numerical_gradient_of_the_books_function_2(point, expected):
    x = np.array(point)
    np.testing.assert_allclose(numerical_gradient(function_2, x), expected, atol=1e-7)
    assert x.tolist() == point  # every element put back


def test_numerical_gradient_of_a_matrix_takes_each_element():
    W = np.array([[1.0, 2.0], [3.0, 4.0]])
    grad = numerical_gradient(lambda w: np.sum(w**3), W)
    np.testing.assert_allclose(grad, 3 * W**2, rtol=1e-7)


def _batch(rng, rows=5, inputs=6, classes=4, one_hot=False):
    x = rng.random((rows, inputs))
    t = rng.integers(0, classes, rows)
    return x, (np.eye(classes)[t] if one_hot else t)


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("one_hot", [True, False])
@pytest.mark.parametrize("weight_init_std", [0.01, 1.0])
def test_gradient_check_backprop_against_numerical(
    activation, one_hot, weight_init_std
):
    # The book's gradient check (section 5.7.3): the mean absolute difference
    # between the two gradients, per parameter, on the two-layer network.
    x, t = _batch(np.random.default_rng(3), one_hot=one_hot)
    net = TwoLayerNet(6, 7, 4, activation, weight_init_std, seed=1)
    numerical = net.numerical_gradient(x, t)
    backprop = net.gradient(x, t)
    for name in learning.PARAMETER_NAMES:
        assert backprop[name].shape == net.params[name].shape
        difference = np.mean(np.abs(backprop[name] - numerical[name]))
        assert difference < 1e-9, (name, difference)


def test_affine_backward():
    W = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    b = np.array([0.5, 0.0, -0.5])
    layer = Affine(W, b)
    x = np.array([[1.0, -1.0], [2.0, 0.0]])
    np.testing.assert_array_equal(layer.forward(x), x @ W + b)
    dout = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]])
    np.testing.assert_array_equal(layer.backward(dout), dout @ W.T)
    np.testing.assert_array_equal(layer.dW, x.T @ dout)
    np.testing.assert_array_equal(layer.db, [1.0, 1.0, 3.0])


def test_relu_passes_the_gradient_where_the_input_was_positive():
    layer = Relu()
    out = layer.forward(np.array([[1.0, -0.5], [-2.0, 3.0]]))  # book, 5.5.1
    np.testing.assert_array_equal(out, [[1.0, 0.0], [0.0, 3.0]])
    np.testing.assert_array_equal(
        layer.backward(np.full((2, 2), 5.0)), [[5, 0], [0, 5]]
    )


def test_sigmoid_backward_is_y_times_one_minus_y():
    layer = Sigmoid()
    y = layer.forward(np.array([0.0, 2.0]))
    np.testing.assert_array_equal(y, activations.sigmoid([0.0, 2.0]))
    np.testing.assert_allclose(layer.backward(np.ones(2)), y * (1 - y))


def test_softmax_with_loss_backward_is_y_minus_t_over_n():
    scores = np.array([[0.3, 2.9, 4.0], [1.0, 1.0, 1.0]])
    layer = SoftmaxWithLoss()
    loss = layer.forward(scores, np.array([2, 0]))
    y = activations.softmax(scores)
    assert loss == pytest.approx(-(np.log(y[0, 2]) + np.log(y[1, 0])) / 2, rel=1e-15)
    expected = (y - np.array([[0, 0, 1], [1, 0, 0]])) / 2
    np.testing.assert_allclose(layer.backward(), expected, rtol=1e-15)


def test_the_loss_stays_finite_where_softmax_underflows():
    # log-softmax, not log(softmax): a true class whose probability is below
    # float64's smallest number still has a finite loss.
    scores = np.array([[0.0, 1000.0]])
    assert SoftmaxWithLoss().forward(scores, np.array([0])) == pytest.approx(1000.0)


def test_the_network_starts_from_its_seed():
    a = TwoLayerNet(3, 4, 2, seed=7)
    b = TwoLayerNet(3, 4, 2, seed=7)
    for name in learning.PARAMETER_NAMES:
        np.testing.assert_array_equal(a.params[name], b.params[name])
    rng = np.random.default_rng(7)
    np.testing.assert_array_equal(a.params["W1"], 0.01 * rng.standard_normal((3, 4)))
    np.testing.assert_array_equal(a.params["W2"], 0.01 * rng.standard_normal((4, 2)))
    assert not a.params["b1"].any() and not a.params["b2"].any()


def test_an_unknown_activation_is_refused_with_the_names():
    with pytest.raises(ValueError, match="sigmoid, relu"):
        TwoLayerNet(2, 2, 2, activation="tanh")


def test_predict_accuracy_and_probabilities():
    params = {
        "W1": np.eye(2),
        "b1": np.zeros(2),
        "W2": np.array([[1.0, -1.0], [-1.0, 1.0]]),
        "b2": np.zeros(2),
    }
    net = TwoLayerNet(activation="relu", params=params)
    x = np.array([[2.0, 0.0], [0.0, 2.0], [3.0, 1.0]])
    np.testing.assert_array_equal(net.predict(x), [[2, -2], [-2, 2], [2, -2]])
    assert net.accuracy(x, np.array([0, 1, 1])) == pytest.approx(2 / 3)
    assert net.accuracy(x, np.eye(2)[[0, 1, 0]]) == 1.0
    np.testing.assert_allclose(net.probabilities(x).sum(axis=1), 1.0)


def test_gradient_descent_records_the_loss_before_each_step():
    x, t = _batch(np.random.default_rng(0), rows=8, inputs=3, classes=3)
    net = TwoLayerNet(3, 5, 3, weight_init_std=0.5, seed=2)
    before = {name: value.copy() for name, value in net.params.items()}
    run = gradient_descent(net, x, t, learning_rate=0.5, steps=4)
    # The same steps by hand, from the same weights.
    by_hand = net.copy()
    losses = []
    for _ in range(4):
        losses.append(by_hand.loss(x, t))
        grads = by_hand.gradient(x, t)
        for name in learning.PARAMETER_NAMES:
            by_hand.params[name] -= 0.5 * grads[name]
    np.testing.assert_array_equal(run.losses, losses)
    assert run.losses[0] == net.loss(x, t)  # before any update
    assert run.final_loss == by_hand.loss(x, t) < run.losses[-1]
    for name in learning.PARAMETER_NAMES:
        np.testing.assert_array_equal(run.params[name], by_hand.params[name])
        np.testing.assert_array_equal(net.params[name], before[name])  # untouched


def test_gradient_descent_from_a_mapping_of_params():
    params = {"W1": [[0.5, -0.5]], "b1": [0, 0], "W2": [[1, 0], [0, 1]], "b2": [0, 0]}
    run = gradient_descent(params, [[1.0], [-1.0]], [[1, 0], [0, 1]], 1.0, 10, "relu")
    assert run.network.activation == "relu"
    assert run.losses.shape == (10,)
    assert np.all(np.diff(run.losses) < 0)
    assert params["W1"] == [[0.5, -0.5]]


def test_train_reports_each_epoch_and_learns():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    t = (x[:, 0] * x[:, 1] > 0).astype(int)  # not linearly separable
    net = TwoLayerNet(2, 16, 2, activation="relu", weight_init_std=0.5, seed=0)
    seen = []
    history = train(
        net, x[:160], t[:160], epochs=60, batch_size=20, learning_rate=0.5,
        seed=0, x_test=x[160:], t_test=t[160:], on_epoch=seen.append,
    )  # fmt: skip
    assert seen == history
    assert [epoch.epoch for epoch in history] == list(range(1, 61))
    assert history[-1].loss < history[0].loss
    assert history[-1].train_accuracy > 0.9
    assert history[-1].test_accuracy > 0.85
    assert history[-1].loss == net.loss(x[:160], t[:160])  # trained in place


def test_train_is_repeatable_from_its_seed():
    x, t = _batch(np.random.default_rng(1), rows=30, inputs=4, classes=3)
    runs = []
    for _ in range(2):
        net = TwoLayerNet(4, 6, 3, seed=5)
        train(net, x, t, epochs=3, batch_size=7, learning_rate=0.3, seed=9)
        runs.append(net.params["W1"])
    np.testing.assert_array_equal(*runs)


def test_targets_as_a_column_of_indices_or_one_sample():
    x, t = _batch(np.random.default_rng(4), rows=6, inputs=3, classes=4)
    net = TwoLayerNet(3, 5, 4, weight_init_std=0.5, seed=3)
    assert net.loss(x, t[:, None]) == net.loss(x, t) == net.loss(x, np.eye(4)[t])
    for name, value in net.gradient(x, t[:, None]).items():
        np.testing.assert_array_equal(value, net.gradient(x, t)[name])
    assert net.predict(x[0]).shape == (1, 4)  # one sample as a vector
    assert net.loss(x[0], t[:1]) == net.loss(x[:1], t[:1])
