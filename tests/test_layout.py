"""xlnn.sheets.layout and .network_layout: workbooks described, not yet written.

Everything here inspects the description (blocks, formula text, checks), so a
wrong cell fails in milliseconds, long before LibreOffice would see it.
"""

from __future__ import annotations

import numpy as np
import pytest
from openpyxl.utils import get_column_letter

from xlnn.functions import catalog
from xlnn.network import Dense, Network
from xlnn.sheets import network_layout
from xlnn.sheets.flavors import ADDIN, PLAIN
from xlnn.sheets.layout import (
    COMPACT,
    GAP_WIDTH,
    NUMBER,
    PROBABILITY,
    WEIGHT,
    Block,
    BookLayout,
    PastLastColumn,
    column_letter,
    column_number,
    quote_sheet,
)

FLAVORS = [pytest.param(PLAIN, id="plain"), pytest.param(ADDIN, id="addin")]

# --- column letters and references ----------------------------------------------------


@pytest.mark.parametrize(
    ("col", "letters"),
    [(1, "A"), (2, "B"), (26, "Z"), (27, "AA"), (52, "AZ"), (53, "BA"),
     (702, "ZZ"), (703, "AAA"), (16384, "XFD")],
)  # fmt: skip
def test_column_letter(col, letters):
    assert column_letter(col) == letters


def test_column_letter_agrees_with_openpyxl_over_every_column_of_a_sheet():
    assert all(column_letter(c) == get_column_letter(c) for c in range(1, 16385))


def test_column_number_reverses_column_letter_over_every_column_of_a_sheet():
    assert all(column_number(column_letter(c)) == c for c in range(1, 16385))


@pytest.mark.parametrize("col", [16385, 20_000])
def test_column_letter_refuses_columns_past_xfd(col):
    # Unbounded, 20,000 gave 'ACOF', a column no sheet has.
    with pytest.raises(PastLastColumn, match=f"column {col:,} is past XFD"):
        column_letter(col)


@pytest.mark.parametrize("col", [0, -1])
def test_column_letter_refuses_columns_below_one(col):
    with pytest.raises(ValueError, match=f"not {col}"):
        column_letter(col)


@pytest.mark.parametrize(
    ("title", "quoted"),
    [("network", "'network'"), ("my sheet", "'my sheet'"), ("it's", "'it''s'"),
     ("''", "''''''")],
)  # fmt: skip
def test_quote_sheet_doubles_quotes(title, quoted):
    assert quote_sheet(title) == quoted


def test_block_references():
    block = Block("network", 3, 2, 2, 3)
    assert block.address() == "B3"
    assert block.address(1, 2) == "D4"
    assert block.address(1, 2, absolute=True) == "$D$4"
    assert block.coordinates == "B3:D4"
    assert block.ref == "$B$3:$D$4"
    assert block.qualified_ref == "'network'!$B$3:$D$4"
    assert (block.shape, block.last_row, block.last_col) == ((2, 3), 4, 4)


def test_one_cell_block_references_are_one_cell():
    block = Block("it's mine", 10, 28)
    assert block.coordinates == "AB10"
    assert block.ref == "$AB$10"
    assert block.qualified_ref == "'it''s mine'!$AB$10"


def test_block_parts():
    block = Block("s", 3, 2, 2, 3)
    assert block.cell(1, 2) == Block("s", 4, 4)
    assert block.row_block(1) == Block("s", 4, 2, 1, 3)
    assert block.column_block(2) == Block("s", 3, 4, 2, 1)


@pytest.mark.parametrize(
    "where", [(0, 1, 1, 1), (1, 0, 1, 1), (1, 1, 0, 1), (1, 1, 1, 0), (2, 2, -1, 1)]
)
def test_block_outside_the_sheet_or_empty_is_refused(where):
    with pytest.raises(ValueError, match="a block needs"):
        Block("s", *where)


# --- Sheets and the cursor ------------------------------------------------------------


@pytest.fixture
def sheet():
    return BookLayout().sheet("s")


def test_cursor_text_moves_one_row(sheet):
    cursor = sheet.cursor(4, 2)
    block = cursor.text("hello", "title", right=1)
    assert block == Block("s", 4, 3)
    assert (cursor.row, cursor.col) == (5, 2)
    assert sheet.texts[-1].text == "hello" and sheet.texts[-1].style == "title"


