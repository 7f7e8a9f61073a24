"""The sample workbooks: chapter 3 of the book, a digits classifier, and training.

Each sample is a function ``(flavor) -> BookLayout`` describing its sheets
(:data:`SAMPLES`); :mod:`xlnn.samples.build` writes them as files and
verifies them, :mod:`xlnn.scripts` writes them into an open workbook. Blocks
are placed by cursor, below or beside earlier ones, and found again by name;
the numbers spelled out are mostly columns: widths, print areas, where a
block starts. The export's sheets (:mod:`xlnn.export.sheets`) share the
pieces :func:`intro`, :func:`weights_sheet` and :func:`pixel_row`.
"""

from __future__ import annotations

import io
import pkgutil

import numpy as np

from xlnn.functions import catalog
from xlnn.network import Dense, Network
from xlnn.sheets import network_layout
from xlnn.sheets.flavors import Flavor, naive_softmax
from xlnn.sheets.layout import (
    INTEGER,
    NUMBER,
    PROBABILITY,
    SHORT,
    Block,
    BookLayout,
    Chart,
    Cursor,
    HeatMap,
    Highlight,
    Series,
    SheetLayout,
    column_letter,
)

EDIT_NOTE = "Yellow cells are inputs: edit them and every formula follows."

# Book section 3.4.3: the three-layer network and its input.
BOOK_X = np.array([1.0, 0.5])
BOOK_NETWORK = Network(
    (
        Dense([[0.1, 0.3, 0.5], [0.2, 0.4, 0.6]], [0.1, 0.2, 0.3], "sigmoid"),
        Dense([[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]], [0.1, 0.2], "sigmoid"),
        Dense([[0.1, 0.3], [0.2, 0.4]], [0.1, 0.2], "identity"),
    )
)
BOOK_BATCH = np.array([[1.0, 0.5], [0.0, 0.0], [-1.0, 2.0], [3.0, -0.5], [0.5, 0.5]])

#: Width of column A, which holds the row labels ("naive", "sum", "a", "y").
LABEL_WIDTH = 7


def intro(sheet: SheetLayout, title: str, lines, flavor: Flavor) -> Cursor:
    """Title and notes at the top; returns a cursor below them, in column B."""
    cursor = sheet.cursor(1, 1)
    cursor.text(title, "title")
    for line in [*lines, EDIT_NOTE, flavor.note]:
        cursor.text(line)
    for k, line in enumerate(flavor.binding_help):
        cursor.text(line, "caption" if k == 0 else "note")
    sheet.width(1, 1, LABEL_WIDTH)
    return sheet.cursor(cursor.row + 1, 2)


# --- activations -------------------------------------------------------------


def activation_curves(flavor: Flavor) -> BookLayout:
    """The activations from x = -6 to 6, a chart, and softmax's two examples."""
    book = BookLayout()
    sheet = book.sheet("activations")
    curves = catalog.gallery()
    cursor = intro(
        sheet,
        "Activation functions",
        ["Each column is one array formula over the x column; the chart draws them."],
        flavor,
    )
    if not flavor.add_in:
        cursor.text(flavor.formula_note(catalog.get("sigmoid")))
        cursor.skip()
    cursor.headers(["x", *(activation.excel_name for activation in curves)])
    x_values = np.arange(-6.0, 6.0 + 0.25, 0.5)[:, np.newaxis]
    x = cursor.inputs(x_values, SHORT)
    columns = []
    for k, activation in enumerate(curves, start=1):
        columns.append(
            sheet.put_formula(
                sheet.block(x.row, x.col + k, x.rows, 1),
                flavor.activation(activation, x.ref),
                expected=activation.function(x_values),
                name=activation.name,
                note=flavor.formula_note(activation),
            )
        )
    sheet.width(2, 2 + len(curves), 11)
    sheet.freeze = sheet.block(x.row, 1)
    chart_col = x.col + len(curves) + 2
    step_x, step_y = _step_jump(sheet, flavor, row=x.row + 25, col=chart_col)
    series = [
        Series(step_y, sheet.block(x.row - 1, column.col), x=step_x)
        if activation.name == "step"
        else Series(column, sheet.block(x.row - 1, column.col))
        for activation, column in zip(curves, columns, strict=True)
    ]
    sheet.charts.append(
        Chart(
            kind="line",
            title="Activation functions",
            anchor=sheet.block(x.row - 1, chart_col),
            categories=x,
            series=tuple(series),
            size=(11, 18),
            x_title="x",
            y_title="f(x)",
            x_range=(-6, 6),
            y_range=(-2, 6),
            number_format="0",
        )
    )
    cursor.skip()
    _softmax_example(
        cursor,
        flavor,
        [0.3, 2.9, 4.0],
        "Softmax of a = [0.3, 2.9, 4.0] (book section 3.5.1)",
        naive=False,
    )
    _softmax_example(
        cursor,
        flavor,
        [1010.0, 1000.0, 990.0],
        "Overflow: a = [1010, 1000, 990] (book section 3.5.2)",
        naive=True,
    )
    return book


