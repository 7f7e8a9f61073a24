"""xlnn.sheets.xlsx_writer: a BookLayout written with openpyxl, and read back.

Each test writes a small layout to bytes and loads them again with openpyxl;
no LibreOffice, no formula evaluation.
"""

from __future__ import annotations

import io
import time
import zipfile

import numpy as np
import openpyxl
import pytest
from openpyxl.chart import BarChart, ScatterChart
from openpyxl.worksheet.formula import ArrayFormula
from openpyxl.writer.excel import ExcelWriter

from xlnn import samples
from xlnn.network import Dense, Network
from xlnn.sheets import xlsx_writer
from xlnn.sheets.flavors import ADDIN, PLAIN
from xlnn.sheets.layout import (
    NUMBER,
    PROBABILITY,
    WEIGHT,
    BookLayout,
    Chart,
    HeatMap,
    Highlight,
    Series,
)
from xlnn.sheets.network_layout import single_sample

# A title with a space and a quote, so every reference must quote it.
TITLE = "it's a net"
QUOTED = "'it''s a net'"


def small_book() -> BookLayout:
    """One sheet of every kind of content, and a second sheet."""
    book = BookLayout()
    sheet = book.sheet(TITLE)
    cursor = sheet.cursor(1, 1)
    sheet.anchor("title", cursor.text("A small net", "title"))
    cursor.text("W: the weights", "caption")
    sheet.anchor("headers", cursor.headers(["w0", "w1", "w2"]))
    weights = cursor.inputs([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], WEIGHT)
    book.name("W_1", weights)
    sheet.anchor("weights", weights)
    cursor.skip()
    cursor.formula("W_1*2", expected=[[0.2, 0.4, 0.6], [0.8, 1.0, 1.2]], name="twice")
    cursor.formula(
        f"SUM({weights.ref})",
        expected=2.1,
        name="sum",
        number_format=PROBABILITY,
        output=True,
    )
    twice = book.find(TITLE, "twice")
    sheet.charts.append(
        Chart(
            kind="line",
            title="weights",
            anchor=sheet.block(2, 6),
            categories=weights.row_block(0),
            series=(Series(weights.row_block(1), sheet.anchors["title"]),),
            y_range=(0.0, 1.0),
            number_format="0.0",
        )
    )
    sheet.charts.append(
        Chart(
            kind="bar",
            title="twice",
            anchor=sheet.block(20, 6),
            categories=sheet.anchors["headers"],
            series=(Series(twice.row_block(0), "first row"),),
            legend=False,
        )
    )
    sheet.heat_maps.append(HeatMap(twice, 0.0, 1.2))
    sheet.highlights.append(Highlight(weights.column_block(0), "A4>0.3"))
    sheet.width(1, 3, 11)
    sheet.heights[1] = 24
    sheet.freeze = sheet.block(4, 2)
    sheet.print_area = sheet.block(1, 1, 12, 8)
    other = book.sheet("other")
    other.cursor().text("another sheet")
    return book


def load(data: bytes):
    return openpyxl.load_workbook(io.BytesIO(data))


@pytest.fixture(scope="module")
def book() -> BookLayout:
    return small_book()


@pytest.fixture(scope="module")
def loaded(book):
    return load(xlsx_writer.to_bytes(book))


@pytest.fixture(scope="module")
def sheet(loaded):
    return loaded[TITLE]


# --- Reproducible bytes ---------------------------------------------------------------


def test_the_same_layout_gives_the_same_bytes():
    assert xlsx_writer.to_bytes(small_book()) == xlsx_writer.to_bytes(small_book())


def test_the_clock_does_not_reach_the_file(monkeypatch):
    now = xlsx_writer.to_bytes(small_book())
    monkeypatch.setattr(time, "time", lambda: 4_000_000_000.0)  # in 2096
    assert xlsx_writer.to_bytes(small_book()) == now


