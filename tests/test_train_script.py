"""The script train_network through xlwings' real script path, replayed as Excel would.

The script runs through ``xlwings.server.custom_scripts_call`` with a JSON
book holding the data, as xlwings Lite and xlwings Server run it. The
weights it writes must be those of a NumPy run of ``xlnn.learning.train``
with the same seed, bit for bit; the replay (tests/officejs_replay.py)
computes the DENSE formulas it writes with xlnn's own functions, and they
must give that network's probabilities. Bad data is refused with a message
naming the cell, before anything is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import re
import sys

import numpy as np
import pytest
import xlwings as xw
import xlwings.server
from officejs_replay import Replay, json_book

from xlnn import learning, scripts, udfs
from xlnn.engines import verify
from xlnn.excel import training
from xlnn.functions import cells
from xlnn.sheets.layout import column_letter
from xlnn.training import from_cells as train_script
from xlnn.training.classes import shown
from xlnn.training.from_cells import TrainingRefused

LABELS = ("cat", "dog", "eel")


def blobs(per_class: int = 12, seed: int = 5) -> list[list]:
    """Rows of two features around three centres, labelled with text, shuffled."""
    rng = np.random.default_rng(seed)
    centres = {"cat": (0.0, 0.0), "dog": (3.0, 0.0), "eel": (0.0, 3.0)}
    rows = [
        [cx + 0.5 * rng.standard_normal(), cy + 0.5 * rng.standard_normal(), label]
        for label, (cx, cy) in centres.items()
        for _ in range(per_class)
    ]
    return [rows[k] for k in rng.permutation(len(rows))]


HEADER = ["length", "width", "animal"]
DATA = blobs()


def book_of(values, *, selection="A1", names=(), sheets=("Sheet1",)) -> xw.Book:
    """A JSON book with ``values`` on its first sheet; ``names`` are (name,
    address) pairs on it, workbook scope."""
    grids = {sheet: values if k == 0 else [[""]] for k, sheet in enumerate(sheets)}
    return json_book(grids, selection=selection, names=names)


def cells_set_by(actions, func: str) -> list:
    """Every cell that the script's ``func`` actions (setValues, setFormula) set."""
    return [cell for a in actions if a["func"] == func for row in a["values"]
            for cell in row]  # fmt: skip


def table(rows=DATA, header=HEADER) -> list[list]:
    return [list(header), *[list(row) for row in rows]]


def one_epoch_book(values, *, selection, sheets=("Sheet1",)) -> xw.Book:
    """A JSON book of ``values`` with a cell named epochs, below them, holding 1.

    For runs whose trained numbers a test does not look at: the sheet
    written is the same, and one epoch costs a hundredth of the default 100.
    """
    setting = ["epochs", 1.0] + [""] * (len(values[0]) - 2)
    return book_of(
        [*values, setting],
        selection=selection,
        names=[("epochs", f"B{len(values) + 1}")],
        sheets=sheets,
    )


def run_script(book: xw.Book) -> list[dict]:
    """Run train_network as xlwings Lite and Server do; return its actions."""
    asyncio.run(
        xlwings.server.custom_scripts_call(
            scripts, "train_network", typehint_to_value={xw.Book: book}
        )
    )
    return book.json()["actions"]


@contextlib.contextmanager
def plans_made():
    """(flavor, plan) for each plan ``training.plan`` makes in the block.

    Where the written cells are is read from the run's own plan: planning
    again on a copy of the book would train the network a second time.
    """
    made, real = [], training.plan

    def recording(book, flavor):
        made.append((flavor, real(book, flavor)))
        return made[-1][1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training, "plan", recording)
        yield made


def run_and_plan(book: xw.Book, flavor) -> tuple[list[dict], training.Plan]:
    """Run train_network; its actions and the one plan it trained and wrote.

    ``flavor`` is the one the run must have planned with.
    """
    with plans_made() as made:
        actions = run_script(book)
    ((used, plan),) = made
    assert used == flavor
    return actions, plan


