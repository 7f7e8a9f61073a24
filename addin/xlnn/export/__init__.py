"""``xlnn export``: a user's trained model as a workbook that runs it, verified.

A :class:`xlnn.model.Model` (read from ONNX, scikit-learn, ``.npz`` or the
book's pickle by :mod:`xlnn.export.sources`) is laid out as four sheets
(:mod:`xlnn.export.sheets`: predict, batch, weights, about) and rendered.

Verification. The batch is filled with the verification inputs (the rows of
a CSV, or seeded random ones), the last rows left empty to show the
empty-row rule. An engine recalculates the rendered file (LibreOffice for
plain, ``formulas`` for the add-in) and :mod:`xlnn.engines.verify`'s rule compares
it, each number against the size of its terms as well as its own:

- every output cell with a float64 evaluation of the model
  (:meth:`Model.exact_predict`), every other cell with NumPy's forward pass,
  within :data:`xlnn.engines.verify.RELATIVE_TOLERANCE`; every empty row with blanks;
- every output cell with the framework's own inference
  (:meth:`Model.framework_predict`) within the model's
  :attr:`~xlnn.model.Model.reference_tolerance` (1e-9, or 1e-5 against a
  float32 ONNX graph), probabilities against at least
  :data:`xlnn.model.PROBABILITY_SCALE`;
- every predicted label with the float64 one, and with the framework's
  except where the framework's top two are a near-tie (excused, counted).
- with true labels (``sample_labels``), the accuracy, every confusion
  matrix count, recall and precision with what the float64 labels give and
  with what the framework's give (:mod:`xlnn.export.accuracy`).

The result is then written into the about sheet, and the file takes its final
name (no-clobber and atomic, as ``xlnn build`` writes).
"""

from __future__ import annotations

import bisect
import copy
import datetime as dt
import importlib
import io
import os
import re
import struct
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from xlnn import files
from xlnn.engines import EngineError, Progress, quiet, verify
from xlnn.engines.libreoffice import DEFAULT_TIMEOUT
from xlnn.export.sheets import (
    DEFAULT_ROWS,
    PENDING,
    ExportError,
    Label,
    layout,
    now,
)
from xlnn.export.sheets import _labels as header_labels
from xlnn.model import Affine, Model
from xlnn.sheets import xlsx_writer
from xlnn.sheets.flavors import FLAVORS, Flavor
from xlnn.sheets.layout import Check, column_letter, column_number, is_uniform

#: What the about sheet and the summary say when verification was not asked for.
NOT_ASKED = "not verified (not asked: --no-verify, or verify=False)"
#: Random verification inputs when no CSV is given (fewer when the batch is small).
DEFAULT_SAMPLES = 10
#: Seed of the random verification inputs: the same model gives the same file.
SEED = 20240801


# --- what the export produced -------------------------------------------------


@dataclass
class Agreement:
    """How a recalculated workbook compares with float64 and with the framework.

    ``cells`` compares every checked cell at float64's tolerance: outputs
    with the float64 evaluation, intermediates with NumPy, empty rows with
    blanks. ``outputs`` compares the output cells (probabilities or values)
    with the framework at its ``precision``. ``labels_agree`` counts
    predicted labels equal to the float64 ones; ``framework_labels_agree``
    those equal to the framework's, of which ``near_ties`` differ only where
    the framework's top two are within its precision (excused).
    """

    outputs: verify.Verification
    cells: verify.Verification
    labels_agree: int = 0
    labels: int = 0
    framework_labels_agree: int = 0
    near_ties: int = 0
    precision: str = "float64"

    @property
    def verified(self) -> bool:
        return self.cells.verified

    @property
    def failed(self) -> bool:
        labels_differ = self.labels_agree != self.labels or (
            self.framework_labels_agree + self.near_ties != self.labels
        )
        return self.verified and (
            self.cells.failed or self.outputs.failed or labels_differ
        )

    def summary(self) -> str:
        """One line: the outcome, the worst cell of each comparison, the labels."""
        if not self.verified:
            return f"not verified: {self.cells.problem}"
        head = "verified" if not self.failed else "FAILED verification"
        line = (
            f"{head} by {self.cells.engine}: {self.outputs.cells} output cells; "
            f"against float64: {_worst(self.cells)}; against the framework "
            f"({self.precision}): {_worst(self.outputs)}"
        )
        if self.labels:
            line += f"; predicted labels agree {self.labels_agree}/{self.labels}"
            if self.framework_labels_agree != self.labels:
                line += (
                    f" (with the framework {self.framework_labels_agree}, "
                    f"{self.near_ties} near-ties excused)"
                )
        problems = [*self.outputs.mismatches, *self.cells.mismatches]
        if problems:
            line += f"; {len(problems)} cells differ, e.g. {'; '.join(problems[:3])}"
        return line


