"""Recalculating workbooks: LibreOffice for plain formulas, ``formulas`` for ours."""

from __future__ import annotations

import os
import re
import time
import zipfile

import numpy as np
import openpyxl
import pytest
import schedula
from formulas.tokens.operand import Error
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.formula import ArrayFormula

from xlnn import activations, recalc, udfs
from xlnn.recalc import RecalcError

FUNCTIONS = {function.excel_name: function for function in udfs.FUNCTIONS}

RNG = np.random.default_rng(20240531)
X = RNG.normal(size=(2, 3))
W = RNG.normal(size=(3, 2))


def approx(expected):
    """Equal to ``expected`` within a relative 1e-12."""
    return pytest.approx(expected, rel=1e-12)


def put_grid(sheet, top_left: str, grid) -> None:
    """Write a 2-D grid of values into ``sheet`` from cell ``top_left``."""
    first = sheet[top_left]
    for i, row in enumerate(np.asarray(grid, dtype=object).tolist()):
        for j, value in enumerate(row):
            sheet.cell(first.row + i, first.column + j, value)


def grid_at(values: dict, top_left: str, shape) -> np.ndarray:
    """Read a grid of ``shape`` from ``{"A1": value}`` cells as an object array."""
    first = openpyxl.utils.cell.coordinate_to_tuple(top_left)
    rows, columns = shape
    grid = np.empty(shape, dtype=object)
    for i in range(rows):
        for j in range(columns):
            column = openpyxl.utils.get_column_letter(first[1] + j)
            grid[i, j] = values.get(f"{column}{first[0] + i}")
    return grid


def plain_workbook(path):
    """A workbook of built-in formulas: SUM, MMULT, cross-sheet refs, a name."""
    book = openpyxl.Workbook()
    inputs = book.active
    inputs.title = "Inputs"
    put_grid(inputs, "A1", X)
    put_grid(inputs, "A4", W)
    inputs["E1"] = ArrayFormula("E1:F2", "=MMULT(A1:C2,A4:B6)")
    book.defined_names["weights"] = DefinedName("weights", attr_text="Inputs!$A$4:$B$6")
    other = book.create_sheet("Other sheet")
    other["A1"] = "=SUM(Inputs!A1:C2)"
    other["A2"] = "=SUM(weights)"
    other["A3"] = "=Inputs!F2*2"
    other["B1"] = ArrayFormula("B1:C2", "=MMULT(Inputs!A1:C2,weights)")
    book.save(path)
    return path


def check_plain_values(values: dict) -> None:
    """Check the computed cells of :func:`plain_workbook` against NumPy."""
    product = X @ W
    for grid in (
        grid_at(values["Inputs"], "E1", (2, 2)),
        grid_at(values["Other sheet"], "B1", (2, 2)),
    ):
        assert grid.astype(float) == approx(product)
    assert values["Other sheet"]["A1"] == approx(X.sum())
    assert values["Other sheet"]["A2"] == approx(W.sum())
    assert values["Other sheet"]["A3"] == approx(2 * product[1, 1])


def set_cached_value(path, sheet_xml: str, reference: str, value: str) -> None:
    """Overwrite the cached value of formula cell ``reference`` inside an xlsx."""
    with zipfile.ZipFile(path) as source:
        members = [(item, source.read(item.filename)) for item in source.infolist()]
    pattern = rf'(<c r="{reference}"[^>]*>(?:(?!</c>).)*?<v>)[^<]*(</v>)'
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for item, data in members:
            if item.filename == sheet_xml:
                text, count = re.subn(pattern, rf"\g<1>{value}\g<2>", data.decode())
                assert count == 1, f"no cached value for {reference}"
                data = text.encode()
            target.writestr(item, data)


# --- LibreOffice -------------------------------------------------------------


def test_libreoffice_recalculates_plain_formulas(soffice, tmp_path):
    workbook = plain_workbook(tmp_path / "plain.xlsx")
    recalculated = recalc.recalculate_with_libreoffice(workbook, tmp_path / "out")
    assert recalculated == tmp_path / "out" / "plain.xlsx"
    check_plain_values(recalc.read_values(recalculated))


