"""The training sample: the book's two-layer network learns iris, one step per band.

Chapters 4 and 5 of the book in cells. Fifteen iris flowers (every tenth of
the 150 in ``xlnn/data/iris.csv``) train the book's ``TwoLayerNet`` (Affine,
sigmoid, Affine, softmax with cross-entropy) by full-batch gradient descent.
Every step is a band of formulas on the *steps* sheet: the weights it uses
(the previous band's weights minus ``learning_rate`` times their gradients),
the forward pass, the loss, the backward pass and the gradients. Nothing but
recalculation runs the training: no macros, no iteration, no Solver.

Sheets:

- *training*: ``learning_rate``, the loss and accuracy before and after, and
  the loss after each step (``loss_per_step``) with its chart;
- *data*: the flowers in cm, standardised by formulas (``train_x``), their
  species one-hot (``train_t``), and each flower's prediction before and after;
- *steps*: one band per step; the first holds the starting weights
  (``init_W1`` ...), the last one, after the final update, the trained
  weights (``final_W1`` ...) and their loss.

What every cell must show comes from :mod:`xlnn.learning`: the losses and the
final weights from :func:`~xlnn.learning.gradient_descent`, the blocks in
between from the same layers (:class:`~xlnn.learning.Affine` and the others)
run step by step.
"""

from __future__ import annotations

import io
import pkgutil
from dataclasses import dataclass, replace

import numpy as np

from xlnn import learning
from xlnn.functions import catalog
from xlnn.samples import intro
from xlnn.sheets import network_layout
from xlnn.sheets.flavors import Flavor
from xlnn.sheets.layout import (
    COMPACT,
    GAP_WIDTH,
    INTEGER,
    PROBABILITY,
    SHORT,
    Block,
    BookLayout,
    Chart,
    Highlight,
    Series,
    SheetLayout,
    column_letter,
)

#: Full-batch steps of gradient descent, each a band of the steps sheet: the
#: fewest the issue allows, since ``formulas``' time in ``xlnn build`` grows
#: with the sheet's area (it makes a node of every cell in the used range).
STEPS = 30
#: Hidden sigmoid neurons: 5, so that W1 (4x5) shows which way it multiplies.
HIDDEN = 5
#: With 2.0 the loss falls from 1.0986 to 0.29 in 30 steps (1.0: to 0.66).
LEARNING_RATE = 2.0
#: The book's TwoLayerNet starts from 0.01 times standard normal weights.
WEIGHT_INIT_STD = 0.01
SEED = 0
#: Every tenth flower of the 150: five of each species, in the file's order.
#: Few rows keep a whole step on one screen, and the build fast: ``formulas``'
#: time grows with the steps sheet's area.
EVERY = 10

FEATURES = ("sepal length", "sepal width", "petal length", "petal width")
#: The steps sheet's numbers: forward values, and the small backward ones.
FORWARD = COMPACT
BACKWARD = "0.00E+00"
WEIGHTS = "0.0000"
#: Width of the steps sheet's block columns, in characters.
COLUMN = 10


# --- the data ----------------------------------------------------------------


@dataclass(frozen=True)
class Flowers:
    """Iris flowers: measurements in cm, species (0-based) and species names.

    ``numbers`` are the flowers' 1-based rows in the data file.
    """

    cm: np.ndarray
    species: np.ndarray
    names: tuple[str, ...]
    numbers: np.ndarray

    @property
    def one_hot(self) -> np.ndarray:
        return np.eye(len(self.names))[self.species]

    def standardised(self) -> np.ndarray:
        """Each measurement minus its column's mean, over its standard deviation
        (population: ``STDEVP``), as the data sheet's formulas compute it."""
        return (self.cm - self.cm.mean(axis=0)) / self.cm.std(axis=0)

    def standardised_sizes(self) -> np.ndarray:
        """The size of the terms behind :meth:`standardised`: ``|cm| + |mean|``
        over the standard deviation."""
        return (np.abs(self.cm) + np.abs(self.cm.mean(axis=0))) / self.cm.std(axis=0)


def load_iris() -> Flowers:
    """The 150 flowers of ``xlnn/data/iris.csv`` (scikit-learn's copy)."""
    # By the top package's name, as load_digits_network: "xlnn", or the
    # private package of the file xlnn lite writes, which carries the data.
    stored = pkgutil.get_data(__name__.partition(".")[0], "data/iris.csv")
    text = stored.decode("utf-8")
    header = text.splitlines()[0]
    table = np.loadtxt(io.StringIO(text), delimiter=",", skiprows=1)
    # The header is scikit-learn's: rows, features, then the species names.
    names = tuple(header.split(",")[2:])
    return Flowers(
        table[:, :4], table[:, 4].astype(int), names, np.arange(1, len(table) + 1)
    )