def _step_jump(sheet: SheetLayout, flavor: Flavor, *, row: int, col: int):
    """STEP at a few points, so the chart draws its jump at 0 as a vertical line."""
    cursor = sheet.cursor(row, col)
    cursor.text(
        "For the chart: STEP jumps at 0, so it is drawn from these points", "caption"
    )
    cursor.headers(["x", "STEP"])
    x_values = np.array([[-6.0], [0.0], [0.001], [6.0]])
    x = cursor.inputs(x_values, "0.0##")
    step = catalog.get("step")
    y = sheet.put_formula(
        sheet.block(x.row, x.col + 1, x.rows, 1),
        flavor.activation(step, x.ref),
        expected=step.function(x_values),
        number_format=SHORT,
        name="step jump",
    )
    return x, y


def _softmax_example(cursor: Cursor, flavor: Flavor, a_values, caption, naive):
    """a, (the naive formula,) softmax(a) and its sum, labelled in column A."""
    sheet = cursor.sheet
    a_values = np.array([a_values])
    softmax = catalog.get("softmax")
    expected = softmax.function(a_values)
    cursor.text(caption, "caption")
    sheet.text(cursor.at(right=-1), "a")
    a = cursor.inputs(a_values, SHORT)
    if naive:
        sheet.text(cursor.at(right=-1), "naive")
        sheet.text(
            cursor.at(right=a.cols),
            "EXP(a)/SUM(EXP(a)) overflows: EXP(1010) is too big",
        )
        cursor.formula(
            naive_softmax(a.ref),
            expected=np.full(a.shape, "#NUM!", dtype=object),
            number_format=PROBABILITY,
            name="naive softmax",
        )
    sheet.text(cursor.at(right=-1), "y")
    sheet.text(
        cursor.at(right=a.cols),
        "softmax subtracts MAX(a) first, so the largest exponent is EXP(0)"
        if naive
        else "each y is EXP(a) over the sum of all EXP(a)",
    )
    y = cursor.formula(
        flavor.activation(softmax, a.ref),
        expected=expected,
        number_format=PROBABILITY,
        output=True,
        name="overflow softmax" if naive else "softmax",
    )
    sheet.text(cursor.at(right=-1), "sum")
    cursor.formula(
        f"SUM({y.ref})",
        expected=expected.sum(),
        number_format=PROBABILITY,
        name="overflow sum" if naive else "sum",
    )
    cursor.skip()


# --- the book's three-layer network -------------------------------------------


def three_layer_network(flavor: Flavor) -> BookLayout:
    """Book section 3.4.3: x -> 3 sigmoid -> 2 sigmoid -> 2 identity outputs."""
    book = BookLayout()
    _network_sheet(book, flavor)
    _network_batch_sheet(book, flavor)
    return book


def _network_sheet(book: BookLayout, flavor: Flavor) -> None:
    sheet = book.sheet("network")
    cursor = intro(
        sheet,
        "A three-layer network, computed in cells",
        [
            "Book section 3.4.3: two inputs, hidden layers of 3 and 2 sigmoid neurons, "
            "and 2 outputs with the identity activation.",
            "Each step is one array formula: MMULT for the weighted sums, then the "
            "activation. Read from top to bottom.",
        ],
        flavor,
    )
    cursor.text("x: the input, one row (editable)", "caption")
    x = cursor.inputs(BOOK_X[np.newaxis, :], NUMBER)
    sheet.anchor("x", x)
    cursor.skip()
    network_layout.single_sample(
        cursor, network=BOOK_NETWORK, flavor=flavor, x=x, x_values=BOOK_X
    )
    cursor.text("The book prints y = [0.31682708 0.69627909].")
    sheet.width(2, 4, 14)
    sheet.freeze = sheet.block(2, 1)
    sheet.printout = "one portrait page"