def test_cursor_headers_are_one_row_of_labels(sheet):
    cursor = sheet.cursor(2, 3)
    block = cursor.headers(["a", "b", "c"])
    assert block == Block("s", 2, 3, 1, 3)
    assert cursor.row == 3
    assert [(t.block.address(), t.text, t.style) for t in sheet.texts] == [
        ("C2", "a", "header"),
        ("D2", "b", "header"),
        ("E2", "c", "header"),
    ]


def test_cursor_inputs_moves_below_them(sheet):
    cursor = sheet.cursor(5, 1)
    block = cursor.inputs(np.arange(6.0).reshape(3, 2), WEIGHT, right=2)
    assert block == Block("s", 5, 3, 3, 2)
    assert cursor.row == 8
    assert sheet.inputs[-1].number_format == WEIGHT
    np.testing.assert_array_equal(sheet.inputs[-1].values, [[0, 1], [2, 3], [4, 5]])


def test_cursor_inputs_of_one_row(sheet):
    cursor = sheet.cursor()
    assert cursor.inputs([1.0, 2.0, 3.0], NUMBER) == Block("s", 1, 1, 1, 3)
    assert cursor.row == 2


@pytest.mark.parametrize(
    ("expected", "shape"), [(0.5, (1, 1)), ([1, 2], (1, 2)), ([[1], [2], [3]], (3, 1))]
)
def test_cursor_formula_takes_the_shape_of_its_values(sheet, expected, shape):
    cursor = sheet.cursor(2, 2)
    block = cursor.formula("SUM(A1)", expected=expected, name="f")
    assert block.shape == shape and (block.row, block.col) == (2, 2)
    assert cursor.row == 2 + shape[0]
    assert sheet.book.find("s", "f") is block
    check = sheet.book.check("s", "f")
    assert check.block is block and check.expected.shape == shape


def test_cursor_at_and_skip(sheet):
    cursor = sheet.cursor(3, 2)
    assert cursor.at(2, 4, right=1) == Block("s", 3, 3, 2, 4)
    assert cursor.row == 3
    assert cursor.skip(2) is cursor and cursor.row == 5
    assert cursor.skip().row == 6


def test_put_inputs_of_the_wrong_shape_is_refused(sheet):
    with pytest.raises(ValueError, match=r"\(2, 2\) values do not fit B2:D3"):
        sheet.put_inputs(sheet.block(2, 2, 2, 3), [[1, 2], [3, 4]], NUMBER)


def test_put_formula_with_too_few_values_is_refused(sheet):
    with pytest.raises(ValueError, match="3 expected values do not fit A1:B2"):
        sheet.put_formula(sheet.block(1, 1, 2, 2), "X", expected=[1, 2, 3])
    assert sheet.formulas == [] and sheet.book.checks == []


@pytest.mark.parametrize(
    ("block", "labels"),
    [((1, 1, 1, 3), ["a", "b"]), ((1, 1, 2, 2), ["a", "b", "c", "d"])],
)
def test_headers_that_do_not_fit_are_refused(sheet, block, labels):
    with pytest.raises(ValueError, match="headers do not fit"):
        sheet.headers(sheet.block(*block), labels)


def test_headers_down_a_column(sheet):
    sheet.headers(sheet.block(2, 1, 2, 1), ["top", "bottom"])
    assert [(t.block.address(), t.text) for t in sheet.texts] == [
        ("A2", "top"),
        ("A3", "bottom"),
    ]


def test_unknown_text_style_is_refused(sheet):
    with pytest.raises(ValueError, match="'shout'"):
        sheet.text(sheet.block(1, 1), "hi", "shout")


def test_width_covers_every_column_of_a_range(sheet):
    sheet.width(2, 4, 9.5)
    assert sheet.widths == {2: 9.5, 3: 9.5, 4: 9.5}


# --- The book: sheets, names, anchors, checks -----------------------------------------


def test_duplicate_sheet_title_is_refused():
    book = BookLayout()
    book.sheet("net")
    with pytest.raises(ValueError, match="already called 'net'"):
        book.sheet("net")


