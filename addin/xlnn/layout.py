"""Lay out any stack of dense layers as a forward pass in cells.

Two flows share the same description (:class:`xlnn.network.Network`):

- :func:`single_sample`: top to bottom, one block per symbol of the book
  (x, W1 and b1, a1, z1, W2 ...), for one input row;
- :func:`batch`: left to right, one row per sample, one block per step.

Every step of a layer is one array formula: ``MMULT(z, W) + b``, then the
activation. Weights are referred to by their workbook names (``W_1``, ``b_1``),
so the batch sheet follows edits made to them anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xlnn.excel_formulas import activation_formula
from xlnn.network import Network
from xlnn.workbook import (
    NUMBER,
    PROBABILITY,
    WEIGHT,
    Block,
    SheetBuilder,
)


@dataclass(frozen=True)
class LayerNames:
    """The workbook names of one layer's weights and biases."""

    weights: str
    bias: str


def weight_names(network: Network) -> list[LayerNames]:
    # "W1" would be the cell W1, so the names carry an underscore.
    return [LayerNames(f"W_{k}", f"b_{k}") for k in range(1, len(network.layers) + 1)]


def _activation_caption(activation: str) -> str:
    return {
        "identity": "identity: the output is the sum itself",
        "sigmoid": "sigmoid squashes each sum into (0, 1)",
        "softmax": "softmax turns the sums into probabilities that add up to 1",
        "relu": "ReLU keeps positive sums, zeroes the rest",
        "step": "the step function fires 1 where the sum is positive",
        "tanh": "tanh squashes each sum into (-1, 1)",
    }[activation]


def place_weights(
    sheet: SheetBuilder, network: Network, row: int, col: int, layer_index: int
) -> int:
    """Write one layer's W and b as editable named blocks; return the next row."""
    k = layer_index + 1
    layer = network.layers[layer_index]
    names = weight_names(network)[layer_index]
    sheet.text(
        row,
        col,
        f"W{k}: weights into layer {k}, one row per input, one "
        f"column per neuron ({layer.n_inputs}x{layer.n_outputs}; "
        f"editable; named {names.weights})",
        "caption",
    )
    w = sheet.inputs(row + 1, col, layer.weights, WEIGHT)
    sheet.book.name(names.weights, w)
    row = w.row + w.rows
    sheet.text(
        row, col, f"b{k}: biases of layer {k} (editable; named {names.bias})", "caption"
    )
    b = sheet.inputs(row + 1, col, layer.bias[np.newaxis, :], WEIGHT)
    sheet.book.name(names.bias, b)
    return b.row + b.rows + 1


def _activation_body(flavor: str, activation: str, block: Block) -> list[str]:
    """Formula bodies for ``activation`` over ``block``, one per array formula."""
    if activation == "softmax" and flavor == "plain" and block.rows > 1:
        # Plain Excel has no per-row MAX in one formula (BYROW is Excel 365):
        # each sample row gets its own softmax formula.
        return [
            activation_formula(flavor, activation, block.row_block(i).ref)
            for i in range(block.rows)
        ]
    return [activation_formula(flavor, activation, block.ref)]


def write_activation(
    sheet: SheetBuilder,
    flavor: str,
    activation: str,
    source: Block,
    target: Block,
    expected,
    number_format,
    output=False,
    name: str = "",
) -> Block:
    """Write ``activation(source)`` into ``target``, as few formulas as possible."""
    bodies = _activation_body(flavor, activation, source)
    expected = np.asarray(expected)
    for i, body in enumerate(bodies):
        rows = target if len(bodies) == 1 else target.row_block(i)
        part = expected if len(bodies) == 1 else expected[i : i + 1]
        sheet.array_formula(rows, body, part, number_format, output, name)
    return target


def _write_layer(sheet, flavor, network, index, computed, source, a, z, z_symbol):
    """Write one layer's two steps: a = MMULT(source, W) + b, then z = f(a)."""
    layer = network.layers[index]
    names = weight_names(network)[index]
    sheet.array_formula(
        a,
        f"MMULT({source.ref},{names.weights})+{names.bias}",
        computed.a,
        NUMBER,
        name=f"a{index + 1}",
    )
    return write_activation(
        sheet,
        flavor,
        layer.activation,
        a,
        z,
        computed.z,
        PROBABILITY if layer.activation == "softmax" else NUMBER,
        output=index == len(network.layers) - 1,
        name=z_symbol,
    )


def single_sample(
    sheet: SheetBuilder,
    network: Network,
    x: Block,
    flavor: str,
    row: int,
    col: int,
    x_values,
    weights_here: bool = True,
):
    """Lay out the forward pass of one input row ``x``, top to bottom.

    With ``weights_here`` the layers' W and b are written (and named) just
    before the layer that uses them, as in the book; otherwise the names
    must already exist. Returns the next free row and the output block.
    """
    source, last = x, len(network.layers) - 1
    for index, computed in enumerate(network.forward(x_values)):
        k, layer = index + 1, network.layers[index]
        if weights_here:
            row = place_weights(sheet, network, row, col, index)
        inputs = "x" if index == 0 else f"z{k - 1}"
        sheet.text(
            row,
            col,
            f"a{k} = {inputs} . W{k} + b{k}: each neuron's weighted sum of its inputs",
            "caption",
        )
        z_symbol = "y" if index == last else f"z{k}"
        sheet.text(
            row + 3,
            col,
            f"{z_symbol} = {layer.activation}(a{k}): "
            f"{_activation_caption(layer.activation)}",
            "caption",
        )
        a = sheet.block(row + 1, col, 1, layer.n_outputs)
        z = sheet.block(row + 4, col, 1, layer.n_outputs)
        source = _write_layer(
            sheet, flavor, network, index, computed, source, a, z, z_symbol
        )
        row = z.row + 2
    return row, source


def batch(
    sheet: SheetBuilder,
    network: Network,
    x: Block,
    flavor: str,
    header_row: int,
    col: int,
    x_values,
    output_col: int | None = None,
):
    """Lay out the forward pass of a batch ``x`` (one sample per row), left to right.

    Each block gets a caption on ``header_row`` and column numbers below it;
    the data rows line up with ``x``. The output block goes to ``output_col``
    when given (say, next to the labels), else after the last block. Returns
    the output block.
    """
    source, last = x, len(network.layers) - 1
    for index, computed in enumerate(network.forward(x_values)):
        k, width = index + 1, network.layers[index].n_outputs
        activation = network.layers[index].activation
        inputs = "X" if index == 0 else f"Z{k - 1}"
        a = _batch_block(
            sheet, x, col, width, header_row, f"A{k} = {inputs} . W{k} + b{k}", f"a{k}"
        )
        col = a.col + a.cols + 1
        z_symbol = "Y" if index == last else f"Z{k}"
        z = _batch_block(
            sheet,
            x,
            output_col if index == last and output_col else col,
            width,
            header_row,
            f"{z_symbol} = {activation}(A{k})",
            z_symbol.lower(),
        )
        source = _write_layer(
            sheet, flavor, network, index, computed, source, a, z, z_symbol
        )
        col = z.col + z.cols + 1
    return source


def _batch_block(sheet, x: Block, col, width, header_row, caption, symbol) -> Block:
    sheet.text(header_row, col, caption, "caption")
    sheet.headers(x.row - 1, col, [f"{symbol}[{j}]" for j in range(width)])
    return sheet.block(x.row, col, x.rows, width)
