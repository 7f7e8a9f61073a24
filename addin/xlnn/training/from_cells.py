"""The script ``train_network`` without Excel: cells in, a trained network out.

:mod:`xlnn.excel.training` reads the cells from the workbook (the selection,
or the ranges named ``train_x`` and ``train_t``) and hands them over as
xlwings reads them ("raw": numbers, text, blanks, error values). Here they
become numbers (:func:`from_selection`, :func:`from_names`), the settings
(:func:`settings_from_cells`), and a trained network (:func:`train`): the
book's two-layer network (sigmoid, then softmax) trained by minibatch
gradient descent with :mod:`xlnn.learning`. Everything a user can get wrong
is a :class:`TrainingRefused` naming the cell, raised before any training.

The rules, as the script's help states them:

- Data: one sample per row. A selection's last column holds the labels, the
  other columns the inputs; its first row is a header when no input cell of
  it is a number. With the names, ``train_x`` holds the inputs and
  ``train_t`` the labels: one column of labels, or one-hot rows.
- Inputs are numbers (TRUE and FALSE count as 1 and 0, dates as their serial
  numbers); a blank, text or error value in them is refused. Labels are
  numbers or text, never blank; there must be two classes at least.
- Blank rows at the end are left out (a selection reaching below the data).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from xlnn import learning, limits
from xlnn.errors import UserError, quoted
from xlnn.functions import cells
from xlnn.sheets.layout import Block
from xlnn.training.classes import NEEDS_TWO_CLASSES, class_indices, shown

#: The activation of the hidden layer and of the outputs.
HIDDEN_ACTIVATION, OUTPUT_ACTIVATION = "sigmoid", "softmax"

#: The most cells the data may hold, inputs and labels together: as many as
#: one call of an xlnn function (:data:`xlnn.functions.cells.MAX_CELLS`).
MAX_CELLS = cells.MAX_CELLS
#: The most classes: one output column each on the new sheet.
MAX_CLASSES = 1000
#: The most gradient-descent steps (minibatches) one run may take. Python's
#: cost per step dominates small data: 0.34 ms a step on a shared 2-core
#: Linux machine (3,333 epochs of 150 rows in batches of 10: 17 s), several
#: times that under Pyodide in xlwings Lite; so at most about 7 s here.
MAX_STEPS = 20_000
#: The most weight visits (epochs x rows x weights) one run may make: the
#: arithmetic dominates large data (147 epochs of the 1,797 digits through a
#: 64-50-10 network in batches of 100, 1e9 visits: 6.7 s on that machine).
MAX_WEIGHT_VISITS = 1_000_000_000


class TrainingRefused(UserError):
    """The data or a setting cannot be trained on; the message names the cell."""


@dataclass(frozen=True)
class Setting:
    """A named cell that sets a number of the run: its default and bounds.

    ``low`` is excluded when ``above`` is set (a learning rate above 0).
    """

    name: str
    default: int | float
    whole: bool
    low: float
    high: float
    meaning: str
    above: bool = False

    def value_of(self, number: float, where: str) -> int | float:
        """``number`` from the cell at ``where``, checked against the bounds."""
        if not math.isfinite(number):
            raise TrainingRefused(f"{where} holds {number}; {self.name} must be finite")
        if self.whole and not float(number).is_integer():
            raise TrainingRefused(
                f"{where} holds {_figure(number)}; {self.name} must be a whole number"
            )
        too_low = number <= self.low if self.above else number < self.low
        if too_low or number > self.high:
            first = "above" if self.above else "from"
            second = "and at most" if self.above else "to"
            raise TrainingRefused(
                f"{where} holds {_figure(number)}; {self.name} must be {first} "
                f"{self._bound(self.low)} {second} {self._bound(self.high)}"
            )
        return int(number) if self.whole else float(number)

    def _bound(self, number: float) -> str:
        return f"{int(number):,}" if self.whole else f"{number:g}"


def _figure(number: float) -> str:
    """A cell's number as a message shows it: 4,294,967,296 whole, else 2.5."""
    if float(number).is_integer() and abs(number) < 1e15:
        return f"{int(number):,}"
    return f"{number:g}"


#: The settings, each read from a workbook-scoped named cell when there is
#: one; a blank cell, or no such name, leaves the default.
SETTINGS = (
    Setting("hidden_size", 10, True, 1, 1000, "neurons in the hidden layer"),
    Setting("epochs", 100, True, 1, 100_000, "passes over the data"),
    Setting("learning_rate", 0.1, False, 0, 1000, "the size of a step", above=True),
    Setting("batch_size", 10, True, 1, limits.EXCEL_ROWS, "rows per step"),
    Setting("seed", 0, True, 0, 2**32 - 1, "the starting weights and row order"),
)


