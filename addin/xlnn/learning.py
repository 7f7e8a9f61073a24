"""Learning: the book's chapters 4 and 5 in plain NumPy, one small piece per idea.

Chapter 4 measures how wrong a network is with a loss, takes its gradient
numerically (:func:`numerical_gradient`) and walks down it. Chapter 5 gets the
same gradient by backpropagation: every layer has a ``forward`` that remembers
what it needs and a ``backward`` that turns the gradient of its output into
the gradient of its input (and of its weights). The pieces:

- :func:`numerical_gradient`, the central difference with h = 1e-4;
- the layers :class:`Affine`, :class:`Sigmoid`, :class:`Relu` and
  :class:`SoftmaxWithLoss`;
- :class:`TwoLayerNet`, the book's Affine -> Sigmoid (or ReLU) -> Affine ->
  Softmax-with-loss network, with both gradients;
- :func:`gradient_descent`, full-batch steps (the loss per step and the final
  weights), and :func:`train`, minibatch SGD by epochs.

The activations are :mod:`xlnn.activations`' (the same functions the Excel
functions compute). Everything is float64. One sample per row of ``x``; the
targets ``t`` are one-hot rows or a vector of 0-based class indices.

The loss is the cross-entropy of the softmax, computed as
``-mean(sum(t * log_softmax(scores)))``: exactly the book's
``cross_entropy_error(softmax(scores), t)`` without its ``+ 1e-7`` guard
(which keeps ``log`` away from 0; log-softmax never meets 0). The book's
backward pass, ``(softmax(scores) - t) / N``, is the exact gradient of this
loss, so backpropagation and the numerical gradient agree to about 1e-10; with
the guard they would differ by about 1e-7 of the gradient.
:func:`xlnn.losses.cross_entropy_error` keeps the book's definition, guard
included, for probabilities given as they are.

>>> net = TwoLayerNet(input_size=2, hidden_size=3, output_size=2, seed=0)
>>> x = np.array([[0.0, 1.0], [1.0, 0.0]])
>>> t = np.array([1, 0])
>>> run = gradient_descent(net, x, t, learning_rate=1.0, steps=100)
>>> print(round(run.losses[0], 4), run.losses[-1] < 0.1)
0.6931 True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from xlnn import activations

__all__ = [
    "numerical_gradient",
    "Affine",
    "Sigmoid",
    "Relu",
    "SoftmaxWithLoss",
    "TwoLayerNet",
    "PARAMETER_NAMES",
    "ACTIVATIONS",
    "Descent",
    "gradient_descent",
    "Epoch",
    "train",
    "diverged",
    "class_indices",
    "softmax_cross_entropy",
]

#: The two-layer network's parameters, in the book's order.
PARAMETER_NAMES = ("W1", "b1", "W2", "b2")


def numerical_gradient(f: Callable, x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """The gradient of ``f`` at ``x`` by central differences (book, 4.3-4.4).

    .. math:: \\frac{\\partial f}{\\partial x_i} \\approx
              \\frac{f(x + h e_i) - f(x - h e_i)}{2h}

    As in the book, ``x`` is changed in place, one element at a time, and put
    back; ``f`` is called with ``x`` (it may also ignore its argument and read
    the array it shares, as :meth:`TwoLayerNet.numerical_gradient` does).
    ``x`` must be a float array. Two calls of ``f`` per element: slow, which
    is why chapter 5 backpropagates.

    Examples
    --------
    >>> numerical_gradient(lambda x: np.sum(x**2), np.array([3.0, 4.0]))
    array([6., 8.])
    """
    grad = np.zeros_like(x, dtype=np.float64)
    for index in np.ndindex(x.shape):
        kept = x[index]
        x[index] = kept + h
        above = f(x)
        x[index] = kept - h
        below = f(x)
        x[index] = kept
        grad[index] = (above - below) / (2 * h)
    return grad


def class_indices(t: np.ndarray) -> np.ndarray:
    """Targets as 0-based class indices: one-hot rows by their argmax.

    A vector, or a column, already holds indices.

    >>> class_indices(np.array([[0, 1, 0], [1, 0, 0]])), class_indices([[2], [0]])
    (array([1, 0]), array([2, 0]))
    """
    t = np.asarray(t)
    if t.ndim == 2 and t.shape[1] > 1:
        return np.argmax(t, axis=1)
    return t.reshape(-1).astype(np.intp)


def softmax_cross_entropy(scores: np.ndarray, t: np.ndarray) -> float:
    """Mean cross-entropy of ``softmax(scores)`` against ``t``, from log-softmax.

    ``t`` is one-hot (the shape of ``scores``) or one class index per row.

    >>> print(round(softmax_cross_entropy(np.array([[0.0, 0.0]]), [1]), 6))
    0.693147
    """
    return _cross_entropy_of_log(activations.log_softmax(scores, axis=-1), t)


def _cross_entropy_of_log(log_y: np.ndarray, t) -> float:
    t = np.asarray(t)
    if t.shape == log_y.shape:
        return float(-np.sum(t * log_y) / log_y.shape[0])
    rows = np.arange(log_y.shape[0])
    return float(-np.mean(log_y[rows, class_indices(t)]))


def _accuracy(scores: np.ndarray, t: np.ndarray) -> float:
    return float(np.mean(np.argmax(scores, axis=1) == class_indices(t)))


class Affine:
    """``x @ W + b`` (book, 5.6.2): backward gives dx and keeps dW and db.

    ``W`` and ``b`` are the network's own arrays (not copies), so an update
    in place reaches the layer.
    """

    def __init__(self, W: np.ndarray, b: np.ndarray):
        self.W, self.b = W, b
        self.x = self.dW = self.db = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.dW = self.x.T @ dout
        self.db = np.sum(dout, axis=0)
        return dout @ self.W.T


class Sigmoid:
    """Sigmoid (book, 5.5.2): its derivative is ``y * (1 - y)`` of its output."""

    def __init__(self):
        self.out = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = activations.sigmoid(x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * (1.0 - self.out) * self.out


class Relu:
    """ReLU (book, 5.5.1): the gradient passes where the input was positive."""

    def __init__(self):
        self.mask = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x <= 0
        return activations.relu(x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return np.where(self.mask, 0.0, dout)


class SoftmaxWithLoss:
    """Softmax, then cross-entropy (book, 5.6.3): backward is ``(y - t) / N``.

    ``forward(scores, t)`` returns the mean loss over the rows (see the module
    docstring for its exact form); ``backward()`` the gradient of that loss
    with respect to the scores. ``t`` is one-hot or class indices.
    """

    def __init__(self):
        self.y = self.t = self.loss = None

    def forward(self, scores: np.ndarray, t: np.ndarray) -> float:
        # one pass: softmax is exp(log-softmax), which the loss needs anyway
        log_y = activations.log_softmax(scores, axis=-1)
        self.y = np.exp(log_y)
        self.t = np.asarray(t)
        self.loss = _cross_entropy_of_log(log_y, self.t)
        return self.loss

    def backward(self, dout: float = 1.0) -> np.ndarray:
        batch_size = self.y.shape[0]
        dx = self.y.copy()
        if self.t.shape == self.y.shape:
            dx -= self.t
        else:
            dx[np.arange(batch_size), class_indices(self.t)] -= 1.0
        return dx * (dout / batch_size)


#: The hidden layer's activations :class:`TwoLayerNet` takes, by name.
ACTIVATIONS = {"sigmoid": Sigmoid, "relu": Relu}


class TwoLayerNet:
    """The book's two-layer network (4.5, 5.7): Affine, activation, Affine, softmax.

    ``params`` holds ``W1`` (input x hidden), ``b1`` (hidden), ``W2`` (hidden
    x output) and ``b2`` (output), float64. Weights start as
    ``weight_init_std`` times standard normal numbers from
    ``numpy.random.default_rng(seed)`` (W1 first, then W2), biases as zeros.
    ``params`` may instead be given, as a mapping of those four names (copied).

    Examples
    --------
    >>> net = TwoLayerNet(4, 5, 3, seed=1)
    >>> {name: value.shape for name, value in net.params.items()}
    {'W1': (4, 5), 'b1': (5,), 'W2': (5, 3), 'b2': (3,)}
    >>> net.predict(np.ones((2, 4))).shape
    (2, 3)
    """

    def __init__(
        self,
        input_size: int = 0,
        hidden_size: int = 0,
        output_size: int = 0,
        activation: str = "sigmoid",
        weight_init_std: float = 0.01,
        seed=None,
        params: Mapping[str, np.ndarray] | None = None,
    ):
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; choose one of "
                f"{', '.join(ACTIVATIONS)}"
            )
        self.activation = activation
        self.layers: list = []  # the last forward pass's, for backward
        self.last_layer = SoftmaxWithLoss()
        if params is not None:
            self.params = {
                name: np.array(params[name], dtype=np.float64)
                for name in PARAMETER_NAMES
            }
            return
        rng = np.random.default_rng(seed)
        self.params = {
            "W1": weight_init_std * rng.standard_normal((input_size, hidden_size)),
            "b1": np.zeros(hidden_size),
            "W2": weight_init_std * rng.standard_normal((hidden_size, output_size)),
            "b2": np.zeros(output_size),
        }

    def copy(self) -> TwoLayerNet:
        """A network with the same activation and a copy of the parameters."""
        return TwoLayerNet(activation=self.activation, params=self.params)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The scores (before softmax), one row per row of ``x`` (1-D: one sample)."""
        p = self.params
        self.layers = [
            Affine(p["W1"], p["b1"]),
            ACTIVATIONS[self.activation](),
            Affine(p["W2"], p["b2"]),
        ]
        out = np.atleast_2d(np.asarray(x, dtype=np.float64))
        for layer in self.layers:
            out = layer.forward(out)
        return out

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """softmax of :meth:`predict`: each row sums to 1."""
        return activations.softmax(self.predict(x), axis=-1)

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        """Mean cross-entropy of the softmax over the rows of ``x``."""
        return self.last_layer.forward(self.predict(x), t)

    def accuracy(self, x: np.ndarray, t: np.ndarray) -> float:
        """The fraction of rows whose highest score is the true class."""
        return _accuracy(self.predict(x), t)

    def loss_and_accuracy(self, x: np.ndarray, t: np.ndarray) -> tuple[float, float]:
        """:meth:`loss` and :meth:`accuracy` from one forward pass over ``x``."""
        scores = self.predict(x)
        return self.last_layer.forward(scores, t), _accuracy(scores, t)

    def numerical_gradient(self, x: np.ndarray, t: np.ndarray) -> dict:
        """Every parameter's gradient by :func:`numerical_gradient` (book, 4.5)."""

        def loss(_):
            return self.loss(x, t)

        return {
            name: numerical_gradient(loss, self.params[name])
            for name in PARAMETER_NAMES
        }

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict:
        """Every parameter's gradient by backpropagation (book, 5.7.2)."""
        self.loss(x, t)
        dout = self.last_layer.backward(1.0)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        first, _, second = self.layers
        return {"W1": first.dW, "b1": first.db, "W2": second.dW, "b2": second.db}

    def step(self, x: np.ndarray, t: np.ndarray, learning_rate: float) -> float:
        """One gradient-descent step on ``x``, in place; returns the loss before it."""
        grads = self.gradient(x, t)
        for name in PARAMETER_NAMES:
            self.params[name] -= learning_rate * grads[name]
        return self.last_layer.loss