def numpy_run(x, t, n_classes, *, hidden=10, epochs=100, rate=0.1, batch=10, seed=0):
    """The run the script documents, written out with xlnn.learning alone."""
    weight_seed, order_seed = np.random.SeedSequence(seed).spawn(2)
    net = learning.TwoLayerNet(
        x.shape[1], hidden, n_classes, "sigmoid", seed=weight_seed
    )
    history = learning.train(
        net, x, t, epochs=epochs, batch_size=batch, learning_rate=rate, seed=order_seed
    )
    return net, history


@functools.cache
def default_run():
    """numpy_run on DATA with the script's defaults, made once: tests only read it."""
    x, t = data_arrays()
    return numpy_run(x, t, len(LABELS))


def data_arrays(rows=DATA):
    x = np.array([row[:-1] for row in rows], dtype=np.float64)
    labels = [row[-1] for row in rows]
    t = np.array([sorted(set(labels)).index(label) for label in labels])
    return x, t


def written_values(replay: Replay, block) -> np.ndarray:
    """The constants the actions wrote into ``block``."""
    return np.array(
        [
            [
                replay.constants.get((block.sheet, block.row + i, block.col + j))
                for j in range(block.cols)
            ]
            for i in range(block.rows)
        ],
        dtype=float,
    )


def computed(values, block) -> np.ndarray:
    sheet = values[block.sheet]
    return np.array(
        [
            [sheet.get(block.address(i, j)) for j in range(block.cols)]
            for i in range(block.rows)
        ],
        dtype=float,
    )


@pytest.fixture(autouse=True)
def no_namespace(monkeypatch):
    """xlwings Lite's default: no namespace, unless a test sets one."""
    monkeypatch.delenv(scripts.SERVER_NAMESPACE_VARIABLE, raising=False)
    monkeypatch.delattr(udfs, scripts.MODULE_NAMESPACE_ATTRIBUTE, raising=False)


@pytest.fixture(scope="module")
def trained():
    """The script run once on the selected table: (book, actions, plan, printed)."""
    values = table()
    book = book_of(values, selection=f"A1:C{len(values)}")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        actions, plan = run_and_plan(book, scripts.live_flavor(""))
    return book, actions, plan, printed.getvalue()


# --- a run on the selection ----------------------------------------------------


def test_the_weights_written_are_numpys_run_with_the_same_seed(trained):
    _, actions, plan, _ = trained
    net, _ = default_run()
    replay = Replay.of(actions)
    layout = plan.layout
    for name in learning.PARAMETER_NAMES:
        block = layout.find("trained", name)
        got = written_values(replay, block)
        np.testing.assert_array_equal(got, np.atleast_2d(net.params[name]))


def test_the_dense_formulas_give_the_networks_probabilities(trained):
    _, actions, plan, _ = trained
    x, _ = data_arrays()
    net, history = default_run()
    values = Replay.of(actions).evaluate()
    y = computed(values, plan.layout.find("trained", "Y"))
    np.testing.assert_allclose(y, net.probabilities(x), rtol=1e-12, atol=1e-15)
    predicted = computed(values, plan.layout.find("trained", "predicted"))
    np.testing.assert_array_equal(predicted[:, 0], np.argmax(y, axis=1))
    accuracy = values["trained"][plan.layout.find("trained", "accuracy").address()]
    assert accuracy == pytest.approx(history[-1].train_accuracy, rel=1e-15)
    assert history[-1].train_accuracy > 0.9  # three separate blobs are learnt
    result = verify.compare(plan.layout.checks, values, "replay")
    assert result.ok, result.summary()


def test_the_formulas_call_dense_on_the_sheets_weights(trained):
    _, actions, plan, _ = trained
    formulas = cells_set_by(actions, "setFormula")
    dense = [f for f in formulas if "DENSE(" in f]
    w1 = plan.layout.find("trained", "W1")
    assert len(dense) == 2
    assert any(f"{w1.ref}," in f and '"sigmoid"' in f for f in dense)
    assert any('"softmax"' in f for f in dense)


def test_the_loss_log_starts_before_training_and_falls(trained):
    _, actions, plan, _ = trained
    x, t = data_arrays()
    _, history = default_run()
    start = learning.TwoLayerNet(
        2, 10, 3, "sigmoid", seed=np.random.SeedSequence(0).spawn(2)[0]
    )
    losses = written_values(Replay.of(actions), plan.layout.find("trained", "loss"))
    expected = [start.loss(x, t), *(epoch.loss for epoch in history)]
    np.testing.assert_array_equal(losses[:, 0], expected)
    assert losses[-1, 0] < losses[0, 0] / 2