@dataclass(frozen=True)
class Settings:
    """The numbers of one run: :data:`SETTINGS` names them, with defaults."""

    hidden_size: int
    epochs: int
    learning_rate: float
    batch_size: int
    seed: int

    @classmethod
    def defaults(cls, **changes) -> Settings:
        return cls(**{s.name: s.default for s in SETTINGS} | changes)

    def described(self) -> str:
        """``hidden_size 10, epochs 100, ...``: what a sheet and a message say."""
        return ", ".join(f"{s.name} {shown(getattr(self, s.name))}" for s in SETTINGS)


@dataclass(frozen=True)
class NamedCell:
    """A named cell as the workbook gave it: its raw value and where it is."""

    raw: object
    where: str


def settings_from_cells(named: Mapping[str, NamedCell], classic: bool) -> Settings:
    """The settings, from the named cells found (by lower-case name)."""
    values = {}
    for setting in SETTINGS:
        cell = named.get(setting.name)
        if cell is None:
            continue
        number = _one_number(cell, setting, classic)
        if number is not None:
            values[setting.name] = setting.value_of(number, cell.where)
    return Settings.defaults(**values)


def _one_number(cell: NamedCell, setting: Setting, classic: bool) -> float | None:
    """The number in ``cell``, or None when it is blank; anything else is refused."""
    grid = cells.as_rows(cell.raw)
    if len(grid) * len(grid[0]) != 1:
        raise TrainingRefused(
            f"the name {setting.name} refers to {cell.where}, {len(grid)} x "
            f"{len(grid[0])} cells; it must be one cell ({setting.meaning})"
        )
    read = cells.read(grid, classic)
    if read.blank[0, 0]:
        return None
    problem = _problem(grid[0][0], read, 0, 0)
    if problem:
        raise TrainingRefused(
            f"{cell.where} (named {setting.name}) {problem}; give it a number "
            f"({setting.meaning}) or leave it blank for {setting.default:g}"
        )
    return float(read.values[0, 0])


@dataclass(frozen=True)
class TrainingData:
    """Samples from cells: inputs ``x`` (float64, a row each) and classes.

    ``t`` is each row's class index; ``classes`` the label of each index
    (sorted: numbers by value when every label is one, else text; 0..k-1 for
    one-hot rows); ``feature_names`` a name per input column and
    ``label_name`` one for the labels (from a header, or made up); ``source``
    says where the rows were read (the rows used only), for the sheet and
    messages.
    """

    x: np.ndarray
    t: np.ndarray
    classes: tuple
    feature_names: tuple[str, ...]
    label_name: str
    source: str

    @property
    def rows(self) -> int:
        return len(self.x)


def check_size(rows: int, columns: int, what: str) -> None:
    """Refuse, before a cell is read, data of more than :data:`MAX_CELLS` cells."""
    if rows * columns > MAX_CELLS:
        raise TrainingRefused(
            f"{what} is {rows:,} x {columns:,} = {rows * columns:,} cells; "
            f"train_network reads at most {MAX_CELLS:,}: select fewer rows"
        )


def _address(block: Block, i: int = 0, j: int = 0) -> str:
    return f"{block.sheet}!{block.address(i, j)}"


def _range_text(block: Block) -> str:
    return f"{block.sheet}!{block.coordinates}"


def _is_text(raw) -> bool:
    return isinstance(raw, str) and raw != "" and raw not in cells.ERRORS


def _problem(raw, read: cells.Cells, i: int, j: int) -> str:
    """What is wrong with cell (i, j) for a number: '' when it is one."""
    if read.blank[i, j]:
        return "is blank"
    error = None if read.errors is None else read.errors[i, j]
    if error is None:
        return ""
    if _is_text(raw):
        return f"holds text ({quoted(raw)})"
    return f"shows {error}"


def _is_header(row: list) -> bool:
    """A first row is a header when it holds text and no number."""
    return any(_is_text(cell) for cell in row) and not any(
        isinstance(cell, (int, float)) and not isinstance(cell, bool) for cell in row
    )


def _without_blank_end(grid: list[list]) -> list[list]:
    """``grid`` without the rows at its end that hold nothing."""
    end = len(grid)
    while end and all(cell is None or cell == "" for cell in grid[end - 1]):
        end -= 1
    return grid[:end]