def training_flowers() -> Flowers:
    """The flowers the sample trains on: every :data:`EVERY`-th one."""
    iris = load_iris()
    rows = slice(None, None, EVERY)
    return Flowers(iris.cm[rows], iris.species[rows], iris.names, iris.numbers[rows])


def starting_weights(inputs: int, outputs: int) -> dict[str, np.ndarray]:
    """The book's TwoLayerNet initialisation, from :data:`SEED`."""
    net = learning.TwoLayerNet(
        inputs, HIDDEN, outputs, weight_init_std=WEIGHT_INIT_STD, seed=SEED
    )
    return net.params


# --- the steps in NumPy --------------------------------------------------------


@dataclass(frozen=True)
class Pass:
    """One band's values: the weights it uses, the forward pass and the loss,
    then (``None`` after the last update) the backward pass and the gradients."""

    params: dict
    a1: np.ndarray
    z1: np.ndarray
    a2: np.ndarray
    y: np.ndarray
    loss: float
    da2: np.ndarray | None = None
    dz1: np.ndarray | None = None
    da1: np.ndarray | None = None
    grads: dict | None = None


def one_pass(params, x, t, *, backward: bool) -> Pass:
    """The book's layers (:mod:`xlnn.learning`) run once forward, and back."""
    first = learning.Affine(params["W1"], params["b1"])
    hidden = learning.Sigmoid()
    second = learning.Affine(params["W2"], params["b2"])
    last = learning.SoftmaxWithLoss()
    a1 = first.forward(x)
    z1 = hidden.forward(a1)
    a2 = second.forward(z1)
    loss = last.forward(a2, t)
    forward = Pass(params, a1, z1, a2, last.y, loss)
    if not backward:
        return forward
    da2 = last.backward(1.0)
    dz1 = second.backward(da2)
    da1 = hidden.backward(dz1)
    first.backward(da1)
    grads = {"W1": first.dW, "b1": first.db, "W2": second.dW, "b2": second.db}
    return Pass(params, a1, z1, a2, last.y, loss, da2, dz1, da1, grads)


def passes(init, x, t, learning_rate: float, steps: int) -> list[Pass]:
    """Every band's values: ``steps`` steps, then the forward pass after them.

    Each update is :meth:`xlnn.learning.TwoLayerNet.step`'s,
    ``W - learning_rate * dW``.
    """
    found, params = [], dict(init)
    for _ in range(steps):
        step = one_pass(params, x, t, backward=True)
        found.append(step)
        params = {
            name: params[name] - learning_rate * step.grads[name]
            for name in learning.PARAMETER_NAMES
        }
    found.append(one_pass(params, x, t, backward=False))
    return found


def held_to(bands: list[Pass], run: learning.Descent) -> list[Pass]:
    """``bands`` with :func:`xlnn.learning.gradient_descent`'s own losses and
    final weights, so that the workbook is held to ``xlnn.learning`` itself
    for them, not to :func:`passes`' copy of its steps."""
    losses = [*run.losses, run.final_loss]
    held = [replace(band, loss=loss) for band, loss in zip(bands, losses, strict=True)]
    held[-1] = replace(held[-1], params=run.params)
    return held


def term_sizes(bands: list[Pass], x_sizes, t, learning_rate: float) -> list[dict]:
    """The size of the terms behind every cell of every band, by block name.

    A value near 0 that sums large terms (a bias gradient late in training)
    carries their rounding; :mod:`xlnn.engines.verify` judges it against
    them (see :class:`xlnn.sheets.layout.Check`). Each block's sizes come
    from its operands' values, one operation deep (a sum's terms are
    ``sum |a| |b|``), and a product passes on its factor's sizes: carried
    from step to step they would compound into a bound that excuses anything.
    ``x_sizes`` is the size of the terms behind the standardised inputs.
    """
    n = len(x_sizes)
    found, previous = [], None
    for band in bands:
        weights = {name: np.abs(np.atleast_2d(p)) for name, p in band.params.items()}
        sizes = dict(weights)
        if previous is not None:
            for name in learning.PARAMETER_NAMES:
                sizes[name] = weights[name] + learning_rate * previous[f"d{name}"]
        sizes["A1"] = x_sizes @ weights["W1"] + weights["b1"]
        z1 = np.abs(band.z1)
        sizes["A2"] = z1 @ weights["W2"] + weights["b2"]
        if band.grads is not None:
            sizes["dA2"] = (np.abs(band.y) + np.abs(t)) / n
            sizes["dZ1"] = sizes["dA2"] @ weights["W2"].T
            sizes["dA1"] = sizes["dZ1"] * band.z1 * (1 - band.z1)
            for k, inputs in (("1", x_sizes), ("2", z1)):
                sizes[f"dW{k}"] = inputs.T @ sizes[f"dA{k}"]
                sizes[f"db{k}"] = sizes[f"dA{k}"].sum(axis=0, keepdims=True)
        found.append(sizes)
        previous = sizes
    return found


