"""Lay out any stack of dense layers as a forward pass in cells.

Two flows share one placement step per layer (:func:`place_layer`):

- :func:`single_sample`: top to bottom, one block per symbol of the book
  (x, W1 and b1, a1, z1, W2 ...), for one input row;
- :func:`batch`: left to right, one row per sample, one block per step.

Every step of a layer is one formula over its block: ``MMULT(z, W) + b``,
then the activation. Weights are referred to by their workbook names
(``W_1``, ``b_1``), so every sheet follows edits made to them anywhere. The
forward pass runs once, in :meth:`xlnn.network.Network.forward`; its values
travel with the blocks (:class:`PlacedLayer`) as the checks and for the
sample's own use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xlnn.functions import catalog
from xlnn.functions.catalog import Activation
from xlnn.network import Dense, LayerValues, Network
from xlnn.sheets.flavors import Flavor
from xlnn.sheets.layout import (
    COMPACT,
    GAP_WIDTH,
    NUMBER,
    PROBABILITY,
    WEIGHT,
    Block,
    Cursor,
    SheetLayout,
)


@dataclass(frozen=True)
class LayerNames:
    """The workbook names of one layer's weights and biases."""

    weights: str
    bias: str


def layer_names(k: int) -> LayerNames:
    """Names of layer ``k``'s W and b (1-based); ``W1`` would be the cell W1."""
    return LayerNames(f"W_{k}", f"b_{k}")


@dataclass(frozen=True)
class PlacedLayer:
    """One layer in cells: its sums ``a`` and outputs ``z``, and their values."""

    a: Block
    z: Block
    values: LayerValues


@dataclass(frozen=True)
class PlacedNetwork:
    """Every layer of a network in cells, in order."""

    layers: tuple[PlacedLayer, ...]

    @property
    def output(self) -> Block:
        return self.layers[-1].z

    @property
    def output_values(self) -> np.ndarray:
        return self.layers[-1].values.z


def place_weights(cursor: Cursor, *, layer: Dense, k: int) -> tuple[Block, Block]:
    """Write layer ``k``'s W and b at the cursor as editable, named blocks."""
    names = layer_names(k)
    cursor.text(
        f"W{k}: weights into layer {k}, one row per input, one column per neuron "
        f"({layer.n_inputs}x{layer.n_outputs}; editable; named {names.weights})",
        "caption",
    )
    w = cursor.inputs(layer.weights, WEIGHT)
    cursor.text(f"b{k}: biases of layer {k} (editable; named {names.bias})", "caption")
    b = cursor.inputs(layer.bias[np.newaxis, :], WEIGHT)
    cursor.skip()
    book = cursor.sheet.book
    book.name(names.weights, w)
    book.name(names.bias, b)
    return w, b


def write_activation(
    sheet: SheetLayout,
    *,
    flavor: Flavor,
    activation: Activation,
    source: Block,
    target: Block,
    expected,
    output: bool = False,
    name: str = "",
    number_format: str = NUMBER,
    parameter: float | None = None,
) -> Block:
    """Write ``activation(source)`` into ``target``, in as few formulas as possible.

    ``parameter`` is the activation's (a layer's alpha), None for its default.
    A flavor that cannot normalize several sample rows in one formula gets
    one formula per row (see :meth:`Flavor.rows_in_one_formula`).
    Probabilities (a grouped activation's results) get four decimals.
    """
    if activation.grouped:
        number_format = PROBABILITY
    expected = np.atleast_2d(np.asarray(expected))
    if flavor.rows_in_one_formula(activation) or source.rows == 1:
        parts = [(source, target, expected)]
    else:
        parts = [
            (source.row_block(i), target.row_block(i), expected[i : i + 1])
            for i in range(source.rows)
        ]
    for part_source, part_target, part_expected in parts:
        sheet.put_formula(
            part_target,
            flavor.activation(activation, part_source.ref, parameter),
            expected=part_expected,
            number_format=number_format,
            output=output,
            note=flavor.formula_note(activation),
        )
    if name:
        sheet.anchor(name, target)
    return target


def place_layer(
    sheet: SheetLayout,
    *,
    flavor: Flavor,
    layer: Dense,
    k: int,
    source: Block,
    a: Block,
    z: Block,
    values: LayerValues,
    output: bool,
    z_symbol: str,
    number_format: str = NUMBER,
) -> PlacedLayer:
    """Write layer ``k``'s two steps: a = MMULT(source, W) + b, then z = f(a)."""
    names = layer_names(k)
    sheet.put_formula(
        a,
        f"MMULT({source.ref},{names.weights})+{names.bias}",
        expected=values.a,
        number_format=number_format,
        name=f"a{k}",
    )
    write_activation(
        sheet,
        flavor=flavor,
        activation=layer.activation,
        source=a,
        target=z,
        expected=values.z,
        output=output,
        name=z_symbol,
        number_format=number_format,
        parameter=layer.parameter,
    )
    return PlacedLayer(a, z, values)


def _caption(layer: Dense) -> str:
    return layer.activation.describe(layer.parameter)


def applied(layer: Dense, symbol: str) -> str:
    """How a caption writes the layer's activation of ``symbol``: ``relu(a1)``,
    or with its parameter, ``leaky_relu(a1, alpha=0.2)``."""
    activation = layer.activation
    if layer.parameter is None:
        return f"{activation.name}({symbol})"
    shown = catalog.shown_number(layer.parameter)
    return f"{activation.name}({symbol}, {activation.parameter.name}={shown})"


