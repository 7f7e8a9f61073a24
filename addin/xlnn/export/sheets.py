"""The four sheets of an exported workbook, as a layout (:mod:`xlnn.export`).

- **predict**: one editable input row (or an H x W grid drawn as a heat map),
  the preprocessing, every layer (weighted sums, then the activation), the
  outputs with their labels, a bar chart and the predicted label;
- **batch**: ``rows`` rows to paste samples into, one row per sample. Every
  formula works on its own row and first asks ``IF(n=0,"",...)``, where ``n``
  counts the row's filled cells: an empty row gives empty outputs, and a text
  cell gives an error in its own row only (one array formula over all rows
  would turn one bad cell into errors everywhere: MMULT fails as a whole);
- **weights**: every W and b, named ``W_1``, ``b_1``, ..., and the
  preprocessing constants, named ``offset_1``, ``scale_1``, ...;
- **about**: the source, its hash, the export time, xlnn's version, the layer
  table and the verification result (:data:`PENDING` until it is known).

Every formula carries its check: outputs a float64 evaluation of the model
(:meth:`Model.exact_predict`) and the framework's values, every other cell
NumPy's, empty rows blanks; numbers carry the size of their terms
(:func:`xlnn.engines.verify.scales`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

import xlnn
from xlnn.engines import verify
from xlnn.errors import UserError
from xlnn.export import accuracy as export_accuracy
from xlnn.export import readable as export_readable
from xlnn.export.sources import file_sha256
from xlnn.functions import catalog
from xlnn.limits import EXCEL_COLUMNS, EXCEL_ROWS
from xlnn.model import Affine, Model
from xlnn.samples import dimensions, intro, pixel_row, weights_sheet
from xlnn.sheets import network_layout
from xlnn.sheets.flavors import Flavor
from xlnn.sheets.layout import (
    COMPACT,
    GAP_WIDTH,
    PROBABILITY,
    Block,
    BookLayout,
    Chart,
    Check,
    Cursor,
    Deferred,
    HeatMap,
    PastLastColumn,
    Series,
    SheetLayout,
    row_chunks,
)

#: Rows of the batch sheet unless told otherwise.
DEFAULT_ROWS = 100
#: Stands for the verification result in the rendered file until it is known.
PENDING = "xlnn-verification-result-pending"


class ExportError(UserError):
    """The workbook cannot be written as asked; the message says why."""


# --- small helpers ---------------------------------------------------------------


def _labels(model: Model) -> list:
    """Header of each output column: class labels, output names, or y[k].

    A numeric class stays a number (a Python int or float), so that its
    header, the predicted label and a true label typed in are numbers alike;
    every other name is text.
    """
    width = 2 if model.output == "binary" else model.network.layers[-1].n_outputs
    names = model.classes if model.is_classifier else model.output_names
    if names is not None and len(names) == width:
        return [_header_value(name) for name in names]
    return [f"y[{k}]" for k in range(width)]


def _header_value(name):
    value = verify.plain(name)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    # A cell cannot hold NaN or an infinity: such a class stays its text.
    return value if number and np.isfinite(value) else str(value)


def _feature_names(model: Model) -> list[str]:
    if model.feature_names:
        return list(model.feature_names)
    return [f"x[{k}]" for k in range(model.n_inputs)]


def _dimensions(model: Model) -> str:
    return dimensions(model.network)


@dataclass(frozen=True)
class Label:
    """An expected predicted label, told apart from error text.

    ``text`` is the label as its header holds it: text, or a number for a
    numeric class. ``near_tie`` marks a framework's label whose top two
    probabilities are within the framework's precision: a workbook that
    picks the other one is excused.
    """

    text: str | int | float
    near_tie: bool = False

    def matches(self, got) -> bool:
        """Whether a recalculated cell's ``got`` shows this label.

        A numeric label must come back a number of its value: a text "7"
        would be a header written as text.
        """
        if isinstance(self.text, str):
            return _label_text(got) == self.text
        return (
            isinstance(got, (int, float))
            and not isinstance(got, bool)
            and float(got) == float(self.text)
        )


def _label_text(value) -> str | None:
    """A text label as the cell shows it (an engine may give "7" as 7.0)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return None if value is None else str(value)


def _predicted(model: Model, outputs: np.ndarray) -> list[Label]:
    labels = _labels(model)
    return [Label(labels[k]) for k in np.argmax(outputs, axis=1)]


