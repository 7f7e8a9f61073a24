"""xlnn.engines.xlsx_values: the checked blocks read back as openpyxl reads them.

Files written here by openpyxl hold values of every type (numbers in runs
and alone, text, bools, errors, shared strings); what ``read_blocks`` gives
for a set of blocks must be what openpyxl's full reading gives for the same
cells. The engine test does the same on a file LibreOffice recalculated.
"""

from __future__ import annotations

import numpy as np
import openpyxl
import pytest

from xlnn import export
from xlnn.engines.libreoffice import LibreOffice, read_values
from xlnn.engines.xlsx_values import SheetValues, read_blocks
from xlnn.model import Model
from xlnn.network import Dense, Network
from xlnn.sheets.flavors import PLAIN
from xlnn.sheets.layout import Block


def _cells(values, blocks) -> dict:
    """Every cell of ``blocks`` -> its value in ``values`` (None when blank)."""
    return {
        (block.sheet, block.address(i, j)): values.get(block.sheet, {}).get(
            block.address(i, j)
        )
        for block in blocks
        for i in range(block.rows)
        for j in range(block.cols)
    }


@pytest.fixture
def mixed(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "it's mixed"
    for row in range(1, 30):
        for col in range(1, 9):
            sheet.cell(row, col, row * 10 + col + 0.25)
    sheet["C5"] = "a <word> & more"
    sheet["D6"] = True
    sheet["E7"] = "#N/A"
    sheet["E7"].data_type = "e"
    sheet["F8"] = None
    sheet["B9"] = 7
    book.create_sheet("other")["A1"] = 1.5
    path = tmp_path / "mixed.xlsx"
    book.save(path)
    return path


def test_read_blocks_reads_what_openpyxl_reads(mixed):
    blocks = [
        Block("it's mixed", 2, 2, 10, 3),  # runs, text, bool, a lone int
        Block("it's mixed", 5, 5, 4, 2),  # an error and a blank
        Block("it's mixed", 20, 8),
        Block("other", 1, 1),
    ]
    ours = read_blocks(mixed, blocks)
    assert _cells(ours, blocks) == _cells(read_values(mixed), blocks)
    assert isinstance(ours["it's mixed"], SheetValues)
    assert ours["it's mixed"]["C5"] == "a <word> & more"
    assert ours["it's mixed"]["E7"] == "#N/A" and "F8" not in ours["it's mixed"]
    # Only the blocks' cells: A2 is a number, outside every block.
    assert "A2" not in ours["it's mixed"] and len(ours["other"]) == 1


def test_a_block_of_numbers_comes_back_as_one_array(mixed):
    block = Block("it's mixed", 10, 2, 5, 4)
    values = read_blocks(mixed, [block])["it's mixed"]
    expected = [[r * 10 + c + 0.25 for c in range(2, 6)] for r in range(10, 15)]
    np.testing.assert_array_equal(values.block(block), expected)
    text = Block("it's mixed", 5, 3)
    assert read_blocks(mixed, [text])["it's mixed"].block(text) is None
    assert sorted(a for a, _ in values.inside(Block("it's mixed", 11, 3, 2, 2))) == [
        "C11", "C12", "D11", "D12",
    ]  # fmt: skip


@pytest.mark.engine
def test_checked_blocks_of_a_recalculated_export(soffice, tmp_path):
    rng = np.random.default_rng(3)
    hidden = Dense(rng.normal(size=(4, 3)), rng.normal(size=3), "relu")
    network = Network(
        (hidden, Dense(rng.normal(size=(3, 2)), rng.normal(size=2), "softmax"))
    )
    model = Model(network, classes=("no", "=yes"))
    inputs = rng.normal(size=(3, 4))
    path = tmp_path / "m.xlsx"
    result = export.to_workbook(model, path, rows=6, sample_inputs=inputs, verify=False)
    converted = LibreOffice().convert([path], tmp_path / "out")[path]
    blocks = [check.block for check in result.workbooks[0].checks]
    ours = read_blocks(converted, blocks)
    assert _cells(ours, blocks) == _cells(read_values(converted), blocks)
    book = export.layout(model, flavor=PLAIN, inputs=inputs, rows=6)
    assert not export.compare(book.checks, ours).failed