def test_the_header_names_the_columns_and_the_classes(trained):
    _, actions, _, _ = trained
    texts = {
        cell for cell in cells_set_by(actions, "setValues") if isinstance(cell, str)
    }
    assert {"length", "width", *LABELS} <= texts
    assert any("classes of animal: 0 cat, 1 dog, 2 eel" in text for text in texts)


def test_a_new_sheet_is_added_and_activated(trained):
    book, actions, _, _ = trained
    assert [a["args"] for a in actions if a["func"] == "addSheet"] == [[1, "trained"]]
    assert [a["args"] for a in actions if a["func"] == "activateSheet"] == [[1]]
    assert not [a for a in actions if a["func"] == "namesAdd"]


def test_an_existing_trained_sheet_is_never_overwritten():
    values = table()
    book = one_epoch_book(
        values,
        selection=f"A1:C{len(values)}",
        sheets=("Sheet1", "trained", "Trained 2"),
    )
    actions = run_script(book)
    assert [a["args"][1] for a in actions if a["func"] == "addSheet"] == ["trained 3"]


def test_whole_columns_are_cut_to_the_data():
    values = table()
    book = book_of(values, selection="A:C")
    actions, plan = run_and_plan(book, scripts.live_flavor(""))
    net, _ = default_run()
    assert plan.data.rows == len(DATA)
    got = written_values(Replay.of(actions), plan.layout.find("trained", "W2"))
    np.testing.assert_array_equal(got, net.params["W2"])


def test_a_namespace_prefixes_dense(monkeypatch):
    monkeypatch.setenv(scripts.SERVER_NAMESPACE_VARIABLE, "XLWINGS")
    values = table()
    book = one_epoch_book(values, selection=f"A1:C{len(values)}")
    actions, plan = run_and_plan(book, scripts.live_flavor("XLWINGS"))
    texts = cells_set_by(actions, "setFormula")
    assert sum("XLWINGS.DENSE(" in text for text in texts) == 2
    assert not [text for text in texts if re.search(r"(?<![.\w])DENSE\(", text)]
    computed_values = Replay.of(actions).evaluate(namespace="XLWINGS")
    result = verify.compare(plan.layout.checks, computed_values, "replay")
    assert result.ok, result.summary()
    plain = verify.compare(plan.layout.checks, Replay.of(actions).evaluate(), "replay")
    assert not plain.ok  # XLWINGS.DENSE is not bound without the namespace


# --- named ranges and named settings ---------------------------------------------


def test_train_x_and_one_hot_train_t_with_named_settings():
    x, t = data_arrays()
    one_hot = np.eye(3)[t]
    values = [
        [*row, *hot] for row, hot in zip(x.tolist(), one_hot.tolist(), strict=True)
    ]
    n = len(values)
    values += [
        ["hidden", 4, "", "", ""],
        ["epochs", 30, "", "", ""],
        ["rate", 0.5, "", "", ""],
        ["batch", 6, "", "", ""],
        ["seed", 7, "", "", ""],
    ]
    names = [
        ("train_x", f"A1:B{n}"),
        ("TRAIN_T", f"C1:E{n}"),
        ("hidden_size", f"B{n + 1}"),
        ("epochs", f"B{n + 2}"),
        ("learning_rate", f"B{n + 3}"),
        ("batch_size", f"B{n + 4}"),
        ("seed", f"B{n + 5}"),
    ]
    # The names win over a selection.
    book = book_of(values, selection="A1:B3", names=names)
    actions, plan = run_and_plan(book, scripts.live_flavor(""))
    net, history = numpy_run(x, t, 3, hidden=4, epochs=30, rate=0.5, batch=6, seed=7)
    replay = Replay.of(actions)
    for name in learning.PARAMETER_NAMES:
        got = written_values(replay, plan.layout.find("trained", name))
        np.testing.assert_array_equal(got, np.atleast_2d(net.params[name]))
    assert plan.layout.find("trained", "loss").rows == 31
    values_shown = replay.evaluate()
    y = computed(values_shown, plan.layout.find("trained", "Y"))
    np.testing.assert_allclose(y, net.probabilities(x), rtol=1e-12, atol=1e-15)
    assert plan.data.source == f"train_x (Sheet1!A1:B{n}) and train_t (Sheet1!C1:E{n})"