def _predicted(y: np.ndarray) -> np.ndarray:
    return np.argmax(y, axis=1)


# --- the workbook -------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """Where one band's blocks are on the steps sheet."""

    weights: dict[str, Block]
    a1: Block
    z1: Block
    a2: Block
    y: Block
    loss: Block
    grads: dict[str, Block] | None
    #: The band's last row.
    bottom: int


def iris_training(flavor: Flavor, *, steps: int = STEPS) -> BookLayout:
    """The sample: ``steps`` steps of gradient descent on 15 iris flowers."""
    flowers = training_flowers()
    x, t = flowers.standardised(), flowers.one_hot
    init = starting_weights(x.shape[1], t.shape[1])
    run = learning.gradient_descent(init, x, t, LEARNING_RATE, steps)
    bands = held_to(passes(init, x, t, LEARNING_RATE, steps), run)
    sizes = term_sizes(bands, flowers.standardised_sizes(), t, LEARNING_RATE)
    book = BookLayout()
    data = _data_sheet(book, flavor, flowers)
    placed = _steps_sheet(book, flavor, bands, sizes, flowers.names)
    correct = _predictions(data, flowers, bands, placed)
    _training_sheet(book, flavor, bands, run, placed, correct, flowers)
    book.move_sheet("training", 0)
    return book


def _widths(sheet: SheetLayout, blocks, width: float = COLUMN) -> None:
    """``width`` for every block's columns, and a narrow gap after each."""
    for block in blocks:
        sheet.width(block.col, block.last_col, width)
        sheet.width(block.last_col + 1, block.last_col + 1, GAP_WIDTH)


@dataclass(frozen=True)
class DataBlocks:
    """The data sheet's blocks that others refer to."""

    sheet: SheetLayout
    t: Block
    first_free_col: int


def _data_sheet(book: BookLayout, flavor: Flavor, flowers: Flowers) -> DataBlocks:
    sheet = book.sheet("data")
    count = len(flowers.species)
    cursor = intro(
        sheet,
        f"The training data: {count} iris flowers",
        [
            f"Every {EVERY}th of the 150 flowers in Fisher's iris data "
            "(scikit-learn's copy, xlnn/data/iris.csv): "
            f"{count // len(flowers.names)} of each species.",
            "x standardises each measurement: (cm - mean) / standard deviation over "
            "these flowers, so that the four features share one scale (train_x).",
            "t is the species as a one-hot row, 1 under the true species (train_t): "
            "what the network learns to predict from x.",
        ],
        flavor,
    )
    # Captions on the cursor's row, headers under them, a flower a row from first.
    first = cursor.row + 2
    _flower_labels(sheet, flowers, first)
    cm, mean, sd = _measurements(sheet, flowers, first)
    x_block = _standardised(sheet, flowers, cm, mean, sd)
    book.name("train_x", x_block)
    t_block = _one_hot(sheet, flowers, x_block.last_col + 2, first)
    book.name("train_t", t_block)
    _widths(sheet, [cm, x_block, t_block], width=12)
    sheet.freeze = sheet.block(first, 4)
    return DataBlocks(sheet, t_block, t_block.last_col + 2)


def _flower_labels(sheet: SheetLayout, flowers: Flowers, first: int) -> None:
    """Each flower's number in the data file and its species' name, from row
    ``first`` in columns B and C."""
    captions, headers = first - 2, first - 1
    sheet.text(sheet.block(captions, 2), "flower", "caption")
    sheet.headers(sheet.block(headers, 2, 1, 2), ["number", "species"])
    for i in range(len(flowers.species)):
        sheet.text(sheet.block(first + i, 2), int(flowers.numbers[i]), "header")
        sheet.text(sheet.block(first + i, 3), flowers.names[flowers.species[i]])
    sheet.width(2, 2, 8)
    sheet.width(3, 3, 11)
    sheet.width(4, 4, GAP_WIDTH)