def _framework_labels(model: Model, framework: np.ndarray) -> list[Label]:
    """The framework's labels, each marked when its top two are a near-tie.

    Two probabilities are a near-tie when each may be off by the framework's
    allowed error (its tolerance times the larger of the top probability and
    :attr:`Model.reference_scale`), so their gap is at most twice that.
    """
    labels = _labels(model)
    near = _near_ties(model, framework)
    return [
        Label(labels[k], bool(tie))
        for k, tie in zip(np.argmax(framework, axis=1), near, strict=True)
    ]


def _near_ties(model: Model, framework: np.ndarray) -> np.ndarray:
    """Whether each row's top two framework outputs are a near-tie (see above)."""
    ordered = np.sort(framework, axis=1)
    top = ordered[:, -1]
    gap = top - ordered[:, -2] if framework.shape[1] > 1 else np.full_like(top, np.inf)
    allowed = model.reference_tolerance * np.maximum(top, model.reference_scale)
    return gap <= 2 * allowed


def _set_expected(
    book: BookLayout, block: Block, expected, name: str, *, scale, framework
) -> None:
    """Make the check of ``block`` an output's: float64 ``expected``, ``framework``."""
    for k, check in enumerate(book.checks):
        if check.block == block:
            shaped = (
                np.asarray(values, dtype=object).reshape(block.shape)
                for values in (expected, scale, framework)
            )
            book.checks[k] = Check(block, next(shaped), name, *shaped)
            return
    raise KeyError(f"no formula over {block.coordinates}")


def _set_scale(book: BookLayout, block: Block, scale) -> None:
    """Give the check of ``block`` the size of its terms."""
    for k, check in enumerate(book.checks):
        if check.block == block:
            shaped = np.asarray(scale, dtype=object).reshape(block.shape)
            book.checks[k] = Check(
                block, check.expected, check.name, shaped, check.framework
            )
            return
    raise KeyError(f"no formula over {block.coordinates}")


def _preprocessing_names(k: int) -> tuple[str, str]:
    return f"offset_{k}", f"scale_{k}"


def _step_formula(step, k: int, ref: str) -> str:
    """One preprocessing step on the one-row range ``ref``."""
    if isinstance(step, Affine):
        offset, scale = _preprocessing_names(k)
        return f"({ref}-{offset})*{scale}"
    size = {
        "l1": f"SUMPRODUCT(ABS({ref}))",
        "l2": f"SQRT(SUMSQ({ref}))",
        "max": f"MAX(ABS({ref}))",
    }[step.norm]
    # A zero row stays zero, as in Model.preprocess.
    return f"{ref}/IF({size}=0,1,{size})"


def _step_caption(step, k: int) -> str:
    if isinstance(step, Affine):
        offset, scale = _preprocessing_names(k)
        return f"step {k}, {step.label}: (x - {offset}) * {scale}"
    return f"step {k}, {step.label}: each row divided by its {step.norm} norm"


def _dense_available(flavor: Flavor) -> bool:
    """Whether the add-in has ``DENSE(x, W, b, [activation], [parameter])``."""
    if not flavor.add_in:
        return False
    from xlnn import udfs

    return "DENSE" in udfs.by_excel_name()


def _dense_arguments(layer, *, quoted: bool = False) -> str:
    """DENSE's arguments after b: the activation, then its parameter if any."""
    name = f'"{layer.activation.name}"' if quoted else layer.activation.name
    if layer.parameter is None:
        return name
    if quoted:
        return f"{name},{catalog.formula_number(layer.parameter)}"
    return f"{name}, {catalog.shown_number(layer.parameter)}"


# --- the weights sheet -------------------------------------------------------------


def _weights_sheet(book: BookLayout, model: Model, flavor: Flavor) -> None:
    weights_sheet(
        book,
        model.network,
        flavor,
        title=f"Weights of the {_dimensions(model)} network",
        notes=["Every matrix and bias has a workbook name; the other sheets use them."],
        constants=lambda cursor: _preprocessing_constants(cursor, model),
        widths=(30, 9),
    )


def _preprocessing_constants(cursor: Cursor, model: Model) -> None:
    """Each preprocessing step's offset and scale, named offset_1, scale_1, ..."""
    for k, step in enumerate(model.preprocessing, start=1):
        if not isinstance(step, Affine):
            cursor.text(_step_caption(step, k) + " (no constants)", "caption")
            cursor.skip()
            continue
        for name, values in zip(
            _preprocessing_names(k), (step.offset, step.scale), strict=True
        ):
            cursor.text(f"{name}: {step.label} (editable; named {name})", "caption")
            block = cursor.inputs(values[np.newaxis, :], "General")
            cursor.sheet.book.name(name, block)
        cursor.skip()


