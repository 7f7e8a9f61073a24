"""Check recalculated workbooks against the values NumPy expects, cell by cell.

An engine (:mod:`xlnn.engines`) recalculates the files; each file's checks
(records with ``block``, ``expected`` and ``name``, written by the generator)
are compared with the engine's values. A file has one of three outcomes:
verified, failed (a cell differs: a real problem) or not verified (the engine
is missing, crashed or hung: nothing is known about the cells).

The rule. A cell passes when ``|got - expected| <= tolerance * max(|expected|,
scale)``. ``scale`` (a check's optional per-cell array, see :func:`scales`)
is the size of the terms the cell sums: a value near 0 that is a sum of large
terms carries the rounding of those terms, which is tiny against them but not
against the value (LibreOffice's -2.95e-7 where NumPy's differs by 2e-15 in
a sum of terms of size 9.85). Without a scale the comparison is relative.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xlnn.engines import Engine, EngineError, Progress
from xlnn.model import Affine
from xlnn.network import LayerValues, Network
from xlnn.sheets.layout import Check

#: Relative tolerance of every comparison; LibreOffice keeps 15 significant digits.
RELATIVE_TOLERANCE = 1e-9


@dataclass
class Verification:
    """The outcome of comparing one workbook with its checks.

    ``problem`` is set when the engine could not check the file at all; the
    file is then neither verified nor failed.
    """

    engine: str
    cells: int = 0
    #: The largest ``|got - expected| / max(|expected|, scale)`` over every
    #: numeric cell, failing ones included; ``worst_cell`` is where it is.
    worst_relative_error: float = 0.0
    worst_cell: str = ""
    mismatches: list[str] = field(default_factory=list)
    problem: str = ""

    @property
    def verified(self) -> bool:
        """Whether the engine computed the file (so the comparison means something)."""
        return not self.problem

    @property
    def ok(self) -> bool:
        return self.verified and self.cells > 0 and not self.mismatches

    @property
    def failed(self) -> bool:
        """A cell differs, or there was nothing to compare: a real failure."""
        return self.verified and not self.ok

    def summary(self) -> str:
        if not self.verified:
            return f"not verified: {self.problem}"
        if self.ok:
            return (
                f"verified by {self.engine}: {self.cells} cells, worst relative "
                f"error {self.worst_relative_error:.1e}"
            )
        if not self.cells:
            return f"FAILED under {self.engine}: no cells to compare"
        return (
            f"FAILED under {self.engine}: {len(self.mismatches)} of {self.cells} "
            f"cells differ, e.g. {'; '.join(self.mismatches[:3])}"
        )


def _as_error(value) -> str | None:
    """Error text such as ``#NUM!`` for an error value of either engine, else None."""
    text = str(value) if value is not None else ""
    return text if text.startswith("#") else None


def compare(
    checks: list[Check],
    values: Mapping[str, Mapping[str, object]],
    engine: str,
    tolerance: float = RELATIVE_TOLERANCE,
) -> Verification:
    """Compare every checked cell with ``values[sheet][address]``."""
    result = Verification(engine)
    for check in checks:
        sheet = values.get(check.block.sheet, {})
        for (i, j), expected in _cells(check):
            address = check.block.address(i, j)
            where = f"{check.block.sheet}!{address}"
            result.cells += 1
            problem = _difference(
                expected,
                sheet.get(address),
                tolerance,
                result,
                scale=cell_scale(check, i, j),
                where=where,
            )
            if problem:
                result.mismatches.append(f"{where}: {problem}")
    return result


def plain(value):
    """A NumPy scalar as a Python one: messages read 0.5, not np.float64(0.5)."""
    return value.item() if isinstance(value, np.generic) else value


def cell_scale(check: Check, i: int, j: int) -> float:
    """The size of the terms behind cell (i, j) of ``check``; 0 when unknown."""
    scales = getattr(check, "scale", None)  # records without one compare relatively
    if scales is None:
        return 0.0
    scale = scales[i, j]
    return float(scale) if isinstance(scale, (int, float, np.number)) else 0.0


