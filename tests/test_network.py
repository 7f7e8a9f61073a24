"""xlnn.network: the dense layers' description and their NumPy forward pass.

No workbook, no engine: these run in milliseconds. The book's network and its
output are literals from "Deep Learning from Scratch", section 3.4.3
(``init_network`` and ``forward``).
"""

from __future__ import annotations

import numpy as np
import pytest

from xlnn.functions import catalog
from xlnn.network import Dense, LayerValues, Network

# Book section 3.4.3: init_network().
BOOK_W1 = [[0.1, 0.3, 0.5], [0.2, 0.4, 0.6]]
BOOK_B1 = [0.1, 0.2, 0.3]
BOOK_W2 = [[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]]
BOOK_B2 = [0.1, 0.2]
BOOK_W3 = [[0.1, 0.3], [0.2, 0.4]]
BOOK_B3 = [0.1, 0.2]
BOOK_X = [1.0, 0.5]
# Book section 3.4.3, print(y) for x = [1.0, 0.5], in float64.
BOOK_Y = [0.31682707641102981, 0.69627908986196685]


def book_network() -> Network:
    return Network(
        (
            Dense(BOOK_W1, BOOK_B1, "sigmoid"),
            Dense(BOOK_W2, BOOK_B2, "sigmoid"),
            Dense(BOOK_W3, BOOK_B3, "identity"),
        )
    )


def book_forward_by_hand(x):
    """The book's forward(), written out with NumPy alone."""

    def sigmoid(a):
        return 1 / (1 + np.exp(-a))

    a1 = np.dot(x, BOOK_W1) + BOOK_B1
    z1 = sigmoid(a1)
    a2 = np.dot(z1, BOOK_W2) + BOOK_B2
    z2 = sigmoid(a2)
    a3 = np.dot(z2, BOOK_W3) + BOOK_B3
    return [(a1, z1), (a2, z2), (a3, a3)]


# --- Dense ----------------------------------------------------------------------------


def test_dense_stores_float64_weights_and_a_flat_bias():
    layer = Dense([[1, 2, 3], [4, 5, 6]], [[7, 8, 9]], "relu")
    assert layer.weights.dtype == np.float64 and layer.weights.shape == (2, 3)
    assert layer.bias.dtype == np.float64 and layer.bias.shape == (3,)
    assert (layer.n_inputs, layer.n_outputs) == (2, 3)


def test_dense_one_dimensional_weights_are_one_input():
    layer = Dense([0.5, -0.5], [0.0, 1.0])
    assert (layer.n_inputs, layer.n_outputs) == (1, 2)


def test_dense_default_activation_is_sigmoid():
    assert Dense([[1.0]], [0.0]).activation.name == "sigmoid"


@pytest.mark.parametrize(
    ("bias", "count"), [([0.1, 0.2], 2), ([0.1, 0.2, 0.3, 0.4], 4), ([], 0)]
)
def test_dense_bias_of_the_wrong_length_is_refused(bias, count):
    with pytest.raises(ValueError) as info:
        Dense(BOOK_W1, bias)
    assert str(info.value) == (
        f"bias has {count} values but the weights have 3 outputs"
    )


def test_dense_unknown_activation_message_lists_the_known_ones():
    with pytest.raises(ValueError) as info:
        Dense(BOOK_W1, BOOK_B1, "swish")
    message = str(info.value)
    assert "'swish'" in message
    for name in catalog.ACTIVATIONS:
        assert name in message


@pytest.mark.parametrize("name", list(catalog.ACTIVATIONS))
def test_dense_carries_the_tables_activation_given_its_name_or_itself(name):
    entry = catalog.get(name)
    assert Dense(BOOK_W1, BOOK_B1, name).activation is entry
    assert Dense(BOOK_W1, BOOK_B1, entry).activation is entry


# --- Network --------------------------------------------------------------------------


def test_network_of_mismatched_layers_names_both():
    with pytest.raises(ValueError) as info:
        Network((Dense(BOOK_W1, BOOK_B1), Dense(BOOK_W3, BOOK_B3)))
    assert str(info.value) == "layer 2 takes 2 inputs but layer 1 gives 3"