@dataclass(frozen=True)
class Descent:
    """What :func:`gradient_descent` returns.

    ``losses[i]`` is the loss at the start of step ``i`` (so ``losses[0]`` is
    the loss before any update), ``final_loss`` the loss after the last step,
    ``params`` the final weights and ``network`` a network holding them.
    """

    losses: np.ndarray
    final_loss: float
    params: dict
    network: TwoLayerNet


def _network(net_or_params, activation: str) -> TwoLayerNet:
    """A copy of a :class:`TwoLayerNet`, or a new one from a mapping of params."""
    if isinstance(net_or_params, TwoLayerNet):
        return net_or_params.copy()
    return TwoLayerNet(activation=activation, params=net_or_params)


def gradient_descent(
    net_or_params,
    x: np.ndarray,
    t: np.ndarray,
    learning_rate: float,
    steps: int,
    activation: str = "sigmoid",
) -> Descent:
    """Full-batch gradient descent (book, 4.4.1) with backpropagated gradients.

    Each step computes the loss and the gradient on all of ``x`` and moves
    every parameter by ``-learning_rate * gradient``. ``net_or_params`` is a
    :class:`TwoLayerNet` or a mapping of ``W1, b1, W2, b2`` (with
    ``activation``); it is not changed: the steps run on a copy.

    Examples
    --------
    >>> params = {"W1": [[0.1], [0.2]], "b1": [0.0], "W2": [[1.0, -1.0]],
    ...           "b2": [0.0, 0.0]}
    >>> run = gradient_descent(params, [[1.0, 1.0]], [0], learning_rate=0.5, steps=3)
    >>> run.losses.round(4), round(run.final_loss, 4)
    (array([0.2753, 0.1908, 0.1436]), 0.1142)
    """
    net = _network(net_or_params, activation)
    x = np.asarray(x, dtype=np.float64)
    losses = np.empty(steps)
    for i in range(steps):
        losses[i] = net.step(x, t, learning_rate)
    return Descent(losses, net.loss(x, t), net.params, net)