def test_numeric_labels_are_classes_by_value():
    rows = [[row[0], row[1], {"cat": 10, "dog": 2, "eel": 7.0}[row[2]]] for row in DATA]
    book = one_epoch_book(table(rows), selection=f"A1:C{len(rows) + 1}")
    plan = training.plan(book, scripts.live_flavor(""))
    assert plan.data.classes == (2.0, 7.0, 10.0)
    labels = [row[2] for row in rows]
    np.testing.assert_array_equal(plan.data.t, [(2, 7, 10).index(v) for v in labels])


# --- refusals ------------------------------------------------------------------


def with_cell(row: int, col: int, value) -> list[list]:
    values = table()
    values[row][col] = value
    return values


def with_cells(changes: dict) -> list[list]:
    values = table()
    for (row, col), value in changes.items():
        values[row][col] = value
    return values


def named_table(*names):
    values = table()
    return book_of(values, selection=f"A1:C{len(values)}", names=names)


REFUSALS = {
    "one cell": (lambda: book_of(table(), selection="B2"),
                 "the selection Sheet1!B2 has 1 x 1 cells of data; select the"),
    "no cells": (lambda: book_of(table(), selection=None), "select the data"),
    "areas": (lambda: book_of(table(), selection="A1:B3,D1:D3"), "select the data"),
    "below": (lambda: book_of(table(), selection="A200:C300"), "is empty"),
    "text": (lambda: book_of(with_cell(5, 1, "wide"), selection="A1:C37"),
             "Sheet1!B6 holds text ('wide'): every input (Sheet1!A2:B37) must be"),
    "blank": (lambda: book_of(with_cell(3, 0, ""), selection="A1:C37"),
              "Sheet1!A4 is blank: every input"),
    "error": (lambda: book_of(with_cell(9, 0, "#N/A"), selection="A1:C37"),
              "Sheet1!A10 shows #N/A: every input"),
    "no label": (lambda: book_of(with_cell(9, 2, None), selection="A1:C37"),
                 "Sheet1!C10 is blank: every row needs a label"),
    "label error": (lambda: book_of(with_cell(9, 2, "#DIV/0!"), selection="A1:C37"),
                    "Sheet1!C10 shows #DIV/0!: every row needs a label"),
    "one class": (lambda: book_of(table([r[:2] + ["cat"] for r in DATA]),
                                  selection="A1:C37"),
                  "every label (Sheet1!C2:C37) is 'cat'; a classifier needs at least"),
    "too many": (lambda: book_of(table(), names=[("train_x", "A1:Z200000"),
                                                 ("train_t", "AA1:AA200000")]),
                 "train_x and train_t is 200,000 x 27 = 5,400,000 cells; "
                 "train_network reads at most 4,000,000"),
    "only train_x": (lambda: named_table(("train_x", "A2:B37")),
                     "names train_x but not train_t"),
    "rows differ": (lambda: named_table(("train_x", "A2:B37"), ("train_t", "C2:C30")),
                    "train_x (Sheet1!A2:B37) has 36 rows but train_t (Sheet1!C2:C30)"),
    "one-hot": (lambda: named_table(("train_x", "A2:A37"), ("train_t", "A2:B37")),
                "train_t has 2 columns, so each row must be one-hot (one 1, the "
                "rest 0), but Sheet1!A2:B2 is not"),
    "text setting": (lambda: named_table(("epochs", "A1")),
                     "Sheet1!A1 (named epochs) holds text ('length'); give it a"),
    "range setting": (lambda: named_table(("seed", "A2:A3")),
                      "the name seed refers to Sheet1!A2:A3, 2 x 1 cells"),
    "zero hidden": (lambda: book_of(with_cell(1, 0, 0.0), selection="A3:C37",
                                    names=[("hidden_size", "A2")]),
                    "Sheet1!A2 holds 0; hidden_size must be from 1 to 1,000"),
    "big seed": (lambda: book_of(with_cell(1, 0, 2.0**32), selection="A3:C37",
                                 names=[("seed", "A2")]),
                 "Sheet1!A2 holds 4,294,967,296; seed must be from 0 to 4,294,967,295"),
    "half epoch": (lambda: book_of(with_cell(1, 0, 2.5), selection="A3:C37",
                                   names=[("epochs", "A2")]),
                   "Sheet1!A2 holds 2.5; epochs must be a whole number"),
    "negative rate": (lambda: book_of(with_cell(1, 0, -1.0), selection="A3:C37",
                                      names=[("learning_rate", "A2")]),
                      "learning_rate must be above 0 and at most 1000"),
    "too long": (lambda: book_of(with_cell(1, 0, 100_000.0), selection="A3:C37",
                                 names=[("epochs", "A2")]),
                 "100000 epochs over 35 rows in batches of 10 is 400,000 steps"),
    "too much": (lambda: book_of(with_cells({(1, 0): 5100.0, (2, 0): 1000.0,
                                             (3, 0): 33.0}), selection="A5:C37",
                                 names=[("epochs", "A2"), ("hidden_size", "A3"),
                                        ("batch_size", "A4")]),
                 "5100 epochs over 33 rows in batches of 33 is 5,100 steps and "
                 "1,010,304,900 weight visits (epochs x rows x the 6,003 weights)"),
}  # fmt: skip


