"""xlnn.scripts through xlwings' real script path, replayed as Excel 365 would apply it.

Each insert script runs through ``xlwings.server.custom_scripts_call`` with a
JSON book, the way xlwings Lite and xlwings Server run it; the actions it
returns are what the Office.js add-in applies to the open workbook. The replay
(tests/officejs_replay.py) applies them, spills every one-cell formula, and
evaluates each formula with the ``formulas`` package and xlnn's functions
registered as the runtime registers them. Every check of the sample's layout
must then hold: the same numbers as the openpyxl files.

No Excel runs here: what Excel itself does with the actions (spilling, binding
the names of the functions) is modelled by the replay, not observed.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xlwings as xw
import xlwings.server
from officejs_replay import Replay, ReplayError, json_book

from xlnn import cli, samples, scripts, udfs
from xlnn.engines import verify
from xlnn.sheets.book_writer import BookConflict
from xlnn.sheets.flavors import ADDIN as FILE_ADDIN

REPO = Path(__file__).resolve().parents[1]

# The scripts enter formulas into an open workbook, where they bind at once:
# their sheets carry no help on binding.
ADDIN = FILE_ADDIN.entered_live()

# Book section 3.4.3, y for x = [1.0, 0.5] in float64 (the book prints
# [0.31682708 0.69627909]).
BOOK_Y = [0.31682707641102981, 0.69627908986196685]

# digits: a 360-image batch; training: 31 bands of formulas. Several seconds
# each through the replay.
SLOW = {"digits", "training"}
ALL_SAMPLES = [
    pytest.param(name, marks=pytest.mark.engine) if name in SLOW else name
    for name in samples.SAMPLES
]


def run_script(sample: str, book: xw.Book | None = None) -> list[dict]:
    """Run ``insert_<sample>`` as xlwings Lite and Server do; return its actions."""
    book = book or json_book()
    asyncio.run(
        xlwings.server.custom_scripts_call(
            scripts, f"insert_{sample}", typehint_to_value={xw.Book: book}
        )
    )
    return book.json()["actions"]


@functools.cache
def plain_actions(sample: str) -> list[dict]:
    """``run_script(sample)`` without a namespace, run once: tests only read it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(scripts.SERVER_NAMESPACE_VARIABLE, raising=False)
        patch.delattr(udfs, scripts.MODULE_NAMESPACE_ATTRIBUTE, raising=False)
        return run_script(sample)


@functools.cache
def plain_values(sample: str) -> dict:
    """``plain_actions(sample)`` replayed, once: tests only read the values."""
    return replayed(plain_actions(sample))


def of_kind(actions, func) -> list[dict]:
    return [action for action in actions if action["func"] == func]


def replayed(actions, **options) -> dict:
    return Replay.of(actions).evaluate(**options)


def checked(sample: str, values, namespace: str = "") -> verify.Verification:
    layout = samples.SAMPLES[sample](ADDIN.in_namespace(namespace))
    return verify.compare(layout.checks, values, "replay")


def block_values(values, block) -> np.ndarray:
    sheet = values[block.sheet]
    return np.array(
        [
            [sheet.get(block.address(i, j)) for j in range(block.cols)]
            for i in range(block.rows)
        ],
        dtype=object,
    )


def expected_cells(sample: str) -> int:
    layout = samples.SAMPLES[sample](ADDIN)
    return sum(check.expected.size for check in layout.checks)


@pytest.fixture(autouse=True)
def no_namespace(monkeypatch):
    """xlwings Lite's default: no namespace, unless a test sets one."""
    monkeypatch.delenv(scripts.SERVER_NAMESPACE_VARIABLE, raising=False)
    monkeypatch.delattr(udfs, scripts.MODULE_NAMESPACE_ATTRIBUTE, raising=False)


# --- every sample, replayed -------------------------------------------------


def test_every_sample_has_an_insert_script():
    listed = {
        meta["function_name"] for meta in xlwings.server.custom_scripts_meta(scripts)
    }
    others = {"bind_formulas", "train_network"}
    assert listed == {f"insert_{name}" for name in samples.SAMPLES} | others


@pytest.mark.parametrize("sample", ALL_SAMPLES)
def test_replayed_script_gives_every_expected_value(sample):
    result = checked(sample, plain_values(sample))
    assert result.ok, result.summary()
    assert result.cells == expected_cells(sample)