def test_libreoffice_replaces_stale_cached_values(soffice, tmp_path):
    first = recalc.recalculate_with_libreoffice(
        plain_workbook(tmp_path / "plain.xlsx"), tmp_path / "first"
    )
    set_cached_value(first, "xl/worksheets/sheet2.xml", "A1", "999")
    assert recalc.read_values(first)["Other sheet"]["A1"] == 999
    second = recalc.recalculate_with_libreoffice(first, tmp_path / "second")
    assert recalc.read_values(second)["Other sheet"]["A1"] == approx(X.sum())


def test_libreoffice_leaves_the_input_unchanged(soffice, tmp_path):
    workbook = plain_workbook(tmp_path / "plain.xlsx")
    before = workbook.read_bytes(), workbook.stat().st_mtime_ns
    recalc.recalculate_with_libreoffice(workbook, tmp_path / "out")
    assert (workbook.read_bytes(), workbook.stat().st_mtime_ns) == before


def test_libreoffice_and_formulas_agree_on_plain_formulas(soffice, tmp_path):
    workbook = plain_workbook(tmp_path / "plain.xlsx")
    by_libreoffice = recalc.read_values(
        recalc.recalculate_with_libreoffice(workbook, tmp_path / "out")
    )
    by_formulas = recalc.evaluate_with_formulas(workbook)
    for sheet, cells in by_formulas.items():
        for reference, value in cells.items():
            assert by_libreoffice[sheet][reference] == approx(value), reference


def test_recalculating_into_the_input_folder_is_refused(tmp_path):
    workbook = plain_workbook(tmp_path / "plain.xlsx")
    with pytest.raises(RecalcError, match="overwrite"):
        recalc.recalculate_with_libreoffice(workbook, tmp_path)


def test_missing_workbook_is_reported(tmp_path):
    with pytest.raises(RecalcError, match="no such workbook"):
        recalc.recalculate_with_libreoffice(tmp_path / "missing.xlsx", tmp_path)


def test_missing_libreoffice_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(recalc, "find_soffice", lambda: None)
    workbook = plain_workbook(tmp_path / "plain.xlsx")
    with pytest.raises(RecalcError, match="not found"):
        recalc.recalculate_with_libreoffice(workbook, tmp_path / "out")


def fake_soffice(tmp_path, monkeypatch, script: str) -> None:
    """Make ``find_soffice`` return a shell script in place of LibreOffice."""
    program = tmp_path / "fake-soffice"
    program.write_text(f"#!/bin/sh\n{script}\n")
    program.chmod(0o755)
    monkeypatch.setenv(recalc.SOFFICE_VARIABLE, str(program))


@pytest.mark.skipif(os.name == "nt", reason="uses a POSIX shell script")
def test_libreoffice_failure_shows_its_stderr(tmp_path, monkeypatch):
    fake_soffice(tmp_path, monkeypatch, 'echo "Error: source file broken" >&2; exit 3')
    workbook = plain_workbook(tmp_path / "plain.xlsx")
    with pytest.raises(RecalcError, match="source file broken") as failure:
        recalc.recalculate_with_libreoffice(workbook, tmp_path / "out")
    assert "exit code 3" in str(failure.value)


@pytest.mark.skipif(os.name == "nt", reason="uses a POSIX shell script")
def test_libreoffice_timeout_stops_it(tmp_path, monkeypatch):
    fake_soffice(tmp_path, monkeypatch, "PATH=/bin:/usr/bin; sleep 30 & wait")
    workbook = plain_workbook(tmp_path / "plain.xlsx")
    start = time.monotonic()
    with pytest.raises(RecalcError, match="did not finish"):
        recalc.recalculate_with_libreoffice(workbook, tmp_path / "out", timeout=0.5)
    assert time.monotonic() - start < 10


# --- formulas ----------------------------------------------------------------


def test_formulas_evaluates_plain_formulas(tmp_path):
    check_plain_values(
        recalc.evaluate_with_formulas(plain_workbook(tmp_path / "p.xlsx"))
    )