def test_find_and_check_name_what_is_missing():
    book = BookLayout()
    sheet = book.sheet("a")
    sheet.put_formula(sheet.block(1, 1), "1", expected=1, name="one")
    book.sheet("b")
    assert book.find("a", "one") == Block("a", 1, 1)
    with pytest.raises(KeyError, match="no block named 'one' on sheet 'b'"):
        book.find("b", "one")
    with pytest.raises(KeyError, match="no check named 'two' on sheet 'a'"):
        book.check("a", "two")
    with pytest.raises(KeyError, match="on sheet 'c'"):
        book.find("c", "one")


def test_anchor_finds_a_block_without_a_check():
    book = BookLayout()
    sheet = book.sheet("a")
    block = sheet.anchor("x", sheet.block(2, 2, 1, 3))
    assert book.find("a", "x") is block
    with pytest.raises(KeyError):
        book.check("a", "x")


def test_names_and_sheet_order():
    book = BookLayout()
    for title in ("one", "two", "three"):
        book.sheet(title)
    assert book.name("W_1", Block("two", 1, 1, 2, 2)) == "W_1"
    assert book.names["W_1"].qualified_ref == "'two'!$A$1:$B$2"
    book.move_sheet("three", 0)
    assert book.sheet_titles == ["three", "one", "two"]
    with pytest.raises(KeyError, match="no sheet called 'four'"):
        book.move_sheet("four", 0)


# --- network_layout: one sample, top to bottom ----------------------------------------

# Book section 3.4.3: init_network() and x.
BOOK = Network(
    (
        Dense([[0.1, 0.3, 0.5], [0.2, 0.4, 0.6]], [0.1, 0.2, 0.3], "sigmoid"),
        Dense([[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]], [0.1, 0.2], "sigmoid"),
        Dense([[0.1, 0.3], [0.2, 0.4]], [0.1, 0.2], "identity"),
    )
)
BOOK_X = np.array([1.0, 0.5])


def random_network(widths, activations, seed=0) -> Network:
    rng = np.random.default_rng(seed)
    shapes = zip(widths[:-1], widths[1:], activations, strict=True)
    return Network(
        tuple(
            Dense(rng.normal(size=(n_in, n_out)), rng.normal(size=n_out), name)
            for n_in, n_out, name in shapes
        )
    )


NETWORKS = {
    "book": BOOK,
    "one-layer": random_network([4, 1], ["relu"]),
    "five-layers": random_network(
        [3, 5, 4, 2, 6, 3], ["tanh", "leaky_relu", "elu", "gelu", "softmax"]
    ),
    "wide-softmax": random_network([2, 7, 10], ["silu", "log_softmax"]),
}


def lay_out_one_sample(network, flavor, *, weights_here=True, x_values=None):
    book = BookLayout()
    sheet = book.sheet("net")
    cursor = sheet.cursor(2, 2)
    if x_values is None:
        x_values = np.linspace(-1, 1, network.n_inputs)
    x = cursor.inputs(x_values[np.newaxis, :], NUMBER)
    start = cursor.row
    placed = network_layout.single_sample(
        cursor,
        network=network,
        flavor=flavor,
        x=x,
        x_values=x_values,
        weights_here=weights_here,
    )
    return book, sheet, x, placed, cursor.row - start


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("weights_here", [True, False])
@pytest.mark.parametrize("name", list(NETWORKS))
def test_single_sample_height_is_how_far_the_cursor_moves(name, weights_here, flavor):
    network = NETWORKS[name]
    *_, moved = lay_out_one_sample(network, flavor, weights_here=weights_here)
    assert (
        network_layout.single_sample_height(network, weights_here=weights_here) == moved
    )


