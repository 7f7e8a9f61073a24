"""xlnn.excel.binding and the bind_formulas script: every xlnn formula entered again.

The script runs through xlwings' real script path
(``xlwings.server.custom_scripts_call`` with a JSON book, as xlwings Server and
xlwings Lite call it); its actions are what the add-in applies to the
workbook. The workbooks are the add-in files as Excel shows them when xlnn's
functions were missing: every formula cell ``#NAME?``.

- xlwings Server cannot read formulas: the sample is recognized by its
  sheets, and its own xlnn formulas are entered again.
- xlwings Lite reads formulas through JavaScript (``js.xlwings``), which does
  not exist here: a stand-in answers ``getUsedRangeAddress`` and
  ``getRangeData`` with what Office.js' ``range.formulas`` gives (a legacy
  array's formula in each of its cells), and xlwings' own Lite code runs on it.
- Classic Excel (COM) is not here either: a stand-in book answers the few
  xlwings calls the COM reader makes.
"""

from __future__ import annotations

import asyncio
import re
import sys
import types

import openpyxl
import pytest
import xlwings as xw
import xlwings.server
from officejs_replay import json_book
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.worksheet.formula import ArrayFormula

from xlnn import cli, samples, scripts
from xlnn.excel import binding
from xlnn.functions import catalog
from xlnn.sheets import xlsx_writer
from xlnn.sheets.flavors import ADDIN, BINDING_HELP, PLAIN
from xlnn.sheets.layout import Block

# --- recognizing and renaming calls -------------------------------------------

OFFICE = binding.office_js_names("")
SERVER = binding.office_js_names("XLWINGS")


@pytest.mark.parametrize(
    "formula, expected",
    [
        ("=SIGMOID(A1:C1)", "=XLWINGS.SIGMOID(A1:C1)"),
        ("=sigmoid(A1:C1)", "=XLWINGS.SIGMOID(A1:C1)"),
        ("=XLWINGS.SIGMOID(A1:C1)", "=XLWINGS.SIGMOID(A1:C1)"),
        ("=XLWINGS_DEV.SOFTMAX(A1:C1)", "=XLWINGS.SOFTMAX(A1:C1)"),
        ("=_xldudf_XLWINGS_LEAKY_RELU(A1,0.1)", "=XLWINGS.LEAKY_RELU(A1,0.1)"),
        ("=_xldudf_LOG_SOFTMAX(A1:C1)", "=XLWINGS.LOG_SOFTMAX(A1:C1)"),
        ("=_xldudf_XLWINGS_TANH(A1)", "=XLWINGS.TANH(A1)"),
        ("=[1]!SIGMOID(A1)", "=XLWINGS.SIGMOID(A1)"),
        ("='C:\\xl\\[xlnn.xlam]Sheet1'!relu(A1)", "=XLWINGS.RELU(A1)"),
        ("=STEP_FUNCTION(A1:A9)", "=XLWINGS.STEP(A1:A9)"),
        ("=SUM(SIGMOID(MMULT(x,W_1)+b_1))", "=SUM(XLWINGS.SIGMOID(MMULT(x,W_1)+b_1))"),
        ('=IF(A1>0,RELU(A1),"RELU(x)")', '=IF(A1>0,XLWINGS.RELU(A1),"RELU(x)")'),
        (
            "='SIGMOID (2)'!A1+ELU ( 'a b'!A1)",
            "='SIGMOID (2)'!A1+XLWINGS.ELU ( 'a b'!A1)",
        ),
    ],
)
def test_every_form_of_an_xlnn_call_is_written_as_the_runtime_names_it(
    formula, expected
):
    assert binding.rename(formula, SERVER) == expected