def test_a_different_layout_gives_different_bytes():
    changed = small_book()
    changed.sheets[1].cursor(3).text("one more line")
    assert xlsx_writer.to_bytes(changed) != xlsx_writer.to_bytes(small_book())


def test_every_zip_entry_and_the_properties_carry_the_fixed_time(book):
    data = xlsx_writer.to_bytes(book)
    fixed = xlsx_writer.FIXED_TIME
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        assert {info.date_time for info in infos} == {fixed.timetuple()[:6]}
        core = archive.read("docProps/core.xml").decode()
    assert core.count(fixed.strftime("%Y-%m-%dT%H:%M:%S")) == 2  # created, modified
    properties = load(data).properties
    assert properties.created == properties.modified == fixed
    assert properties.creator == "xlnn"


# --- Cells ----------------------------------------------------------------------------


def test_sheets_in_layout_order(loaded, book):
    assert loaded.sheetnames == book.sheet_titles == [TITLE, "other"]


def test_multi_cell_formula_is_an_array_formula_over_its_range(book, sheet):
    block = book.find(TITLE, "twice")
    first = sheet[block.address()].value
    assert isinstance(first, ArrayFormula)
    assert first.ref == block.coordinates == "A7:C8"
    assert first.text == "=W_1*2"
    others = [
        sheet.cell(row, col).value
        for row in range(block.row, block.last_row + 1)
        for col in range(block.col, block.last_col + 1)
    ][1:]
    assert others == [None] * 5


def test_one_cell_formula_is_a_plain_formula(book, sheet):
    block = book.find(TITLE, "sum")
    weights = book.find(TITLE, "weights")
    assert sheet[block.address()].value == f"=SUM({weights.ref})"


def test_inputs_carry_their_values_fill_and_number_format(book, sheet):
    block = book.find(TITLE, "weights")
    expected = [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]
    for i in range(block.rows):
        for j in range(block.cols):
            cell = sheet[block.address(i, j)]
            assert cell.value == expected[i][j]
            assert cell.fill.fgColor.rgb[-6:] == xlsx_writer.FILLS["input"]
            assert cell.number_format == WEIGHT


def test_formula_cells_are_filled_by_kind(book, sheet):
    twice, total = book.find(TITLE, "twice"), book.find(TITLE, "sum")
    for i in range(twice.rows):
        for j in range(twice.cols):
            cell = sheet[twice.address(i, j)]
            assert cell.fill.fgColor.rgb[-6:] == xlsx_writer.FILLS["computed"]
            assert cell.number_format == NUMBER
    cell = sheet[total.address()]
    assert cell.fill.fgColor.rgb[-6:] == xlsx_writer.FILLS["output"]
    assert cell.number_format == PROBABILITY


def test_text_styles(book, sheet):
    title = sheet[book.find(TITLE, "title").address()]
    assert title.value == "A small net"
    assert title.font.b and title.font.sz == 15
    header = sheet[book.find(TITLE, "headers").address(0, 2)]
    assert header.value == "w2" and header.font.b
    assert header.alignment.horizontal == "center"
    assert header.fill.fgColor.rgb[-6:] == xlsx_writer.FILLS["header"]
    assert sheet["A2"].value == "W: the weights" and sheet["A2"].font.b


def test_every_layout_cell_is_written_and_nothing_else(book, sheet):
    layout = book.sheets[0]
    placed = {(t.block.row, t.block.col) for t in layout.texts}
    for part in [*layout.inputs, *layout.formulas]:
        block = part.block
        placed |= {
            (row, col)
            for row in range(block.row, block.last_row + 1)
            for col in range(block.col, block.last_col + 1)
        }
    written = {
        (cell.row, cell.column)
        for row in sheet.iter_rows()
        for cell in row
        if cell.value is not None or cell.has_style
    }
    assert written == placed


def test_defined_names_point_at_their_blocks(loaded, book):
    assert set(loaded.defined_names) == set(book.names) == {"W_1"}
    assert loaded.defined_names["W_1"].attr_text == f"{QUOTED}!$A$4:$C$5"


