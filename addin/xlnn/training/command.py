"""``xlnn train``: the book's two-layer network trained on a CSV, written as an .npz.

The steps, each a function here: :func:`read_csv` (through
:mod:`xlnn.export.sample_inputs`, so the CSV gets the same limits and checks as
``xlnn export --sample-inputs``, plus a column of labels), :func:`split`
(a seeded fifth held out), :func:`train_network` (:mod:`xlnn.learning`'s
:class:`~xlnn.learning.TwoLayerNet` and minibatch SGD) and
:func:`write_model` (an ``.npz`` that :mod:`xlnn.export.sources.npz_source` reads:
``W1, b1, W2, b2``, ``activations`` and ``classes``, by which the export
names the outputs, and ``feature_names``, which name its inputs). Everything a
user can get wrong is a :class:`~xlnn.errors.UserError` with one line.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xlnn import files, learning
from xlnn.errors import UserError
from xlnn.export import sample_inputs
from xlnn.training.classes import NEEDS_TWO_CLASSES, class_indices, shown

#: Rows below which a held-out fifth means nothing.
MIN_ROWS = 5


@dataclass(frozen=True)
class TrainingData:
    """A CSV's samples and their classes.

    ``x`` holds one sample per row (float64), ``t`` each row's class index,
    ``classes`` the label of each class index (sorted: numbers by value, as
    floats, when every label is a number; else text), ``feature_names`` the
    header's other columns.
    """

    x: np.ndarray
    t: np.ndarray
    classes: tuple
    feature_names: tuple[str, ...]


def read_csv(path: Path, label_column: str, progress=None) -> TrainingData:
    """The samples of a CSV with a header, its column ``label_column`` the labels."""
    read = sample_inputs.read(path, label_column=label_column)
    if read.more and progress is not None:
        progress(f"{path}: only its first {len(read.rows)} rows are used")
    if len(read.rows) < MIN_ROWS:
        raise UserError(
            f"{path}: {len(read.rows)} rows; training needs at least {MIN_ROWS}, "
            "since a fifth is held out"
        )
    if not read.feature_names:
        raise UserError(f"{path}: no column besides {label_column!r} to learn from")
    classes, t = class_indices(read.labels)
    if len(classes) < 2:
        raise UserError(
            f"{path}: every row is labelled {read.labels[0]!r}; " + NEEDS_TWO_CLASSES
        )
    return TrainingData(read.rows, t, classes, read.feature_names)


def split(rows: int, seed) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers to train on, and a fifth (at least one) held out, shuffled."""
    order = np.random.default_rng(seed).permutation(rows)
    held_out = max(1, rows // 5)
    return order[held_out:], order[:held_out]


@dataclass(frozen=True)
class Trained:
    """A trained network, its epochs, and what it was trained and tested on."""

    network: learning.TwoLayerNet
    history: list
    train_rows: int
    test_rows: int
    seconds: float

    def summary(self, out: Path, classes: tuple) -> str:
        """What ``xlnn train`` prints when done."""
        W1, W2 = self.network.params["W1"], self.network.params["W2"]
        last = self.history[-1]
        lines = [
            f"{out}: a {W1.shape[0]}-{W1.shape[1]}-{W2.shape[1]} network "
            f"({self.network.activation}, softmax) trained on {self.train_rows} "
            f"rows, {len(self.history)} epochs in {self.seconds:.1f} s; held-out "
            f"accuracy {last.test_accuracy:.1%} of {self.test_rows} rows",
        ]
        if classes != tuple(float(k) for k in range(len(classes))):
            names = ", ".join(f"{k} {shown(c)}" for k, c in enumerate(classes))
            lines.append(f"outputs by class: {names}")
        lines.append(f"next: xlnn export {out}")
        return "\n".join(lines)


def train_network(
    data: TrainingData,
    *,
    hidden: int,
    activation: str,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    seed: int,
    progress: Callable[[str], None] = lambda line: None,
) -> Trained:
    """Hold out a fifth, train on the rest by minibatch SGD; report each epoch.

    ``seed`` gives three independent streams: the held-out rows, the starting
    weights (the book's 0.01 times standard normal numbers) and the order of
    the rows in each epoch. A loss or weight that stops being finite (the
    steps too large) is a :class:`~xlnn.errors.UserError`.
    """
    split_seed, weight_seed, order_seed = np.random.SeedSequence(seed).spawn(3)
    train_rows, test_rows = split(len(data.x), split_seed)
    network = learning.TwoLayerNet(
        data.x.shape[1], hidden, len(data.classes), activation, seed=weight_seed
    )

    def report(epoch: learning.Epoch) -> None:
        if learning.diverged(network, epoch):
            raise UserError(
                f"training diverged in epoch {epoch.epoch} (the loss is "
                f"{epoch.loss}); try a smaller --learning-rate"
            )
        progress(
            f"epoch {epoch.epoch}/{epochs}: loss {epoch.loss:.4g}, train accuracy "
            f"{epoch.train_accuracy:.1%}, held-out accuracy {epoch.test_accuracy:.1%}"
        )

    started = time.monotonic()
    with np.errstate(all="ignore"):  # a diverging run is reported, not warned of
        history = learning.train(
            network,
            data.x[train_rows],
            data.t[train_rows],
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            seed=order_seed,
            x_test=data.x[test_rows],
            t_test=data.t[test_rows],
            on_epoch=report,
        )
    seconds = time.monotonic() - started
    return Trained(network, history, len(train_rows), len(test_rows), seconds)


def check_target(out: Path, *, force: bool, protect: Iterable = ()) -> Path:
    """Refuse, before any work, an ``--out`` that cannot be written."""
    out = Path(out)
    if out.suffix.lower() != ".npz":
        raise UserError(f"{out}: the model's name must end in .npz")
    files.check_target(out, force=force, protect=protect)
    return out


def model_arrays(trained: Trained, data: TrainingData) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz``: the weights, activations, classes and names."""
    params = trained.network.params
    numeric = all(isinstance(label, float) for label in data.classes)
    return {
        **{name: params[name] for name in learning.PARAMETER_NAMES},
        "activations": np.array([trained.network.activation, "softmax"]),
        "classes": np.array(data.classes, dtype=np.float64 if numeric else str),
        "feature_names": np.array(data.feature_names, dtype=str),
    }


def write_model(
    out: Path,
    trained: Trained,
    data: TrainingData,
    *,
    force: bool = False,
    protect: Iterable = (),
) -> None:
    """Write the ``.npz``, whole or not at all (:func:`xlnn.files.write_new`)."""
    buffer = io.BytesIO()
    np.savez(buffer, **model_arrays(trained, data))
    try:
        files.write_new(out, buffer.getvalue(), force=force, protect=protect)
    except OSError as error:
        raise UserError(f"{out}: {files.problem(error)}") from None