@pytest.mark.parametrize("case", REFUSALS)
def test_bad_input_is_refused_naming_the_cell_and_nothing_is_written(case, capsys):
    make, words = REFUSALS[case]
    book = make()
    with pytest.raises(scripts.ScriptRefused) as refused:
        run_script(book)
    message = str(refused.value)
    assert message.startswith("train_network: ")
    assert words in message
    assert "\n" not in message
    assert isinstance(refused.value, xlwings.XlwingsError)  # HTTP 400 in Server
    assert book.json()["actions"] == []
    assert capsys.readouterr().out == message + "\n"


def test_a_run_whose_loss_stops_being_finite_is_refused():
    # Cells hold finite numbers only, and a sigmoid network then saturates
    # rather than overflows; an infinite input is the way to see the guard.
    book = book_of(table(), selection="A1:C37")
    data = training.read_data(book, {})
    data.x[0, 0] = np.inf
    with pytest.raises(TrainingRefused, match=r"diverged in epoch 1 \(the loss is nan"):
        train_script.train(data, train_script.Settings.defaults())


def test_in_xlwings_lite_a_refusal_is_printed_not_raised(monkeypatch, capsys):
    monkeypatch.setattr(scripts.sys, "platform", "emscripten")
    book = book_of(with_cell(5, 1, "wide"), selection="A1:C37")
    run_script(book)  # no exception, so no traceback in Lite's pane
    out = capsys.readouterr().out
    assert out.startswith("train_network: Sheet1!B6 holds text ('wide')")
    assert book.json()["actions"] == []


def test_too_many_cells_is_refused_before_a_cell_is_read(monkeypatch):
    def no_reading(*args, **kwargs):
        raise AssertionError("a cell was read")

    monkeypatch.setattr(cells, "read", no_reading)
    book = book_of(
        table(), names=[("train_x", "A1:CV40000"), ("train_t", "CW1:CW40000")]
    )
    with pytest.raises(TrainingRefused, match=r"4,040,000 cells; train_network"):
        training.read_data(book, training.book_names(book))
    book = book_of(table(), selection="A1:CW1048576")
    book.sheets[0].api["used_range_address"] = "A1:CW1048576"
    with pytest.raises(TrainingRefused, match=r"the selection Sheet1!A1:CW1048576"):
        training.read_data(book, {})


def test_a_success_prints_one_line(trained):
    *_, printed = trained
    (line,) = printed.splitlines()
    assert line.startswith(
        "train_network: a 2-10-3 network trained on 36 rows of "
        "the selection Sheet1!A2:C37, 100 epochs: loss "
    )
    assert line.endswith("on the new sheet 'trained'")


# --- classic Excel ---------------------------------------------------------------