def _worst(result: verify.Verification) -> str:
    if not result.worst_cell:
        return "no cells"
    return f"worst {result.worst_relative_error:.1e} at {result.worst_cell}"


@dataclass
class ExportedWorkbook:
    """One written workbook: where, which flavor, its checks and its outcome."""

    path: Path
    flavor: str
    sheets: list[str]
    checks: list[Check]
    agreement: Agreement | None = None
    #: Formulas written (a row block's checks cover many formulas each).
    formula_count: int | None = None

    @property
    def formulas(self) -> int:
        return len(self.checks) if self.formula_count is None else self.formula_count

    @property
    def status(self) -> str:
        return NOT_ASKED if self.agreement is None else (self.agreement.summary())

    @property
    def failed(self) -> bool:
        return self.agreement is not None and self.agreement.failed

    @property
    def unverified(self) -> bool:
        return self.agreement is not None and not self.agreement.verified

    def line(self) -> str:
        return (
            f"{self.path}  sheets: {', '.join(self.sheets)}  formulas: "
            f"{self.formulas}  {self.status}{_accuracy(self.checks)}"
        )


def _accuracy(checks) -> str:
    """The framework's accuracy the workbook's ``accuracy`` cell is checked
    against, and over how many rows; "" without true labels."""
    found = {c.name: c for c in checks if c.block.sheet == "batch"}
    if "accuracy" not in found:
        return ""
    accuracy = found["accuracy"].framework[0, 0]
    # The correct column's checks: one per row, or a block of the filled
    # rows and one of the blank rows (xlnn.sheets.layout.RowFormulas).
    labelled = sum(
        sum(not _blank(value) for value in np.ravel(c.expected))
        for c in checks
        if c.name == "correct"
    )
    shown = f"{accuracy:.1%}" if not _blank(accuracy) else "none"
    return f"; accuracy (framework) {shown} of {labelled} labelled rows"


@dataclass
class ExportResult:
    """Every workbook an export wrote, in flavor order."""

    workbooks: list[ExportedWorkbook] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(workbook.failed for workbook in self.workbooks)

    @property
    def unverified(self) -> bool:
        return any(workbook.unverified for workbook in self.workbooks)


# --- inputs ---------------------------------------------------------------------


def random_inputs(model: Model, count: int, *, image=None, seed: int = SEED):
    """Seeded inputs in the model's own input range.

    An image gets whole pixel values 0..255; otherwise each feature is
    N(0, 1) in the scaled space of the model's first :class:`Affine` step
    (raw = offset + z / scale), so a scaler's inputs look like its data.
    """
    rng = np.random.default_rng(seed)
    if image is not None:
        return rng.integers(0, 256, size=(count, model.n_inputs)).astype(np.float64)
    z = rng.normal(size=(count, model.n_inputs))
    for step in model.preprocessing:
        if isinstance(step, Affine):
            scale = np.where(step.scale == 0, 1.0, step.scale)
            return step.offset + z / scale
    return z


def read_inputs(path, n_inputs: int, max_rows: int | None = None) -> np.ndarray:
    """The rows of a CSV of numbers, one sample each (see ``sample_inputs``)."""
    from xlnn.export import sample_inputs

    return sample_inputs.read(path, n_inputs, max_rows=max_rows).rows