def _network_batch_sheet(book: BookLayout, flavor: Flavor) -> None:
    sheet = book.sheet("batch")
    cursor = intro(
        sheet,
        "The same network on a batch of inputs",
        [
            "Each row of X is one sample; every block is one array formula over all "
            "rows, using the weights named W_1, b_1, ... on the network sheet.",
            "P applies softmax to each row of Y: the outputs read as probabilities.",
        ],
        flavor,
    )
    caption_row = cursor.row
    cursor.text("X: inputs (editable)", "caption")
    cursor.headers(["x[0]", "x[1]"])
    x = cursor.inputs(BOOK_BATCH, SHORT)
    placed = network_layout.batch(
        sheet,
        network=BOOK_NETWORK,
        flavor=flavor,
        x=x,
        x_values=BOOK_BATCH,
        caption_row=caption_row,
        first_col=x.last_col + 2,
    )
    y = placed.output
    p_col = y.last_col + 2
    sheet.text(sheet.block(caption_row, p_col), "P = softmax(Y), per row", "caption")
    sheet.headers(sheet.block(x.row - 1, p_col, 1, y.cols), ["p[0]", "p[1]"])
    softmax = catalog.get("softmax")
    network_layout.write_activation(
        sheet,
        flavor=flavor,
        activation=softmax,
        source=y,
        target=sheet.block(x.row, p_col, *y.shape),
        expected=softmax.function(placed.output_values),
        output=True,
        name="P",
    )
    sheet.width(2, x.last_col, 8)
    sheet.width(x.last_col + 1, x.last_col + 1, 2)
    sheet.width(p_col, y.last_col + y.cols, 8)
    sheet.freeze = sheet.block(x.row, 1)


# --- the digits classifier ---------------------------------------------------


def load_digits_network() -> tuple[Network, np.ndarray, np.ndarray]:
    """The trained 64-16-10 digits network and its held-out test images."""
    # Read through the package's loader, by the top package's name: "xlnn",
    # or the private package of the file xlnn lite writes, which carries it.
    top_package = __name__.partition(".")[0]
    stored = pkgutil.get_data(top_package, "data/digits_mlp.npz")
    with np.load(io.BytesIO(stored)) as data:
        network = Network(
            (
                Dense(data["W1"], data["b1"], "sigmoid"),
                Dense(data["W2"], data["b2"], "softmax"),
            )
        )
        return network, data["test_images"], data["test_labels"]


def digits(flavor: Flavor) -> BookLayout:
    """A real classifier of scikit-learn's 8x8 digits, one image and a batch."""
    network, images, labels = load_digits_network()
    book = BookLayout()
    weights_sheet(
        book,
        network,
        flavor,
        title="Weights of the digits network (64-16-10)",
        notes=[
            "Trained with NumPy on scikit-learn's digits (scripts/train_digits.py). "
            "W1 expects raw pixel values 0..16."
        ],
    )
    _digit_sheet(book, network, images[0], flavor)
    _digits_batch_sheet(book, network, images, labels, flavor)
    book.move_sheet("weights", 2)
    return book


def weights_sheet(
    book: BookLayout,
    network: Network,
    flavor: Flavor,
    *,
    title: str,
    notes=(),
    constants=None,
    widths: tuple[int, float] = (18, 8),
) -> None:
    """The weights sheet: every layer's W and b, editable and named W_1, b_1, ...

    ``constants(cursor)``, if given, places other named inputs above them;
    ``widths`` is the last column of columns B onwards, and their width.
    """
    sheet = book.sheet("weights")
    cursor = intro(sheet, title, notes, flavor)
    if constants is not None:
        constants(cursor)
    for k, layer in enumerate(network.layers, start=1):
        network_layout.place_weights(cursor, layer=layer, k=k)
    last_col, width = widths
    sheet.width(2, last_col, width)