@dataclass(frozen=True)
class Epoch:
    """One epoch of :func:`train`, measured after its last step.

    ``loss`` and ``train_accuracy`` are over the whole training set,
    ``test_accuracy`` over the held-out set (None without one).
    """

    epoch: int
    loss: float
    train_accuracy: float
    test_accuracy: float | None


def diverged(network: TwoLayerNet, epoch: Epoch) -> bool:
    """Whether ``epoch``'s loss or a weight of ``network`` is no longer finite:
    the steps were too large, and one overflowed."""
    finite_weights = all(np.isfinite(w).all() for w in network.params.values())
    return not (math.isfinite(epoch.loss) and finite_weights)


def train(
    network: TwoLayerNet,
    x: np.ndarray,
    t: np.ndarray,
    epochs: int,
    batch_size: int = 100,
    learning_rate: float = 0.1,
    seed=None,
    x_test: np.ndarray | None = None,
    t_test: np.ndarray | None = None,
    on_epoch: Callable[[Epoch], object] | None = None,
) -> list[Epoch]:
    """Minibatch stochastic gradient descent (book, 4.5.2 and 5.7.4), in place.

    Each epoch visits every row of ``x`` once, in an order shuffled by
    ``numpy.random.default_rng(seed)``, ``batch_size`` rows per step (the
    last batch may be smaller); each step moves ``network``'s parameters by
    ``-learning_rate`` times the backpropagated gradient. After each epoch,
    ``on_epoch`` (if given) is called with its :class:`Epoch`. Returns every
    epoch's.

    Examples
    --------
    >>> x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 5)
    >>> t = np.array([0, 1, 1, 0] * 5)  # XOR
    >>> net = TwoLayerNet(2, 8, 2, weight_init_std=1.0, seed=0)
    >>> history = train(net, x, t, epochs=300, batch_size=4, learning_rate=1.0, seed=0)
    >>> history[-1].train_accuracy
    1.0
    """
    if batch_size < 1 or epochs < 0:
        raise ValueError("batch_size must be at least 1 and epochs at least 0")
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(t)
    rng = np.random.default_rng(seed)
    history = []
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            network.step(x[batch], t[batch], learning_rate)
        loss, accuracy = network.loss_and_accuracy(x, t)
        test_accuracy = None if x_test is None else network.accuracy(x_test, t_test)
        report = Epoch(epoch, loss, accuracy, test_accuracy)
        history.append(report)
        if on_epoch is not None:
            on_epoch(report)
    return history
