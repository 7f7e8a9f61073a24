"""Models and batches that do not fit a worksheet are refused before writing."""

import re

import numpy as np
import pytest

from xlnn import export
from xlnn.export import sheets as export_sheets
from xlnn.export.sheets import EXCEL_COLUMNS, EXCEL_ROWS, ExportError
from xlnn.model import Model
from xlnn.network import Dense, Network
from xlnn.sheets.flavors import PLAIN


def _model(*widths, activation="relu"):
    # Uniform weights: what is refused is the shape, and 3.2 million normal
    # draws (the widest model here) took four times as long.
    rng = np.random.default_rng(0)
    layers = [
        Dense(rng.random((n, m)) - 0.5, np.zeros(m), activation)
        for n, m in zip(widths, widths[1:], strict=False)
    ]
    return Model(Network(layers), output="values")


def test_a_layer_wider_than_a_sheet_is_refused_naming_the_limit(tmp_path):
    model = _model(2, EXCEL_COLUMNS + 1)
    with pytest.raises(ExportError, match="16,385 values wide.*16,384 columns"):
        export.to_workbook(model, tmp_path / "wide.xlsx", verify=False)
    assert not list(tmp_path.iterdir())


def test_a_layer_exactly_as_wide_as_a_sheet_is_not_refused_for_its_width():
    model = _model(2, EXCEL_COLUMNS)
    # The width alone fits; the sheets, which start at column B and put
    # blocks side by side, are what cannot hold it.
    with pytest.raises(ExportError, match="sheet needs .* 16,384 columns"):
        export_sheets.layout(model, flavor=PLAIN, inputs=np.zeros((1, 2)), rows=1)


def test_a_batch_wider_than_a_sheet_is_refused_before_anything_is_written(tmp_path):
    # Every layer fits a sheet's width; side by side (16,000 inputs, then a and
    # z of each layer) they need 16,411 columns. A narrow hidden layer keeps
    # the weights small (3.2 million, not the 36 million of a 12,000-3,000 one).
    model = _model(16_000, 200, 2)
    with pytest.raises(ExportError, match=r"batch sheet needs \d+ rows and [\d,]+ col"):
        export.to_workbook(model, tmp_path / "wide.xlsx", rows=1, verify=False)
    assert not list(tmp_path.iterdir())


def test_more_rows_than_a_sheet_holds_are_refused(tmp_path):
    with pytest.raises(ExportError, match="start at row 9 of a sheet of 1,048,576"):
        export.to_workbook(
            _model(2, 2), tmp_path / "long.xlsx", rows=EXCEL_ROWS, verify=False
        )
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("labels", [None, [1]], ids=["unlabelled", "labelled"])
def test_the_rows_a_batch_may_take_are_those_below_its_headers(labels):
    # True labels add the accuracy and a confusion matrix above the samples,
    # which grow with the classes: a fixed allowance for headers passed
    # batches that then ran past the last row.
    model = Model(Network([Dense(np.ones((2, 3)), np.zeros(3), "softmax")]),
                  output="probabilities", classes=(0, 1, 2))  # fmt: skip
    shared = {"flavor": PLAIN, "inputs": np.zeros((1, 2)), "labels": labels}
    with pytest.raises(ExportError, match=r"start at row (\d+)") as refused:
        export_sheets.layout(model, rows=EXCEL_ROWS, **shared)
    first = int(re.search(r"start at row (\d+)", str(refused.value))[1])
    most = EXCEL_ROWS - first + 1
    assert f"pass at most {most:,}" in str(refused.value)
    book = export_sheets.layout(model, rows=most, **shared)
    batch = book.sheets[1]
    assert max(rows.block.last_row for rows in batch.row_formulas) == EXCEL_ROWS