@pytest.mark.parametrize(
    "formula",
    [
        "=MMULT(A1:B1,W_1)+b_1",
        "=TANH(A1:A3)",  # Excel's own TANH
        "=MYSIGMOID(A1)",
        "=SIGMOID2(A1)",
        "=_xlfn.STEP(A1)",
        '="SIGMOID(A1)"',
        "=SIGMOID",  # a defined name, not a call
        "=_xldudf_CONTOSO_ADD(1,2)",
        "=_xldudf_96323233322223(A1)",  # a runtime-numbered function
        "=A1+SIGMOID_X(B1)",
    ],
)
def test_formulas_without_an_xlnn_call_are_left_alone(formula):
    assert binding.rename(formula, SERVER) is None


def test_each_runtime_has_its_own_names():
    assert binding.rename("=STEP(A1)", OFFICE) == "=STEP(A1)"
    assert binding.rename("=STEP(A1)", binding.classic_names) == "=STEP_FUNCTION(A1)"
    assert binding.rename("=XLWINGS.STEP(A1)", OFFICE) == "=STEP(A1)"
    assert binding.rename("=_xldudf_GELU(A1)", binding.classic_names) == "=GELU(A1)"


def test_every_catalog_name_is_recognized_in_every_form():
    for activation in catalog.TABLE:
        forms = [f"NS.{activation.excel_name}", f"_xldudf_NS_{activation.excel_name}"]
        if activation.excel_name not in binding.BUILT_IN:  # bare TANH is Excel's
            forms += [activation.excel_name.lower(), activation.python_name]
        for form in forms:
            assert binding.xlnn_function(form) is activation, form


def test_a_legacy_array_is_a_rectangle_of_equal_formulas():
    grid = [
        ["=A", "=A", None, "=B"],
        ["=A", "=A", "=C", "=B"],
        ["=A", None, "=C", "=C"],
    ]
    assert list(binding.equal_rectangles(grid)) == [
        (0, 0, 2, 2),
        (0, 3, 2, 1),
        (1, 2, 2, 1),
        (2, 0, 1, 1),
        (2, 3, 1, 1),
    ]


def test_equal_formulas_of_single_cells_stay_single_cells():
    # Two cells of =SIGMOID($A$1) read as one array spilled one value into
    # both, deleting the second cell's formula.
    single = "=SIGMOID($A$1)"
    grid = [
        [single, single, "=SOFTMAX($A$1:$C$1)", "=SOFTMAX($A$1:$C$1)"],
        ["=SIGMOID(x)", "=SIGMOID(x)", None, None],  # a name: maybe a range
    ]
    entries = binding.grid_entries("S", 2, 1, grid)
    got = [(entry.block.coordinates, entry.formula, entry.array) for entry in entries]
    assert got == [
        ("A2", single, False),
        ("B2", single, False),
        ("C2:D2", "=SOFTMAX($A$1:$C$1)", True),
        ("A3:B3", "=SIGMOID(x)", True),
    ]


# --- workbooks as Excel shows them, and xlwings' JSON book ---------------------


def addin_workbook(sample: str) -> openpyxl.Workbook:
    """The sample's add-in file, as ``xlnn build`` writes it (in memory)."""
    return xlsx_writer.to_workbook(samples.SAMPLES[sample](ADDIN))


def cells_of(worksheet, formula_cell) -> list[list]:
    """A sheet's cells from A1, each through ``formula_cell(text)`` if a formula.

    A legacy array's formula counts for each cell of its range.
    """
    width = worksheet.max_column  # computed anew on each access
    rows = [[None] * width for _ in range(worksheet.max_row)]
    # xlsx_writer fills _cells directly, which iter_rows() does not see.
    for cell in worksheet._cells.values():
        value = cell.value
        if isinstance(value, ArrayFormula):
            first_col, first_row, last_col, last_row = range_boundaries(value.ref)
            for r in range(first_row, last_row + 1):
                for c in range(first_col, last_col + 1):
                    rows[r - 1][c - 1] = formula_cell(value.text)
        elif isinstance(value, str) and value.startswith("="):
            rows[cell.row - 1][cell.column - 1] = formula_cell(value)
        elif value is not None and rows[cell.row - 1][cell.column - 1] is None:
            rows[cell.row - 1][cell.column - 1] = value
    return [["" if cell is None else cell for cell in row] for row in rows]