@pytest.mark.parametrize("name", list(NETWORKS))
def test_single_sample_stays_above_where_the_cursor_ends(name):
    book, sheet, _, _, moved = lay_out_one_sample(NETWORKS[name], PLAIN)
    last = max(
        [t.block.last_row for t in sheet.texts]
        + [i.block.last_row for i in sheet.inputs]
        + [f.block.last_row for f in sheet.formulas]
    )
    assert last < 2 + 1 + moved  # x on row 2, then the cursor's rows


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("name", list(NETWORKS))
def test_layer_sums_multiply_the_named_weights(name, flavor):
    network = NETWORKS[name]
    book, sheet, x, placed, _ = lay_out_one_sample(network, flavor)
    source = x
    for k, (layer, placed_layer) in enumerate(
        zip(network.layers, placed.layers, strict=True), start=1
    ):
        check = book.check("net", f"a{k}")
        assert check.block == placed_layer.a
        formula = next(f for f in sheet.formulas if f.block == placed_layer.a)
        assert formula.body == f"MMULT({source.ref},W_{k})+b_{k}"
        weights, bias = book.names[f"W_{k}"], book.names[f"b_{k}"]
        assert (weights.shape, bias.shape) == (
            layer.weights.shape,
            (1, layer.n_outputs),
        )
        written = {i.block: i.values for i in sheet.inputs}
        np.testing.assert_array_equal(written[weights], layer.weights)
        np.testing.assert_array_equal(written[bias], [layer.bias])
        assert weights.last_row < bias.row < placed_layer.a.row < placed_layer.z.row
        source = placed_layer.z


def test_without_weights_here_nothing_is_named_or_written():
    book, sheet, x, placed, _ = lay_out_one_sample(BOOK, PLAIN, weights_here=False)
    assert book.names == {}
    assert [i.block for i in sheet.inputs] == [x]
    formula = next(f for f in sheet.formulas if f.block == placed.layers[0].a)
    assert formula.body == f"MMULT({x.ref},W_1)+b_1"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_single_sample_of_the_book_writes_each_activation(flavor):
    book, sheet, _, placed, _ = lay_out_one_sample(BOOK, flavor, x_values=BOOK_X)
    for layer, placed_layer in zip(BOOK.layers, placed.layers, strict=True):
        z = next(f for f in sheet.formulas if f.block == placed_layer.z)
        assert z.body == flavor.activation(layer.activation, placed_layer.a.ref)
    outputs = [f.block for f in sheet.formulas if f.output]
    assert outputs == [placed.output]
    assert book.find("net", "y") == placed.output
    assert book.find("net", "z1") == placed.layers[0].z
    captions = [t.text for t in sheet.texts if t.style == "caption"]
    for layer in BOOK.layers:
        assert any(layer.activation.caption in c for c in captions)


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("name", list(NETWORKS))
def test_checks_hold_the_forward_pass(name, flavor):
    network = NETWORKS[name]
    book, _, _, placed, _ = lay_out_one_sample(network, flavor)
    x_values = np.linspace(-1, 1, network.n_inputs)
    for values, placed_layer in zip(
        network.forward(x_values), placed.layers, strict=True
    ):
        np.testing.assert_array_equal(checked(book, placed_layer.a), values.a)
        np.testing.assert_array_equal(checked(book, placed_layer.z), values.z)
        np.testing.assert_array_equal(placed_layer.values.z, values.z)
    np.testing.assert_array_equal(placed.output_values, network.predict(x_values))


def checked(book: BookLayout, block: Block) -> np.ndarray:
    """The values the checks expect over ``block``, pieced together from its parts."""
    out = np.full(block.shape, np.nan)
    covered = np.zeros(block.shape, dtype=int)
    for check in book.checks:
        part = check.block
        if part.sheet != block.sheet:
            continue
        if block.row <= part.row and part.last_row <= block.last_row:
            if block.col <= part.col and part.last_col <= block.last_col:
                rows = slice(part.row - block.row, part.last_row - block.row + 1)
                cols = slice(part.col - block.col, part.last_col - block.col + 1)
                out[rows, cols] = check.expected.astype(float)
                covered[rows, cols] += 1
    assert (covered == 1).all(), "every cell is checked exactly once"
    return out


def test_every_formula_has_one_check_on_its_block():
    book, sheet, *_ = lay_out_one_sample(NETWORKS["five-layers"], PLAIN)
    assert [f.block for f in sheet.formulas] == [c.block for c in book.checks]


# --- network_layout: a batch, left to right -------------------------------------------

BATCH = np.array([[1.0, 0.5], [0.0, 0.0], [-1.0, 2.0], [3.0, -0.5]])
SOFTMAX_NET = Network(
    (
        Dense([[0.1, 0.3, 0.5], [0.2, 0.4, 0.6]], [0.1, 0.2, 0.3], "sigmoid"),
        Dense([[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]], [0.1, 0.2], "softmax"),
    )
)