def test_network_mismatch_further_down_names_the_right_layers():
    with pytest.raises(
        ValueError, match="^layer 3 takes 3 inputs but layer 2 gives 2$"
    ):
        Network(
            (Dense(BOOK_W1, BOOK_B1), Dense(BOOK_W2, BOOK_B2), Dense(BOOK_W2, BOOK_B2))
        )


def test_network_without_layers_is_refused():
    with pytest.raises(ValueError, match="at least one layer"):
        Network(())


def test_network_takes_a_list_and_keeps_a_tuple():
    layers = [Dense(BOOK_W1, BOOK_B1), Dense(BOOK_W2, BOOK_B2)]
    network = Network(layers)
    assert isinstance(network.layers, tuple) and list(network.layers) == layers
    assert network.n_inputs == 2


def test_book_network_output_is_the_books():
    # rel 1e-15: the stable sigmoid may differ from 1/(1+exp(-a)) in the last bit.
    y = book_network().predict(BOOK_X)
    np.testing.assert_allclose(y, [BOOK_Y], rtol=1e-15, atol=0)


def test_every_layer_equals_the_hand_written_forward_pass():
    values = book_network().forward(BOOK_X)
    assert len(values) == 3
    for got, (a, z) in zip(values, book_forward_by_hand(np.array(BOOK_X)), strict=True):
        assert isinstance(got, LayerValues)
        np.testing.assert_allclose(got.a, [a], rtol=1e-15, atol=0)
        np.testing.assert_allclose(got.z, [z], rtol=1e-15, atol=0)


def test_one_dimensional_x_is_one_sample():
    network = book_network()
    for got, expected in zip(
        network.forward(BOOK_X), network.forward([BOOK_X]), strict=True
    ):
        assert got.a.shape == expected.a.shape == (1, got.a.shape[1])
        np.testing.assert_array_equal(got.z, expected.z)
    assert network.predict(BOOK_X).shape == (1, 2)


def test_a_batch_is_each_sample_on_its_own_row():
    network = book_network()
    batch = np.array([BOOK_X, [0.0, 0.0], [-1.0, 2.0]])
    y = network.predict(batch)
    assert y.shape == (3, 2)
    for row, sample in zip(y, batch, strict=True):
        np.testing.assert_allclose(row, network.predict(sample)[0], rtol=1e-15)


def test_forward_uses_each_layers_activation_from_the_table():
    network = Network(
        (Dense(BOOK_W1, BOOK_B1, "relu"), Dense(BOOK_W2, BOOK_B2, "softmax"))
    )
    x = np.array([[1.0, -2.0], [3.0, 0.5]])
    first, second = network.forward(x)
    np.testing.assert_array_equal(first.z, np.maximum(first.a, 0))
    np.testing.assert_allclose(second.z.sum(axis=1), [1.0, 1.0], rtol=1e-15)
    np.testing.assert_array_equal(second.z, catalog.get("softmax").function(second.a))


@pytest.mark.parametrize("x", [[1.0, 0.5, 0.0], [[1.0], [0.5]], [[[1.0, 0.5]]]])
def test_input_of_the_wrong_shape_is_refused_clearly(x):
    with pytest.raises(ValueError, match="the network takes 2"):
        book_network().forward(x)


@pytest.mark.parametrize(
    ("name", "alpha", "expected"),
    [
        # x . W + b = [-2, 3]; by definition alpha * x, alpha * (e^x - 1).
        ("leaky_relu", 0.2, [-0.4, 3.0]),
        ("elu", 0.5, [0.5 * np.expm1(-2.0), 3.0]),
        ("leaky_relu", None, [-0.02, 3.0]),
        ("elu", None, [np.expm1(-2.0), 3.0]),
    ],
)
def test_forward_applies_the_layers_parameter(name, alpha, expected):
    network = Network((Dense([[1.0, 1.0]], [-3.0, 2.0], name, alpha),))
    np.testing.assert_allclose(network.predict([1.0]), [expected], rtol=1e-15)


def test_a_parameter_is_refused_where_the_activation_takes_none():
    with pytest.raises(ValueError, match="gelu_tanh takes no parameter"):
        Dense([[1.0]], [0.0], "gelu_tanh", 0.2)


def test_the_parameter_is_kept_as_a_float():
    layer = Dense([[1.0]], [0.0], "elu", np.float32(0.5))
    assert type(layer.parameter) is float and layer.parameter == 0.5
