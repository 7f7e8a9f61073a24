"""A network of dense layers, described once and computed with NumPy.

The description is what the workbook generator lays out in cells, and its
forward pass is what the recalculated cells are checked against. It knows
nothing of Excel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xlnn.functions import catalog
from xlnn.functions.catalog import Activation


@dataclass(frozen=True)
class Dense:
    """One layer: a = x . W + b, then z = activation(a).

    ``weights`` has one row per input and one column per output, as in the book
    (``np.dot(x, W1) + b1``), so a batch of samples is a matrix with one row each.
    ``activation`` is an entry of :data:`xlnn.functions.catalog.TABLE`; its
    name (``"sigmoid"``), as a user or a model file writes it, is looked up
    here, once.
    """

    weights: np.ndarray
    bias: np.ndarray
    activation: Activation = catalog.get("sigmoid")
    #: The activation's parameter (LEAKY_RELU's and ELU's alpha), or None for
    #: its default; only activations with a catalog ``parameter`` take one.
    parameter: float | None = None

    def __post_init__(self):
        weights = np.atleast_2d(np.asarray(self.weights, dtype=np.float64))
        bias = np.asarray(self.bias, dtype=np.float64).reshape(-1)
        if bias.shape != (weights.shape[1],):
            raise ValueError(
                f"bias has {bias.size} values but the weights have "
                f"{weights.shape[1]} outputs"
            )
        activation = self.activation
        if isinstance(activation, str):
            activation = catalog.get(activation)  # refuses an unknown name
        if self.parameter is not None:
            if activation.parameter is None:
                raise ValueError(f"{activation.name} takes no parameter")
            object.__setattr__(self, "parameter", float(self.parameter))
        object.__setattr__(self, "activation", activation)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "bias", bias)

    @property
    def n_inputs(self) -> int:
        return self.weights.shape[0]

    @property
    def n_outputs(self) -> int:
        return self.weights.shape[1]

    def activate(self, a: np.ndarray) -> np.ndarray:
        """The activation of the sums ``a``, with this layer's parameter."""
        function = self.activation.function
        return function(a) if self.parameter is None else function(a, self.parameter)


@dataclass(frozen=True)
class LayerValues:
    """What one layer computes for a batch: its sums ``a`` and outputs ``z``."""

    a: np.ndarray
    z: np.ndarray


@dataclass(frozen=True)
class Network:
    """A stack of dense layers, each feeding the next."""

    layers: tuple[Dense, ...]

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers:
            raise ValueError("a network needs at least one layer")
        for number, (before, after) in enumerate(
            zip(self.layers, self.layers[1:], strict=False), start=2
        ):
            if before.n_outputs != after.n_inputs:
                raise ValueError(
                    f"layer {number} takes {after.n_inputs} inputs but layer "
                    f"{number - 1} gives {before.n_outputs}"
                )

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_inputs

    def forward(self, x) -> list[LayerValues]:
        """Every layer's values for ``x``, one sample per row (a 1-D x is one)."""
        z = np.atleast_2d(np.asarray(x, dtype=np.float64))
        if z.ndim != 2 or z.shape[1] != self.n_inputs:
            # NumPy's own matmul message names neither x nor the network.
            raise ValueError(
                f"x has shape {np.shape(x)}, but the network takes "
                f"{self.n_inputs} values per sample (one sample per row)"
            )
        values = []
        for layer in self.layers:
            a = z @ layer.weights + layer.bias
            z = layer.activate(a)
            values.append(LayerValues(a, z))
        return values

    def predict(self, x) -> np.ndarray:
        """The network's output for ``x``, one row per sample."""
        return self.forward(x)[-1].z