def lay_out_batch(network, flavor, **options):
    book = BookLayout()
    sheet = book.sheet("batch")
    x = sheet.put_inputs(sheet.block(4, 2, *BATCH.shape), BATCH, NUMBER)
    placed = network_layout.batch(
        sheet,
        network=network,
        flavor=flavor,
        x=x,
        x_values=BATCH,
        caption_row=2,
        first_col=5,
        **options,
    )
    return book, sheet, x, placed


def test_plain_softmax_over_a_batch_is_one_formula_per_row():
    book, sheet, _, placed = lay_out_batch(SOFTMAX_NET, PLAIN)
    y, a = placed.output, placed.layers[-1].a
    parts = [f for f in sheet.formulas if f.block.col == y.col]
    assert [f.block for f in parts] == [y.row_block(i) for i in range(y.rows)]
    for i, formula in enumerate(parts):
        assert formula.body == catalog.get("softmax").plain(a.row_block(i).ref)
        assert formula.number_format == PROBABILITY and formula.output
    np.testing.assert_array_equal(checked(book, y), SOFTMAX_NET.predict(BATCH))


def test_addin_softmax_over_a_batch_is_one_formula():
    book, sheet, _, placed = lay_out_batch(SOFTMAX_NET, ADDIN)
    y, a = placed.output, placed.layers[-1].a
    parts = [f for f in sheet.formulas if f.block.col == y.col]
    assert [(f.block, f.body) for f in parts] == [(y, f"SOFTMAX({a.ref})")]
    np.testing.assert_array_equal(checked(book, y), SOFTMAX_NET.predict(BATCH))


@pytest.mark.parametrize("flavor", FLAVORS)
def test_batch_blocks_line_up_with_x_left_to_right(flavor):
    book, sheet, x, placed = lay_out_batch(BOOK, flavor)
    blocks = [b for layer in placed.layers for b in (layer.a, layer.z)]
    assert blocks[0].col == 5
    for before, after in zip(blocks, blocks[1:], strict=False):
        assert after.col == before.last_col + 2  # one gap column between
        assert sheet.widths[before.last_col + 1] == GAP_WIDTH
    for block in blocks:
        assert (block.row, block.rows) == (x.row, x.rows)
        assert sheet.widths[block.col] == 8
    for k, layer in enumerate(placed.layers, start=1):
        formula = next(f for f in sheet.formulas if f.block == layer.a)
        assert formula.number_format == COMPACT
        source = x if k == 1 else placed.layers[k - 2].z
        assert formula.body == f"MMULT({source.ref},W_{k})+b_{k}"
    headers = {t.block.address(): t.text for t in sheet.texts if t.style == "header"}
    assert headers["E3"] == "a1[0]" and headers["G3"] == "a1[2]"
    captions = {t.block.address(): t.text for t in sheet.texts if t.style == "caption"}
    assert captions["E2"] == "A1 = X . W1 + b1"
    assert captions[f"{column_letter(placed.output.col)}2"] == "Y = identity(A3)"
    np.testing.assert_array_equal(checked(book, placed.output), BOOK.predict(BATCH))


def test_batch_output_goes_to_output_col():
    _, sheet, x, placed = lay_out_batch(BOOK, PLAIN, output_col=40)
    y = placed.output
    assert (y.col, y.row, y.shape) == (40, x.row, (x.rows, 2))
    before = placed.layers[-1].a
    assert before.last_col < 40
    # The output moved away, so no gap is left for it after the last sum.
    blocks = [b for layer in placed.layers for b in (layer.a, layer.z)][:-1]
    for left, right in zip(blocks, blocks[1:], strict=False):
        assert right.col == left.last_col + 2
    headers = {t.block.address(): t.text for t in sheet.texts if t.style == "header"}
    assert headers["AN3"] == "y[0]" and headers["AO3"] == "y[1]"
    assert [f.block for f in sheet.formulas if f.output] == [y]


def test_batch_without_output_col_puts_the_output_last():
    _, _, _, placed = lay_out_batch(BOOK, PLAIN)
    assert placed.output.col == placed.layers[-1].a.last_col + 2
    assert placed.output.col == max(b.z.col for b in placed.layers)