#: Rows each layer takes in :func:`single_sample`: caption and block for a and z.
_LAYER_ROWS = 6
#: Rows W and b take above a layer: two captions, the blocks and a blank row.
_WEIGHT_ROWS = 3


def single_sample_height(network: Network, *, weights_here: bool = True) -> int:
    """How many rows :func:`single_sample` moves its cursor down."""
    rows = _LAYER_ROWS * len(network.layers)
    if weights_here:
        rows += sum(_WEIGHT_ROWS + layer.n_inputs + 1 for layer in network.layers)
    return rows


@dataclass(frozen=True)
class Symbols:
    """The book's names in one layer: its inputs, sums and outputs (x, a1, z1)."""

    inputs: str
    a: str
    z: str


def _place_network(
    sheet: SheetLayout,
    *,
    network: Network,
    flavor: Flavor,
    x: Block,
    x_values,
    blocks,
    capitals: bool,
    number_format: str = NUMBER,
) -> PlacedNetwork:
    """Run the forward pass once, then place each layer where ``blocks`` says.

    ``blocks(k, layer, symbols)`` returns the (a, z) blocks of layer ``k``
    (having written whatever goes around them). Symbols are the book's: x,
    a1, z1, ..., y for one sample, and in capitals for a batch.
    """
    placed, source = [], x
    last = len(network.layers)
    case = str.upper if capitals else str.lower
    for k, (layer, values) in enumerate(
        zip(network.layers, network.forward(x_values), strict=True), start=1
    ):
        symbols = Symbols(
            inputs=case("x" if k == 1 else f"z{k - 1}"),
            a=case(f"a{k}"),
            z=case("y" if k == last else f"z{k}"),
        )
        a, z = blocks(k, layer, symbols)
        placed.append(
            place_layer(
                sheet,
                flavor=flavor,
                layer=layer,
                k=k,
                source=source,
                a=a,
                z=z,
                values=values,
                output=k == last,
                z_symbol=symbols.z,
                number_format=number_format,
            )
        )
        source = z
    return PlacedNetwork(tuple(placed))


def single_sample(
    cursor: Cursor,
    *,
    network: Network,
    flavor: Flavor,
    x: Block,
    x_values,
    weights_here: bool = True,
) -> PlacedNetwork:
    """Lay out the forward pass of one input row ``x``, down from the cursor.

    With ``weights_here`` the layers' W and b are written (and named) just
    before the layer that uses them, as in the book; otherwise the names
    must exist elsewhere in the workbook. The cursor ends below the output.
    """

    def blocks(k: int, layer: Dense, symbols: Symbols) -> tuple[Block, Block]:
        if weights_here:
            place_weights(cursor, layer=layer, k=k)
        cursor.text(
            f"{symbols.a} = {symbols.inputs} . W{k} + b{k}: each neuron's weighted "
            "sum of its inputs",
            "caption",
        )
        a = cursor.at(1, layer.n_outputs)
        cursor.skip(2)  # a, then a blank row
        cursor.text(
            f"{symbols.z} = {applied(layer, symbols.a)}: {_caption(layer)}",
            "caption",
        )
        z = cursor.at(1, layer.n_outputs)
        cursor.skip(2)
        return a, z

    return _place_network(
        cursor.sheet,
        network=network,
        flavor=flavor,
        x=x,
        x_values=x_values,
        blocks=blocks,
        capitals=False,
    )


def batch(
    sheet: SheetLayout,
    *,
    network: Network,
    flavor: Flavor,
    x: Block,
    x_values,
    caption_row: int,
    first_col: int,
    output_col: int | None = None,
    column_width: float = 8,
) -> PlacedNetwork:
    """Lay out the forward pass of a batch ``x`` (one sample per row), left to right.

    Each block gets a caption on ``caption_row`` and column headers on the
    row above ``x``; its data rows line up with ``x``. Blocks start at
    ``first_col``; the output block goes to ``output_col`` when given (say,
    next to the labels), else after the last block. Numbers get four
    decimals in columns ``column_width`` wide, and the blocks are one narrow
    column apart, so that a row of blocks stays readable when printed.
    """
    next_col = first_col
    last = len(network.layers)

    def block(col: int, width: int, caption: str, symbol: str) -> Block:
        sheet.text(sheet.block(caption_row, col), caption, "caption")
        headers = [f"{symbol.lower()}[{j}]" for j in range(width)]
        sheet.headers(sheet.block(x.row - 1, col, 1, width), headers)
        sheet.width(col, col + width - 1, column_width)
        sheet.width(col + width, col + width, GAP_WIDTH)
        return sheet.block(x.row, col, x.rows, width)

    def blocks(k: int, layer: Dense, symbols: Symbols) -> tuple[Block, Block]:
        nonlocal next_col
        width = layer.n_outputs
        caption = f"{symbols.a} = {symbols.inputs} . W{k} + b{k}"
        a = block(next_col, width, caption, symbols.a)
        next_col = a.last_col + 2
        caption = f"{symbols.z} = {applied(layer, symbols.a)}"
        if k == last and output_col:
            return a, block(output_col, width, caption, symbols.z)
        z = block(next_col, width, caption, symbols.z)
        next_col = z.last_col + 2
        return a, z

    return _place_network(
        sheet,
        network=network,
        flavor=flavor,
        x=x,
        x_values=x_values,
        blocks=blocks,
        capitals=True,
        number_format=COMPACT,
    )
