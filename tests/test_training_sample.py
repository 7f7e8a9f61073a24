"""The training sample: the book's TwoLayerNet learning iris in bands of formulas.

Quick tests check the layout (names, the formulas' structure, which step reads
which block) on a few steps; the engine tests recalculate the real workbook in
LibreOffice and compare it with :func:`xlnn.learning.gradient_descent`.
"""

from __future__ import annotations

import hashlib
import io
import re
from importlib import resources
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from xlnn import learning, samples
from xlnn.engines import verify
from xlnn.engines.libreoffice import LibreOffice
from xlnn.samples import training
from xlnn.sheets import xlsx_writer
from xlnn.sheets.flavors import ADDIN, PLAIN
from xlnn.sheets.layout import Block

#: Few steps keep the quick tests quick; the layout is the same for any number.
FEW = 3

#: Flowers the sample trains on: every tenth of the 150.
FLOWERS = 15

NAMES = {
    "train_x": (FLOWERS, 4),
    "train_t": (FLOWERS, 3),
    "learning_rate": (1, 1),
    "init_W1": (4, training.HIDDEN),
    "init_b1": (1, training.HIDDEN),
    "init_W2": (training.HIDDEN, 3),
    "init_b2": (1, 3),
    "final_W1": (4, training.HIDDEN),
    "final_b1": (1, training.HIDDEN),
    "final_W2": (training.HIDDEN, 3),
    "final_b2": (1, 3),
}


@pytest.fixture(scope="module")
def few():
    return training.iris_training(PLAIN, steps=FEW)


def the_run(steps: int, learning_rate: float = training.LEARNING_RATE):
    flowers = training.training_flowers()
    x, t = flowers.standardised(), flowers.one_hot
    init = training.starting_weights(4, 3)
    return learning.gradient_descent(init, x, t, learning_rate, steps)


def formula_at(book, block: Block) -> str:
    sheet = next(s for s in book.sheets if s.title == block.sheet)
    return next(f.body for f in sheet.formulas if f.block == block)


def check_of(book, block: Block):
    return next(check for check in book.checks if check.block == block)


def check_at(book, cell: Block):
    """The check covering ``cell``, and the cell's place in it."""
    for check in book.checks:
        b = check.block
        if b.sheet == cell.sheet and b.row <= cell.row <= b.last_row:
            if b.col <= cell.col <= b.last_col:
                return check, cell.row - b.row, cell.col - b.col
    raise KeyError(cell)


# --- the data -------------------------------------------------------------------


def test_the_shipped_iris_is_the_file_its_notice_names():
    data = resources.files("xlnn") / "data"
    notice = (data / "iris.NOTICE.txt").read_text(encoding="utf-8")
    (digest,) = re.findall(r"SHA-256: ([0-9a-f]{64})", notice)
    assert hashlib.sha256((data / "iris.csv").read_bytes()).hexdigest() == digest
    assert "BSD 3-Clause License" in notice


def test_iris_has_150_flowers_of_three_species():
    iris = training.load_iris()
    assert iris.cm.shape == (150, 4)
    assert iris.names == ("setosa", "versicolor", "virginica")
    assert np.bincount(iris.species).tolist() == [50, 50, 50]
    # Fisher's first flower (Iris setosa), as every copy of the data starts.
    assert iris.cm[0].tolist() == [5.1, 3.5, 1.4, 0.2]


def test_training_takes_every_tenth_flower_five_of_each_species():
    flowers = training.training_flowers()
    assert flowers.numbers.tolist() == list(range(1, 151, 10))
    assert np.bincount(flowers.species).tolist() == [5, 5, 5]
    x = flowers.standardised()
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-14)
    np.testing.assert_allclose(x.std(axis=0), 1, rtol=1e-14)


# --- the steps in NumPy ---------------------------------------------------------