# --- the predict sheet ------------------------------------------------------------


def _input_row(sheet, cursor: Cursor, model: Model, x_values, image):
    """The editable input row, or an image grid feeding a row of references.

    Returns the row and the cursor the layers continue from: below the row,
    or, beside an image (whose columns are narrow), to the right of it.
    """
    names = _feature_names(model)
    if image is None:
        cursor.text("x: the input, one value per feature (editable)", "caption")
        cursor.headers(names)
        x = cursor.inputs(x_values[np.newaxis, :], "General")
        cursor.skip()
        return x, cursor
    height, width = image
    cursor.text(f"The image, {height}x{width} (editable: draw on it)", "caption")
    whole = bool(np.all(x_values == np.round(x_values)))
    grid = cursor.inputs(x_values.reshape(height, width), "0" if whole else "0.0")
    sheet.anchor("image", grid)
    low, high = float(min(0.0, x_values.min())), float(max(1.0, x_values.max()))
    sheet.heat_maps.append(HeatMap(grid, low, high))
    sheet.width(grid.col, grid.last_col, 3.5 if width > 12 else 8)
    cursor = sheet.cursor(grid.row - 1, grid.last_col + 2)
    cursor.text("x: the image's pixels in one row, read row by row", "caption")
    cursor.headers(names)
    x = cursor.at(1, model.n_inputs)
    pixel_row(sheet, grid, x, x_values, "General")
    cursor.skip(2)
    return x, cursor


def _preprocess_row(
    sheet, cursor: Cursor, model: Model, x: Block, x_values, scales: verify.Scales
):
    """Each preprocessing step as one formula over the row; returns the last."""
    source, values = x, x_values[np.newaxis, :]
    for k, step in enumerate(model.preprocessing, start=1):
        values = step.apply(values)
        cursor.text(_step_caption(step, k), "caption")
        source = cursor.formula(
            _step_formula(step, k, source.ref),
            expected=values,
            name=f"step {k}",
            scale=scales.steps[k - 1],
        )
        cursor.skip()
    return source, values[0]


def _predict_sheet(book: BookLayout, model: Model, flavor: Flavor, x_values, image):
    sheet = book.sheet("predict")
    cursor = intro(
        sheet,
        f"The {_dimensions(model)} network, one sample",
        [
            "Edit the input (or draw on the image); every layer below follows: "
            "MMULT for the weighted sums, then the activation.",
            "The weights are on the weights sheet; the batch sheet runs many "
            "samples at once.",
        ],
        flavor,
    )
    x, cursor = _input_row(sheet, cursor, model, x_values, image)
    sheet.anchor("x", x)
    scales = verify.scales(model, x_values[np.newaxis, :])
    source, processed = _preprocess_row(sheet, cursor, model, x, x_values, scales)
    placed = network_layout.single_sample(
        cursor,
        network=model.network,
        flavor=flavor,
        x=source,
        x_values=processed,
        weights_here=False,
    )
    for layer, scale in zip(placed.layers, scales.layers, strict=True):
        _set_scale(book, layer.a, scale.a)
        _set_scale(book, layer.z, scale.z)
    framework = model.framework_predict(x_values[np.newaxis, :])
    exact = model.exact_predict(x_values[np.newaxis, :])
    y = placed.output
    if model.output == "binary":
        y = _binary_probabilities(book, cursor, y, exact, framework, scales.outputs)
    else:
        _set_expected(
            book, y, exact, "output", scale=scales.outputs, framework=framework
        )
    header_row = sheet.block(y.row + 1, y.col, 1, y.cols)
    sheet.headers(header_row, _labels(model))
    sheet.anchor("labels", header_row)
    cursor.row = max(cursor.row, y.row + 3)
    if model.is_classifier:
        _prediction_cell(sheet, model, y, header_row, exact, framework)
        _probability_chart(sheet, y, header_row, below_image=bool(image), cursor=cursor)
    sheet.freeze = sheet.block(2, 1)
    export_readable.fit_widths(sheet)  # issue 12: no ### for values of 10+
    if image:
        # The printout shows the canvas, the chart and the outputs; the rows
        # of pixels and of the hidden layers run further right.
        grid = sheet.anchors["image"]
        last_row = max(cursor.row, grid.last_row + 18)  # the chart below the image
        sheet.print_area = sheet.block(1, 1, last_row, grid.last_col + 14)
        for row in range(grid.row, grid.last_row + 1):
            sheet.heights[row] = 18  # square pixels in 3.5-character columns