def image_of(model: Model) -> tuple[int, int] | None:
    """The H x W canvas a model's own input shape suggests, or None.

    An input of one sample shaped (H, W), (1, H, W) or (H, W, 1), as image
    models are exported, is drawn as an image without ``--image``; several
    channels are not (their values interleave or stack).
    """
    shape = model.input_shape
    if not shape:
        return None
    dims = [size for size in shape if size != 1]
    if len(dims) != 2 or min(dims) < 2:
        return None
    return dims[0], dims[1]


def parse_image(text: str) -> tuple[int, int]:
    """``"28x28"`` -> (28, 28)."""
    height, sep, width = text.lower().partition("x")
    try:
        shape = (int(height), int(width))
    except ValueError:
        shape = (0, 0)
    if not sep or min(shape) < 1:
        raise ValueError(f"not an image size HxW such as 28x28: {text!r}")
    return shape


#: Bytes inflated at a time when looking for :data:`PENDING`.
_CHUNK = 1 << 24


def fill_result(data: bytes, text: str) -> bytes:
    """The xlsx ``data`` with the :data:`PENDING` cell saying ``text``.

    Only the part holding it changes (openpyxl writes text inline, in the
    sheet); every other part is copied as it is compressed
    (:func:`_copy_compressed`: deflating a batch of 10,000 rows again took
    seconds), so the file stays reproducible.
    """
    buffer = io.BytesIO()
    write_with_result(io.BytesIO(data), text, buffer)
    return buffer.getvalue()


def write_with_result(source, text: str, stream) -> None:
    """Write the xlsx ``source`` (a path or a binary file) into the seekable
    ``stream`` with the :data:`PENDING` cell saying ``text``, as
    :func:`fill_result` does, a few megabytes at a time.
    """
    # The summary can quote a model's labels: no control characters.
    shown = escape(xlsx_writer.text_value(text)).encode()
    with (
        zipfile.ZipFile(source) as archive,
        zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as out,
    ):
        for info in archive.infolist():
            if info.filename.startswith("xl/") and _holds_pending(archive, info):
                content = archive.read(info).replace(PENDING.encode(), shown)
                out.writestr(info, content)
            else:
                _copy_compressed(archive, info, out)