def test_the_bands_are_the_steps_of_gradient_descent():
    """The blocks between the losses come from the layers that gradient_descent
    runs: the same losses and weights, step by step, to the last bit or two."""
    flowers = training.training_flowers()
    x, t = flowers.standardised(), flowers.one_hot
    init = training.starting_weights(4, 3)
    bands = training.passes(init, x, t, training.LEARNING_RATE, FEW)
    for k in range(FEW + 1):
        run = learning.gradient_descent(init, x, t, training.LEARNING_RATE, k)
        assert bands[k].loss == pytest.approx(run.final_loss, rel=1e-14)
        for name in learning.PARAMETER_NAMES:
            np.testing.assert_allclose(bands[k].params[name], run.params[name],
                                       rtol=1e-14)  # fmt: skip
    grads = learning.TwoLayerNet(params=init).gradient(x, t)
    for name in learning.PARAMETER_NAMES:
        np.testing.assert_allclose(bands[0].grads[name], grads[name], rtol=1e-14)


def test_the_loss_falls_by_more_than_half_and_the_accuracy_rises():
    book = samples.iris_training(PLAIN)
    before = book.check("training", "loss before").expected.item()
    after = book.check("training", "loss after").expected.item()
    run = the_run(training.STEPS)
    assert (before, after) == (run.losses[0], run.final_loss)
    assert after < before / 2
    accuracy = [book.check("training", f"accuracy {w}").expected.item()
                for w in ("before", "after")]  # fmt: skip
    assert accuracy[1] > accuracy[0] + 0.5


def test_term_sizes_bound_each_sum_and_do_not_compound():
    """Each sum's terms are at least its value; carried from step to step they
    would grow beyond any use (1e225 after 30 steps, an earlier version)."""
    flowers = training.training_flowers()
    x, t = flowers.standardised(), flowers.one_hot
    init = training.starting_weights(4, 3)
    bands = training.passes(init, x, t, training.LEARNING_RATE, training.STEPS)
    sizes = training.term_sizes(bands, flowers.standardised_sizes(), t, 2.0)
    for band, size in zip(bands, sizes, strict=True):
        assert np.all(size["A1"] >= np.abs(band.a1))
        assert np.all(size["A2"] >= np.abs(band.a2))
        if band.grads is not None:
            for name in learning.PARAMETER_NAMES:
                assert np.all(size[f"d{name}"] >= np.abs(band.grads[name]))
        assert max(np.max(s) for s in size.values()) < 100


# --- the layout -----------------------------------------------------------------


def test_every_name_is_there_with_its_shape(few):
    for name, shape in NAMES.items():
        assert few.names[name].shape == shape, name
    assert few.names["loss_per_step"].shape == (FEW + 1, 1)
    assert set(few.names) == {*NAMES, "loss_per_step"}


def test_names_have_workbook_scope_in_the_file(few):
    workbook = openpyxl.load_workbook(io.BytesIO(xlsx_writer.to_bytes(few)))
    assert set(workbook.defined_names) == set(few.names)
    for sheet in workbook.worksheets:
        assert not sheet.defined_names  # no sheet-level names
    ((sheet, ref),) = workbook.defined_names["final_W1"].destinations
    assert (sheet, ref) == ("steps", few.names["final_W1"].ref)


def test_starting_weights_are_inputs_and_the_rest_formulas(few):
    steps = next(sheet for sheet in few.sheets if sheet.title == "steps")
    inputs = {entry.block for entry in steps.inputs}
    init = training.starting_weights(4, 3)
    for name in learning.PARAMETER_NAMES:
        assert few.names[f"init_{name}"] in inputs
        entry = next(e for e in steps.inputs if e.block == few.names[f"init_{name}"])
        np.testing.assert_array_equal(entry.values, np.atleast_2d(init[name]))
        assert few.names[f"final_{name}"] not in inputs
    assert few.names["learning_rate"] in {
        entry.block for sheet in few.sheets for entry in sheet.inputs
    }


def test_each_step_reads_the_weights_the_step_before_updated(few):
    find = few.find
    assert formula_at(few, find("steps", "step 1 A1")) == (
        f"MMULT(train_x,{few.names['init_W1'].ref})+{few.names['init_b1'].ref}"
    )
    for k in range(2, FEW + 2):
        label = f"step {k}" if k <= FEW else f"after {FEW}"
        previous = f"step {k - 1}"
        for name in learning.PARAMETER_NAMES:
            old, grad = (
                find("steps", f"{previous} {name}"),
                find("steps", f"{previous} d{name}"),
            )
            assert formula_at(few, find("steps", f"{label} {name}")) == (
                f"{old.ref}-learning_rate*{grad.ref}"
            )
        weights = {n: find("steps", f"{label} {n}").ref for n in ("W1", "b1")}
        assert formula_at(few, find("steps", f"{label} A1")) == (
            f"MMULT(train_x,{weights['W1']})+{weights['b1']}"
        )
    for name in learning.PARAMETER_NAMES:
        assert few.names[f"final_{name}"] == find("steps", f"after {FEW} {name}")