def _measurements(sheet: SheetLayout, flowers: Flowers, first: int):
    """The measurements in cm (editable) from row ``first``, and under them
    each feature's mean and standard deviation; returns the three blocks."""
    captions, headers = first - 2, first - 1
    cm = sheet.put_inputs(sheet.block(first, 5, *flowers.cm.shape), flowers.cm, SHORT)
    sheet.text(
        sheet.block(captions, cm.col), "measurements in cm (editable)", "caption"
    )
    sheet.headers(sheet.block(headers, cm.col, 1, cm.cols), FEATURES)
    mean, sd = (sheet.block(cm.last_row + k, cm.col, 1, cm.cols) for k in (1, 2))
    sheet.text(sheet.block(mean.row, 3), "mean", "header")
    sheet.text(sheet.block(sd.row, 3), "sd (STDEVP)", "header")
    for j in range(cm.cols):
        column = cm.column_block(j).ref
        sheet.put_formula(
            mean.cell(0, j),
            f"AVERAGE({column})",
            expected=flowers.cm[:, j].mean(),
            number_format=FORWARD,
        )
        sheet.put_formula(
            sd.cell(0, j),
            f"STDEVP({column})",
            expected=flowers.cm[:, j].std(),
            number_format=FORWARD,
        )
    return cm, mean, sd


def _standardised(sheet: SheetLayout, flowers: Flowers, cm, mean, sd) -> Block:
    """x = (cm - mean) / sd, right of the measurements."""
    x_block = sheet.block(cm.row, cm.last_col + 2, *cm.shape)
    sheet.text(
        sheet.block(cm.row - 2, x_block.col),
        "x = (cm - mean) / sd (train_x)",
        "caption",
    )
    sheet.headers(
        sheet.block(cm.row - 1, x_block.col, 1, x_block.cols),
        [f"x[{j}]" for j in range(x_block.cols)],
    )
    sheet.put_formula(
        x_block,
        f"({cm.ref}-{mean.ref})/{sd.ref}",
        expected=flowers.standardised(),
        number_format=FORWARD,
        name="x",
        scale=flowers.standardised_sizes(),
    )
    return x_block


def _one_hot(sheet: SheetLayout, flowers: Flowers, col: int, first: int) -> Block:
    """t, each flower's species one-hot (editable), at ``col`` from row ``first``."""
    t_block = sheet.put_inputs(
        sheet.block(first, col, len(flowers.species), len(flowers.names)),
        flowers.one_hot,
        INTEGER,
    )
    sheet.text(
        sheet.block(first - 2, t_block.col),
        "t: the species, one-hot (editable; train_t)",
        "caption",
    )
    sheet.headers(sheet.block(first - 1, t_block.col, 1, t_block.cols), flowers.names)
    sheet.anchor("t", t_block)
    return t_block


def _steps_sheet(book: BookLayout, flavor: Flavor, bands, sizes, species) -> list[Band]:
    sheet = book.sheet("steps")
    steps, count = len(bands) - 1, len(bands[0].y)
    cursor = intro(
        sheet,
        f"Gradient descent, one band per step ({steps} steps)",
        [
            "Each band is one step of the book's TwoLayerNet (sections 4.5 and 5.7) "
            f"on all {count} flowers at once: X is train_x, T is train_t (data sheet).",
            "W1 has a row per input and a column per hidden neuron, W2 a row per "
            "hidden neuron and a column per species; b1 and b2 add to every row.",
            "Forward (top row of blocks): A1 = X . W1 + b1, Z1 = sigmoid(A1), "
            "A2 = Z1 . W2 + b2, Y = softmax(A2); the loss is the cross-entropy "
            "-sum(T * ln Y) / N.",
            "Backward (second row, right to left as in the book's section 5.6): "
            "dA2 = (Y - T) / N, dZ1 = dA2 . W2^T, dA1 = dZ1 * (1 - Z1) * Z1;",
            "then the gradients: dW = (the layer's input)^T . dA, and db = the sum "
            "of dA over the rows. Each row of a block is one flower.",
            "The next band's weights are W - learning_rate * dW (learning_rate is "
            "on the training sheet). The printout shows step 1; the others repeat it.",
        ],
        flavor,
    )
    placed, top = [], cursor.row
    for k, (values, band_sizes) in enumerate(zip(bands, sizes, strict=True)):
        previous = placed[-1] if placed else None
        placed.append(
            _band(sheet, flavor, values, band_sizes, k, steps, top, previous, species)
        )
        top = placed[-1].bottom + 3
    for name in learning.PARAMETER_NAMES:
        book.name(f"init_{name}", placed[0].weights[name])
        book.name(f"final_{name}", placed[-1].weights[name])
    first = placed[0]
    sheet.print_area = sheet.block(1, 1, first.bottom, first.weights["W1"].last_col)
    sheet.printout = "one landscape page"
    _widths(sheet, [first.a1, first.z1, first.a2, first.y, first.weights["W1"]])
    return placed


