"""The sheet the script ``train_network`` adds: a trained network predicting.

Not one of the samples ``xlnn build`` writes, but laid out as they are (a
title and notes, then captioned blocks), for :mod:`xlnn.sheets.book_writer` to
enter into the open workbook. From the top:

- the weights ``W1``, ``b1``, ``W2``, ``b2`` as values (editable), and the
  accuracy of the predictions below;
- side by side, one row per step or sample: the loss and accuracy after each
  epoch (a record; epoch 0 is before the first step), each row's class
  number, the predicted class and whether it is right, ``Y`` (the
  probabilities, headed by the class labels), the inputs ``X`` (a copy of
  the rows trained on, editable) and the hidden layer ``Z1``.

``Z1`` and ``Y`` are each one ``DENSE`` formula over all the rows, so the
network computes in the workbook with xlnn's own function, from the weights
on the sheet. The add-in flavor only: the plain one has no ``DENSE``.
"""

from __future__ import annotations

import numpy as np

from xlnn import limits
from xlnn.classes import shown
from xlnn.learning import PARAMETER_NAMES
from xlnn.network import Dense, Network
from xlnn.samples import intro
from xlnn.sheets.flavors import Flavor
from xlnn.sheets.layout import (
    COMPACT,
    GAP_WIDTH,
    INTEGER,
    NUMBER,
    PROBABILITY,
    WEIGHT,
    Block,
    BookLayout,
    SheetLayout,
)
from xlnn.train_script import (
    HIDDEN_ACTIVATION,
    OUTPUT_ACTIVATION,
    Run,
    TrainingData,
    TrainingRefused,
)

#: The longest list of classes a note spells out; the headers of Y hold all.
LEGEND_CHARACTERS = 400
#: Width of the columns of numbers.
COLUMN_WIDTH = 9


def network_of(run: Run) -> Network:
    """The trained network as the workbook computes it: two dense layers."""
    W1, b1, W2, b2 = (run.params[name] for name in PARAMETER_NAMES)
    return Network((Dense(W1, b1, HIDDEN_ACTIVATION), Dense(W2, b2, OUTPUT_ACTIVATION)))


def legend(classes: tuple) -> str:
    """``0 setosa, 1 versicolor, ...``, cut short after :data:`LEGEND_CHARACTERS`."""
    text = ""
    for k, label in enumerate(classes):
        item = f"{k} {shown(label)}"
        if text and len(text) + len(item) > LEGEND_CHARACTERS:
            return f"{text}, ... ({len(classes) - k} more: see the headers of Y)"
        text = f"{text}, {item}" if text else item
    return text


def trained_sheet(
    title: str, data: TrainingData, run: Run, flavor: Flavor
) -> BookLayout:
    """The sheet called ``title``: ``run``'s network, trained on ``data``."""
    if not flavor.add_in:
        raise ValueError("the trained sheet calls DENSE: it needs the add-in flavor")
    network = network_of(run)
    book = BookLayout()
    sheet = book.sheet(title)
    n_in, hidden, n_out = (
        network.n_inputs,
        network.layers[0].n_outputs,
        network.layers[1].n_outputs,
    )
    cursor = intro(
        sheet,
        f"A {n_in}-{hidden}-{n_out} network trained on {data.source}",
        [
            f"Trained by xlnn's script train_network: minibatch gradient descent "
            f"in NumPy (xlnn.learning) from the book's starting weights, "
            f"{run.settings.described()}. The loss fell from "
            f"{run.losses[0]:.4g} to {run.losses[-1]:.4g}.",
            "Y = DENSE(Z1, W2, b2, softmax) with Z1 = DENSE(X, W1, b1, sigmoid): "
            "the network predicts in these cells from the weights below. Run "
            "train_network again for another sheet: this one is never overwritten.",
            f"The outputs y are the classes of {data.label_name}: "
            f"{legend(data.classes)}.",
        ],
        flavor,
    )
    accuracy = cursor.at()
    cursor.skip(2)
    weights = {}
    for name, caption in _weight_captions(n_in, hidden, n_out).items():
        cursor.text(caption, "caption")
        weights[name] = cursor.inputs(np.atleast_2d(run.params[name]), WEIGHT)
        sheet.anchor(name, weights[name])
    cursor.skip()
    table = _Table(sheet, caption_row=cursor.row, rows=data.rows)
    _loss_log(table, run)
    label, correct = _results(table, data, network, weights, flavor)
    sheet.text(accuracy, "accuracy on these rows", "caption")
    sheet.put_formula(
        accuracy.cell(0, 2),
        f"SUM({correct.ref})/COUNT({correct.ref})",
        expected=run.accuracies[-1],
        number_format=PROBABILITY,
        output=True,
        name="accuracy",
    )
    sheet.freeze = sheet.block(label.row, 1)
    return book