def test_classic_writes_legacy_arrays_that_compute_without_dynamic_arrays():
    values = table()
    book = one_epoch_book(values, selection=f"A1:C{len(values)}")
    with plans_made() as made:
        summary = scripts.train_in_active_book(book=book)
    ((flavor, plan),) = made
    assert flavor == scripts.classic_flavor()
    assert summary.startswith("train_network: a 2-10-3 network")
    actions = book.json()["actions"]
    arrays = [a for a in actions if a["func"] == "setFormulaArray"]
    assert sum("DENSE(" in a["args"][0] for a in arrays) == 2
    result = verify.compare(
        plan.layout.checks, Replay.of(actions).evaluate(dynamic_arrays=False), "replay"
    )
    assert result.ok, result.summary()


def test_classic_shows_a_refusal_in_a_message_box_and_writes_nothing():
    book = book_of(with_cell(5, 1, "wide"), selection="A1:C37")
    message = scripts.train_in_active_book(book=book)
    assert message.startswith("train_network: Sheet1!B6 holds text ('wide')")
    (alert,) = book.json()["actions"]
    assert alert["func"] == "alert"
    assert alert["args"][:2] == [message, "xlnn"]


# --- registration ------------------------------------------------------------------


def test_train_network_is_a_served_script_with_its_help():
    assert "train_network" in scripts.__all__
    meta = {m["function_name"] for m in xlwings.server.custom_scripts_meta(scripts)}
    assert "train_network" in meta
    doc = " ".join(scripts.train_network.__doc__.split())
    for setting in train_script.SETTINGS:  # the help states each default
        assert f"`{setting.name}` ({shown(setting.default)})" in doc
    for word in (
        "train_x",
        "train_t",
        "hidden_size",
        "epochs",
        "learning_rate",
        "batch_size",
        "seed",
        "last column",
        "DENSE",
    ):
        assert word in doc


def test_more_classes_than_the_cap_are_refused_as_likely_numbers():
    rows = [[float(k), float(k % 7), float(k) + 0.5] for k in range(1001)]
    book = book_of(rows, selection="A1:C1001")
    with pytest.raises(scripts.ScriptRefused, match=r"name 1,001 classes; .* at most"):
        run_script(book)
    assert book.json()["actions"] == []


def test_data_too_wide_for_the_new_sheet_is_refused_before_training(monkeypatch):
    width = 16_370
    rows = [[0.0] * width + ["a"], [1.0] * width + ["b"]]
    last = column_letter(width + 1)
    book = one_epoch_book(rows, selection=f"A1:{last}2")
    trained = []
    monkeypatch.setattr(train_script, "train", lambda *args: trained.append(args))
    with pytest.raises(scripts.ScriptRefused, match=r"16,384: train on fewer"):
        run_script(book)
    assert book.json()["actions"] == []
    assert trained == []  # refused from the sheet's shape, not after the work


def test_labels_that_look_like_formulas_are_entered_as_text():
    rows = [[a, b, {"cat": "=1+1", "dog": "@SUM(1)", "eel": "eel"}[c]]
            for a, b, c in DATA]  # fmt: skip
    actions = run_script(one_epoch_book(rows, selection="A1:C36"))
    texts = [
        cell for cell in cells_set_by(actions, "setValues") if isinstance(cell, str)
    ]
    assert "'=1+1" in texts and "'@SUM(1)" in texts
    formulas = cells_set_by(actions, "setFormula")
    assert not [f for f in formulas if "1+1" in f or "SUM(1)" in f]


def test_a_setting_named_as_a_constant_is_refused_naming_it():
    values = table()
    book = book_of(values, selection=f"A1:C{len(values)}")
    book.api["names"].append(
        {"name": "learning_rate", "refers_to": "=0.5", "sheet_index": None,
         "address": None, "book_scope": True, "scope_sheet_name": None,
         "scope_sheet_index": None}
    )  # fmt: skip
    with pytest.raises(scripts.ScriptRefused) as refused:
        run_script(book)
    assert str(refused.value) == (
        "train_network: the name learning_rate must refer to a range of cells, "
        "not '=0.5'"
    )
    assert book.json()["actions"] == []


@pytest.mark.skipif(sys.platform == "win32", reason="Excel may run")
def test_classic_without_excel_names_the_script_to_run_instead():
    with pytest.raises(scripts.NoExcel, match="run the script train_network instead"):
        scripts.train_in_active_book()