def _binary_probabilities(book, cursor: Cursor, y: Block, exact, framework, scales):
    """A binary classifier's two probabilities from its one output ``y``:
    1 - y, then y. Returns their block, named probabilities."""
    sheet = cursor.sheet
    _set_expected(
        book, y, exact[:, 1:], "output", scale=scales[:, 1:], framework=framework[:, 1:]
    )
    cursor.text("P: the probability of each class", "caption")
    p = sheet.block(cursor.row, y.col, 1, 2)
    for j, body in enumerate((f"1-{y.address()}", y.address())):
        sheet.put_formula(
            p.cell(0, j),
            body,
            expected=exact[0, j],
            scale=scales[0, j],
            framework=framework[0, j],
            number_format=PROBABILITY,
            output=True,
            name=f"p{j}",
        )
    sheet.anchor("probabilities", p)
    cursor.skip(2)
    return p


def _probability_chart(sheet, y: Block, labels: Block, *, below_image, cursor):
    """A bar chart of the probabilities ``y``: below the image if there is
    one, else at the cursor."""
    if below_image:
        grid = sheet.anchors["image"]
        anchor = sheet.block(grid.last_row + 2, grid.col)
    else:
        anchor = sheet.block(cursor.row, 2)
    sheet.charts.append(
        Chart(
            kind="bar",
            title="Probability of each class",
            anchor=anchor,
            categories=labels,
            series=(Series(y, "probability"),),
            y_range=(0, 1),
            number_format="0.0",
            legend=False,
        )
    )


def _prediction_cell(sheet, model, y: Block, labels: Block, exact, framework) -> None:
    sheet.text(sheet.block(y.row, y.last_col + 2), "prediction", "header")
    sheet.put_formula(
        sheet.block(y.row, y.last_col + 3),
        f"INDEX({labels.ref},MATCH(MAX({y.ref}),{y.ref},0))",
        expected=_predicted(model, exact)[0],
        framework=_framework_labels(model, framework)[0],
        number_format="General",
        output=True,
        name="prediction",
    )


# --- the batch sheet -------------------------------------------------------------

#: Rows of the batch the model is run on at once (:class:`_Batch`): small,
#: so that the memory it takes does not depend on the batch.
BATCH_CHUNK_ROWS = 256


class _Batch:
    """The batch's samples and what the model makes of them, by chunks of rows.

    The predicted labels (float64's and the framework's, as class indices,
    with the framework's near-ties) are computed at once: the accuracy and
    the confusion matrix are counted from them. The values the row blocks'
    checks hold (each step, layer and output, and their term sizes) are
    computed only when a check is first read (:class:`_Column`), all in one
    pass over the samples; an export that is not verified never reads them,
    so its memory does not grow with the filled rows. ``inputs`` is an array
    or :class:`xlnn.export.sample_inputs.SpilledRows`, read a chunk at a time.
    """

    def __init__(self, model: Model, inputs):
        self.model, self.inputs, self.filled = model, inputs, len(inputs)
        exact, framework, near = [], [], []
        for x in row_chunks(inputs, BATCH_CHUNK_ROWS):
            reference = model.framework_predict(x)
            exact.append(np.argmax(model.exact_predict(x), axis=1))
            framework.append(np.argmax(reference, axis=1))
            near.append(_near_ties(model, reference))
        self.exact_index = np.concatenate(exact)
        self.framework_index = np.concatenate(framework)
        self.near_tie = np.concatenate(near)
        self._arrays: dict | None = None

    def predicted(self) -> list:
        """float64's label of each row, as the output headers hold it."""
        labels = _labels(self.model)
        return [labels[k] for k in self.exact_index.tolist()]

    def reference(self) -> list:
        """The framework's label of each row; float64's where it is a near-tie."""
        labels = _labels(self.model)
        return [
            labels[e if tie else f]
            for e, f, tie in zip(self.exact_index.tolist(),
                                 self.framework_index.tolist(),
                                 self.near_tie.tolist(), strict=True)
        ]  # fmt: skip

    def column(self, key, cols: slice | None = None) -> _Column:
        """The values under ``key`` (see :meth:`_values`), computed when read."""
        return _Column(self, key, cols)

    def array(self, key) -> np.ndarray:
        if key == "labels":
            labels = _labels(self.model)
            return np.array([Label(labels[k]) for k in self.exact_index.tolist()],
                            dtype=object)[:, None]  # fmt: skip
        if key == "framework labels":
            labels = _labels(self.model)
            found = [
                Label(labels[k], tie)
                for k, tie in zip(self.framework_index.tolist(),
                                  self.near_tie.tolist(), strict=True)
            ]  # fmt: skip
            return np.array(found, dtype=object)[:, None]
        if self._arrays is None:
            self._arrays = self._compute()
        return self._arrays[key]

    def _compute(self) -> dict:
        """Every key's values for all the rows, made one chunk at a time."""
        arrays, start = {}, 0
        for x in row_chunks(self.inputs, BATCH_CHUNK_ROWS):
            for key, values in self._values(x).items():
                if key not in arrays:
                    arrays[key] = np.empty((self.filled, *values.shape[1:]),
                                           values.dtype)  # fmt: skip
                arrays[key][start : start + len(x)] = values
            start += len(x)
        return arrays

    def _values(self, x: np.ndarray) -> dict:
        """The checked values of the rows ``x``, by key."""
        model = self.model
        scales = verify.scales(model, x)
        found, values = {}, x
        for k, step in enumerate(model.preprocessing, start=1):
            values = step.apply(values)
            found["step", k], found["step scale", k] = values, scales.steps[k - 1]
        layers = model.network.forward(values)
        for k, (computed, scale) in enumerate(
            zip(layers, scales.layers, strict=True), start=1
        ):
            found["a", k], found["z", k] = computed.a, computed.z
            found["a scale", k], found["z scale", k] = scale.a, scale.z
        found["exact"] = model.exact_predict(x)
        found["framework"] = model.framework_predict(x)
        found["outputs scale"] = scales.outputs
        return found