def from_selection(raw, block: Block, classic: bool) -> TrainingData:
    """The samples of a selected ``block``: inputs, then a last column of labels.

    ``raw`` holds its cells as xlwings read them.
    """
    grid = _without_blank_end(cells.as_rows(raw))
    if block.cols < 2 or len(grid) < 2:
        held = f"has {len(grid)} x {block.cols} cells of data" if grid else "is empty"
        raise TrainingRefused(
            f"the selection {_range_text(block)} {held}; select the data first "
            "(one sample per row, the labels in the last column; two columns and "
            "two rows at least), or name the ranges train_x and train_t"
        )
    header = None
    if _is_header(grid[0][:-1]):
        header, grid = grid[0], grid[1:]
        block = Block(block.sheet, block.row + 1, block.col, block.rows - 1, block.cols)
    x_block = Block(block.sheet, block.row, block.col, len(grid), block.cols - 1)
    t_block = Block(block.sheet, block.row, block.last_col, len(grid), 1)
    x = _inputs([row[:-1] for row in grid], x_block, classic)
    labels = _labels([row[-1] for row in grid], t_block, classic)
    classes, t = _classes(labels, t_block)
    names = [f"x[{j}]" for j in range(x.shape[1])]
    label_name = "label"
    if header is not None:
        names = [
            str(cell).strip() if _is_text(cell) else name
            for cell, name in zip(header[:-1], names, strict=True)
        ]
        label_name = str(header[-1]).strip() if _is_text(header[-1]) else label_name
    used = Block(block.sheet, block.row, block.col, len(grid), block.cols)
    source = f"the selection {_range_text(used)}"
    return TrainingData(x, t, classes, tuple(names), label_name, source)


def from_names(raw_x, x_block: Block, raw_t, t_block: Block, classic: bool):
    """The samples of the ranges named ``train_x`` (inputs) and ``train_t``.

    ``train_t`` is one column of labels, or one-hot rows (a 1 under the
    row's class, 0 elsewhere) as the sample workbook ``training`` holds them.
    """
    x_grid, t_grid = cells.as_rows(raw_x), cells.as_rows(raw_t)
    if x_block.rows != t_block.rows:
        raise TrainingRefused(
            f"train_x ({_range_text(x_block)}) has {x_block.rows} rows but "
            f"train_t ({_range_text(t_block)}) has {t_block.rows}; they need one "
            "row per sample each"
        )
    pairs = _without_blank_end([x + t for x, t in zip(x_grid, t_grid, strict=True)])
    n = len(pairs)
    if n < 2:
        raise TrainingRefused(
            f"train_x ({_range_text(x_block)}) holds {n} rows of data; training "
            "needs two at least"
        )
    width = x_block.cols
    x_block = Block(x_block.sheet, x_block.row, x_block.col, n, width)
    t_block = Block(t_block.sheet, t_block.row, t_block.col, n, t_block.cols)
    x = _inputs([row[:width] for row in pairs], x_block, classic)
    if t_block.cols == 1:
        labels = _labels([row[width] for row in pairs], t_block, classic)
        classes, t = _classes(labels, t_block)
    else:
        classes, t = _one_hot([row[width:] for row in pairs], t_block, classic)
    names = tuple(f"x[{j}]" for j in range(width))
    source = f"train_x ({_range_text(x_block)}) and train_t ({_range_text(t_block)})"
    return TrainingData(x, t, classes, names, "class", source)


def _inputs(grid: list[list], block: Block, classic: bool) -> np.ndarray:
    read = cells.read(grid, classic)
    bad = read.blank if read.errors is None else read.blank | (read.errors != None)  # noqa: E711
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise TrainingRefused(
            f"{_address(block, i, j)} {_problem(grid[i][j], read, i, j)}: every "
            f"input ({_range_text(block)}) must be a number"
        )
    return read.values


def _labels(column: list, block: Block, classic: bool) -> list[str]:
    """Each label as text (a number as it reads: 7 for 7.0)."""
    read = cells.read([[cell] for cell in column], classic)
    labels = []
    for i, cell in enumerate(column):
        if _is_text(cell):
            labels.append(cell)
            continue
        problem = _problem(cell, read, i, 0)
        if problem:
            raise TrainingRefused(
                f"{_address(block, i)} {problem}: every row needs a label "
                f"({_range_text(block)}), a number or text"
            )
        labels.append(shown(float(read.values[i, 0])))
    return labels


def _classes(labels: list[str], block: Block) -> tuple[tuple, np.ndarray]:
    classes, t = class_indices(labels)
    if len(classes) > MAX_CLASSES:
        raise TrainingRefused(
            f"the labels ({_range_text(block)}) name {len(classes):,} classes; "
            f"train_network tells at most {MAX_CLASSES:,} apart (are they "
            "numbers to predict rather than classes?)"
        )
    if len(classes) < 2:
        raise TrainingRefused(
            f"every label ({_range_text(block)}) is {quoted(labels[0])}; "
            + NEEDS_TWO_CLASSES
        )
    return classes, t


