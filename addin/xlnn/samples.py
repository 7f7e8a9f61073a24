"""The sample workbooks: chapter 3 of the book, and a digits classifier.

Each sample is a function ``(flavor) -> BookBuilder`` that describes its
sheets; :mod:`xlnn.build` writes and verifies them.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
from openpyxl.chart import BarChart, Reference, ScatterChart, Series
from openpyxl.formatting.rule import CellIsRule, ColorScaleRule
from openpyxl.styles import Font

from xlnn import activations, layout
from xlnn.excel_formulas import activation_formula, naive_softmax
from xlnn.network import Dense, Network
from xlnn.workbook import (
    INTEGER,
    NUMBER,
    PROBABILITY,
    BookBuilder,
)

FLAVOR_NOTE = {
    "plain": "Plain flavor: only built-in formulas, so it works in any Excel, "
    "LibreOffice or other spreadsheet, with no add-in.",
    "addin": "Add-in flavor: the formulas call xlnn's functions (SIGMOID, SOFTMAX, "
    "...) through xlwings. In classic xlwings on Windows, STEP is STEP_FUNCTION.",
}
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

CURVES = [
    "step",
    "sigmoid",
    "relu",
    "tanh",
    "leaky_relu",
    "elu",
    "softplus",
    "gelu",
    "silu",
]


def _intro(sheet, title, lines, flavor):
    sheet.text(1, 1, title, "title")
    for k, line in enumerate([*lines, EDIT_NOTE, FLAVOR_NOTE[flavor]]):
        sheet.text(2 + k, 1, line)
    return 3 + len(lines) + 2


def three_layer_network(flavor: str) -> BookBuilder:
    """Book section 3.4.3: x -> 3 sigmoid -> 2 sigmoid -> 2 identity outputs."""
    book = BookBuilder()
    _network_sheet(book, flavor)
    _network_batch_sheet(book, flavor)
    return book


def _network_sheet(book, flavor):
    sheet = book.sheet("network")
    row = _intro(
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
    sheet.text(row, 2, "x: the input, one row (editable)", "caption")
    x = sheet.inputs(row + 1, 2, BOOK_X[np.newaxis, :], NUMBER)
    row, _ = layout.single_sample(sheet, BOOK_NETWORK, x, flavor, row + 3, 2, BOOK_X)
    sheet.text(row, 2, "The book prints y = [0.31682708 0.69627909].")
    sheet.widths(1, 1, 3)
    sheet.widths(2, 4, 14)
    sheet.ws.freeze_panes = "A2"


def _network_batch_sheet(book, flavor):
    sheet = book.sheet("batch")
    _intro(
        sheet,
        "The same network on a batch of inputs",
        [
            "Each row of X is one sample; every block is one array formula over all "
            "rows, using the weights named W_1, b_1, ... on the network sheet.",
            "P applies softmax to each row of Y: the outputs read as probabilities.",
        ],
        flavor,
    )
    header_row = 8
    sheet.text(header_row, 2, "X: inputs (editable)", "caption")
    sheet.headers(header_row + 1, 2, ["x[0]", "x[1]"])
    x = sheet.inputs(header_row + 2, 2, BOOK_BATCH, NUMBER)
    y = layout.batch(sheet, BOOK_NETWORK, x, flavor, header_row, 5, BOOK_BATCH)
    col = y.col + y.cols + 1
    sheet.text(header_row, col, "P = softmax(Y), per row", "caption")
    sheet.headers(header_row + 1, col, ["p[0]", "p[1]"])
    layout.write_activation(
        sheet,
        flavor,
        "softmax",
        y,
        sheet.block(x.row, col, *y.shape),
        activations.softmax(BOOK_NETWORK.predict(BOOK_BATCH)),
        PROBABILITY,
        output=True,
        name="P",
    )
    sheet.widths(1, 1, 3)
    sheet.widths(2, col + 2, 11)
    sheet.ws.freeze_panes = sheet.ws.cell(x.row, 1)


def activation_curves(flavor: str) -> BookBuilder:
    """The activations from x = -6 to 6, a chart, and softmax's two examples."""
    book = BookBuilder()
    sheet = book.sheet("activations")
    row = _intro(
        sheet,
        "Activation functions",
        [
            "Each column is one array formula over the x column. The chart draws the "
            "curves.",
        ],
        flavor,
    )
    x_values = np.arange(-6.0, 6.0 + 0.25, 0.5)[:, np.newaxis]
    sheet.headers(row, 2, ["x", *(name.upper() for name in CURVES)])
    x = sheet.inputs(row + 1, 2, x_values, "0.0")
    for k, name in enumerate(CURVES):
        sheet.array_formula(
            sheet.block(x.row, 3 + k, x.rows, 1),
            activation_formula(flavor, name, x.ref),
            getattr(activations, name)(x_values),
            NUMBER,
        )
    _curve_chart(sheet, x, len(CURVES), anchor=sheet.ws.cell(row, 4 + len(CURVES)))
    sheet.widths(1, 1, 3)
    sheet.widths(2, 2 + len(CURVES), 11)
    sheet.ws.freeze_panes = sheet.ws.cell(x.row, 1)

    row = x.row + x.rows + 2
    row = _softmax_example(
        sheet,
        flavor,
        row,
        [0.3, 2.9, 4.0],
        "Softmax of a = [0.3, 2.9, 4.0] (book section 3.5.1)",
        naive=False,
    )
    _softmax_example(
        sheet,
        flavor,
        row,
        [1010.0, 1000.0, 990.0],
        "Overflow: a = [1010, 1000, 990] (book section 3.5.2)",
        naive=True,
    )
    return book