@dataclass(frozen=True)
class _Column(Deferred):
    """Some columns of a :class:`_Batch`'s values, computed when first read."""

    batch: _Batch
    key: object
    cols: slice | None = None

    def array(self) -> np.ndarray:
        values = self.batch.array(self.key)
        return values if self.cols is None else values[:, self.cols]


@dataclass
class _Rows:
    """The batch's rows: which are filled, and the guard every formula starts with."""

    count: Block  # one cell per row: COUNTA of the row's inputs
    filled: int

    def guard(self, i: int, body: str) -> str:
        return f'IF({self.count.address(i, 0, absolute=True)}=0,"",{body})'


class _Columns:
    """Places blocks left to right on the batch sheet, each with caption and headers."""

    def __init__(self, sheet: SheetLayout, *, caption_row: int, first: int, rows: int):
        self.sheet, self.caption_row, self.first, self.rows = (
            sheet,
            caption_row,
            first,
            rows,
        )
        self.next = 2

    def block(self, caption: str, headers, *, width: float = 8) -> Block:
        headers = list(headers)
        col = self.next
        self.sheet.text(self.sheet.block(self.caption_row, col), caption, "caption")
        self.sheet.headers(
            self.sheet.block(self.first - 1, col, 1, len(headers)), headers
        )
        self.sheet.width(col, col + len(headers) - 1, width)
        self.sheet.width(col + len(headers), col + len(headers), GAP_WIDTH)
        self.next = col + len(headers) + 1
        return self.sheet.block(self.first, col, self.rows, len(headers))


def _per_row(
    sheet,
    rows: _Rows,
    target: Block,
    body,
    expected,
    *,
    scale,
    framework=None,
    **options,
) -> None:
    """One guarded formula per row: ``body(i)`` computes row ``i`` of ``target``.

    ``expected``, ``scale`` and ``framework`` (optional) hold the filled
    rows; the rows below must stay blank.
    """
    sheet.put_row_formulas(
        target,
        lambda i: rows.guard(i, body(i)),
        expected=expected,
        filled=rows.filled,
        scale=scale,
        framework=framework,
        **options,
    )


def _batch_inputs(sheet, x: Block, count: Block, x_values) -> _Rows:
    """The samples in X (the empty rows get no cells) and n, each row's count."""
    filled = len(x_values)
    sheet.put_row_inputs(x, x_values, "General")
    sheet.put_row_formulas(
        count,
        lambda i: f"COUNTA({x.row_block(i).ref})",
        expected=np.full((filled, 1), float(x.cols)),
        filled=filled,
        number_format="0",
        empty=0.0,
    )
    sheet.anchor("n", count)
    sheet.anchor("X", x)
    return _Rows(count, filled)


