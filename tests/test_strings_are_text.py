"""Strings from a model are text: a label such as ``=1+1`` never becomes a formula.

Class labels, feature names, output names and the model's file name come from
a user's file, so they are hostile: each is written as a text cell whatever
its first character, and characters xlsx cannot hold become U+FFFD.
"""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter

import numpy as np
import openpyxl
import pytest

from xlnn import export
from xlnn.engines.libreoffice import LibreOffice
from xlnn.model import Model, Source
from xlnn.network import Dense, Network
from xlnn.sheets import book_writer, xlsx_writer
from xlnn.sheets.layout import BookLayout

FIXED = dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.timezone.utc)
#: Strings that Excel or openpyxl would take for formulas, and one that xlsx
#: cannot hold (a bell).
HOSTILE = (
    '=HYPERLINK("http://x.example","y")',
    "=1+1",
    "@SUM(1)",
    "+1",
    "-1",
    "bell\x07here",
)
#: What each becomes in a cell.
SHOWN = tuple(text.replace("\x07", "\ufffd") for text in HOSTILE)


def _network(n_in: int, n_out: int, last: str) -> Network:
    rng = np.random.default_rng(3)
    return Network(
        (
            Dense(rng.normal(size=(n_in, 4)), rng.normal(size=4), "relu"),
            Dense(rng.normal(size=(4, n_out)), rng.normal(size=n_out), last),
        )
    )


def classifier(names=HOSTILE) -> Model:
    n = len(names)
    return Model(
        _network(n, n, "softmax"),
        classes=tuple(names),
        feature_names=tuple(names),
        source=Source(names[1] + ".onnx", "onnx", ""),
    )


def regressor(names=HOSTILE) -> Model:
    n = len(names)
    return Model(
        _network(n, n, "identity"),
        output="values",
        feature_names=tuple(names),
        output_names=tuple(names),
        source=Source(names[0], "npz", ""),
    )


def _cells(path):
    """Every non-empty cell: ``{(sheet, coordinate): cell}``."""
    book = openpyxl.load_workbook(path)
    return {
        (sheet.title, cell.coordinate): cell
        for sheet in book.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if cell.value is not None
    }


def _formulas(cells) -> Counter:
    """Each formula's text, counted (an array formula by its text)."""
    texts = Counter()
    for cell in cells.values():
        value = cell.value
        if cell.data_type == "f":
            texts[getattr(value, "text", value)] += 1
    return texts


def _write(make, names, path, flavor):
    export.to_workbook(
        make(names), path, flavor=flavor, rows=3, verify=False, exported_at=FIXED
    )
    return _cells(path)


@pytest.mark.parametrize("flavor", ["plain", "addin"])
@pytest.mark.parametrize("make", [classifier, regressor])
def test_hostile_names_are_text_cells_and_make_no_formula(tmp_path, make, flavor):
    benign = tuple(f"name{k}" for k in range(len(HOSTILE)))
    hostile_cells = _write(make, HOSTILE, tmp_path / "hostile.xlsx", flavor)
    benign_cells = _write(make, benign, tmp_path / "benign.xlsx", flavor)
    # The names reach no formula: the formulas are those of plain names.
    assert _formulas(hostile_cells) == _formulas(benign_cells)
    assert _formulas(hostile_cells)
    for shown in SHOWN:
        holding = [cell for cell in hostile_cells.values() if cell.value == shown]
        assert holding, f"{shown!r} is in no cell"
        assert {cell.data_type for cell in holding} == {"s"}
    # Every cell a benign name filled holds the hostile name, as text.
    for key, cell in benign_cells.items():
        if isinstance(cell.value, str) and cell.value in benign:
            there = hostile_cells[key]
            assert there.value == SHOWN[benign.index(cell.value)]
            assert there.data_type == "s"


def test_a_control_character_becomes_the_replacement_character():
    assert xlsx_writer.text_value("a\x00b\x1fc\td\ne\rf") == "a\ufffdb\ufffdc\td\ne\rf"


def test_a_layout_text_starting_with_equals_is_text_and_a_formula_a_formula():
    layout = BookLayout()
    sheet = layout.sheet("s")
    sheet.text(sheet.block(1, 1), "=1+1")
    sheet.put_formula(sheet.block(2, 1), "1+1", expected=2.0)
    book = openpyxl.load_workbook(io.BytesIO(xlsx_writer.to_bytes(layout)))
    cells = {"A1": book["s"]["A1"], "A2": book["s"]["A2"]}
    assert (cells["A1"].value, cells["A1"].data_type) == ("=1+1", "s")
    assert (cells["A2"].value, cells["A2"].data_type) == ("=1+1", "f")


@pytest.mark.parametrize("text", HOSTILE[:5] + ("'quoted",))
def test_the_book_writer_enters_hostile_texts_with_excels_text_marker(text):
    assert book_writer.as_entered_text(text) == "'" + text
    assert book_writer.as_entered_text("plain words") == "plain words"


@pytest.mark.engine
def test_libreoffice_reads_the_labels_as_text_and_predicts_them(tmp_path):
    path = tmp_path / "hostile.xlsx"
    result = export.to_workbook(
        classifier(HOSTILE), path, rows=12, exported_at=FIXED, timeout=300
    )
    agreement = result.workbooks[0].agreement
    assert agreement.verified, agreement.summary()
    assert not agreement.failed, agreement.summary()
    assert agreement.labels and agreement.labels_agree == agreement.labels
    values = LibreOffice(timeout=300).recalculate([path])[path]
    shown = Counter(
        value
        for sheet in values.values()
        for value in sheet.values()
        if isinstance(value, str)
    )
    for name in SHOWN:
        # headers on predict and batch, and the label cells that predict them
        assert shown[name] >= 2, name
    assert not any("y" == value for value in shown)  # no HYPERLINK ran