def book_showing(workbook: openpyxl.Workbook, shown=lambda text: "#NAME?") -> xw.Book:
    """An xlwings JSON book (what the add-in sends) of the workbook's values.

    By default every formula cell shows #NAME?, as when Excel opened the file
    without xlnn's functions: the ones that call them and all that follow.
    """
    return json_book({ws.title: cells_of(ws, shown) for ws in workbook.worksheets})


def run_script(book: xw.Book, name: str = "bind_formulas") -> list[dict]:
    """Run one of xlnn's scripts the way xlwings Server and Lite do; its actions."""
    asyncio.run(
        xlwings.server.custom_scripts_call(
            scripts, name, typehint_to_value={xw.Book: book}
        )
    )
    return book.json()["actions"]


def xlnn_blocks(sample: str, namespace: str) -> dict[tuple, tuple[str, bool]]:
    """The sample's xlnn formulas: (sheet, row, col, rows, cols) -> (text, array)."""
    layout = samples.SAMPLES[sample](ADDIN.in_namespace(namespace))
    found = {}
    for sheet in layout.sheets:
        for formula in sheet.formulas:
            if any(
                binding.xlnn_function(name)
                for name in re.findall(r"[A-Za-z_][\w.]*(?=\()", formula.body)
            ):
                block = formula.block
                key = (block.sheet, block.row, block.col, block.rows, block.cols)
                found[key] = (f"={formula.body}", block.shape != (1, 1))
    return found


def reentered(book: xw.Book, actions: list[dict]) -> dict[tuple, tuple[str, bool]]:
    """What the actions enter again: block -> (formula, legacy array), as above.

    A spilled array is its range cleared, then its formula in the top-left
    cell; every action must belong to one such re-entry.
    """
    titles = [sheet.name for sheet in book.sheets]
    found, cleared = {}, None
    for action in actions:
        key = (
            titles[action["sheet_position"]],
            action["start_row"] + 1,
            action["start_column"] + 1,
            action["row_count"],
            action["column_count"],
        )
        if action["func"] == "rangeClearContents":
            assert cleared is None, "a cleared range was not filled"
            cleared = key
        elif action["func"] == "setFormula":
            assert action["values"] and len(action["values"]) == 1
            (text,) = action["values"][0]
            if cleared is not None:
                assert cleared[:3] == key[:3], "a formula outside the cleared range"
                key, cleared = cleared, None
                found[key] = (text, True)
            else:
                found[key] = (text, False)
        elif action["func"] == "setFormulaArray":
            found[key] = (action["args"][0], True)
        else:
            raise AssertionError(f"unexpected action {action['func']}")
    assert cleared is None, "a cleared range was not filled"
    return found


# --- xlwings Server: the sample's own formulas ---------------------------------


# digits and training take about half a second a run or more: only in the full
# run (engine mark).
SLOW = {"digits", "training"}
SAMPLES = [
    pytest.param(sample, marks=pytest.mark.engine) if sample in SLOW else sample
    for sample in sorted(samples.SAMPLES)
]


@pytest.mark.parametrize("namespace", ["", "XLWINGS"])
@pytest.mark.parametrize("sample", SAMPLES)
def test_server_reenters_exactly_the_xlnn_formulas(
    sample, namespace, monkeypatch, capsys
):
    monkeypatch.setenv(scripts.SERVER_NAMESPACE_VARIABLE, namespace)
    if not namespace:
        monkeypatch.delenv(scripts.SERVER_NAMESPACE_VARIABLE)
    expected = xlnn_blocks(sample, scripts.function_namespace())
    book = book_showing(addin_workbook(sample))

    actions = run_script(book)

    assert reentered(book, actions) == expected
    assert any(array for _, array in expected.values())
    assert f"entered {len(expected)} formulas" in capsys.readouterr().out
    if namespace:
        assert all(f"={namespace}." in text for text, _ in expected.values())