def sigmoid_workbook(path):
    """SIGMOID over numbers, text, a blank and an error, as array formulas."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Layer"
    put_grid(sheet, "A1", [[0.5, "text", None], [-1.5, 2.0, "=NA()"]])
    sheet["D1"] = ArrayFormula("D1:F1", "=SIGMOID(A1:C1)")
    sheet["D2"] = ArrayFormula("D2:F2", "=SIGMOID(A2:C2)")
    sheet["A4"] = "=SIGMOID(A2)"
    sheet["B4"] = "=SUM(D2:E2)"
    book.save(path)
    return path


def test_formulas_evaluates_sigmoid_through_the_udfs(tmp_path):
    values = recalc.evaluate_with_formulas(
        sigmoid_workbook(tmp_path / "s.xlsx"), FUNCTIONS
    )
    layer = values["Layer"]
    expected = activations.sigmoid([0.5, -1.5, 2.0])
    assert [layer["D1"], layer["D2"], layer["E2"]] == approx(expected.tolist())
    assert layer["E1"] == "#VALUE!"  # text
    assert layer["F1"] == ""  # blank stays blank
    assert layer["F2"] == "#N/A"  # errors pass through
    assert layer["A4"] == approx(expected[1])  # a single cell
    assert layer["B4"] == approx(expected[1:].sum())  # used by a built-in


def every_function_workbook(path):
    """Each registered function applied to the same 2x3 range, one per block."""
    book = openpyxl.Workbook()
    sheet = book.active
    put_grid(sheet, "A1", [[0.5, -3.0, None], [2.0, 0.0, -0.25]])
    for index, name in enumerate(FUNCTIONS):
        row = 4 + 3 * index
        sheet[f"A{row}"] = ArrayFormula(f"A{row}:C{row + 1}", f"={name}($A$1:$C$2)")
    book.save(path)
    return path


@pytest.fixture(scope="module")
def every_function_values(tmp_path_factory):
    workbook = every_function_workbook(tmp_path_factory.mktemp("all") / "all.xlsx")
    return next(iter(recalc.evaluate_with_formulas(workbook, FUNCTIONS).values()))


@pytest.mark.parametrize("excel_name", list(FUNCTIONS))
def test_formulas_result_equals_the_adapter_called_directly(
    excel_name, every_function_values
):
    index = list(FUNCTIONS).index(excel_name)
    expected = FUNCTIONS[excel_name]([[0.5, -3.0, None], [2.0, 0.0, -0.25]])
    computed = grid_at(every_function_values, f"A{4 + 3 * index}", (2, 3))
    expected = np.asarray(expected, dtype=object).ravel().tolist()
    for got, want in zip(computed.ravel().tolist(), expected, strict=True):
        assert got == (want if isinstance(want, str) else approx(want))


# --- the bridge between formulas and Excel-style adapters --------------------


def test_excel_argument_converts_what_formulas_passes():
    na = Error.errors["#N/A"]
    grid = np.array([[1, schedula.EMPTY, na], ["x", True, np.float64(2.5)]], object)
    converted = recalc.excel_argument(grid)
    assert converted == [[1.0, None, "#N/A"], ["x", True, 2.5]]
    assert [type(cell) for cell in converted[0]] == [float, type(None), str]


def test_excel_argument_gives_a_single_value_for_one_cell():
    assert recalc.excel_argument(np.array([[3]], object)) == 3.0
    assert recalc.excel_argument(np.array([[schedula.EMPTY]], object)) is None
    assert recalc.excel_argument("rows") == "rows"


def test_formulas_result_converts_what_an_adapter_returns():
    result = recalc.formulas_result(
        [[1.5, "", "#NUM!", "#N/A"], [None, float("nan"), "x", 2]]
    )
    assert result.shape == (2, 4)
    assert result[0, 0] == 1.5 and result[0, 1] == ""
    assert result[0, 2] is Error.errors["#NUM!"]
    assert result[0, 3] is Error.errors["#N/A"]
    assert result[1, 0] is schedula.EMPTY
    assert result[1, 1] is Error.errors["#NUM!"]
    assert result[1, 2] == "x" and result[1, 3] == 2.0


def test_formulas_result_wraps_a_single_value_and_a_row():
    assert recalc.formulas_result(0.25).tolist() == [[0.25]]
    assert recalc.formulas_result([1.0, 2.0]).tolist() == [[1.0, 2.0]]


def test_an_adapter_exception_gives_value_error():
    def broken(x):
        raise ValueError("no")

    result = recalc.formulas_function(broken)(np.array([[1.0]], object))
    assert result[0, 0] is Error.errors["#VALUE!"]