def test_network_names_every_weight_block():
    book = BookLayout()
    cursor = book.sheet("net").cursor()
    x = cursor.inputs([[1.0, 0.5]], NUMBER)
    network = Network(
        (Dense([[0.1, 0.3], [0.2, 0.4]], [0.1, 0.2]), Dense([[1.0], [2.0]], [0.0]))
    )
    single_sample(cursor, network=network, flavor=ADDIN, x=x, x_values=[1.0, 0.5])
    loaded = load(xlsx_writer.to_bytes(book))
    names = {
        name: loaded.defined_names[name].attr_text for name in loaded.defined_names
    }
    assert names == {name: block.qualified_ref for name, block in book.names.items()}
    assert set(names) == {"W_1", "b_1", "W_2", "b_2"}


# --- Charts, formats and the page -----------------------------------------------------


def test_charts_where_the_layout_puts_them(sheet):
    charts = sorted(sheet._charts, key=lambda chart: chart.anchor._from.row)
    assert [type(chart) for chart in charts] == [ScatterChart, BarChart]
    anchors = [(c.anchor._from.row + 1, c.anchor._from.col + 1) for c in charts]
    assert anchors == [(2, 6), (20, 6)]
    line, bar = charts
    assert len(line.series) == len(bar.series) == 1
    assert line.series[0].tx.strRef.f == f"{QUOTED}!$A$1"
    assert line.series[0].yVal.numRef.f == f"{QUOTED}!$A$5:$C$5"
    assert line.series[0].xVal.numRef.f == f"{QUOTED}!$A$4:$C$4"
    assert (line.y_axis.scaling.min, line.y_axis.scaling.max) == (0.0, 1.0)
    assert line.y_axis.number_format.formatCode == "0.0"
    assert bar.series[0].val.numRef.f == f"{QUOTED}!$A$7:$C$7"
    assert bar.legend is None


def test_unknown_chart_kind_is_refused():
    book = small_book()
    layout = book.sheets[0]
    chart = layout.charts[0]
    layout.charts[0] = Chart(
        kind="pie",
        title=chart.title,
        anchor=chart.anchor,
        categories=chart.categories,
        series=chart.series,
    )
    with pytest.raises(ValueError, match="unknown chart kind 'pie'"):
        xlsx_writer.to_bytes(book)


def conditional_formats(worksheet) -> dict[str, list[str]]:
    return {
        str(formatting.sqref): [rule.type for rule in formatting.rules]
        for formatting in worksheet.conditional_formatting
    }


def test_heat_map_and_highlight_are_conditional_formats(sheet):
    assert conditional_formats(sheet) == {
        "A7:C8": ["colorScale", "cellIs"],
        "A4:A5": ["expression"],
    }
    highlight = next(
        f for f in sheet.conditional_formatting if str(f.sqref) == "A4:A5"
    ).rules[0]
    assert highlight.formula == ["A4>0.3"]
    heat = next(f for f in sheet.conditional_formatting if str(f.sqref) == "A7:C8")
    scale, light = heat.rules
    assert [v.val for v in scale.colorScale.cfvo] == [0.0, 1.2]
    assert light.operator == "greaterThan" and light.formula == ["0.6"]


def test_sheet_without_formats_has_none(loaded):
    assert conditional_formats(loaded["other"]) == {}
    assert loaded["other"]._charts == []


def test_freeze_panes_and_print_area(sheet, loaded):
    assert sheet.freeze_panes == "B4"
    assert sheet.print_area == f"{QUOTED}!$A$1:$H$12"
    assert loaded["other"].freeze_panes is None
    assert not loaded["other"].print_area


def test_widths_and_heights(sheet):
    assert [sheet.column_dimensions[c].width for c in "ABC"] == [11, 11, 11]
    assert sheet.row_dimensions[1].height == 24