def test_a_samples_sheet_titles_are_the_same_in_every_flavor():
    # binding.sample_titles lays each sample out once, in one flavor.
    for sample in ("activations", "three_layer_network"):
        make = samples.SAMPLES[sample]
        for flavor in (ADDIN.in_namespace("XLWINGS"), ADDIN.for_classic(), PLAIN):
            assert tuple(make(flavor).sheet_titles) == binding.sample_titles(make)


def test_server_leaves_formulas_that_already_work(capsys):
    workbook = addin_workbook("three_layer_network")
    # Formulas entered with the functions loaded show numbers, not #NAME?.
    book = book_showing(workbook, shown=lambda text: 0.5)

    assert run_script(book) == []
    assert "nothing to do" in capsys.readouterr().out


def test_server_says_why_it_cannot_bind_a_workbook_it_does_not_know():
    workbook = openpyxl.Workbook()
    workbook.active["A1"] = "=SIGMOID(B1:B3)"
    book = book_showing(workbook)

    with pytest.raises(ValueError, match="cannot read formulas.*activations"):
        run_script(book)
    assert book.json()["actions"] == []


def test_legacy_arrays_can_stay_legacy_arrays():
    book = book_showing(addin_workbook("activations"))
    entries = asyncio.run(binding.bind(book, namespace="", spill=False))
    actions = book.json()["actions"]

    assert reentered(book, actions) == xlnn_blocks("activations", "")
    assert {action["func"] for action in actions} == {"setFormulaArray"}
    assert len(entries) == len(actions)


# --- xlwings Lite: formulas read through xlwings' async API --------------------


class LiteClient:
    """Stands in for xlwings Lite's JavaScript: Office.js ``range.formulas``."""

    def __init__(self, formulas: dict[str, list[list]]):
        self.formulas = formulas
        self.reads = []

    async def getUsedRangeAddress(self, sheet, values_only):
        rows = self.formulas[sheet]
        if not rows or not rows[0]:
            return None
        return f"A1:{get_column_letter(len(rows[0]))}{len(rows)}"

    async def getRangeData(self, sheet, address, keys):
        self.reads.append((sheet, address, tuple(keys)))
        first_col, first_row, last_col, last_row = range_boundaries(
            address.replace("$", "")
        )
        block = [
            row[first_col - 1 : last_col]
            for row in self.formulas[sheet][first_row - 1 : last_row]
        ]
        return types.SimpleNamespace(to_py=lambda: {"formulas": block})


@pytest.fixture
def lite(monkeypatch):
    """Run as in xlwings Lite (Pyodide): ``js.xlwings`` answers the reads."""

    def install(formulas):
        client = LiteClient(formulas)
        ffi = types.ModuleType("pyodide.ffi")
        ffi.to_js = lambda value: value
        ffi.JsNull = type("JsNull", (), {})
        pyodide = types.ModuleType("pyodide")
        pyodide.ffi = ffi
        js = types.ModuleType("js")
        js.xlwings = client
        monkeypatch.setitem(sys.modules, "js", js)
        monkeypatch.setitem(sys.modules, "pyodide", pyodide)
        monkeypatch.setitem(sys.modules, "pyodide.ffi", ffi)
        monkeypatch.setattr(sys, "platform", "emscripten")
        return client

    return install


def saved_by_excel(namespace: str):
    """A formula as Excel saves an Office.js call: ``_xldudf_NS_SIGMOID(...)``."""
    prefix = f"_xldudf_{namespace}_" if namespace else "_xldudf_"

    def saved(text: str) -> str:
        return re.sub(
            r"(?<![\w.])([A-Z_]+)(?=\()",
            lambda m: prefix + m[1] if binding.xlnn_function(m[1]) else m[1],
            text,
        )

    return saved


