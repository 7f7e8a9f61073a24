"""xlnn.sheets.book_writer on a JSON book: the actions the Office.js add-in would apply.

A JSON book (``xw.Book(json=...)``, what xlwings Lite and xlwings Server hand a
script) records each call as an action; the tests read those actions. No Excel
runs here: classic Excel through COM takes the same calls, which are not run.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from officejs_replay import json_book

from xlnn.sheets import book_writer, styles
from xlnn.sheets.book_writer import BookConflict
from xlnn.sheets.layout import BookLayout


def written(layout, *, spill=True, book=None) -> list[dict]:
    book = book or json_book()
    book_writer.write(layout, book, spill=spill)
    return book.json()["actions"]


def of(actions, func) -> list[dict]:
    return [action for action in actions if action["func"] == func]


def at(actions, func, row, col) -> list[dict]:
    """Actions ``func`` whose range starts at 1-based (row, col)."""
    return [
        a
        for a in of(actions, func)
        if (a["start_row"], a["start_column"]) == (row - 1, col - 1)
    ]


def span(action) -> tuple[int, int, int, int]:
    """(row, col, rows, cols) of an action's range, 1-based."""
    return (action["start_row"] + 1, action["start_column"] + 1,
            action["row_count"], action["column_count"])  # fmt: skip


def small_layout() -> tuple[BookLayout, dict]:
    """One sheet: a title, inputs x (B3:C3), a spilled block and a one-cell sum."""
    layout = BookLayout()
    sheet = layout.sheet("net")
    sheet.text(sheet.block(1, 1), "A title", "title")
    sheet.headers(sheet.block(2, 2, 1, 2), ["x[0]", "x[1]"])
    x = sheet.put_inputs(sheet.block(3, 2, 1, 2), [[1.0, 2.0]], "0.0")
    z = sheet.put_formula(sheet.block(4, 2, 1, 2), f"SIGMOID({x.ref})",
                          expected=[0.7, 0.9], note="why")  # fmt: skip
    total = sheet.put_formula(
        sheet.block(5, 2), f"SUM({x.ref})", expected=3.0, output=True
    )
    layout.name("X", x)
    return layout, {"x": x, "z": z, "total": total}


# --- sheets, texts and inputs ------------------------------------------------


def test_each_sheet_is_added_after_the_last_without_gridlines():
    layout, _ = small_layout()
    layout.sheet("second")
    actions = written(layout)
    assert [a["args"] for a in of(actions, "addSheet")] == [[1, "net"], [2, "second"]]
    gridlines = of(actions, "setShowGridlines")
    assert [(a["sheet_position"], a["args"]) for a in gridlines] == [
        (1, [False]),
        (2, [False]),
    ]


def test_texts_get_their_values_fonts_and_header_fill():
    layout, _ = small_layout()
    actions = written(layout)
    assert at(actions, "setValues", 1, 1)[0]["values"] == [["A title"]]
    fonts = {tuple(a["args"]) for a in at(actions, "setFontProperty", 1, 1)}
    title = styles.FONTS["title"]
    assert fonts == {
        ("size", title["size"]),
        ("bold", title["bold"]),
        ("italic", title["italic"]),
        ("color", f"#{title['color']}"),
    }
    assert [a["values"] for a in at(actions, "setValues", 2, 3)] == [[["x[1]"]]]
    header_fill = [a["args"] for a in at(actions, "setRangeColor", 2, 3)]
    assert header_fill == [[f"#{styles.FILLS['header']}"]]
    assert not at(actions, "setRangeColor", 1, 1)  # a title has no fill


def test_inputs_are_one_block_of_values_with_format_and_fill():
    layout, _ = small_layout()
    actions = written(layout)
    (values,) = at(actions, "setValues", 3, 2)
    assert values["values"] == [[1.0, 2.0]]
    assert span(values) == (3, 2, 1, 2)
    (number_format,) = at(actions, "setNumberFormat", 3, 2)
    assert number_format["args"] == ["0.0"] and span(number_format) == span(values)
    (fill,) = at(actions, "setRangeColor", 3, 2)
    assert fill["args"] == [f"#{styles.FILLS['input']}"]