def test_replay_reproduces_the_books_y():
    values = plain_values("three_layer_network")
    layout = samples.three_layer_network(ADDIN)
    y = block_values(values, layout.find("network", "y"))
    np.testing.assert_allclose(y[0].astype(float), BOOK_Y, rtol=1e-12, atol=0)


@pytest.mark.engine
def test_replay_reproduces_numpys_digits_accuracy():
    network, images, labels = samples.load_digits_network()
    accuracy = np.mean(np.argmax(network.predict(images), axis=1) == labels)
    values = plain_values("digits")
    cell = samples.digits(ADDIN).find("batch", "accuracy")
    assert values["batch"][cell.address()] == pytest.approx(accuracy, rel=1e-12)


def test_one_cell_per_block_spills():
    """Office.js spills: each block's formula is in its top-left cell only."""
    actions = plain_actions("three_layer_network")
    layout = samples.three_layer_network(ADDIN)
    written = {
        (action["sheet_position"], action["start_row"], action["start_column"])
        for action in actions
        if action["func"] == "setFormula"
    }
    assert not [a for a in actions if a["func"] == "setFormulaArray"]
    assert all(
        a["row_count"] == a["column_count"] == 1
        for a in actions
        if a["func"] == "setFormula"
    )
    position = {sheet.title: k + 1 for k, sheet in enumerate(layout.sheets)}
    for sheet in layout.sheets:
        for formula in sheet.formulas:
            block = formula.block
            assert (position[block.sheet], block.row - 1, block.col - 1) in written


# --- namespaces -------------------------------------------------------------

FUNCTION_CALL = re.compile(r"([A-Z_][A-Z0-9_.]*)\(")


def formula_texts(actions) -> list[str]:
    """Every formula written, one-cell (spilling) or legacy array."""
    texts = []
    for action in actions:
        if action["func"] == "setFormula":
            texts += [cell for row in action["values"] for cell in row]
        elif action["func"] == "setFormulaArray":
            texts += action["args"]
    return texts


def xlnn_calls(actions) -> list[str]:
    """Every call of an xlnn function in the written formulas, as spelled."""
    ours = set(udfs.by_excel_name())
    return [
        name
        for text in formula_texts(actions)
        for name in FUNCTION_CALL.findall(text)
        if name.rpartition(".")[2] in ours
    ]


def test_with_a_namespace_formulas_call_namespace_dot_name(monkeypatch):
    monkeypatch.setenv(scripts.SERVER_NAMESPACE_VARIABLE, "XLWINGS")
    actions = run_script("activations")
    calls = xlnn_calls(actions)
    assert "XLWINGS.TANH" in calls  # also Excel's own TANH: the prefix decides
    assert all(call.startswith("XLWINGS.") for call in calls)
    result = checked("activations", replayed(actions, namespace="XLWINGS"), "XLWINGS")
    assert result.ok, result.summary()


def test_without_a_namespace_formulas_call_plain_names():
    calls = xlnn_calls(plain_actions("activations"))
    assert "SIGMOID" in calls
    assert not [call for call in calls if "." in call]
    result = checked("activations", plain_values("activations"))
    assert result.ok, result.summary()


def test_a_namespace_the_runtime_lacks_shows_name_errors(monkeypatch):
    """The replay binds names as the runtime does: a wrong prefix never binds."""
    z1 = samples.three_layer_network(ADDIN).find("network", "z1")
    monkeypatch.setenv(scripts.SERVER_NAMESPACE_VARIABLE, "XLWINGS")
    spelled = replayed(run_script("three_layer_network"), namespace="")
    assert spelled["network"][z1.address()] == "#NAME?"
    plain = replayed(plain_actions("three_layer_network"), namespace="XLWINGS")
    assert plain["network"][z1.address()] == "#NAME?"


def test_module_namespace_follows_the_servers(monkeypatch):
    """xlwings joins the add-in's namespace and the module's with a dot."""
    monkeypatch.setenv(scripts.SERVER_NAMESPACE_VARIABLE, "xlwings")
    monkeypatch.setattr(udfs, scripts.MODULE_NAMESPACE_ATTRIBUTE, "nn", raising=False)
    calls = xlnn_calls(run_script("activations"))
    assert calls and all(call.startswith("XLWINGS.NN.") for call in calls)


# --- refusing to overwrite --------------------------------------------------