@pytest.mark.parametrize("sample", SAMPLES)
def test_lite_reads_the_formulas_and_reenters_the_xlnn_ones(
    sample, lite, monkeypatch, capsys
):
    monkeypatch.delenv(scripts.SERVER_NAMESPACE_VARIABLE, raising=False)
    workbook = addin_workbook(sample)
    # An array saved with Excel's _xldudf_ names, a text that looks like a
    # call, and a formula of the user's own: only xlnn calls are entered again.
    first = workbook.worksheets[0]
    first["A1"] = "SIGMOID(A1:A3) is not a formula"
    first.cell(1, 30).value = "=SUM(1,2)"
    formulas = {ws.title: cells_of(ws, lambda text: text) for ws in workbook}
    saved = saved_by_excel("XLWINGS")
    array_blocks = [key for key, (_, array) in xlnn_blocks(sample, "").items() if array]
    sheet, row, col, rows, cols = array_blocks[0]
    for r in range(row, row + rows):
        for c in range(col, col + cols):
            formulas[sheet][r - 1][c - 1] = saved(formulas[sheet][r - 1][c - 1])
    assert formulas[sheet][row - 1][col - 1].startswith("=_xldudf_XLWINGS_")
    client = lite(formulas)
    book = book_showing(workbook, shown=lambda text: "#NAME?")

    actions = run_script(book)

    assert reentered(book, actions) == xlnn_blocks(sample, "")
    assert {read[2] for read in client.reads} == {("formulas",)}
    assert "entered" in capsys.readouterr().out


def test_lite_uses_the_runtime_namespace(lite, monkeypatch):
    monkeypatch.setattr(scripts.udfs, scripts.MODULE_NAMESPACE_ATTRIBUTE, "nn",
                        raising=False)  # fmt: skip
    monkeypatch.delenv(scripts.SERVER_NAMESPACE_VARIABLE, raising=False)
    workbook = addin_workbook("three_layer_network")
    lite({ws.title: cells_of(ws, lambda text: text) for ws in workbook})
    book = book_showing(workbook)

    found = reentered(book, run_script(book))

    assert scripts.function_namespace() == "NN"
    assert found == xlnn_blocks("three_layer_network", "NN")


# --- classic Excel (COM) ---------------------------------------------------------


class ComRange:
    """The few xlwings Range calls the COM reader and writer make."""

    def __init__(self, sheet, address: str):
        self.sheet = sheet
        first_col, first_row, last_col, last_row = range_boundaries(
            address.replace("$", "")
        )
        self.row, self.column = first_row, first_col
        self.shape = (last_row - first_row + 1, last_col - first_col + 1)

    def _cells(self):
        rows, cols = self.shape
        return [
            [self.sheet.formulas[self.row - 1 + i][self.column - 1 + j]
             for j in range(cols)]
            for i in range(rows)
        ]  # fmt: skip

    @property
    def formula(self):
        return tuple(tuple(row) for row in self._cells())

    @property
    def formula2(self):
        raise AttributeError("Formula2")  # Excel before 365

    @property
    def has_array(self):
        return self._array() is not None

    def _array(self):
        for address in self.sheet.arrays:
            first_col, first_row, last_col, last_row = range_boundaries(address)
            if (
                first_row <= self.row <= last_row
                and first_col <= self.column <= last_col
            ):
                return address
        return None

    @property
    def api(self):
        current = types.SimpleNamespace(Address=self._array())
        return types.SimpleNamespace(CurrentArray=current)

    def __setattr__(self, name, value):
        if name in ("formula", "formula2", "formula_array"):
            self.sheet.writes.append((name, self.address(), value))
        else:
            object.__setattr__(self, name, value)

    def clear_contents(self):
        self.sheet.writes.append(("clear_contents", self.address(), None))

    def address(self):
        rows, cols = self.shape
        first = f"{get_column_letter(self.column)}{self.row}"
        last = f"{get_column_letter(self.column + cols - 1)}{self.row + rows - 1}"
        return first if first == last else f"{first}:{last}"