def test_numpy_inputs_arrive_as_plain_floats():
    layout = BookLayout()
    sheet = layout.sheet("s")
    sheet.put_inputs(sheet.block(1, 1, 2, 2), np.arange(4.0).reshape(2, 2), "0")
    (values,) = of(written(layout), "setValues")
    assert values["values"] == [[0.0, 1.0], [2.0, 3.0]]
    assert all(type(v) is float for row in values["values"] for v in row)


# --- formulas: spilled or legacy ---------------------------------------------


def test_spill_writes_each_block_formula_in_its_top_left_cell():
    layout, cells = small_layout()
    actions = written(layout, spill=True)
    formulas = of(actions, "setFormula")
    assert [(span(a), a["values"]) for a in formulas] == [
        ((4, 2, 1, 1), [[f"=SIGMOID({cells['x'].ref})"]]),
        ((5, 2, 1, 1), [[f"=SUM({cells['x'].ref})"]]),
    ]
    assert not of(actions, "setFormulaArray")


def test_legacy_writes_an_array_formula_over_the_whole_block():
    layout, cells = small_layout()
    actions = written(layout, spill=False)
    (array,) = of(actions, "setFormulaArray")
    assert span(array) == (4, 2, 1, 2)
    assert array["args"] == [f"=SIGMOID({cells['x'].ref})"]
    # A one-cell block stays a plain formula, which every Excel computes.
    assert [span(a) for a in of(actions, "setFormula")] == [(5, 2, 1, 1)]


def test_formula_blocks_are_formatted_over_their_whole_range():
    layout, _ = small_layout()
    actions = written(layout)
    (computed,) = at(actions, "setRangeColor", 4, 2)
    assert span(computed) == (4, 2, 1, 2)
    assert computed["args"] == [f"#{styles.FILLS['computed']}"]
    (output,) = at(actions, "setRangeColor", 5, 2)
    assert output["args"] == [f"#{styles.FILLS['output']}"]
    (number_format,) = at(actions, "setNumberFormat", 4, 2)
    assert number_format["args"] == ["0.000000"] and span(number_format)[2:] == (1, 2)


def test_a_formula_note_goes_on_its_top_left_cell():
    layout, _ = small_layout()
    (note,) = of(written(layout), "addNote")
    assert note["args"] == ["$B$4", "why"]


# --- names, widths, heights, frozen panes ------------------------------------


def test_names_refer_to_their_block_from_any_sheet():
    layout, _ = small_layout()
    layout.name("b_1", layout.sheets[0].block(7, 3, 2, 4))
    actions = written(layout)
    assert [a["args"] for a in of(actions, "namesAdd")] == [
        ["X", "='net'!$B$3:$C$3"],
        ["b_1", "='net'!$C$7:$F$8"],
    ]
    # after the sheets, so that every name's range exists when it is defined
    assert actions.index(of(actions, "namesAdd")[0]) > max(
        actions.index(a) for a in of(actions, "setFormula")
    )


def points(characters):
    # ECMA-376 Part 1, 18.3.1.13: 7-pixel digits plus 5 pixels; 96 px = 72 pt.
    return (characters * 7 + 5) * 0.75


def test_equal_widths_of_neighbouring_columns_are_one_action_each_run():
    layout = BookLayout()
    sheet = layout.sheet("s")
    sheet.width(2, 4, 14)  # B:D
    sheet.width(5, 5, 2)  # E
    sheet.width(6, 6, 14)  # F: the same width as B:D, but not next to them
    sheet.width(8, 9, 2)  # H:I
    widths = of(written(layout), "setColumnWidth")
    assert [(a["start_column"] + 1, a["column_count"], a["args"]) for a in widths] == [
        (2, 3, [points(14)]),
        (5, 1, [points(2)]),
        (6, 1, [points(14)]),
        (8, 2, [points(2)]),
    ]
    assert {a["row_count"] for a in widths} == {1048576}  # whole columns


def test_excels_default_width_is_48_points():
    # Excel's default column, 8.43 characters, is 64 pixels: 48 points.
    assert points(8.43) == pytest.approx(48.0, abs=0.01)


def test_classic_excel_takes_widths_in_characters():
    # A stand-in for a COM sheet: the classic path cannot run here.
    classic = SimpleNamespace(
        book=SimpleNamespace(app=SimpleNamespace(engine=SimpleNamespace(type="excel")))
    )
    assert book_writer._column_width(classic, 14) == 14