@pytest.mark.parametrize(
    ("sheets", "names", "taken"),
    [
        (("Sheet1", "network"), (), "sheet 'network'"),
        (("Sheet1", "BATCH"), (), "sheet 'batch'"),
        (("Sheet1",), ("w_1",), "name 'W_1'"),
    ],
)
def test_a_taken_sheet_or_name_fails_before_any_action(sheets, names, taken):
    book = json_book(sheets, names=[(name, "A1") for name in names])
    with pytest.raises(BookConflict, match=re.escape(taken)):
        run_script("three_layer_network", book)
    assert book.json()["actions"] == []


# --- legacy array formulas --------------------------------------------------


def test_without_spill_each_block_is_one_array_formula():
    book = json_book()
    scripts.insert(book, "three_layer_network", spill=False)
    actions = book.json()["actions"]
    layout = samples.three_layer_network(ADDIN)
    position = {sheet.title: k + 1 for k, sheet in enumerate(layout.sheets)}
    arrays = {
        (a["sheet_position"], a["start_row"], a["start_column"]): a
        for a in actions
        if a["func"] == "setFormulaArray"
    }
    blocks = [f for sheet in layout.sheets for f in sheet.formulas]
    assert len(arrays) == sum(f.block.shape != (1, 1) for f in blocks) > 0
    for formula in blocks:
        block = formula.block
        key = (position[block.sheet], block.row - 1, block.col - 1)
        if block.shape == (1, 1):
            assert key not in arrays
            continue
        action = arrays[key]
        assert (action["row_count"], action["column_count"]) == block.shape
        assert action["args"] == [f"={formula.body}"]
    one_cell = [a for a in actions if a["func"] == "setFormula"]
    assert all(a["row_count"] == a["column_count"] == 1 for a in one_cell)


def test_legacy_arrays_compute_in_an_excel_without_dynamic_arrays():
    book = json_book()
    scripts.insert(book, "three_layer_network", spill=False)
    values = replayed(book.json()["actions"], dynamic_arrays=False)
    result = checked("three_layer_network", values)
    assert result.ok, result.summary()


def test_spilled_formulas_need_dynamic_arrays():
    """Without dynamic arrays a one-cell formula shows one value: the checks see it."""
    values = replayed(plain_actions("three_layer_network"), dynamic_arrays=False)
    assert not checked("three_layer_network", values).ok


# --- the proof can fail -----------------------------------------------------


def weight_action(actions, layout):
    """The setValues action that writes W_1 on the network sheet."""
    w = layout.names["W_1"]
    for action in actions:
        if (
            action["func"] == "setValues"
            and (action["start_row"], action["start_column"]) == (w.row - 1, w.col - 1)
            and (action["row_count"], action["column_count"]) == w.shape
        ):
            return action
    raise AssertionError("no action writes W_1")


def test_a_changed_weight_is_noticed():
    actions = copy.deepcopy(plain_actions("three_layer_network"))
    layout = samples.three_layer_network(ADDIN)
    weight_action(actions, layout)["values"][0][0] += 1e-6
    result = checked("three_layer_network", replayed(actions))
    assert result.failed
    assert any(m.startswith("network!B45") for m in result.mismatches)  # y


def test_a_blocked_spill_is_noticed():
    """A value in a spill range gives #SPILL!, as in Excel 365."""
    actions = plain_actions("three_layer_network")
    layout = samples.three_layer_network(ADDIN)
    y = layout.find("network", "y")
    blocker = {
        "func": "setValues",
        "args": [None],
        "values": [["in the way"]],
        "sheet_position": 1,
        "start_row": y.row - 1,
        "start_column": y.col,  # the second cell of y
        "row_count": 1,
        "column_count": 1,
    }
    values = replayed([*actions, blocker])
    assert values["network"][y.address()] == "#SPILL!"
    assert not checked("three_layer_network", values).ok


# --- the replay's own rules, on small hand-made actions --------------------


def cells(func, row, col, values, *, sheet=0, args=None):
    """One action over the block of ``values`` at 0-based (row, col)."""
    values = values if func != "setFormulaArray" else None
    rows, cols = (len(values), len(values[0])) if values else (1, 1)
    return {
        "func": func,
        "args": args,
        "values": values,
        "sheet_position": sheet,
        "start_row": row,
        "start_column": col,
        "row_count": rows,
        "column_count": cols,
    }


def array_formula(row, col, rows, cols, text):
    action = cells("setFormulaArray", row, col, None, args=[text])
    action.update(row_count=rows, column_count=cols)
    return action