def _weight_captions(n_in: int, hidden: int, n_out: int) -> dict[str, str]:
    return {
        "W1": f"W1: weights into the hidden layer, one row per input, one column "
        f"per neuron ({n_in}x{hidden}; editable)",
        "b1": "b1: biases of the hidden layer (editable)",
        "W2": f"W2: weights into the outputs, one row per hidden neuron, one column "
        f"per class ({hidden}x{n_out}; editable)",
        "b2": "b2: biases of the outputs (editable)",
    }


class _Table:
    """Blocks side by side under one caption row and one header row."""

    def __init__(self, sheet: SheetLayout, *, caption_row: int, rows: int):
        self.sheet = sheet
        self.caption_row = caption_row
        self.first = caption_row + 2
        self.rows = rows
        self.col = 2

    def block(self, caption: str, headers, *, rows: int | None = None) -> Block:
        """The next block, ``rows`` high (the table's by default), with headers."""
        headers = list(headers)
        sheet = self.sheet
        sheet.text(sheet.block(self.caption_row, self.col), caption, "caption")
        sheet.headers(sheet.block(self.first - 1, self.col, 1, len(headers)), headers)
        block = sheet.block(self.first, self.col, rows or self.rows, len(headers))
        _check_fits(block)
        sheet.width(block.col, block.last_col, COLUMN_WIDTH)
        sheet.width(block.last_col + 1, block.last_col + 1, GAP_WIDTH)
        self.col = block.last_col + 2
        return block


def _check_fits(block: Block) -> None:
    """Refuse, before a formula names it, a block beyond Excel's last row or column."""
    if block.last_row > limits.EXCEL_ROWS or block.last_col > limits.EXCEL_COLUMNS:
        raise TrainingRefused(
            f"the new sheet would need {block.last_row:,} rows and "
            f"{block.last_col:,} columns; Excel's has {limits.EXCEL_ROWS:,} and "
            f"{limits.EXCEL_COLUMNS:,}: train on fewer rows or inputs, or with a "
            "smaller hidden_size"
        )


def _loss_log(table: _Table, run: Run) -> None:
    epochs = len(run.losses)
    block = table.block(
        "after each epoch (a record; 0: before training)",
        ["epoch", "loss", "accuracy"],
        rows=epochs,
    )
    sheet = table.sheet
    columns = [
        (np.arange(epochs, dtype=np.float64), INTEGER),
        (run.losses, NUMBER),
        (run.accuracies, PROBABILITY),
    ]
    for j, (values, number_format) in enumerate(columns):
        sheet.put_inputs(block.column_block(j), values[:, np.newaxis], number_format)
    sheet.anchor("loss", block.column_block(1))


def _results(table: _Table, data: TrainingData, network: Network, weights, flavor):
    """The class, prediction, Y, X and Z1 blocks; returns (class, correct)."""
    sheet = table.sheet
    layers = network.forward(data.x)
    predicted = np.argmax(layers[-1].z, axis=1)
    result = table.block("class: true, predicted", ["class", "predicted", "correct"])
    label = sheet.put_inputs(
        result.column_block(0), data.t[:, np.newaxis].astype(np.float64), INTEGER
    )
    y = table.block("Y = DENSE(Z1, W2, b2, softmax)", [shown(c) for c in data.classes])
    x = table.block("X: the rows trained on (editable)", data.feature_names)
    z1 = table.block(
        "Z1 = DENSE(X, W1, b1, sigmoid)",
        [f"z1[{j}]" for j in range(network.layers[0].n_outputs)],
    )
    sheet.put_inputs(x, data.x, "General")
    sheet.put_formula(
        z1,
        flavor.call(
            "DENSE",
            f'{x.ref},{weights["W1"].ref},{weights["b1"].ref},"{HIDDEN_ACTIVATION}"',
        ),
        expected=layers[0].z,
        number_format=COMPACT,
        name="Z1",
    )
    sheet.put_formula(
        y,
        flavor.call(
            "DENSE",
            f'{z1.ref},{weights["W2"].ref},{weights["b2"].ref},"{OUTPUT_ACTIVATION}"',
        ),
        expected=layers[1].z,
        number_format=PROBABILITY,
        output=True,
        name="Y",
    )
    prediction = result.column_block(1)
    sheet.put_row_formulas(
        prediction,
        lambda i: f"MATCH(MAX({y.row_block(i).ref}),{y.row_block(i).ref},0)-1",
        expected=predicted[:, np.newaxis].astype(np.float64),
        filled=data.rows,
        number_format=INTEGER,
        output=True,
        name="predicted",
    )
    correct = sheet.put_formula(
        result.column_block(2),
        f"IF({prediction.ref}={label.ref},1,0)",
        expected=(predicted == data.t).astype(np.float64)[:, np.newaxis],
        number_format=INTEGER,
        name="correct",
    )
    sheet.anchor("X", x)
    sheet.anchor("class", label)
    return label, correct