def pixel_row(sheet: SheetLayout, grid: Block, x: Block, pixels, number_format):
    """Fill the one-row ``x`` with references to ``grid``'s cells, row by row.

    ``pixels`` are the grid's values in that order, the checks of ``x``.
    """
    for k in range(x.cols):
        sheet.put_formula(
            x.cell(0, k),
            grid.address(k // grid.cols, k % grid.cols),
            expected=pixels[k],
            number_format=number_format,
        )


def _digit_sheet(book, network: Network, image, flavor: Flavor) -> None:
    sheet = book.sheet("digit")
    cursor = intro(
        sheet,
        "Which digit is this?",
        [
            "Draw a digit in the 8x8 grid with values 0 (white) to 16 (black); the "
            "network's 10 probabilities and its answer follow.",
            "x, at the bottom, lists the 64 pixels in one row; each layer is MMULT "
            "plus bias, then the activation.",
        ],
        flavor,
    )
    cursor.text("The image (editable)", "caption")
    grid = cursor.inputs(image.reshape(8, 8), INTEGER)
    sheet.anchor("image", grid)
    sheet.heat_maps.append(HeatMap(grid, 0, 16))
    for row in range(grid.row, grid.last_row + 1):
        sheet.heights[row] = 52  # square pixels in 11-character columns
    sheet.width(2, 17, 11)
    cursor.skip()
    # x comes last on the sheet, below the layers: its 64 cells run far right.
    layers_height = network_layout.single_sample_height(network, weights_here=False)
    x = sheet.block(cursor.row + layers_height + 3, 2, 1, 64)
    placed = network_layout.single_sample(
        cursor,
        network=network,
        flavor=flavor,
        x=x,
        x_values=image,
        weights_here=False,
    )
    y = placed.output
    probabilities = placed.output_values[0]
    sheet.headers(sheet.block(y.row + 1, y.col, 1, 10), [str(d) for d in range(10)])
    sheet.text(sheet.block(y.row, y.last_col + 2), "prediction", "header")
    sheet.put_formula(
        sheet.block(y.row, y.last_col + 3),
        f"MATCH(MAX({y.ref}),{y.ref},0)-1",
        expected=float(np.argmax(probabilities)),
        number_format=INTEGER,
        output=True,
        name="prediction",
    )
    sheet.charts.append(
        Chart(
            kind="bar",
            title="Probability of each digit",
            anchor=sheet.block(grid.row, 11),
            categories=sheet.block(y.row + 1, y.col, 1, 10),
            series=(Series(y, "probability"),),
            y_range=(0, 1),
            number_format="0.0",
            legend=False,
        )
    )
    sheet.print_area = sheet.block(1, 1, cursor.row, 18)
    sheet.text(
        sheet.block(x.row - 1, 2),
        "x: the grid's 64 pixels in one row, read row by row (runs far right)",
        "caption",
    )
    pixel_row(sheet, grid, x, image, INTEGER)
    sheet.anchor("x", x)
    sheet.width(18, 80, 9)


def _digits_batch_sheet(book, network, images, labels, flavor: Flavor) -> None:
    sheet = book.sheet("batch")
    cursor = intro(
        sheet,
        f"{len(images)} held-out test images",
        [
            "Each row is one image the network never saw in training: its label, "
            "the prediction and the 10 probabilities Y.",
            "Further right: the 64 pixels X and the layers that lead from X to Y. "
            "Wrong predictions are shaded red.",
        ],
        flavor,
    )
    accuracy_row = cursor.row
    cursor.skip(2)
    caption_row = cursor.row
    cursor.text("result", "caption")
    result_headers = cursor.headers(["label", "prediction", "correct"])
    label = cursor.inputs(labels[:, np.newaxis], INTEGER)
    first = label.row
    probabilities_col = result_headers.last_col + 2
    pixels_col = probabilities_col + 11
    sheet.text(sheet.block(caption_row, pixels_col), "X: pixels 0..16 (editable)",
               "caption")  # fmt: skip
    sheet.headers(
        sheet.block(first - 1, pixels_col, 1, 64), [f"x[{k}]" for k in range(64)]
    )
    x = sheet.put_inputs(sheet.block(first, pixels_col, *images.shape), images,
                         INTEGER)  # fmt: skip
    placed = network_layout.batch(
        sheet,
        network=network,
        flavor=flavor,
        x=x,
        x_values=images,
        caption_row=caption_row,
        first_col=x.last_col + 2,
        output_col=probabilities_col,
    )
    y = placed.output
    correct = _predictions(
        sheet, label, y, placed.output_values, labels, accuracy_row=accuracy_row
    )
    sheet.width(2, 4, 10)
    sheet.width(5, 5, 2)
    sheet.width(probabilities_col, probabilities_col + 9, 8)
    sheet.width(probabilities_col + 10, probabilities_col + 10, 2)
    sheet.width(pixels_col, pixels_col + 63, 4.5)
    sheet.width(pixels_col + 64, pixels_col + 120, 8)
    sheet.freeze = sheet.block(first, 2)
    # The printout shows every result row; the pixels and the hidden layers
    # continue to the right.
    sheet.print_area = sheet.block(1, 1, correct.last_row, y.last_col)
    sheet.repeat_rows = sheet.block(caption_row, 1, first - caption_row, 1)


def _predictions(sheet, label: Block, y: Block, probabilities, labels, *, accuracy_row):
    """Beside each ``label``, the digit ``y`` predicts and whether it is right,
    shading wrong rows red; the accuracy at ``accuracy_row``. Returns the
    column of rights."""
    first, count = label.row, label.rows
    predicted = np.argmax(probabilities, axis=1)
    prediction = sheet.block(first, label.col + 1, count, 1)
    correct = sheet.block(first, label.col + 2, count, 1)
    for i in range(count):
        row_ref = y.row_block(i).ref
        sheet.put_formula(
            prediction.cell(i),
            f"MATCH(MAX({row_ref}),{row_ref},0)-1",
            expected=float(predicted[i]),
            number_format=INTEGER,
            output=True,
        )
    sheet.anchor("prediction", prediction)
    sheet.put_formula(
        correct,
        f"IF({prediction.ref}={label.ref},1,0)",
        expected=(predicted == labels).astype(np.float64)[:, np.newaxis],
        number_format=INTEGER,
        name="correct",
    )
    # A whole result row turns red where the prediction is wrong.
    sheet.highlights.append(
        Highlight(
            sheet.block(first, label.col, count, 3 + 1 + y.cols),
            f"${column_letter(correct.col)}{first}=0",
        )
    )
    sheet.text(sheet.block(accuracy_row, label.col), "accuracy", "caption")
    sheet.put_formula(
        sheet.block(accuracy_row, correct.col),
        f"SUM({correct.ref})/COUNT({correct.ref})",
        expected=float(np.mean(predicted == labels)),
        number_format=PROBABILITY,
        output=True,
        name="accuracy",
    )
    return correct


# --- any network on a batch --------------------------------------------------


def network_batch(network: Network, x_values, flavor: Flavor) -> BookLayout:
    """Any network on a batch of inputs: its weights, then every layer per row."""
    x_values = np.atleast_2d(np.asarray(x_values, dtype=np.float64))
    book = BookLayout()
    weights_sheet(
        book,
        network,
        flavor,
        title=f"Weights of the {dimensions(network)} network",
    )
    sheet = book.sheet("batch")
    cursor = intro(
        sheet,
        f"A {dimensions(network)} network on {len(x_values)} inputs",
        ["Each row of X is one sample; each block is one formula over all rows."],
        flavor,
    )
    caption_row = cursor.row
    cursor.text("X: inputs (editable)", "caption")
    cursor.headers([f"x[{k}]" for k in range(x_values.shape[1])])
    x = cursor.inputs(x_values, "General")
    network_layout.batch(
        sheet,
        network=network,
        flavor=flavor,
        x=x,
        x_values=x_values,
        caption_row=caption_row,
        first_col=x.last_col + 2,
    )
    sheet.freeze = sheet.block(x.row, 1)
    book.move_sheet("batch", 0)
    return book


def dimensions(network: Network) -> str:
    """The network's widths, input first: ``64-16-10``."""
    widths = [network.n_inputs, *(layer.n_outputs for layer in network.layers)]
    return "-".join(map(str, widths))


def iris_training(flavor: Flavor) -> BookLayout:
    """The training sample (:mod:`xlnn.samples.training`)."""
    # Imported when called: that module lays out its sheets with intro() above,
    # and the file xlnn lite writes loads it after this one.
    from xlnn.samples import training

    return training.iris_training(flavor)


#: Every sample, by file name stem.
SAMPLES = {
    "activations": activation_curves,
    "three_layer_network": three_layer_network,
    "digits": digits,
    "training": iris_training,
}