def _cells(check: Check):
    for i in range(check.block.rows):
        for j in range(check.block.cols):
            yield (i, j), plain(check.expected[i, j])


def relative_error(expected: float, got: float, scale: float = 0.0) -> float:
    """``|got - expected|`` relative to the larger of ``|expected|`` and ``scale``.

    A cell passes when this is at most the tolerance. With neither a value
    nor a scale (an exact 0 of no terms) the error is absolute.
    """
    size = max(abs(expected), scale)
    error = abs(got - expected)
    error = error / size if size else error
    return error if math.isfinite(error) else math.inf


def _difference(
    expected,
    got,
    tolerance,
    result: Verification,
    *,
    scale: float = 0.0,
    where: str = "",
) -> str | None:
    """Why ``got`` is not ``expected`` (None when it is), noting the worst error.

    A failing number counts towards the worst error too, so that a summary
    never reports a smaller worst error than the cells that failed.
    """
    if isinstance(expected, str):
        return None if _as_error(got) == expected else f"{got!r} is not {expected}"
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        return f"{got!r} is not a number (expected {expected!r})"
    error = relative_error(expected, got, scale)
    if error > result.worst_relative_error or not result.worst_cell:
        result.worst_relative_error, result.worst_cell = error, where
    if error > tolerance:
        return f"{got!r} differs from {expected!r}"
    return None


# --- the size of the terms behind each cell ------------------------------------

#: The step, relative to the terms' size, over which an elementwise
#: activation's slope is measured: far above float64's rounding (so the
#: difference is meaningful) and far below the curvature of any activation
#: at the scale of its inputs.
_SLOPE_STEP = 1e-6


@dataclass(frozen=True)
class Scales:
    """Per-cell term sizes of a model's cells for a batch (see :func:`scales`).

    ``steps`` has one array per preprocessing step, ``layers`` the sums'
    (``a``) and the activations' (``z``) scales of each layer, and
    ``outputs`` the scale of each column of :meth:`Model.predict`.
    """

    steps: list[np.ndarray]
    layers: list[LayerValues]
    outputs: np.ndarray


def scales(model, x) -> Scales:
    """The size of the terms behind every cell of ``model`` on the batch ``x``.

    Inputs are exact (their own size). An :class:`~xlnn.model.Affine` step's
    terms are ``|x| + |offset|`` times ``|scale|``; a normalization divides
    its input's scale by the row's norm; a layer's sums are
    ``sum_i s_i |W_ij| + |b_j|`` (``s`` its input's scales), and an
    activation carries its input's scale through its slope (see
    :func:`activation_scale`). A ``binary`` model's P(classes[0]) = 1 - y
    has the terms 1 and y.

    Computed a block of rows at a time, so that a large batch needs no
    second copy of its inputs (``|x|``) at once.
    """
    values = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if len(values) <= _SCALE_ROWS:
        return _scales(model, values)
    parts = [
        _scales(model, values[start : start + _SCALE_ROWS])
        for start in range(0, len(values), _SCALE_ROWS)
    ]
    return Scales(
        [np.vstack(blocks) for blocks in zip(*(p.steps for p in parts), strict=True)],
        [
            LayerValues(
                np.vstack([layer.a for layer in layers]),
                np.vstack([layer.z for layer in layers]),
            )
            for layers in zip(*(p.layers for p in parts), strict=True)
        ],
        np.vstack([p.outputs for p in parts]),
    )


#: Rows of a batch whose term sizes :func:`scales` computes at once.
_SCALE_ROWS = 4096


def _scales(model, values: np.ndarray) -> Scales:
    scale = np.abs(values)
    steps = []
    for step in model.preprocessing:
        if isinstance(step, Affine):
            scale = (scale + np.abs(step.offset)) * np.abs(step.scale)
        else:
            scale = scale / _norm(step.norm, values)
        values = step.apply(values)
        steps.append(scale)
    layers = network_scales(model.network, values, scale)
    last = layers[-1].z
    outputs = np.hstack([1.0 + last, last]) if model.output == "binary" else last
    return Scales(steps, layers, outputs)