class ComSheet:
    def __init__(self, worksheet):
        self.name = worksheet.title
        self.formulas = cells_of(worksheet, lambda text: text)
        self.arrays = [
            cell.value.ref
            for cell in worksheet._cells.values()
            if isinstance(cell.value, ArrayFormula) and ":" in cell.value.ref
        ]
        self.writes = []

    @property
    def used_range(self):
        rows, cols = len(self.formulas), len(self.formulas[0])
        return ComRange(self, f"A1:{get_column_letter(cols)}{rows}")

    def range(self, where):
        if isinstance(where, tuple):
            where = f"{get_column_letter(where[1])}{where[0]}"
        return ComRange(self, where)


class ComBook:
    def __init__(self, workbook):
        self.sheets = _Sheets(ComSheet(ws) for ws in workbook.worksheets)


class _Sheets(list):
    def __getitem__(self, key):
        if isinstance(key, str):
            return next(sheet for sheet in self if sheet.name == key)
        return super().__getitem__(key)


def test_classic_reenters_arrays_as_arrays_and_calls_step_step_function():
    book = ComBook(addin_workbook("activations"))

    entries = binding.bind_classic(book)

    writes = {w for sheet in book.sheets for w in sheet.writes}
    expected = set()
    for (_, row, col, rows, cols), (text, array) in xlnn_blocks(
        "activations", ""
    ).items():
        text = binding.rename(text, binding.classic_names)
        block = Block("activations", row, col, rows, cols)
        if array:
            expected.add(("formula_array", block.coordinates, text))
        else:
            expected.add(("formula", block.address(), text))
    assert writes == expected
    assert len(entries) == len(expected)
    assert any("STEP_FUNCTION(" in text for _, _, text in writes)
    assert not any(re.search(r"(?<!_)\bSTEP\(", text) for _, _, text in writes)


def test_classic_spill_clears_each_array_and_spills_its_formula():
    book = ComBook(addin_workbook("three_layer_network"))

    binding.bind_classic(book, spill=True)

    kinds = [w[0] for sheet in book.sheets for w in sheet.writes]
    assert "formula_array" not in kinds
    assert kinds.count("clear_contents") == kinds.count("formula2") > 0


def test_xlnn_bind_says_when_no_excel_is_reachable(capsys):
    if sys.platform == "win32":
        pytest.skip("on Windows, xlwings may reach a real Excel")
    assert cli.main(["bind"]) == cli.EXIT_NOT_WRITTEN
    error = capsys.readouterr().err
    assert "no workbook open in Excel could be reached" in error
    assert "run the script bind_formulas" in error


# --- what the add-in files say ---------------------------------------------------


def visible_texts(worksheet) -> set[str]:
    texts = set()
    for cell in worksheet._cells.values():
        hidden_row = worksheet.row_dimensions[cell.row].hidden
        hidden_col = worksheet.column_dimensions[get_column_letter(cell.column)].hidden
        if isinstance(cell.value, str) and not hidden_row and not hidden_col:
            texts.add(cell.value)
    return texts


@pytest.mark.parametrize("sample", SAMPLES)
def test_the_first_sheet_says_how_to_bind_in_each_runtime(sample):
    addin = xlsx_writer.to_workbook(samples.SAMPLES[sample](ADDIN))
    plain = xlsx_writer.to_workbook(samples.SAMPLES[sample](PLAIN))

    texts = visible_texts(addin.worksheets[0])

    assert set(BINDING_HELP) <= texts
    for runtime in ("xlwings Lite:", "xlwings Server:", "Classic xlwings"):
        assert any(line.startswith(runtime) for line in BINDING_HELP)
    assert "#NAME?" in BINDING_HELP[0]
    assert not set(BINDING_HELP) & visible_texts(plain.worksheets[0])


def test_dense_calls_are_re_entered_too():
    renamed = binding.rename(
        '=DENSE(A1:C1,W_1,b_1,"sigmoid")', binding.office_js_names("XLWINGS")
    )
    assert renamed == '=XLWINGS.DENSE(A1:C1,W_1,b_1,"sigmoid")'
    assert binding.rename("=_xldudf_DENSE(A1:B1,W,b)", binding.classic_names) == (
        "=DENSE(A1:B1,W,b)"
    )