def _holds_pending(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    """Whether a part holds :data:`PENDING`, read in overlapping chunks."""
    marker, tail = PENDING.encode(), b""
    with archive.open(info) as part:
        while chunk := part.read(_CHUNK):
            if marker in tail + chunk:
                return True
            tail = chunk[-len(marker) :]
    return False


def _copy_compressed(
    source: zipfile.ZipFile, info: zipfile.ZipInfo, out: zipfile.ZipFile
) -> None:
    """Copy one part's compressed bytes into ``out`` without inflating them.

    The local header is written anew from ``info`` (sizes and CRC in it, no
    data descriptor, no extra fields but zip64's when needed), then the
    bytes follow; ``out`` records the entry as its own ``write`` would.
    """
    source.fp.seek(info.header_offset)
    header = source.fp.read(zipfile.sizeFileHeader)
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    source.fp.seek(
        info.header_offset + zipfile.sizeFileHeader + name_length + extra_length
    )
    entry = copy.copy(info)
    entry.flag_bits &= ~0x08  # sizes are in the header, not in a descriptor
    entry.extra = b""
    entry.header_offset = out.fp.tell()
    zip64 = max(entry.file_size, entry.compress_size) > zipfile.ZIP64_LIMIT
    out.fp.write(entry.FileHeader(zip64))
    remaining = info.compress_size
    while remaining:
        chunk = source.fp.read(min(_CHUNK, remaining))
        out.fp.write(chunk)
        remaining -= len(chunk)
    out.filelist.append(entry)
    out.NameToInfo[entry.filename] = entry
    out.start_dir = out.fp.tell()
    out._didModify = True


# --- verification ----------------------------------------------------------------


def _engine(flavor: Flavor, timeout: float):
    from xlnn.samples.build import engines

    return engines(timeout=timeout)[flavor.name]


def compare(
    checks,
    values,
    engine: str = "an engine",
    *,
    reference_tolerance: float = verify.RELATIVE_TOLERANCE,
    reference_scale: float = 0.0,
    precision: str = "float64",
) -> Agreement:
    """Compare a recalculated workbook's ``values`` with the export's checks.

    Every cell is held to its float64 ``expected`` within
    :data:`xlnn.engines.verify.RELATIVE_TOLERANCE` of the larger of its value and its
    terms' ``scale``; a cell with a ``framework`` value is also held to it
    within ``reference_tolerance`` (:attr:`xlnn.model.Model.reference_tolerance`)
    of the larger of those and ``reference_scale``
    (:attr:`xlnn.model.Model.reference_scale`). ``precision`` names the
    framework's in the summary.
    """
    outputs = verify.Verification(engine)
    cells = verify.Verification(engine)
    agreement = Agreement(outputs, cells, precision=precision)
    shown = _Shown(values)
    for check in checks:
        if is_uniform(check) and _blank(check.expected[0, 0]):
            # The empty rows of a batch: their cells are counted, and only the
            # cells that show something are looked at (not one per cell).
            cells.cells += check.expected.size
            for where, got in shown.inside(check.block):
                if got != "":
                    cells.mismatches.append(f"{where}: {got!r} is not empty")
            continue
        sheet = values.get(check.block.sheet, {})
        tolerances = (reference_tolerance, reference_scale, precision)
        if not _compare_numbers(check, sheet, agreement, *tolerances):
            _compare_cells(check, sheet, agreement, *tolerances)
    return agreement


def _compare_cells(
    check, sheet, agreement: Agreement, reference_tolerance, reference_scale, precision
) -> None:
    """Compare ``check`` cell by cell: labels, text, errors, anything."""
    cells, outputs = agreement.cells, agreement.outputs
    for i in range(check.block.rows):
        for j in range(check.block.cols):
            where = f"{check.block.sheet}!{check.block.address(i, j)}"
            got = sheet.get(check.block.address(i, j))
            scale = verify.cell_scale(check, i, j)
            expected = verify.plain(check.expected[i, j])
            problem = _difference(
                expected,
                got,
                cells,
                verify.RELATIVE_TOLERANCE,
                scale=scale,
                where=where,
            )
            cells.cells += 1
            if problem:
                cells.mismatches.append(f"{where}: {problem}")
            framework = getattr(check, "framework", None)
            reference = None if framework is None else framework[i, j]
            if isinstance(expected, Label):
                agreement.labels += 1
                agreement.labels_agree += problem is None
                _judge_label(agreement, reference, got)
            elif reference is not None and not _blank(reference):
                outputs.cells += 1
                problem = _difference(
                    verify.plain(reference),
                    got,
                    outputs,
                    reference_tolerance,
                    scale=max(scale, reference_scale),
                    where=where,
                )
                if problem:
                    outputs.mismatches.append(
                        f"{where}: {problem} ({precision} framework)"
                    )


def _compare_numbers(
    check, sheet, agreement: Agreement, reference_tolerance, reference_scale, precision
) -> bool:
    """Compare a block of numbers at once, as :func:`_compare_cells` would.

    Returns False, having changed nothing, when the check or the values are
    not all numbers: then :func:`_compare_cells` says what each cell holds.
    """
    block, expected = check.block, check.expected
    framework = getattr(check, "framework", None)
    scale = getattr(check, "scale", None)
    if not all(
        _floats(array) for array in (expected, framework, scale) if array is not None
    ):
        return False
    got = _block_numbers(sheet, block)
    if got is None:
        return False
    scale = np.zeros(block.shape) if scale is None else scale.astype(np.float64)
    _judge(agreement.cells, check, got, expected, scale, verify.RELATIVE_TOLERANCE, "")
    if framework is not None:
        scale = np.maximum(scale, reference_scale)
        _judge(agreement.outputs, check, got, framework, scale, reference_tolerance,
               f" ({precision} framework)")  # fmt: skip
    return True


def _block_numbers(sheet, block) -> np.ndarray | None:
    """The values of ``block`` as floats, or None when one is not a number."""
    if hasattr(sheet, "block"):  # xlnn.engines.xlsx_values.SheetValues
        numbers = sheet.block(block)
        if numbers is not None:
            return numbers
    letters = [column_letter(block.col + j) for j in range(block.cols)]
    got = [
        sheet.get(letter + str(row))
        for row in range(block.row, block.last_row + 1)
        for letter in letters
    ]
    if not set(map(type, got)) <= {float, int}:
        return None
    return np.array(got, dtype=np.float64).reshape(block.shape)


def _floats(array) -> bool:
    return isinstance(array, np.ndarray) and array.dtype.kind in "fiu"


def _judge(result, check, got, expected, scale, tolerance, suffix: str) -> None:
    """:func:`~xlnn.engines.verify.relative_error` and the worst cell of a block."""
    size = np.maximum(np.abs(expected), scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        error = np.abs(got - expected)
        error = np.where(size > 0, error / np.where(size > 0, size, 1), error)
    error = np.where(np.isfinite(error), error, np.inf)
    result.cells += error.size
    worst = np.unravel_index(np.argmax(error), error.shape)
    if error[worst] > result.worst_relative_error or not result.worst_cell:
        result.worst_relative_error = float(error[worst])
        result.worst_cell = f"{check.block.sheet}!{check.block.address(*worst)}"
    for i, j in zip(*np.nonzero(error > tolerance), strict=True):
        where = f"{check.block.sheet}!{check.block.address(i, j)}"
        result.mismatches.append(
            f"{where}: {got[i, j].item()!r} differs from "
            f"{expected[i, j].item()!r}{suffix}"
        )


class _Shown:
    """The non-blank values of each sheet by row and column, indexed on demand."""

    def __init__(self, values):
        self.values, self.cells = values, {}

    def inside(self, block):
        """(``sheet!A1``, value) of each non-blank cell of ``block``."""
        sheet = self.values.get(block.sheet, {})
        if hasattr(sheet, "inside"):  # xlnn.engines.xlsx_values.SheetValues
            return [(f"{block.sheet}!{a}", v) for a, v in sheet.inside(block)]
        if block.sheet not in self.cells:
            located = []
            for address, value in self.values.get(block.sheet, {}).items():
                match = _ADDRESS.fullmatch(address)
                if match and value is not None:
                    col = column_number(match.group(1))
                    located.append((int(match.group(2)), col, address, value))
            located.sort()  # by row, then column; addresses are unique
            self.cells[block.sheet] = located
        located = self.cells[block.sheet]
        found = []
        for row, col, address, value in located[
            bisect.bisect_left(located, (block.row,)) :
        ]:
            if row > block.last_row:
                break
            if block.col <= col <= block.last_col:
                found.append((f"{block.sheet}!{address}", value))
        return found


_ADDRESS = re.compile(r"\$?([A-Z]+)\$?(\d+)")


def _blank(value) -> bool:
    return isinstance(value, str) and value == ""


def _judge_label(agreement: Agreement, reference, got) -> None:
    """Count the workbook's label ``got`` against the framework's ``reference``."""
    if not isinstance(reference, Label) or reference.matches(got):
        # (a check without the framework's label has only the float64 one)
        agreement.framework_labels_agree += 1
    elif reference.near_tie:
        agreement.near_ties += 1


def _difference(
    expected,
    got,
    result: verify.Verification,
    tolerance: float,
    *,
    scale: float = 0.0,
    where: str = "",
) -> str | None:
    if isinstance(expected, Label):
        return None if expected.matches(got) else f"{got!r} is not {expected.text}"
    if _blank(expected):
        return None if got in (None, "") else f"{got!r} is not empty"
    return verify._difference(
        expected, got, tolerance, result, scale=scale, where=where
    )


def check_workbook(
    path: Path,
    checks,
    *,
    flavor: Flavor,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Progress = quiet,
    reference_tolerance: float = verify.RELATIVE_TOLERANCE,
    reference_scale: float = 0.0,
    precision: str = "float64",
) -> Agreement:
    """Recalculate ``path`` with its flavor's engine and compare with ``checks``.

    The keywords after ``progress`` go to :func:`compare`. A missing, failing
    or hanging engine gives an agreement that is not verified, with the
    reason; it never raises for that.
    """
    engine = _engine(flavor, timeout)
    reason = engine.missing()
    if not reason:
        try:
            only = [check.block for check in checks]
            values = engine.recalculate([path], progress=progress, only=only)[path]
        except EngineError as error:
            reason = str(error)
    if reason:
        unknown = verify.Verification(engine.name, problem=reason)
        return Agreement(unknown, unknown)
    return compare(
        checks,
        values,
        engine.name,
        reference_tolerance=reference_tolerance,
        reference_scale=reference_scale,
        precision=precision,
    )


# --- the API ---------------------------------------------------------------------


#: The prefix of the folder each verification runs in (PREFIX-PID-RANDOM).
SCRATCH_PREFIX = "xlnn-export-"
#: What :func:`to_workbook` takes, for its TypeError.
ACCEPTED = (
    "an xlnn Model, a fitted scikit-learn MLPClassifier, MLPRegressor or "
    "Pipeline, an onnx.ModelProto, or the path of a model file"
)


def targets(path: Path, flavor: str) -> dict[str, Path]:
    """The file of each flavor: ``path`` itself, or NAME_plain / NAME_addin.

    ``path`` must end in ``.xlsx``: a workbook under another name (``new.csv``)
    would be opened by the wrong program, or by none.
    """
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise ExportError(f"{path}: the workbook's name must end in .xlsx")
    if flavor == "both":
        return {
            name: path.with_name(f"{path.stem}_{name}{path.suffix}") for name in FLAVORS
        }
    if flavor not in FLAVORS:
        raise ExportError(f"unknown flavor {flavor!r}; choose plain, addin or both")
    return {flavor: path}


def _refuse_conflicts(paths, *, force: bool, protect=()) -> None:
    for path in paths:
        try:
            files.check_target(path, force=force, protect=protect, kind="workbook")
        except files.FileRefused as refused:
            raise ExportError(refused) from None


def as_model(obj, *, activations=None) -> Model:
    """What a user holds, as a :class:`Model`.

    Parameters
    ----------
    obj : Model, scikit-learn estimator, onnx.ModelProto, str or Path
        A Model as is; a fitted ``MLPClassifier``, ``MLPRegressor`` or
        ``Pipeline`` through :func:`xlnn.export.sources.sklearn_source.from_sklearn`;
        a ModelProto through :func:`xlnn.export.sources.onnx_source.from_proto`; a
        path through :func:`xlnn.export.sources.read`.
    activations : sequence of str, optional
        For a model file that does not name them (``.npz``, ``.pkl``).

    Raises
    ------
    TypeError
        ``obj`` is none of these (a bug in the caller's code, not a file).
    xlnn.errors.UserError
        The model cannot be read (the message names the file and why).
    """
    if isinstance(obj, (str, os.PathLike)):
        sources = importlib.import_module("xlnn.export.sources")
        path = Path(obj)
        try:
            return sources.read(path, activations=activations)
        except OSError as error:
            # The file went away or cannot be read: the user's to fix.
            raise sources.SourceError(f"{path}: {files.problem(error)}") from None
    if activations is not None:
        raise TypeError("activations= applies to a model file, not to a model object")
    if isinstance(obj, Model):
        return obj
    # Only a module already imported can have made ``obj``: no import here.
    onnx = sys.modules.get("onnx")
    if onnx is not None and isinstance(obj, onnx.ModelProto):
        from xlnn.export.sources import onnx_source

        return onnx_source.from_proto(obj)
    sklearn_base = sys.modules.get("sklearn.base")
    if sklearn_base is not None and isinstance(obj, sklearn_base.BaseEstimator):
        from xlnn.export.sources.sklearn_source import from_sklearn

        return from_sklearn(obj)
    raise TypeError(f"cannot export a {type(obj).__name__}: give {ACCEPTED}")


def _as_cells_hold_it(model: Model) -> Model:
    """``model`` with its labels and names as text cells hold them.

    A control character becomes U+FFFD in the cell
    (:func:`xlnn.sheets.xlsx_writer.text_value`); replaced here, before the layout,
    the predicted labels the workbook is checked against are the ones it
    shows, instead of a false mismatch.
    """

    def held(names):
        if names is None:
            return None
        return tuple(
            xlsx_writer.text_value(n) if isinstance(n, str) else n for n in names
        )

    return replace(
        model,
        classes=held(model.classes),
        feature_names=held(model.feature_names),
        output_names=held(model.output_names),
    )


def label_classes(model: Model) -> list:
    """The classes a true label may be: the output headers (numbers stay numbers).

    Raises
    ------
    ExportError
        The model is a regressor: its outputs are values, not classes.
    """
    if not model.is_classifier:
        raise ExportError(
            "sample labels are for classifiers: this model's outputs are "
            "values, not classes"
        )
    return header_labels(model)


def true_labels(model: Model, labels, count: int) -> list | None:
    """``labels`` (a file's path or a sequence) as the classes the headers hold.

    Raises
    ------
    ExportError
        The model is not a classifier, a label is not one of its classes, or
        there are not ``count`` labels (one per sample row).
    """
    if labels is None:
        return None
    from xlnn.export import sample_labels

    classes = label_classes(model)
    if isinstance(labels, (str, os.PathLike)):
        return sample_labels.read(labels, classes, count)
    return sample_labels.match_all(labels, classes, count)


def _input_files(model: Model) -> list[str]:
    """The model's own file, which ``force`` must never replace."""
    path = model.source.path if model.source is not None else None
    return [path] if path and os.path.isfile(path) else []


def to_workbook(
    model,
    path,
    *,
    flavor: str = "plain",
    rows: int = DEFAULT_ROWS,
    image: tuple[int, int] | None = None,
    force: bool = False,
    verify: bool = True,
    sample_inputs=None,
    exported_at: dt.datetime | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Progress | None = None,
    activations=None,
    sample_labels=None,
) -> ExportResult:
    """Write ``model`` as a workbook that runs it, and verify it by recalculation.

    Parameters
    ----------
    model : Model, scikit-learn estimator, onnx.ModelProto, str or Path
        The network: an xlnn :class:`Model` (:mod:`xlnn.model`), a fitted
        scikit-learn ``MLPClassifier``, ``MLPRegressor`` or ``Pipeline``, an
        ONNX ``ModelProto``, or a model file's path (see :func:`as_model`).
    path : str or Path
        The xlsx file, ending in ``.xlsx``; with ``flavor="both"``,
        NAME_plain.xlsx and NAME_addin.xlsx beside it.
    flavor : {"plain", "addin", "both"}
        Built-in formulas only (any Excel 2010+, LibreOffice), or xlnn's
        functions through xlwings, or both files.
    rows : int
        Rows of the batch sheet.
    image : (int, int), optional
        Show the input as an H x W grid (H * W must be the input count).
    force : bool
        Replace existing regular files, never the model's own file.
    verify : bool
        Recalculate each file and compare with ``model.framework_predict``.
    sample_inputs : array-like or SpilledRows, optional
        Verification inputs, one sample per row (at most ``rows``); by
        default seeded random ones (:func:`random_inputs`). They fill the
        batch, and the first is the predict sheet's input. Rows read with
        ``xlnn.export.sample_inputs.read(..., spill=True)`` stay on disk and are
        read a chunk at a time (what ``xlnn export --sample-inputs`` does).
    exported_at : datetime, optional
        The time on the about sheet (fixed in tests, for equal bytes).
    timeout : float
        Seconds LibreOffice may take.
    progress : callable, optional
        Receives a line at each step.
    activations : sequence of str, optional
        One activation per layer, for a model file that does not name them.
    sample_labels : str, Path or sequence, optional
        The true label of each sample input, in order: a text file of one
        label a line (:mod:`xlnn.export.sample_labels`) or the labels themselves,
        each one of the classifier's classes (a numeric class matched by
        value). The batch sheet then shows the true labels, the accuracy
        and the confusion matrix (:mod:`xlnn.export.accuracy`).

    Raises
    ------
    ExportError
        Nothing could be written as asked (a file in the way, bad inputs).
    TypeError
        ``model`` is none of the accepted kinds.
    """
    progress = progress or quiet
    planned = targets(Path(path), flavor)
    model = _as_cells_hold_it(as_model(model, activations=activations))
    protect = _clear_the_way(planned.values(), model, force=force, progress=progress)
    inputs = _batch_inputs(model, sample_inputs, rows=rows, image=image)
    truth = true_labels(model, sample_labels, len(inputs))
    options = dict(rows=rows, image=image, force=force, protect=protect, check=verify)
    options |= dict(inputs=inputs, truth=truth, exported_at=exported_at or now())
    options |= dict(timeout=timeout, progress=progress)
    result = ExportResult()
    for name, target in planned.items():
        flavor_options = dict(options, flavor=FLAVORS[name])
        result.workbooks.append(_export_one(model, target, **flavor_options))
    return result


def _clear_the_way(targets, model, *, force: bool, progress) -> list[str]:
    """Refuse what is in the way of ``targets``; return the files never replaced.

    The model's own files are never replaced; scratch folders of exports that
    were killed are removed.
    """
    protect = _input_files(model)
    _refuse_conflicts(targets, force=force, protect=protect)
    for stale in files.remove_stale_scratch(SCRATCH_PREFIX):
        progress(f"removed {stale}, left by an export that was killed")
    return protect


def _batch_inputs(model, sample_inputs, *, rows: int, image):
    """The rows that fill the batch: the user's, or seeded random ones."""
    if sample_inputs is None:
        count = min(DEFAULT_SAMPLES, max(1, rows - 2))
        sample_inputs = random_inputs(model, count, image=image)
    if hasattr(sample_inputs, "chunks"):  # rows on disk stay there
        return sample_inputs
    return np.atleast_2d(np.asarray(sample_inputs, dtype=np.float64))


def _export_one(
    model,
    target: Path,
    *,
    flavor,
    rows,
    image,
    force,
    protect,
    check,
    inputs,
    truth,
    exported_at,
    timeout,
    progress: Callable,
) -> ExportedWorkbook:
    started = time.monotonic()
    book = layout(
        model,
        flavor=flavor,
        inputs=inputs,
        rows=rows,
        image=image,
        exported_at=exported_at,
        status=PENDING if check else NOT_ASKED,
        labels=truth,
    )
    workbook = ExportedWorkbook(
        target, flavor.name, book.sheet_titles, book.checks, None, book.formula_count
    )
    # The file goes to disk as it is written, never whole into memory: a
    # batch of 30,000 filled rows is 160 MB.
    if not check:
        _write(target, lambda stream: xlsx_writer.write(book, stream), force=force,
               protect=protect)  # fmt: skip
        _rendered(progress, target, started)
    else:
        # Named with this process's id, so that the next export removes it
        # should this one be killed.
        with files.scratch_folder(SCRATCH_PREFIX) as scratch:
            trial = scratch / target.name
            with open(trial, "wb") as stream:
                xlsx_writer.write(book, stream)
            _rendered(progress, target, started)
            workbook.agreement = check_workbook(
                trial,
                book.checks,
                flavor=flavor,
                timeout=timeout,
                progress=progress,
                reference_tolerance=model.reference_tolerance,
                reference_scale=model.reference_scale,
                precision=model.reference_precision,
            )
            summary = workbook.agreement.summary()
            _write(target, lambda stream: write_with_result(trial, summary, stream),
                   force=force, protect=protect)  # fmt: skip
    progress(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB)")
    return workbook


def _rendered(progress: Callable, target: Path, started: float) -> None:
    progress(
        f"laid out and rendered {target.name} in {time.monotonic() - started:.1f} s"
    )


def _write(target: Path, write: Callable, *, force: bool, protect) -> None:
    """:func:`xlnn.files.write_new_with`, a disk's refusal as an ExportError."""
    try:
        files.write_new_with(target, write, force=force, protect=protect)
    except OSError as error:
        raise ExportError(f"{target}: {files.problem(error)}") from None