def _band(sheet, flavor, values: Pass, sizes, k, steps, top, previous, species):
    """Lay out band ``k`` (0-based) from row ``top``; ``previous`` is band k-1's.

    ``sizes`` are the band's term sizes (:func:`term_sizes`), by block name;
    ``species`` head the columns of Y.
    """
    last = values.grads is None
    title = (
        f"After step {steps}: the trained weights and their loss"
        if last
        else f"Step {k + 1} of {steps}"
    )
    sheet.text(sheet.block(top, 1), title, "title")
    label = f"after {steps}" if last else f"step {k + 1}"
    grid = _band_grid(sheet, values, k, top, label)
    weights = _weights(
        sheet, values, sizes, k, steps, grid.side_col, top + 1, previous, label
    )
    a1, z1, a2, y = _forward_pass(grid, flavor, values, sizes, weights, species)
    loss = _loss(grid, values, y)
    if last:
        return Band(weights, a1, z1, a2, y, loss, None, loss.last_row)
    da2, _, da1 = _backward_pass(grid, values, sizes, weights, y=y, z1=z1)
    grads = _gradients(
        sheet,
        values,
        sizes,
        grid.side_col,
        grid.backward_row - 2,
        label,
        inputs={"W1": "train_x", "W2": z1.ref},
        deltas={"1": da1, "2": da2},
    )
    bottom = max(block.last_row for block in [da1, *grads.values()])
    return Band(weights, a1, z1, a2, y, loss, grads, bottom)


@dataclass(frozen=True)
class _BandGrid:
    """Where one band's blocks go: a column each for A1, Z1, A2 and Y (dA1, dZ1,
    dA2 and the loss under them), the weights and gradients at the side; the
    row of the forward blocks, and of the backward ones under them."""

    sheet: SheetLayout
    k: int
    label: str
    flowers: int
    a1_col: int
    z1_col: int
    a2_col: int
    y_col: int
    side_col: int
    forward_row: int
    backward_row: int

    def block(self, col, width, caption, header_names, row=None) -> Block:
        """A block of a row per flower at ``col``, captioned two rows above."""
        sheet, row = self.sheet, self.forward_row if row is None else row
        sheet.text(sheet.block(row - 2, col), caption, "caption")
        # Column headers in the first band only, which they explain for all:
        # ``formulas`` checks every text cell against every array formula of
        # the sheet, so a header row in every band would cost the build time.
        if self.k == 0:
            sheet.headers(sheet.block(row - 1, col, 1, width), header_names)
        return sheet.block(row, col, self.flowers, width)

    def formula(self, col, width, caption, header_names, body, *, row=None, **check):
        """A :meth:`block` holding ``body``; its check (``expected``, ``scale``,
        ``number_format``) is named after the caption's left side: "dA2"."""
        block = self.block(col, width, caption, header_names, row)
        name = f"{self.label} {caption.split(' = ')[0]}"
        self.sheet.put_formula(block, body, name=name, **check)
        return block


def _band_grid(sheet, values: Pass, k, top, label) -> _BandGrid:
    """Band ``k``'s grid from row ``top`` (its title), sized by ``values``."""
    n, hidden = values.z1.shape
    classes = values.y.shape[1]
    first = top + 3
    cols = [2]
    for width in (hidden, hidden, classes, classes):
        cols.append(cols[-1] + width + 1)
    back = first + n + 3  # below the forward blocks, a blank row, captions
    return _BandGrid(sheet, k, label, n, *cols, forward_row=first, backward_row=back)