def test_replay_spills_right_and_down_and_reads_the_spilled_cells():
    actions = [
        cells("setValues", 0, 0, [[1.0, 2.0], [3.0, 4.0]]),
        cells("setFormula", 0, 3, [["=A1:B2*10"]]),
        cells("setFormula", 3, 0, [["=SUM(D1:E2)"]]),
    ]
    values = Replay.of(actions).evaluate()["Sheet1"]
    assert [values[a] for a in ("D1", "E1", "D2", "E2", "A4")] == [10, 20, 30, 40, 100]


def test_replay_fills_legacy_arrays_as_excel_does():
    actions = [
        cells("setValues", 0, 0, [[1.0, 2.0]]),
        array_formula(2, 0, 3, 3, "=A1:B1"),  # a row repeats down, #N/A to the right
        array_formula(6, 0, 1, 2, "=7"),  # a single value fills the range
    ]
    values = Replay.of(actions).evaluate()["Sheet1"]
    assert [values[f"{c}{r}"] for r in (3, 5) for c in "ABC"] == [1, 2, "#N/A"] * 2
    assert (values["A7"], values["B7"]) == (7, 7)


def test_replay_computes_a_formula_written_after_its_reader():
    actions = [
        cells("setFormula", 0, 0, [["=B1*2"]]),
        cells("setFormula", 0, 1, [["=3"]]),
    ]
    assert Replay.of(actions).evaluate()["Sheet1"]["A1"] == 6


def test_replay_refuses_to_read_a_blank_that_a_later_spill_fills():
    actions = [
        cells("setValues", 0, 0, [[1.0, 2.0]]),
        cells("setFormula", 2, 0, [["=SUM(B2)"]]),  # B2 is blank when read...
        cells("setFormula", 1, 0, [["=A1:B1"]]),  # ...and this fills it
    ]
    with pytest.raises(ReplayError, match="read Sheet1!B2 while it was blank"):
        Replay.of(actions).evaluate()


def test_replay_resolves_names_and_sheets():
    actions = [
        {"func": "addSheet", "args": [1, "my data"]},
        cells("setValues", 0, 0, [[2.0, 3.0]], sheet=1),
        {"func": "namesAdd", "args": ["pair", "='my data'!$A$1:$B$1"]},
        cells("setFormula", 0, 0, [["=SUM(pair)+'my data'!A1+nowhere"]]),
        cells("setFormula", 1, 0, [["=SUM(pair)"]]),
    ]
    values = Replay.of(actions).evaluate()["Sheet1"]
    assert (values["A1"], values["A2"]) == ("#NAME?", 5)


# --- xlnn insert: classic Excel ---------------------------------------------
# The COM path itself (xw.books.active in a running Excel) cannot run here:
# these tests run the command's error path for real, and the function it calls
# with a JSON book standing in for Excel's active workbook.


def user_environment() -> dict[str, str]:
    """A user's shell: no xlwings server settings from the test process."""
    hidden = ("XLWINGS_ON_SERVER", "XLWINGS_LICENSE_KEY", "XLWINGS_FUNCTIONS_NAMESPACE")
    return {k: v for k, v in os.environ.items() if k not in hidden}


