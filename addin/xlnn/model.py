"""A trained model as xlnn exports it: preprocessing, a network, named outputs.

Every source (ONNX, scikit-learn, ``.npz``, the book's pickle) is read into a
:class:`Model`. It knows nothing of Excel: :mod:`xlnn.export` lays it out,
and its :attr:`Model.reference` (the framework's own inference, e.g.
onnxruntime or ``predict_proba``) is what the exported workbook is verified
against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from xlnn.network import Network


@dataclass(frozen=True)
class Affine:
    """Per-feature ``(x - offset) * scale``: StandardScaler, MinMaxScaler, Sub/Div.

    ``label`` names where it came from (``"StandardScaler"``), for captions.
    """

    offset: np.ndarray
    scale: np.ndarray
    label: str = "scaling"

    def __post_init__(self):
        object.__setattr__(self, "offset", np.asarray(self.offset, np.float64))
        object.__setattr__(self, "scale", np.asarray(self.scale, np.float64))
        if self.offset.shape != self.scale.shape or self.offset.ndim != 1:
            raise ValueError("offset and scale must be two 1-D arrays of one length")

    def apply(self, x: np.ndarray) -> np.ndarray:
        return (x - self.offset) * self.scale


@dataclass(frozen=True)
class Normalize:
    """Each row divided by its ``norm``: ``"l1"``, ``"l2"`` or ``"max"``."""

    norm: str
    label: str = "Normalizer"

    def __post_init__(self):
        if self.norm not in ("l1", "l2", "max"):
            raise ValueError(f"unknown norm {self.norm!r}; choose l1, l2 or max")

    def apply(self, x: np.ndarray) -> np.ndarray:
        if self.norm == "l1":
            size = np.abs(x).sum(axis=1, keepdims=True)
        elif self.norm == "l2":
            size = np.sqrt((x * x).sum(axis=1, keepdims=True))
        else:
            size = np.abs(x).max(axis=1, keepdims=True)
        return x / np.where(size == 0, 1.0, size)  # a zero row stays zero


@dataclass(frozen=True)
class Source:
    """Where a model came from: the file, its format and its SHA-256."""

    path: str
    format: str
    sha256: str = ""


#: Relative tolerance against a framework that computes in float64.
FLOAT64_TOLERANCE = 1e-9
#: Against one that computes in float32: its results carry about 1e-7 of
#: rounding per step, and a few layers of sums add up to a few 1e-6.
FLOAT32_TOLERANCE = 1e-5
#: The least scale a probability is judged against when compared with the
#: framework: probabilities share a total of 1, so the framework's rounding
#: of the large ones reaches the small ones. Against float32 this is an
#: absolute floor of 1e-6 (FLOAT32_TOLERANCE * 0.1): onnxruntime's
#: 1.85132e-4 for the exact 1.85108e-4 (issue 11) is 2.4e-8 off, 1.3e-4
#: relative.
PROBABILITY_SCALE = 0.1

#: What the last layer's outputs mean.
OUTPUT_KINDS = (
    "probabilities",  # one column per class (softmax, or several sigmoids)
    "binary",  # one sigmoid column: P(classes[1]); P(classes[0]) is 1 - it
    "values",  # regression outputs
)


@dataclass(frozen=True)
class Model:
    """A network with what surrounds it in the framework that trained it.

    ``classes`` are a classifier's labels, in output order; ``output_names``
    name a regressor's outputs. ``reference(x)`` is the framework's own
    inference on a 2-D ``x`` (probabilities of every class, or the
    regression values), or ``None`` when NumPy's forward pass is the
    framework (``.npz``, the book's pickle). ``reference_tolerance`` is the
    relative difference allowed between the workbook and ``reference``: the
    workbook computes in float64, so a framework computing in float64 agrees
    to 1e-9, one computing in float32 (most ONNX graphs) only to float32's
    precision.
    """

    network: Network
    preprocessing: tuple[Affine | Normalize, ...] = ()
    output: str = "probabilities"
    classes: tuple | None = None
    feature_names: tuple[str, ...] | None = None
    output_names: tuple[str, ...] | None = None
    source: Source | None = None
    reference: Callable[[np.ndarray], np.ndarray] | None = field(
        default=None, compare=False
    )
    reference_tolerance: float = FLOAT64_TOLERANCE
    #: A float64 evaluation of the source model itself (for ONNX, onnx's
    #: ReferenceEvaluator on a float64 copy of the graph), giving what
    #: ``reference`` gives; None when xlnn's NumPy forward pass is that
    #: evaluation (.npz, the book's pickle, scikit-learn).
    exact: Callable[[np.ndarray], np.ndarray] | None = field(
        default=None, compare=False
    )
    #: The shape of one sample in the framework, without the batch dimension
    #: ((1, 28, 28) for an image model); None for a flat row of features.
    #: Its values are flattened row by row (C order), as the framework does.
    input_shape: tuple[int, ...] | None = None

    def __post_init__(self):
        object.__setattr__(self, "preprocessing", tuple(self.preprocessing))
        if self.output not in OUTPUT_KINDS:
            raise ValueError(f"unknown output kind {self.output!r}")
        if self.feature_names is not None and (
            len(self.feature_names) != self.n_inputs
        ):
            raise ValueError(
                f"{len(self.feature_names)} feature names for {self.n_inputs} inputs"
            )

    @property
    def n_inputs(self) -> int:
        return self.network.n_inputs

    @property
    def is_classifier(self) -> bool:
        return self.output in ("probabilities", "binary")

    def preprocess(self, x) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        for step in self.preprocessing:
            x = step.apply(x)
        return x

    def predict(self, x) -> np.ndarray:
        """xlnn's own NumPy inference: probabilities of every class, or values.

        A ``binary`` model gives two columns, P(classes[0]) and P(classes[1]).
        """
        outputs = self.network.predict(self.preprocess(x))
        if self.output == "binary":
            return np.hstack([1.0 - outputs, outputs])
        return outputs

    @property
    def reference_scale(self) -> float:
        """The least scale an output is judged against next to the framework's."""
        return PROBABILITY_SCALE if self.is_classifier else 0.0

    @property
    def reference_precision(self) -> str:
        """``"float32"`` or ``"float64"``: the framework's precision, for summaries."""
        return "float32" if self.reference_tolerance >= FLOAT32_TOLERANCE else "float64"

    def exact_predict(self, x) -> np.ndarray:
        """A float64 evaluation of the source model (or NumPy's forward pass)."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        return np.asarray(self.exact(x) if self.exact else self.predict(x), np.float64)

    def framework_predict(self, x) -> np.ndarray:
        """The framework's own inference, or NumPy's where NumPy is the framework."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        return np.asarray(
            self.reference(x) if self.reference else self.predict(x), np.float64
        )