def _forward_pass(grid: _BandGrid, flavor, values: Pass, sizes, weights, species):
    """A1 = X . W1 + b1, Z1 = sigmoid(A1), A2 = Z1 . W2 + b2, Y = softmax(A2)."""
    sheet, label = grid.sheet, grid.label
    hidden, classes = values.z1.shape[1], values.y.shape[1]
    a1 = grid.formula(
        grid.a1_col, hidden, "A1 = X . W1 + b1", _named("a1", hidden),
        f"MMULT(train_x,{weights['W1'].ref})+{weights['b1'].ref}",
        expected=values.a1, scale=sizes["A1"], number_format=FORWARD,
    )  # fmt: skip
    z1 = grid.block(grid.z1_col, hidden, "Z1 = sigmoid(A1)", _named("z1", hidden))
    network_layout.write_activation(
        sheet,
        flavor=flavor,
        activation=catalog.get("sigmoid"),
        source=a1,
        target=z1,
        expected=values.z1,
        name=f"{label} Z1",
        number_format=FORWARD,
    )
    a2 = grid.formula(
        grid.a2_col, classes, "A2 = Z1 . W2 + b2", _named("a2", classes),
        f"MMULT({z1.ref},{weights['W2'].ref})+{weights['b2'].ref}",
        expected=values.a2, scale=sizes["A2"], number_format=FORWARD,
    )  # fmt: skip
    y = grid.block(grid.y_col, classes, "Y = softmax(A2), per row", species)
    network_layout.write_activation(
        sheet,
        flavor=flavor,
        activation=catalog.get("softmax"),
        source=a2,
        target=y,
        expected=values.y,
        name=f"{label} Y",
    )
    return a1, z1, a2, y


def _loss(grid: _BandGrid, values: Pass, y: Block) -> Block:
    """The cross-entropy of Y against train_t, under Y."""
    sheet, back = grid.sheet, grid.backward_row
    loss = sheet.block(back, grid.y_col)
    sheet.text(
        sheet.block(back - 2, grid.y_col), "loss = -sum(T * ln Y) / N", "caption"
    )
    sheet.put_formula(
        loss,
        f"-SUMPRODUCT(train_t,LN({y.ref}))/ROWS(train_t)",
        expected=values.loss,
        number_format=PROBABILITY,
        output=True,
        name=f"{grid.label} loss",
    )
    return loss


def _backward_pass(grid: _BandGrid, values: Pass, sizes, weights, *, y, z1):
    """dA2 = (Y - T) / N, dZ1 = dA2 . W2^T, dA1 = dZ1 * (1 - Z1) * Z1."""
    hidden, classes = values.z1.shape[1], values.y.shape[1]
    back = {"row": grid.backward_row, "number_format": BACKWARD}
    da2 = grid.formula(
        grid.a2_col, classes, "dA2 = (Y - T) / N", _named("da2", classes),
        f"({y.ref}-train_t)/ROWS(train_t)",
        expected=values.da2, scale=sizes["dA2"], **back,
    )  # fmt: skip
    dz1 = grid.formula(
        grid.z1_col, hidden, "dZ1 = dA2 . W2^T", _named("dz1", hidden),
        f"MMULT({da2.ref},TRANSPOSE({weights['W2'].ref}))",
        expected=values.dz1, scale=sizes["dZ1"], **back,
    )  # fmt: skip
    # In the book's order, dout * (1 - y) * y (section 5.5.2).
    da1 = grid.formula(
        grid.a1_col, hidden, "dA1 = dZ1 * (1 - Z1) * Z1", _named("da1", hidden),
        f"{dz1.ref}*(1-{z1.ref})*{z1.ref}",
        expected=values.da1, scale=sizes["dA1"], **back,
    )  # fmt: skip
    return da2, dz1, da1


def _named(symbol: str, width: int) -> list[str]:
    return [f"{symbol}[{j}]" for j in range(width)]


def _weight_rows(values: Pass, col: int, top: int, sheet: SheetLayout):
    """Blocks for W1, b1, W2, b2 one under another from ``top``, each captioned
    on the row above it (the captions keep them apart); yields (name, caption
    row, block)."""
    row = top
    for name in learning.PARAMETER_NAMES:
        shape = np.atleast_2d(values.params[name]).shape
        yield name, row, sheet.block(row + 1, col, *shape)
        row += shape[0] + 1