@pytest.mark.parametrize("title", [TITLE, "other"])
def test_page_setup(loaded, title):
    worksheet = loaded[title]
    assert worksheet.sheet_view.showGridLines is False
    assert worksheet.page_setup.orientation == "landscape"
    assert worksheet.sheet_properties.pageSetUpPr.fitToPage is True
    assert (worksheet.page_setup.fitToWidth, worksheet.page_setup.fitToHeight) == (
        1,
        0,
    )


def test_large_input_block_round_trips():
    book = BookLayout()
    values = np.arange(2000.0).reshape(40, 50) / 7
    block = book.sheet("big").cursor().inputs(values, NUMBER)
    worksheet = load(xlsx_writer.to_bytes(book))["big"]
    read = [
        [cell.value for cell in row]
        for row in worksheet.iter_rows(
            min_row=block.row,
            max_row=block.last_row,
            min_col=block.col,
            max_col=block.last_col,
        )
    ]
    # openpyxl writes numbers with 16 significant digits ("%.16g"), one short
    # of a float64 round trip, so the last bit may differ.
    np.testing.assert_allclose(read, values, rtol=1e-15, atol=0)


# --- blocks written as text by to_bytes: openpyxl's bytes --------------------------


def blocks_book() -> BookLayout:
    """Number blocks (ints, NaN, infinities, -0.0), an input block of text, array
    formulas with notes and XML's special characters, texts in their rows."""
    book = BookLayout()
    sheet = book.sheet("blocks")
    sheet.text(sheet.block(2, 1), "beside", "caption")
    sheet.put_inputs(sheet.block(2, 2, 2, 3), [[1, 2, 3], [-4, 0, 10**20]], "0")
    odd = [[float("nan"), float("inf")], [-0.0, 1 / 3]]
    numbers = sheet.put_inputs(sheet.block(5, 2, 2, 2), odd, NUMBER)
    sheet.put_inputs(sheet.block(5, 5, 1, 2), [["cat", 2.5]], NUMBER)
    sheet.text(sheet.block(6, 7), "after", "caption")
    sheet.put_formula(sheet.block(8, 2, 3, 2), f"IF({numbers.ref}>0,\"<&>\",'x')",
                      expected=np.zeros((3, 2)), note="a <note> & more")  # fmt: skip
    sheet.put_formula(sheet.block(8, 5, 1, 3), "ROW()", expected=np.zeros((1, 3)),
                      output=True, number_format="0")  # fmt: skip
    sheet.put_formula(sheet.block(9, 6), "1&2", expected=0.0, note="one cell")
    sheet.heights[9] = 30
    sheet.heights[12] = 30
    return book