def _batch_preprocessing(sheet, columns, rows, model, x, batch: _Batch):
    """Each preprocessing step, a formula per row; returns its last block."""
    source = x
    for k, step in enumerate(model.preprocessing, start=1):
        target = columns.block(_step_caption(step, k), _feature_names(model))
        _per_row(
            sheet,
            rows,
            target,
            lambda i, s=source, st=step, kk=k: _step_formula(
                st, kk, s.row_block(i).ref
            ),
            batch.column(("step", k)),
            scale=batch.column(("step scale", k)),
            number_format=COMPACT,
        )
        source = target
    return source


def _plain_layer(
    sheet, columns, rows, flavor, source, outputs, *, k, symbol, layer, batch,
    z_checks, name,
):  # fmt: skip
    """One layer in built-in formulas: A = X . W + b, then its activation Z.

    Z goes into ``outputs`` when given (the last layer), else a block of its own.
    """
    names = network_layout.layer_names(k)
    a = columns.block(
        f"A{k} = {'X' if k == 1 else f'Z{k - 1}'} . W{k} + b{k}",
        [f"a{k}[{j}]" for j in range(layer.n_outputs)],
    )
    _per_row(
        sheet,
        rows,
        a,
        lambda i: f"MMULT({source.row_block(i).ref},{names.weights})+{names.bias}",
        batch.column(("a", k)),
        scale=batch.column(("a scale", k)),
        number_format=COMPACT,
        name=f"A{k}",
    )
    z = (
        outputs
        if outputs is not None
        else columns.block(
            f"{symbol} = {network_layout.applied(layer, f'A{k}')}",
            [f"{symbol.lower()}[{j}]" for j in range(layer.n_outputs)],
        )
    )
    number_format = PROBABILITY if layer.activation.grouped else COMPACT
    _per_row(
        sheet,
        rows,
        z,
        lambda i, a=a, layer=layer: flavor.activation(
            layer.activation, a.row_block(i).ref, layer.parameter
        ),
        **z_checks,
        number_format=number_format,
        output=outputs is not None,
        name=name,
        note=flavor.formula_note(layer.activation),
    )
    return z


def _batch_layers(
    sheet, columns, rows, model, flavor, source, *, outputs, batch: _Batch,
):  # fmt: skip
    """Every layer of the batch, a formula per row; returns the last layer's block.

    The last layer writes into ``outputs`` (unless binary: its probabilities
    are computed from it afterwards).
    """
    dense = _dense_available(flavor)
    last = len(model.network.layers)
    for k, layer in enumerate(model.network.layers, start=1):
        names = network_layout.layer_names(k)
        symbol = "Y" if k == last else f"Z{k}"
        z_is_output = k == last and model.output != "binary"
        z_checks = {
            "expected": batch.column("exact" if z_is_output else ("z", k)),
            "scale": batch.column("outputs scale" if z_is_output else ("z scale", k)),
            "framework": batch.column("framework") if z_is_output else None,
        }
        if dense:
            z = (
                outputs
                if z_is_output
                else columns.block(
                    f"{symbol} = DENSE(..., W{k}, b{k}, {_dense_arguments(layer)})",
                    [f"{symbol.lower()}[{j}]" for j in range(layer.n_outputs)],
                )
            )
            _per_row(
                sheet,
                rows,
                z,
                lambda i, s=source, n=names, layer=layer: (
                    f"DENSE({s.row_block(i).ref},{n.weights},{n.bias},"
                    f"{_dense_arguments(layer, quoted=True)})"
                ),
                **z_checks,
                number_format=COMPACT,
                output=z_is_output,
                name="output" if z_is_output else symbol,
            )
        else:
            z = _plain_layer(
                sheet, columns, rows, flavor, source, outputs if z_is_output else None,
                k=k, symbol=symbol, layer=layer, batch=batch, z_checks=z_checks,
                name="output" if z_is_output else symbol,
            )  # fmt: skip
        source = z
    return source