def _weights(sheet, values: Pass, sizes, k, steps, col, top, previous, label):
    """The weights band ``k`` uses: the starting ones (editable) in the first band,
    else the previous band's minus ``learning_rate`` times their gradients."""
    placed = {}
    for name, caption_row, block in _weight_rows(values, col, top, sheet):
        if previous is None:
            caption = f"{name} to start from (editable; init_{name})"
            sheet.put_inputs(block, np.atleast_2d(values.params[name]), WEIGHTS)
        else:
            old, grad = previous.weights[name], previous.grads[name]
            after = f"after step {k}" if k < steps else f"trained (final_{name})"
            caption = f"{name} {after} = {name} - learning_rate * d{name}"
            sheet.put_formula(
                block,
                f"{old.ref}-learning_rate*{grad.ref}",
                expected=np.atleast_2d(values.params[name]),
                number_format=WEIGHTS,
                scale=sizes[name],
                output=k == steps,
            )
        sheet.text(sheet.block(caption_row, col), caption, "caption")
        sheet.anchor(f"{label} {name}", block)
        placed[name] = block
    return placed


def _gradients(sheet, values: Pass, sizes, col, top, label, *, inputs, deltas):
    """dW = input^T . dA and db = the column sums of dA, under the weights."""
    placed = {}
    for name, caption_row, block in _weight_rows(values, col, top, sheet):
        layer = name[1]
        delta = deltas[layer]
        if name.startswith("W"):
            source = "X" if layer == "1" else "Z1"
            caption = f"d{name} = {source}^T . dA{layer}"
            sheet.put_formula(
                block,
                f"MMULT(TRANSPOSE({inputs[name]}),{delta.ref})",
                expected=values.grads[name],
                number_format=BACKWARD,
                scale=sizes[f"d{name}"],
            )
        else:
            caption = f"d{name} = sum of dA{layer} over the rows"
            for j in range(block.cols):
                sheet.put_formula(
                    block.cell(0, j),
                    f"SUM({delta.column_block(j).ref})",
                    expected=values.grads[name][j],
                    number_format=BACKWARD,
                    scale=sizes[f"d{name}"][0, j],
                )
        sheet.text(sheet.block(caption_row, col), caption, "caption")
        sheet.anchor(f"{label} d{name}", block)
        placed[name] = block
    return placed


def _predictions(data: DataBlocks, flowers: Flowers, bands, placed) -> dict:
    """Each flower's predicted species and whether it is right, before and after."""
    sheet, t = data.sheet, data.t
    col = data.first_free_col
    steps = len(bands) - 1
    captions, headers = t.row - 2, t.row - 1
    sheet.text(
        sheet.block(captions, col),
        "predicted species (0, 1, 2) and 1 where it is right",
        "caption",
    )
    sheet.headers(
        sheet.block(headers, col, 1, 4),
        ["before", f"after {steps}", "right before", "right after"],
    )
    correct = {}
    for offset, (when, band, values) in enumerate(
        [("before", placed[0], bands[0]), ("after", placed[-1], bands[-1])]
    ):
        predicted = _predicted(values.y)
        guess = sheet.block(t.row, col + offset, t.rows, 1)
        right = sheet.block(t.row, col + 2 + offset, t.rows, 1)
        for i in range(t.rows):
            row = band.y.row_block(i).qualified_ref
            sheet.put_formula(
                guess.cell(i),
                f"MATCH(MAX({row}),{row},0)-1",
                expected=float(predicted[i]),
                number_format=INTEGER,
            )
            sheet.put_formula(
                right.cell(i),
                f"INDEX({t.row_block(i).ref},1,{guess.cell(i).ref}+1)",
                expected=float(predicted[i] == flowers.species[i]),
                number_format=INTEGER,
            )
        sheet.anchor(f"predicted {when}", guess)
        sheet.anchor(f"right {when}", right)
        correct[when] = right
    # A flower the trained network gets wrong is shaded red.
    sheet.highlights.append(
        Highlight(
            sheet.block(t.row, 2, t.rows, col + 2),
            f"${column_letter(correct['after'].col)}{t.row}=0",
        )
    )
    sheet.width(col, col + 3, 10)
    return correct