def _curve_chart(sheet, x, n_curves, anchor):
    chart = ScatterChart()
    chart.title = "Activation functions"
    chart.style = 2
    chart.x_axis.title = "x"
    chart.y_axis.title = "f(x)"
    chart.height, chart.width = 11, 18
    x_ref = Reference(
        sheet.ws, min_col=x.col, min_row=x.row, max_row=x.row + x.rows - 1
    )
    for k in range(n_curves):
        col = x.col + 1 + k
        y_ref = Reference(
            sheet.ws, min_col=col, min_row=x.row - 1, max_row=x.row + x.rows - 1
        )
        series = Series(y_ref, x_ref, title_from_data=True)
        series.marker.symbol = "none"
        series.smooth = False
        chart.series.append(series)
    chart.y_axis.scaling.min, chart.y_axis.scaling.max = -1.5, 6
    chart.x_axis.scaling.min, chart.x_axis.scaling.max = -6, 6
    sheet.ws.add_chart(chart, anchor.coordinate)


def _softmax_example(sheet, flavor, row, a_values, caption, naive):
    a_values = np.array([a_values])
    sheet.text(row, 2, caption, "caption")
    sheet.text(row + 1, 1, "a")
    a = sheet.inputs(row + 1, 2, a_values, "0.0")
    y_block = sheet.block(row + 2 + naive, 2, 1, a.cols)
    if naive:
        sheet.text(row + 2, 1, "naive")
        sheet.array_formula(
            sheet.block(row + 2, 2, 1, a.cols),
            naive_softmax(a.ref),
            np.full(a.shape, "#NUM!", dtype=object),
            PROBABILITY,
        )
        sheet.text(row + 2, 2 + a.cols, "EXP(a)/SUM(EXP(a)): EXP(1010) overflows")
    sheet.text(y_block.row, 1, "y")
    expected = activations.softmax(a_values)
    sheet.array_formula(
        y_block,
        activation_formula(flavor, "softmax", a.ref),
        expected,
        PROBABILITY,
        output=True,
    )
    sheet.text(
        y_block.row,
        2 + a.cols,
        "softmax subtracts MAX(a) first: the largest exponent is EXP(0)"
        if naive
        else "each y is EXP(a) over the sum of all EXP(a)",
    )
    sheet.text(y_block.row + 1, 1, "sum")
    sheet.formula(
        y_block.row + 1, 2, f"SUM({y_block.ref})", expected.sum(), PROBABILITY
    )
    return y_block.row + 3


def load_digits_network() -> tuple[Network, np.ndarray, np.ndarray]:
    """The trained 64-16-10 digits network and its held-out test images."""
    source = resources.files("xlnn") / "data" / "digits_mlp.npz"
    with resources.as_file(source) as path, np.load(path) as data:
        network = Network(
            (
                Dense(data["W1"], data["b1"], "sigmoid"),
                Dense(data["W2"], data["b2"], "softmax"),
            )
        )
        return network, data["test_images"], data["test_labels"]


def digits(flavor: str) -> BookBuilder:
    """A real classifier of scikit-learn's 8x8 digits, one image and a batch."""
    network, images, labels = load_digits_network()
    book = BookBuilder()
    _weights_sheet(book, network, flavor)
    _digit_sheet(book, network, images[0], flavor)
    _digits_batch_sheet(book, network, images, labels, flavor)
    book.workbook.move_sheet("weights", offset=2)
    return book


def _weights_sheet(book, network, flavor):
    sheet = book.sheet("weights")
    row = _intro(
        sheet,
        "Weights of the digits network (64-16-10)",
        [
            "Trained with NumPy on scikit-learn's digits (scripts/train_digits.py). "
            "W1 expects raw pixel values 0..16.",
        ],
        flavor,
    )
    for index in range(len(network.layers)):
        row = layout.place_weights(sheet, network, row, 2, index)
    sheet.widths(1, 1, 3)
    sheet.widths(2, 18, 8)