def _norm(norm: str, x: np.ndarray) -> np.ndarray:
    if norm == "l1":
        size = np.abs(x).sum(axis=1, keepdims=True)
    elif norm == "l2":
        size = np.sqrt((x * x).sum(axis=1, keepdims=True))
    else:
        size = np.abs(x).max(axis=1, keepdims=True)
    return np.where(size == 0, 1.0, size)


def network_scales(network: Network, x, x_scale=None) -> list[LayerValues]:
    """Each layer's term sizes: ``a`` for the sums, ``z`` for the activations.

    ``x_scale`` is the size of the terms behind the inputs ``x`` (``|x|``
    when they are exact).
    """
    z = np.atleast_2d(np.asarray(x, dtype=np.float64))
    scale = np.abs(z) if x_scale is None else np.asarray(x_scale, np.float64)
    result = []
    for layer, computed in zip(network.layers, network.forward(z), strict=True):
        a_scale = scale @ np.abs(layer.weights) + np.abs(layer.bias)
        scale = activation_scale(layer, computed.a, a_scale)
        result.append(LayerValues(a_scale, scale))
    return result


def activation_scale(layer, a: np.ndarray, a_scale: np.ndarray) -> np.ndarray:
    """The size of what ``layer``'s activation passes on of its input's terms.

    Softmax's outputs move by ``z_j (da_j + sum_k z_k da_k)``, log-softmax's
    by ``da_j + sum_k z_k da_k`` (both bounded with the row's largest term
    size, as their formulas subtract the row's maximum); an elementwise
    activation by its slope over a step of the terms' size (a saturated
    sigmoid passes little on, a ReLU at 0 all of it).
    """
    name = layer.activation.name
    if name in ("softmax", "log_softmax"):
        row = a_scale.max(axis=1, keepdims=True)
        spread = a_scale + row
        return spread * layer.activate(a) if name == "softmax" else spread
    step = _SLOPE_STEP * a_scale
    z = layer.activate(a)
    rise = np.maximum(
        np.abs(layer.activate(a + step) - z), np.abs(z - layer.activate(a - step))
    )
    return rise / _SLOPE_STEP


def verify_files(
    engine: Engine,
    checks: Mapping[Path, list[Check]],
    *,
    progress: Progress | None = None,
) -> dict[Path, Verification]:
    """Recalculate every file of ``checks`` with ``engine`` and compare each.

    An engine that is missing or fails leaves the files it did not compute
    "not verified", with its reason; it never raises for that.
    """
    reason = engine.missing()
    if reason:
        return {path: Verification(engine.name, problem=reason) for path in checks}
    try:
        values = engine.recalculate(list(checks), progress=progress)
    except EngineError as error:
        values, reason = error.done, str(error)
    return {
        path: compare(expected, values[path], engine.name)
        if path in values
        else Verification(engine.name, problem=reason or "no result")
        for path, expected in checks.items()
    }


def verify_with_libreoffice(path: Path, checks: list[Check], **options) -> Verification:
    """Recalculate one file with LibreOffice headless and compare.

    ``options`` go to :class:`xlnn.engines.libreoffice.LibreOffice` (``timeout``).
    """
    from xlnn.engines.libreoffice import LibreOffice

    return verify_files(LibreOffice(**options), {Path(path): checks})[Path(path)]


def verify_with_formulas(path: Path, checks: list[Check]) -> Verification:
    """Evaluate one file with the ``formulas`` package and xlnn's functions."""
    from xlnn import udfs
    from xlnn.engines.formulas_engine import Formulas

    engine = Formulas(udfs.by_excel_name())
    return verify_files(engine, {Path(path): checks})[Path(path)]