def _training_sheet(book, flavor, bands, run, placed, correct, flowers):
    sheet = book.sheet("training")
    steps = len(bands) - 1
    count = len(flowers.species)
    cursor = intro(
        sheet,
        f"A network learns in cells: iris, {steps} steps of gradient descent",
        [
            f"The book's TwoLayerNet (chapters 4 and 5): 4 inputs, {HIDDEN} sigmoid "
            "neurons, 3 softmax outputs,",
            f"learns the species of {count} iris flowers (data sheet) from their "
            "measurements.",
            "Each band of the steps sheet is one step: forward pass, loss, "
            "backpropagation, gradients;",
            "the next band's weights are W - learning_rate * dW. Change "
            "learning_rate and it all runs again.",
            "The first steps barely move: the starting weights are tiny (the "
            "book's 0.01 scale), so are the gradients.",
        ],
        flavor,
    )
    cursor.text("learning_rate (editable): the size of every step", "caption")
    rate = cursor.inputs([[LEARNING_RATE]], "0.00")
    book.name("learning_rate", rate)
    cursor.skip()
    # The loss after each step goes to the right of the summary and the chart.
    table_col = 9
    loss_column, steps_column = _loss_table(
        sheet, placed, bands, top=cursor.row, col=table_col
    )
    _before_and_after(cursor, bands, run, loss_column, correct, flowers)
    cursor.skip(3)
    _loss_chart(sheet, cursor.at(), bands, loss_column, steps_column)
    sheet.width(2, 2, 10)
    sheet.width(3, 4, 16)
    sheet.width(5, table_col - 2, 9)  # with B to D, as wide as the chart
    sheet.width(table_col - 1, table_col - 1, GAP_WIDTH)
    sheet.width(table_col, table_col, 6)
    sheet.width(table_col + 1, table_col + 1, 10)
    sheet.print_area = sheet.block(1, 1, loss_column.last_row, loss_column.col)
    sheet.printout = "one portrait page"


def _before_and_after(cursor, bands, run, loss_column, correct, flowers) -> None:
    """The loss and accuracy before and after training, from the cursor's row:
    the loss from ``loss_column``, the accuracy from the data sheet's ``correct``."""
    sheet = cursor.sheet
    steps = len(bands) - 1
    cursor.text(
        f"Before and after training, on the {len(flowers.species)} flowers", "caption"
    )
    cursor.headers(["", "before training", f"after {steps} steps"])
    x, t = flowers.standardised(), flowers.one_hot
    networks = {
        "before": learning.TwoLayerNet(params=bands[0].params),
        "after": run.network,
    }
    sheet.text(cursor.at(), "loss", "header")
    sheet.text(sheet.block(cursor.row + 1, cursor.col), "accuracy", "header")
    for j, (when, net) in enumerate(networks.items()):
        k = 0 if when == "before" else steps
        sheet.put_formula(
            cursor.at(right=1 + j),
            loss_column.cell(k).ref,
            expected=bands[k].loss,
            number_format=PROBABILITY,
            output=True,
            name=f"loss {when}",
        )
        sheet.put_formula(
            sheet.block(cursor.row + 1, cursor.col + 1 + j),
            f"AVERAGE({correct[when].qualified_ref})",
            expected=net.accuracy(x, t),
            number_format=PROBABILITY,
            output=True,
            name=f"accuracy {when}",
        )


def _loss_chart(sheet: SheetLayout, anchor: Block, bands, loss_column, steps_column):
    """The line chart of the loss per step, its top left corner at ``anchor``."""
    losses = [band.loss for band in bands]
    sheet.charts.append(
        Chart(
            kind="line",
            title="Loss per step",
            anchor=anchor,
            categories=steps_column,
            series=(Series(loss_column, "loss"),),
            size=(8, 13),
            x_title="step",
            y_title="loss",
            x_range=(0, len(losses) - 1),
            y_range=(0, float(np.ceil(max(losses) * 5) / 5)),
            number_format="0.0",
            legend=False,
        )
    )


def _loss_table(sheet: SheetLayout, placed: list[Band], bands, *, top: int, col: int):
    """The loss after each number of steps (0: before any), named loss_per_step;
    returns the loss and step columns."""
    sheet.text(sheet.block(top, col), "loss_per_step", "caption")
    sheet.headers(sheet.block(top + 1, col, 1, 2), ["step", "loss"])
    steps_column = sheet.block(top + 2, col, len(placed), 1)
    loss_column = sheet.block(top + 2, col + 1, len(placed), 1)
    for k, (band, values) in enumerate(zip(placed, bands, strict=True)):
        sheet.text(steps_column.cell(k), k, "header")
        sheet.put_formula(
            loss_column.cell(k),
            band.loss.qualified_ref,
            expected=values.loss,
            number_format=PROBABILITY,
        )
    sheet.anchor("loss_per_step", loss_column)
    sheet.book.name("loss_per_step", loss_column)
    return loss_column, steps_column