def test_every_update_uses_learning_rate(few):
    steps = next(sheet for sheet in few.sheets if sheet.title == "steps")
    updates = [f.body for f in steps.formulas if "learning_rate" in f.body]
    assert len(updates) == FEW * len(learning.PARAMETER_NAMES)
    assert all(re.fullmatch(r"\S+-learning_rate\*\S+", body) for body in updates)


def test_the_backward_pass_is_the_books(few):
    """Section 5.6-5.7: (Y - T) / N, then back through W2, sigmoid, and the
    gradients as input^T . delta and column sums."""
    find = few.find
    y, z1 = find("steps", "step 1 Y"), find("steps", "step 1 Z1")
    da2, dz1 = find("steps", "step 1 dA2"), find("steps", "step 1 dZ1")
    da1 = find("steps", "step 1 dA1")
    w2 = few.names["init_W2"]
    assert formula_at(few, da2) == f"({y.ref}-train_t)/ROWS(train_t)"
    assert formula_at(few, dz1) == f"MMULT({da2.ref},TRANSPOSE({w2.ref}))"
    assert formula_at(few, da1) == f"{dz1.ref}*(1-{z1.ref})*{z1.ref}"
    assert formula_at(few, find("steps", "step 1 dW1")) == (
        f"MMULT(TRANSPOSE(train_x),{da1.ref})"
    )
    assert formula_at(few, find("steps", "step 1 dW2")) == (
        f"MMULT(TRANSPOSE({z1.ref}),{da2.ref})"
    )
    db1 = find("steps", "step 1 db1")
    for j in range(db1.cols):
        assert formula_at(few, db1.cell(0, j)) == f"SUM({da1.column_block(j).ref})"
    assert formula_at(few, find("steps", "step 1 loss")) == (
        f"-SUMPRODUCT(train_t,LN({y.ref}))/ROWS(train_t)"
    )


def test_loss_per_step_reads_each_band_from_before_any_update(few):
    column = few.names["loss_per_step"]
    labels = [f"step {k}" for k in range(1, FEW + 1)] + [f"after {FEW}"]
    run = the_run(FEW)
    expected = [*run.losses, run.final_loss]
    for k, label in enumerate(labels):
        cell = column.cell(k)
        assert formula_at(few, cell) == few.find("steps", f"{label} loss").qualified_ref
        assert check_of(few, cell).expected.item() == expected[k]


def test_flavors_differ_only_in_the_activations():
    plain = training.iris_training(PLAIN, steps=1)
    addin = training.iris_training(ADDIN, steps=1)
    sheet = next(s for s in addin.sheets if s.title == "steps")
    bodies = " ".join(f.body for f in sheet.formulas)
    assert "SIGMOID(" in bodies and "SOFTMAX(" in bodies
    plain_bodies = " ".join(f.body for s in plain.sheets for f in s.formulas)
    assert "SIGMOID(" not in plain_bodies and "SOFTMAX(" not in plain_bodies
    shapes = {name: block.shape for name, block in plain.names.items()}
    assert shapes == {name: block.shape for name, block in addin.names.items()}
    # the add-in's SOFTMAX takes the block in one call; plain softmax is per row
    assert addin.formula_count < plain.formula_count


def test_the_chart_draws_loss_per_step(few):
    sheet = next(s for s in few.sheets if s.title == "training")
    (chart,) = sheet.charts
    (series,) = chart.series
    assert series.values == few.names["loss_per_step"]
    assert chart.categories.shape == series.values.shape
    assert chart.x_range == (0, FEW)