@pytest.mark.skipif(sys.platform == "win32", reason="would write into a running Excel")
def test_insert_without_excel_exits_2_with_one_line():
    done = subprocess.run(
        [sys.executable, "-m", "xlnn", "insert", "three_layer_network"],
        capture_output=True,
        text=True,
        env=user_environment(),
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("xlnn insert: needs Excel on Windows with xlwings")
    assert "xlwings Lite or xlwings Server" in line
    assert "insert_three_layer_network" in line  # the script to run instead


def test_insert_refuses_an_unknown_sample():
    with pytest.raises(SystemExit) as exit_:
        cli.main(["insert", "four_layer_network"])
    assert exit_.value.code == 2


@pytest.mark.skipif(sys.platform == "win32", reason="Excel may run")
def test_no_active_book_without_excel():
    with pytest.raises(scripts.NoExcel, match="insert_digits instead"):
        scripts.insert_into_active_book("digits")


@pytest.mark.skipif(sys.platform == "win32", reason="Excel may run")
def test_an_excel_xlwings_cannot_reach_is_no_excel(monkeypatch):
    # As on Windows with no Excel running: xlwings raises where it finds none
    # (here, on Linux, it raises because the platform has no interactive mode).
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(scripts.NoExcel, match=r"needs Excel .*\(.+\); in xlwings"):
        scripts.active_book("digits")


def test_a_mac_is_refused_with_the_runtime_to_use(monkeypatch):
    # xlwings would reach Excel there, but classic xlwings' functions never load
    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(scripts.NoExcel) as refused:
        scripts.active_book("digits")
    assert "this is darwin" in str(refused.value)
    assert "on a Mac, use xlwings Lite" in str(refused.value)


def help_text(command: str) -> str:
    parser = cli.build_parser()
    (commands,) = [a for a in parser._actions if a.dest == "command"]
    return " ".join(commands.choices[command].format_help().split())


def test_every_text_gives_classic_xlwings_the_same_platform(capsys):
    from xlnn.excel import CLASSIC_EXCEL, CLASSIC_EXCEL_WHY

    assert CLASSIC_EXCEL == "Excel on Windows"  # xlwings' UDFs: Windows only
    cli.list_functions()
    texts = {
        "insert --help": help_text("insert"),
        "bind --help": help_text("bind"),
        "functions": capsys.readouterr().out,
        "README": " ".join((REPO / "README.md").read_text(encoding="utf-8").split()),
    }
    for name, text in texts.items():
        assert "Windows or macOS" not in text, name
        assert "Excel on Windows" in text, name
    for name in ("insert --help", "bind --help"):
        assert CLASSIC_EXCEL_WHY in texts[name], name
    assert "use xlwings Lite" in texts["README"]


@pytest.mark.parametrize("spill", [False, True])
def test_insert_into_active_book_writes_the_sample(monkeypatch, spill):
    # Classic xlwings functions have no namespace, whatever the environment says.
    monkeypatch.setenv(scripts.SERVER_NAMESPACE_VARIABLE, "XLWINGS")
    book = json_book()
    name = scripts.insert_into_active_book(
        "three_layer_network", spill=spill, book=book
    )
    assert name == "Book1.xlsx"
    actions = book.json()["actions"]
    assert bool(of_kind(actions, "setFormulaArray")) is not spill
    assert xlnn_calls(actions) and not [c for c in xlnn_calls(actions) if "." in c]
    values = replayed(actions, dynamic_arrays=spill)
    result = checked("three_layer_network", values)
    assert result.ok, result.summary()


def test_insert_command_writes_into_the_active_book(monkeypatch, capsys):
    book = json_book()
    monkeypatch.setattr(scripts, "active_book", lambda sample: book)
    assert cli.main(["insert", "three_layer_network"]) == 0
    assert capsys.readouterr().out == "three_layer_network written into Book1.xlsx\n"
    assert of_kind(book.json()["actions"], "setFormulaArray")  # legacy by default


def test_insert_command_spills_with_spill(monkeypatch):
    book = json_book()
    monkeypatch.setattr(scripts, "active_book", lambda sample: book)
    assert cli.main(["insert", "three_layer_network", "--spill"]) == 0
    assert not of_kind(book.json()["actions"], "setFormulaArray")


def test_insert_command_reports_a_conflict_in_one_line(monkeypatch, capsys):
    book = json_book(sheets=("Sheet1", "network"))
    monkeypatch.setattr(scripts, "active_book", lambda sample: book)
    assert cli.main(["insert", "three_layer_network"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xlnn insert: this workbook already has sheet 'network'")
    assert len(err.strip().splitlines()) == 1
    assert book.json()["actions"] == []


def test_classic_insert_calls_step_by_its_vba_wrapper_name():
    # "Import Functions" names the step function's wrapper STEP_FUNCTION, since
    # Step is a VBA keyword: a formula calling STEP would stay #NAME? there.
    book = json_book()
    scripts.insert_into_active_book("activations", book=book)
    names = {
        name
        for text in formula_texts(book.json()["actions"])
        for name in FUNCTION_CALL.findall(text)
    }
    assert "STEP_FUNCTION" in names and "SIGMOID" in names
    assert "STEP" not in names


def test_inserted_sheets_carry_no_help_on_binding_but_files_do():
    book = json_book()
    scripts.insert(book, "three_layer_network", spill=True, namespace="")
    written = [
        cell
        for action in book.json()["actions"]
        if action["func"] == "setValues"
        for row in action["values"]
        for cell in row
    ]
    assert "If cells show #NAME?" not in " ".join(map(str, written))
    file_texts = [t.text for s in samples.three_layer_network(FILE_ADDIN).sheets
                  for t in s.texts]  # fmt: skip
    assert any("If cells show #NAME?" in text for text in file_texts)