def test_equal_heights_of_neighbouring_rows_are_one_action_each_run():
    layout = BookLayout()
    sheet = layout.sheet("s")
    sheet.heights.update({3: 52, 4: 52, 5: 52, 7: 52, 8: 20})
    heights = of(written(layout), "setRowHeight")
    assert [(a["start_row"] + 1, a["row_count"], a["args"]) for a in heights] == [
        (3, 3, [52]),
        (7, 1, [52]),
        (8, 1, [20]),
    ]


@pytest.mark.parametrize(
    ("first_unfrozen", "frozen"),
    [
        ((5, 2), "A1:A4"),  # B5: rows 1-4 and column A
        ((2, 1), "1:1"),  # A2: the first row
        ((1, 3), "A:B"),  # C1: columns A and B
        ((2, 2), "A1:A1"),  # B2: one row and one column
        ((11, 28), "A1:AA10"),  # AB11
    ],
)
def test_frozen_panes_freeze_the_rows_and_columns_before_a_cell(first_unfrozen, frozen):
    layout = BookLayout()
    sheet = layout.sheet("s")
    sheet.freeze = sheet.block(*first_unfrozen)
    (action,) = of(written(layout), "freezePaneAtRange")
    assert action["args"] == [frozen]
    assert action["sheet_position"] == 1


def test_freezing_at_a1_freezes_nothing():
    layout = BookLayout()
    sheet = layout.sheet("s")
    sheet.freeze = sheet.block(1, 1)
    assert not of(written(layout), "freezePaneAtRange")


def test_frozen_panes_are_skipped_where_xlwings_has_none():
    # A stand-in for a classic xlwings sheet, whose freeze_panes raises
    # NotImplementedError (xlwings 0.37 has frozen panes for Office.js only):
    # the classic path cannot run here. Raising would stop the writer halfway.
    class ClassicSheet:
        @property
        def freeze_panes(self):
            raise NotImplementedError()

    layout = BookLayout()
    assert book_writer._freeze(ClassicSheet(), layout.sheet("s").block(5, 2)) is None


# --- conflicts ---------------------------------------------------------------


def test_taken_sheets_and_names_are_all_named_and_nothing_is_written():
    layout, _ = small_layout()
    layout.sheet("second")
    book = json_book(("Sheet1", "NET", "Second"), names=[("x", "A1")])
    with pytest.raises(BookConflict) as caught:
        book_writer.write(layout, book, spill=True)
    message = str(caught.value)
    assert "sheet 'net'" in message and "sheet 'second'" in message
    assert "name 'X'" in message
    assert "new workbook" in message  # says what to do
    assert book.json()["actions"] == []


def test_a_book_with_other_sheets_and_names_takes_the_layout():
    layout, _ = small_layout()
    book = json_book(("Sheet1", "other"), names=[("Y", "A1")])
    actions = written(layout, book=book)
    assert of(actions, "addSheet")[0]["args"] == [2, "net"]
    assert {a["sheet_position"] for a in of(actions, "setValues")} == {2}


def test_row_blocks_get_their_filled_rows_and_a_formula_per_row():
    layout = BookLayout()
    sheet = layout.sheet("batch")
    x = sheet.put_row_inputs(sheet.block(2, 1, 3, 2), [[1.0, 2.0]], "0")
    sheet.put_row_formulas(
        sheet.block(2, 4, 3, 2), lambda i: f"{x.row_block(i).ref}*2",
        expected=[[2.0, 4.0]], filled=1, note="twice",
    )  # fmt: skip
    actions = written(layout, spill=False)
    (values,) = at(actions, "setValues", 2, 1)
    assert values["values"] == [[1.0, 2.0]] and span(values) == (2, 1, 1, 2)
    (fill,) = at(actions, "setRangeColor", 2, 1)
    assert span(fill) == (2, 1, 3, 2)  # the empty rows look editable too
    arrays = of(actions, "setFormulaArray")
    assert [a["args"] for a in arrays] == [
        [f"={x.row_block(i).ref}*2"] for i in range(3)
    ]
    assert [span(a) for a in arrays] == [(2 + i, 4, 1, 2) for i in range(3)]
    assert [span(a) for a in of(actions, "addNote")] == [(2, 4, 1, 1)]