def _digit_sheet(book, network, image, flavor):
    sheet = book.sheet("digit")
    row = _intro(
        sheet,
        "Which digit is this?",
        [
            "Draw a digit in the 8x8 grid with values 0 (white) to 16 (black); the "
            "network's 10 probabilities and its answer follow.",
            "x lists the 64 pixels in one row; then each layer is MMULT plus bias, "
            "then the activation.",
        ],
        flavor,
    )
    sheet.text(row, 2, "The image (editable)", "caption")
    grid = sheet.inputs(row + 1, 2, image.reshape(8, 8), INTEGER)
    sheet.ws.conditional_formatting.add(
        grid.coordinates,
        ColorScaleRule(
            start_type="num",
            start_value=0,
            start_color="FFFFFF",
            end_type="num",
            end_value=16,
            end_color="1F2937",
        ),
    )
    # Light digits on dark pixels, so every value stays readable.
    sheet.ws.conditional_formatting.add(
        grid.coordinates,
        CellIsRule(operator="greaterThan", formula=["8"], font=Font(color="FFFFFF")),
    )
    for r in range(grid.row, grid.row + 8):
        sheet.ws.row_dimensions[r].height = 52  # square pixels in 11-character columns
    sheet.widths(2, 17, 11)
    x_row = grid.row + 9
    sheet.text(
        x_row,
        2,
        "x: the grid's 64 pixels in one row, read row by row (runs far right)",
        "caption",
    )
    x = sheet.block(x_row + 1, 2, 1, 64)
    for k in range(64):
        sheet.formula(
            x.row, x.col + k, f"{grid.address(k // 8, k % 8)}", image[k], INTEGER
        )
    row, y = layout.single_sample(
        sheet, network, x, flavor, x_row + 3, 2, image, weights_here=False
    )
    sheet.headers(y.row + 1, y.col + y.cols + 1, ["prediction"])
    probabilities = network.predict(image)[0]
    sheet.formula(
        y.row,
        y.col + y.cols + 1,
        f"MATCH(MAX({y.ref}),{y.ref},0)-1",
        float(np.argmax(probabilities)),
        INTEGER,
        output=True,
    )
    sheet.headers(y.row + 1, y.col, [str(d) for d in range(10)])
    chart = BarChart()
    chart.type = "col"
    chart.title = "Probability of each digit"
    chart.legend = None
    chart.height, chart.width = 7.5, 12
    chart.y_axis.scaling.min, chart.y_axis.scaling.max = 0, 1
    chart.add_data(
        Reference(sheet.ws, min_col=y.col, max_col=y.col + 9, min_row=y.row),
        from_rows=True,
    )
    chart.set_categories(
        Reference(sheet.ws, min_col=y.col, max_col=y.col + 9, min_row=y.row + 1)
    )
    sheet.ws.add_chart(chart, sheet.ws.cell(grid.row, 11).coordinate)
    sheet.widths(18, 80, 9)
    sheet.widths(1, 1, 3)
    # x's 64 cells run far to the right; the printout stops after the outputs.
    sheet.ws.print_area = f"A1:R{row}"


def _digits_batch_sheet(book, network, images, labels, flavor):
    sheet = book.sheet("batch")
    _intro(
        sheet,
        f"{len(images)} held-out test images",
        [
            "Each row is one image the network never saw in training: its label, "
            "the prediction, the 10 probabilities Y, then the 64 pixels X and the "
            "layers that lead from X to Y.",
        ],
        flavor,
    )
    header_row, first = 8, 10
    sheet.text(header_row, 2, "result", "caption")
    sheet.headers(header_row + 1, 2, ["label", "prediction", "correct"])
    label = sheet.inputs(first, 2, labels[:, np.newaxis], INTEGER)
    probabilities_col, pixels_col = 6, 17
    sheet.text(header_row, pixels_col, "X: pixels 0..16 (editable)", "caption")
    sheet.headers(header_row + 1, pixels_col, [f"x[{k}]" for k in range(64)])
    x = sheet.inputs(first, pixels_col, images, INTEGER)
    y = layout.batch(
        sheet,
        network,
        x,
        flavor,
        header_row,
        x.col + 65,
        images,
        output_col=probabilities_col,
    )
    predicted = np.argmax(network.predict(images), axis=1)
    for i in range(len(images)):
        row_ref = y.row_block(i).ref
        prediction = sheet.formula(
            first + i,
            3,
            f"MATCH(MAX({row_ref}),{row_ref},0)-1",
            float(predicted[i]),
            INTEGER,
            output=True,
        )
        sheet.formula(
            first + i,
            4,
            f"IF({prediction.address()}={label.address(i)},1,0)",
            float(predicted[i] == labels[i]),
            INTEGER,
        )
    correct = sheet.block(first, 4, len(images), 1)
    sheet.text(6, 2, "accuracy", "caption")
    sheet.formula(
        6,
        4,
        f"SUM({correct.ref})/COUNT({correct.ref})",
        float(np.mean(predicted == labels)),
        PROBABILITY,
        output=True,
    )
    sheet.widths(1, 1, 3)
    sheet.widths(2, 4, 10)
    sheet.widths(5, 5, 2)
    sheet.widths(6, 15, 8)
    sheet.widths(16, 16, 2)
    sheet.widths(pixels_col, pixels_col + 63, 4.5)
    sheet.widths(pixels_col + 64, pixels_col + 120, 8)
    sheet.ws.freeze_panes = sheet.ws.cell(first, 2)
    # The picture and the printout show the results; the pixels and the
    # hidden layers continue to the right.
    sheet.ws.print_area = f"A1:O{first + 29}"


#: Every sample, by file name stem.
SAMPLES = {
    "activations": activation_curves,
    "three_layer_network": three_layer_network,
    "digits": digits,
}