def openpyxl_bytes(book: BookLayout) -> bytes:
    """``book`` as openpyxl writes it from a cell for every value."""
    buffer = io.BytesIO()
    workbook = xlsx_writer.to_workbook(book)
    with xlsx_writer._FixedTimeZip(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(workbook, archive).write_data()
    return buffer.getvalue()


@pytest.mark.parametrize(
    "make",
    [
        blocks_book,
        small_book,
        lambda: samples.three_layer_network(PLAIN),
        lambda: samples.three_layer_network(ADDIN),
    ],
    ids=["blocks", "small", "plain-sample", "addin-sample"],
)
def test_blocks_written_as_text_are_the_bytes_of_openpyxls_cells(make):
    # The committed workbooks pin the digits and training samples (test_workbooks).
    assert xlsx_writer.to_bytes(make()) == openpyxl_bytes(make())


def test_a_block_over_a_cell_of_its_own_is_refused():
    book = blocks_book()
    book.sheets[0].text(book.sheets[0].block(9, 3), "in the way")
    with pytest.raises(ValueError, match=r"blocks!C9 is both in a block \(B8:C10\)"):
        xlsx_writer.to_bytes(book)


def test_overlapping_blocks_are_refused():
    book = blocks_book()
    sheet = book.sheets[0]
    sheet.put_inputs(sheet.block(3, 4, 1, 2), [[1.0, 2.0]], NUMBER)
    with pytest.raises(ValueError, match="blocks B2:D3 and D3:E3 overlap"):
        xlsx_writer.to_bytes(book)


# --- row blocks: streamed by to_bytes, cells in to_workbook -----------------------


def rows_book() -> BookLayout:
    """A text, a 5-row input block with 3 rows filled, and formulas per row."""
    book = BookLayout()
    sheet = book.sheet("batch")
    sheet.text(sheet.block(1, 1), "=not a formula", "title")
    x = sheet.put_row_inputs(
        sheet.block(3, 2, 5, 2), [[1, 2], [3, 4.5], [5, 6]], NUMBER
    )
    n = sheet.block(3, 5, 5, 1)
    sheet.put_row_formulas(
        n, lambda i: f"COUNT({x.row_block(i).ref})", expected=[[2]] * 3, filled=3,
        number_format="0", empty=0.0,
    )  # fmt: skip
    y = sheet.block(3, 7, 5, 2)
    sheet.put_row_formulas(
        y, lambda i: f'IF({n.address(i)}=0,"",{x.row_block(i).ref}*2)',
        expected=[[2, 4], [6, 9], [10, 12]], filled=3, output=True, note="twice x",
    )  # fmt: skip
    sheet.text(sheet.block(4, 10), "beside the rows")
    return book


def _cells(workbook) -> dict:
    sheet = workbook["batch"]
    shown = {}
    for row in sheet.iter_rows():
        for cell in row:
            value = cell.value
            if isinstance(value, ArrayFormula):
                value = (value.ref, value.text)
            if value is not None or cell.has_style:
                shown[cell.coordinate] = (value, cell.number_format,
                                          cell.fill.fgColor.rgb)  # fmt: skip
    return shown


def test_streamed_rows_hold_the_cells_openpyxl_writes():
    streamed = load(xlsx_writer.to_bytes(rows_book()))
    cells = _cells(streamed)
    assert cells == _cells(xlsx_writer.to_workbook(rows_book()))
    assert cells["A1"][0] == "=not a formula"  # text stays text
    assert cells["G5"][0] == ("G5:H5", '=IF(E5=0,"",$B$5:$C$5*2)')
    assert cells["C4"][0] == 4.5 and "B6" not in cells  # empty rows: no cells
    assert streamed["batch"]["G3"].comment.text.startswith("twice x")


def test_empty_input_rows_look_editable_without_cells():
    sheet = load(xlsx_writer.to_bytes(rows_book()))["batch"]
    ranges = [str(rule.sqref) for rule in sheet.conditional_formatting]
    assert ranges == ["B6:C7"]


def test_a_row_block_over_a_cell_of_its_own_is_refused():
    book = rows_book()
    book.sheets[0].text(book.sheets[0].block(4, 8), "in the way")
    with pytest.raises(ValueError, match="batch!H4 is both in a row block"):
        xlsx_writer.to_bytes(book)


def test_one_page_prints_portrait_or_landscape():
    book = BookLayout()
    upright, wide = book.sheet("upright"), book.sheet("wide")
    upright.printout = "one portrait page"
    wide.printout = "one landscape page"
    loaded = load(xlsx_writer.to_bytes(book))
    setups = {
        title: (
            loaded[title].page_setup.orientation,
            loaded[title].page_setup.fitToWidth,
            loaded[title].page_setup.fitToHeight,
        )
        for title in ("upright", "wide")
    }
    assert setups == {"upright": ("portrait", 1, 1), "wide": ("landscape", 1, 1)}


def test_an_unknown_printout_is_refused_by_name():
    book = BookLayout()
    book.sheet("odd").printout = "one page"  # portrait or landscape?
    with pytest.raises(ValueError, match="odd: printout 'one page', not landscape"):
        xlsx_writer.to_bytes(book)