def test_sheets_are_printable(few):
    training_sheet, data, steps = few.sheets
    assert [s.title for s in few.sheets] == ["training", "data", "steps"]
    assert training_sheet.printout == "one portrait page"
    # the steps sheet prints the first band: its starting weights included
    assert steps.print_area.last_row == few.find("steps", "step 1 dA1").last_row
    assert steps.print_area.last_col >= few.names["init_W1"].last_col
    assert steps.printout == "one landscape page"
    assert data.print_area is None  # all of it


# --- verification: a wrong value fails ------------------------------------------


def engine_values_from_checks(book) -> dict:
    """What a perfect engine would read back: every check's expected value."""
    values: dict = {}
    for check in book.checks:
        sheet = values.setdefault(check.block.sheet, {})
        for i in range(check.block.rows):
            for j in range(check.block.cols):
                sheet[check.block.address(i, j)] = verify.plain(check.expected[i, j])
    return values


@pytest.mark.parametrize(
    ("block_name", "relative"),
    [(f"after {FEW} loss", 1e-8), (f"after {FEW} W2", 1e-8), ("step 2 db1", 3e-9)],
)
def test_a_wrong_value_fails_verification(few, block_name, relative):
    """A loss or a weight 1e-8 off fails; so does a bias gradient off by a few
    times 1e-9 of the terms it sums, although those are far larger than it."""
    values = engine_values_from_checks(few)
    assert verify.compare(few.checks, values, "exact").ok
    block = few.find("steps", block_name)
    check, i, j = check_at(few, block.cell(0, 0))
    size = max(abs(float(check.expected[i, j])), verify.cell_scale(check, i, j))
    values["steps"][block.address()] += relative * size
    outcome = verify.compare(few.checks, values, "edited")
    assert not outcome.ok
    assert outcome.mismatches[0].startswith(f"steps!{block.address()}:")


# --- engines --------------------------------------------------------------------


def recalculated(book, tmp_path: Path, name: str = "training_plain.xlsx"):
    path = tmp_path / name
    path.write_bytes(xlsx_writer.to_bytes(book))
    return path, LibreOffice().recalculate([path])[path]


def block_values(values, block: Block) -> np.ndarray:
    sheet = values[block.sheet]
    return np.array(
        [[sheet[block.address(i, j)] for j in range(block.cols)]
         for i in range(block.rows)],
        dtype=float,
    )  # fmt: skip


def test_libreoffice_trains_as_gradient_descent_does(soffice, tmp_path):
    book = samples.iris_training(PLAIN)
    path, values = recalculated(book, tmp_path)
    run = the_run(training.STEPS)
    losses = block_values(values, book.names["loss_per_step"]).ravel()
    np.testing.assert_allclose(losses, [*run.losses, run.final_loss], rtol=1e-9)
    for name in learning.PARAMETER_NAMES:
        got = block_values(values, book.names[f"final_{name}"])
        np.testing.assert_allclose(got, np.atleast_2d(run.params[name]), rtol=1e-9)
    outcome = verify.compare(book.checks, values, "LibreOffice")
    assert outcome.ok, outcome.summary()


def test_a_new_learning_rate_retrains_on_recalculation(soffice, tmp_path):
    """Edit learning_rate (and nothing else) and recalculate: every step follows."""
    book = samples.iris_training(PLAIN)
    path = tmp_path / "edited.xlsx"
    path.write_bytes(xlsx_writer.to_bytes(book))
    workbook = openpyxl.load_workbook(path)
    ((sheet, ref),) = workbook.defined_names["learning_rate"].destinations
    assert workbook[sheet][ref.replace("$", "")].value == training.LEARNING_RATE
    workbook[sheet][ref.replace("$", "")].value = 0.5
    workbook.save(path)
    values = LibreOffice().recalculate([path])[path]
    run = the_run(training.STEPS, learning_rate=0.5)
    losses = block_values(values, book.names["loss_per_step"]).ravel()
    np.testing.assert_allclose(losses, [*run.losses, run.final_loss], rtol=1e-9)
    got = block_values(values, book.names["final_W1"])
    np.testing.assert_allclose(got, run.params["W1"], rtol=1e-9)
    assert not verify.compare(book.checks, values, "LibreOffice").ok