def _one_hot(grid: list[list], block: Block, classic: bool):
    values = _inputs(grid, block, classic)
    hot = (values == 1.0).sum(axis=1) == 1
    cold = ((values == 0.0) | (values == 1.0)).all(axis=1)
    wrong = ~(hot & cold)
    if wrong.any():
        i = int(np.argmax(wrong))
        row = Block(block.sheet, block.row + i, block.col, 1, block.cols)
        raise TrainingRefused(
            f"train_t has {block.cols} columns, so each row must be one-hot (one "
            f"1, the rest 0), but {_range_text(row)} is not"
        )
    t = np.argmax(values, axis=1)
    if len(np.unique(t)) < 2:
        raise TrainingRefused(
            f"every row of train_t ({_range_text(block)}) is class {t[0]}; "
            + NEEDS_TWO_CLASSES
        )
    return tuple(range(block.cols)), t


# --- the run ---------------------------------------------------------------------


def check_work(data: TrainingData, settings: Settings) -> None:
    """Refuse, before it starts, a run that would keep Excel waiting for long."""
    steps = settings.epochs * math.ceil(data.rows / settings.batch_size)
    weights = _weight_count(data.x.shape[1], settings.hidden_size, len(data.classes))
    visits = settings.epochs * data.rows * weights
    if steps > MAX_STEPS or visits > MAX_WEIGHT_VISITS:
        raise TrainingRefused(
            f"{settings.epochs} epochs over {data.rows} rows in batches of "
            f"{settings.batch_size} is {steps:,} steps and {visits:,} weight visits "
            f"(epochs x rows x the {weights:,} weights); train_network takes at "
            f"most {MAX_STEPS:,} steps and {MAX_WEIGHT_VISITS:,} visits, so that "
            "Excel is not kept waiting: lower epochs or hidden_size, or raise "
            "batch_size"
        )


def _weight_count(n_in: int, hidden: int, n_out: int) -> int:
    return n_in * hidden + hidden + hidden * n_out + n_out


@dataclass(frozen=True)
class Run:
    """A trained network and its record.

    ``losses[e]`` and ``accuracies[e]`` are over all the rows after epoch
    ``e`` (``e = 0``: before any step, with the starting weights).
    """

    network: learning.TwoLayerNet
    settings: Settings
    losses: np.ndarray
    accuracies: np.ndarray

    @property
    def params(self) -> dict:
        return self.network.params

    def summary(self, data: TrainingData, sheet: str) -> str:
        """The line the script prints when done."""
        W1, W2 = self.params["W1"], self.params["W2"]
        epochs = self.settings.epochs
        return (
            f"train_network: a {W1.shape[0]}-{W1.shape[1]}-{W2.shape[1]} network "
            f"trained on {data.rows} rows of {data.source}, {epochs} "
            f"epoch{'' if epochs == 1 else 's'}: "
            f"loss {self.losses[0]:.4g} -> {self.losses[-1]:.4g}, "
            f"accuracy {self.accuracies[-1]:.1%}; its weights and DENSE formulas "
            f"are on the new sheet {sheet!r}"
        )


def seeds(seed: int) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """The starting weights' seed and the row order's, both from ``seed``."""
    weights, order = np.random.SeedSequence(seed).spawn(2)
    return weights, order


def _starting_network(data: TrainingData, settings: Settings):
    return learning.TwoLayerNet(
        data.x.shape[1],
        settings.hidden_size,
        len(data.classes),
        HIDDEN_ACTIVATION,
        seed=seeds(settings.seed)[0],
    )


def untrained(data: TrainingData, settings: Settings) -> Run:
    """The run :func:`train` would make, before any work: the starting weights
    and records of zeros, as long as the run's. Its sheet has the trained
    one's shape, so that a sheet Excel cannot hold is refused first."""
    zeros = np.zeros(settings.epochs + 1)
    return Run(_starting_network(data, settings), settings, zeros, zeros)


def train(data: TrainingData, settings: Settings) -> Run:
    """The book's two-layer network trained on ``data`` by minibatch SGD.

    The network starts from the book's weights (0.01 times standard normal
    numbers, biases 0) drawn with the first of :func:`seeds`; each epoch
    visits the rows in an order shuffled with the second. A loss or weight
    that stops being finite (a step that overflowed) is refused.
    """
    check_work(data, settings)
    network = _starting_network(data, settings)
    loss, accuracy = network.loss_and_accuracy(data.x, data.t)
    losses, accuracies = [loss], [accuracy]

    def record(epoch: learning.Epoch) -> None:
        if learning.diverged(network, epoch):
            raise TrainingRefused(
                f"training diverged in epoch {epoch.epoch} (the loss is "
                f"{epoch.loss}): try a smaller learning_rate than "
                f"{settings.learning_rate:g}, or inputs on a smaller scale"
            )
        losses.append(epoch.loss)
        accuracies.append(epoch.train_accuracy)

    with np.errstate(all="ignore"):  # a diverging run is refused, not warned of
        learning.train(
            network,
            data.x,
            data.t,
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            seed=seeds(settings.seed)[1],
            on_epoch=record,
        )
    return Run(network, settings, np.array(losses), np.array(accuracies))