def _batch_sheet(
    book: BookLayout, model: Model, flavor: Flavor, x_values, n_rows, truth=None
):
    sheet = book.sheet("batch")
    cursor = intro(
        sheet,
        f"The {_dimensions(model)} network on up to {n_rows} samples",
        [
            "Paste samples into X, one per row. An empty row gives empty outputs; "
            "a cell that is not a number gives errors in its own row only.",
            "n counts each row's filled cells. Further right: the preprocessing "
            "and every layer, one formula per row.",
        ],
        flavor,
    )
    # The accuracy and the confusion matrix, above the columns.
    summary = export_accuracy.reserve(cursor, _labels(model), truth)
    caption_row = cursor.row
    _check_batch_rows(n_rows, first=caption_row + 2)
    columns = _Columns(
        sheet, caption_row=caption_row, first=caption_row + 2, rows=n_rows
    )
    batch = _Batch(model, x_values)

    count = columns.block("n", ["n"], width=5)
    label = (
        columns.block("prediction", ["label"], width=10)
        if (model.is_classifier)
        else None
    )
    truth_columns = export_accuracy.truth_columns(columns) if summary else None
    outputs = columns.block(
        "P: probability of each class" if model.is_classifier else "Y: outputs",
        _labels(model),
    )
    x = columns.block("X: inputs (editable)", _feature_names(model))
    rows = _batch_inputs(sheet, x, count, x_values)

    source = _batch_preprocessing(sheet, columns, rows, model, x, batch)
    source = _batch_layers(sheet, columns, rows, model, flavor, source,
                           outputs=outputs, batch=batch)  # fmt: skip
    if model.output == "binary":
        for j, minus in ((0, "1-"), (1, "")):
            column = slice(j, j + 1)
            sheet.put_row_formulas(
                outputs.column_block(j),
                lambda i, minus=minus: rows.guard(i, f"{minus}{source.address(i)}"),
                expected=batch.column("exact", column),
                scale=batch.column("outputs scale", column),
                framework=batch.column("framework", column),
                filled=rows.filled,
                number_format=PROBABILITY,
                output=True,
                name="output",
            )
    sheet.anchor("outputs", outputs)
    if label is not None:
        _batch_labels(sheet, rows, label, outputs, batch)
    if summary:
        truth_block, correct = truth_columns
        export_accuracy.place(
            summary,
            sheet,
            rows=rows,
            label=label,
            truth=truth_block,
            correct=correct,
            predicted=batch.predicted(),
            reference=batch.reference(),
        )
    frozen_rows = export_accuracy.freeze_rows(summary, x.row)
    sheet.freeze = sheet.block(x.row if frozen_rows else 1, x.col)
    export_readable.fit_widths(sheet)
    export_readable.print_setup(sheet, caption_row=caption_row, first=x.row,
                                last=outputs)  # fmt: skip


def _batch_labels(sheet, rows, label, outputs, batch: _Batch) -> None:
    """Each filled row's predicted label: the header of its largest output."""
    headers = sheet.block(outputs.row - 1, outputs.col, 1, outputs.cols)
    sheet.put_row_formulas(
        label,
        lambda i: rows.guard(
            i,
            f"INDEX({headers.ref},MATCH(MAX({outputs.row_block(i).ref}),"
            f"{outputs.row_block(i).ref},0))",
        ),
        expected=batch.column("labels"),
        framework=batch.column("framework labels"),
        filled=rows.filled,
        number_format="General",
        output=True,
        name="prediction",
    )
    sheet.anchor("label", label)


# --- the about sheet -------------------------------------------------------------


def _about_sheet(
    book: BookLayout, model: Model, flavor: Flavor, *, exported_at, status: str
):
    sheet = book.sheet("about")
    cursor = sheet.cursor(1, 1)
    cursor.text("About this workbook", "title")
    source = model.source
    facts = [
        ("source file", source.path if source else "(a model object, no file)"),
        ("format", source.format if source else "Python object"),
        ("SHA-256", (source.sha256 if source else "") or _sha256(source)),
        ("exported", exported_at.isoformat(timespec="seconds")),
        ("xlnn version", xlnn.__version__),
        ("flavor", flavor.note),
        ("network", _dimensions(model)),
        ("outputs", f"{model.output}: {', '.join(map(str, _labels(model)))}"),
        ("verification", status),
    ]
    for name, value in facts:
        sheet.text(cursor.at(), name, "header")
        sheet.text(cursor.at(right=1), value)
        cursor.skip()
    cursor.skip()
    if model.preprocessing:
        cursor.text("Preprocessing", "caption")
        for k, step in enumerate(model.preprocessing, start=1):
            cursor.text(_step_caption(step, k))
        cursor.skip()
    cursor.text("Layers", "caption")
    cursor.headers(["layer", "inputs", "outputs", "activation", "weights", "bias"])
    for k, layer in enumerate(model.network.layers, start=1):
        names = network_layout.layer_names(k)
        row = [
            str(k),
            str(layer.n_inputs),
            str(layer.n_outputs),
            layer.activation.label(layer.parameter),
            names.weights,
            names.bias,
        ]
        for j, text in enumerate(row):
            sheet.text(cursor.at(right=j), text)
        cursor.skip()
    sheet.width(1, 1, 14)
    sheet.width(2, 6, 12)


def _sha256(source) -> str:
    if source is None:
        return "(none)"
    try:
        return file_sha256(source.path)
    except OSError:
        return "(file not readable)"


# --- the whole workbook -------------------------------------------------------------


def layout(
    model: Model,
    *,
    flavor: Flavor,
    inputs,
    rows: int = DEFAULT_ROWS,
    image=None,
    exported_at: dt.datetime | None = None,
    status: str = PENDING,
    labels=None,
) -> BookLayout:
    """The export's workbook for ``model``, its batch filled with ``inputs``
    (array-like, or :class:`xlnn.export.sample_inputs.SpilledRows`).

    The about sheet's verification cell says ``status``; by default
    :data:`PENDING`, to be replaced with the result (:func:`fill_result`).
    ``labels`` (optional) are the inputs' true labels, one per row, each one
    of the output headers (:mod:`xlnn.export.accuracy`).
    """
    if not hasattr(inputs, "chunks"):  # rows on disk (SpilledRows) stay there
        inputs = np.atleast_2d(np.asarray(inputs, dtype=np.float64))
    _check_shapes(model, inputs, rows=rows, image=image)
    book = BookLayout()
    try:
        _predict_sheet(book, model, flavor, inputs[0], image)
        _batch_sheet(book, model, flavor, inputs, rows, truth=labels)
        _weights_sheet(book, model, flavor)
        _about_sheet(
            book, model, flavor, exported_at=exported_at or now(), status=status
        )
    except PastLastColumn as error:
        _check_fits(book, reached=error.col)  # names the sheet it stopped in
        raise
    _check_fits(book)
    return book


def _check_fits(book: BookLayout, *, reached: int = 0) -> None:
    """Refuse a layout that runs past a worksheet's last row or column.

    ``reached`` is a column the last sheet reached before its layout stopped.
    """
    for sheet in book.sheets:
        entries = (*sheet.texts, *sheet.inputs, *sheet.formulas)
        rows = (*sheet.row_inputs, *sheet.row_formulas)
        blocks = [entry.block for entry in (*entries, *rows)]
        last_col = max((block.last_col for block in blocks), default=0)
        last_row = max((block.last_row for block in blocks), default=0)
        if sheet is book.sheets[-1]:
            last_col = max(last_col, reached)
        if last_col > EXCEL_COLUMNS or last_row > EXCEL_ROWS:
            raise ExportError(
                f"the {sheet.title} sheet needs {last_row:,} rows and {last_col:,} "
                f"columns; a sheet holds {EXCEL_ROWS:,} rows and {EXCEL_COLUMNS:,} "
                "columns (each layer is one row of cells, and the batch sheet "
                "puts the input and every layer side by side)"
            )


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _check_batch_rows(rows: int, *, first: int) -> None:
    """Refuse a batch running past the last row: its samples start at row
    ``first``, below notes and (with true labels) the accuracy and a
    confusion matrix, which grow with the classes."""
    most = EXCEL_ROWS - first + 1
    if rows > most:
        raise ExportError(
            f"a batch of {rows:,} rows does not fit: its samples start at row "
            f"{first} of a sheet of {EXCEL_ROWS:,} rows; pass at most {most:,}"
        )


def _check_shapes(model: Model, inputs, *, rows: int, image) -> None:
    if rows < 1:
        raise ExportError(f"the batch needs at least one row, not {rows}")
    widths = {"the input": model.n_inputs}
    for k, layer in enumerate(model.network.layers, start=1):
        widths[f"layer {k}"] = layer.n_outputs
    for what, width in widths.items():
        if width > EXCEL_COLUMNS:
            raise ExportError(
                f"{what} is {width:,} values wide; a sheet holds {EXCEL_COLUMNS:,} "
                "columns, so xlnn cannot lay it out as one row"
            )
    if inputs.shape[1] != model.n_inputs:
        raise ExportError(
            f"the inputs have {inputs.shape[1]} values per row, the model takes "
            f"{model.n_inputs}"
        )
    if len(inputs) > rows:
        raise ExportError(
            f"{len(inputs)} sample inputs do not fit a batch of {rows} rows; "
            "pass more rows"
        )
    if image is not None and image[0] * image[1] != model.n_inputs:
        raise ExportError(
            f"an image of {image[0]}x{image[1]} has {image[0] * image[1]} pixels, "
            f"the model takes {model.n_inputs} inputs"
        )
