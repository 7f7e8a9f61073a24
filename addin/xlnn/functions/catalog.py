"""The one table of activations: everything xlnn says about each, in one place.

Each :class:`Activation` names its NumPy function (:mod:`xlnn.activations`),
its Excel function, the help Excel and ``xlnn functions`` show, the caption a
workbook prints under a layer that uses it, the same computation written with
Excel's built-in functions only, whether the activations gallery draws it,
and what scikit-learn and ONNX call it. The Excel functions
(:mod:`xlnn.udfs`), the formula flavors (:mod:`xlnn.sheets.flavors`), the
network description (:mod:`xlnn.network`), the model readers
(:mod:`xlnn.export.sources`) and the samples all read this table. Adding an
activation means its NumPy function, its tests and one entry here (the
steps are listed in docs/design.md, "Adding an activation").

The losses of chapter 4 (:mod:`xlnn.losses`) have a table of their own,
:data:`LOSS_TABLE`: a loss turns two ranges (outputs and targets) into one
number, so its Excel function (:mod:`xlnn.udfs`) and its help come from a
:class:`Loss` entry in the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from xlnn import activations, losses


@dataclass(frozen=True)
class Parameter:
    """An optional single-number argument of an Excel function, such as alpha."""

    name: str
    default: float
    help: str


@dataclass(frozen=True)
class Activation:
    """One activation and every way xlnn shows it.

    ``plain`` turns a range reference into a formula body (no ``=``) computing
    the activation with built-in functions, to be entered as an array formula
    over a range of the same shape; an activation with a ``parameter`` takes
    its value as a second argument, already written as formula text (see
    :meth:`formula`). For a ``grouped`` activation (softmax) the formula
    normalizes the whole range it is given, so callers pass it one sample
    (row) at a time. ``caption`` of an activation with a parameter holds
    ``{alpha}`` (and ``{minus_alpha}``) where the value is shown.
    ``python_name`` is the adapter's name in :mod:`xlnn.udfs`, which classic
    xlwings uses for its VBA wrapper. ``sklearn_name`` and ``onnx_op`` are
    what the model formats call it, for :mod:`xlnn.export.sources`:
    scikit-learn's ``activation`` value, and the ONNX op that computes it
    alone (empty where the format has none).
    """

    name: str
    function: Callable
    excel_name: str
    help: str
    caption: str
    plain: Callable[..., str]
    grouped: bool = False
    gallery: bool = True
    parameter: Parameter | None = None
    python_name: str = ""
    plain_note: str = ""
    sklearn_name: str = ""
    onnx_op: str = ""

    def __post_init__(self):
        if not self.python_name:
            object.__setattr__(self, "python_name", self.name)

    def _value(self, parameter: float | None) -> float:
        if parameter is None:
            return self.parameter.default if self.parameter else 0.0
        if self.parameter is None:
            raise ValueError(f"{self.name} takes no parameter")
        return float(parameter)

    def formula(self, ref: str, parameter: float | None = None) -> str:
        """The built-in formula body on ``ref``, with ``parameter`` (None: default).

        >>> get("leaky_relu").formula("A1:B1", 0.2)
        'IF(A1:B1>0,A1:B1,0.2*A1:B1)'
        """
        if self.parameter is None:
            self._value(parameter)  # refuses a parameter
            return self.plain(ref)
        return self.plain(ref, formula_number(self._value(parameter)))

    def describe(self, parameter: float | None = None) -> str:
        """The caption, showing ``parameter`` (None: the default) where it has one.

        >>> get("leaky_relu").describe(0.20000000298023224)
        'leaky ReLU keeps positive sums and scales the rest by 0.2'
        """
        if self.parameter is None:
            self._value(parameter)
            return self.caption
        value = self._value(parameter)
        name = self.parameter.name
        shown = {name: shown_number(value), f"minus_{name}": shown_number(-value)}
        return self.caption.format_map(shown)

    def label(self, parameter: float | None = None) -> str:
        """The name, with the parameter when one is given: ``elu (alpha 0.5)``."""
        if parameter is None:
            return self.name
        value = self._value(parameter)
        return f"{self.name} ({self.parameter.name} {shown_number(value)})"


def formula_number(value: float) -> str:
    """``value`` as formula text that reads back as exactly the same float64.

    Python's ``repr`` is the shortest text that round-trips, so a float32
    weight such as 0.2 (0.20000000298023224 in float64) keeps all its digits;
    the exponent is written as Excel writes it.

    >>> formula_number(0.01), formula_number(0.20000000298023224), formula_number(1e-5)
    ('0.01', '0.20000000298023224', '1E-05')
    """
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"a formula cannot hold the number {value}")
    return repr(value).upper()


def shown_number(value: float) -> str:
    """``value`` for reading in a caption: six significant digits, ``1`` not ``1.0``."""
    return f"{float(value):.6g}"


def _scaled(factor: str, body: str) -> str:
    # Multiplying by 1 is left out, so that ELU's default formula stays short.
    return body if float(factor) == 1.0 else f"{factor}*({body})"


def _stable_sigmoid(r: str) -> str:
    # EXP(-ABS(x)) lies in (0, 1], so it never overflows: the numerator is 1
    # for x >= 0 and EXP(-ABS(x)) for x < 0.
    return f"IF({r}>=0,1,EXP(-ABS({r})))/(1+EXP(-ABS({r})))"


def _shifted(r: str) -> str:
    # The book's trick (section 3.5.2): subtract the max, so the largest
    # exponent is EXP(0).
    return f"({r}-MAX({r}))"


_SIGMOID_NOTE = (
    "SIGMOID in built-in functions: 1/(1+EXP(-x)), written as "
    "IF(x>=0,1,EXP(-ABS(x)))/(1+EXP(-ABS(x))) so that EXP never overflows."
)


def _gelu_tanh(r: str) -> str:
    # x * sigmoid(v), v = SQRT(8/PI())*(x+0.044715*x^3), as activations.gelu_tanh
    # computes it: only EXP of -|v| (never overflows), |x| clamped where the
    # result is already x or 0 so that x^3 cannot overflow. IF, not MIN, which
    # would reduce an array formula's range to one number.
    clamp = formula_number(activations.GELU_TANH_CLAMP)
    a = f"IF(ABS({r})>{clamp},{clamp},ABS({r}))"
    e = f"EXP(-SQRT(8/PI())*({a}+0.044715*{a}^3))"
    return f"{r}*IF({r}>=0,1,{e})/(1+{e})"


_GELU_TANH_NOTE = (
    "GELU_TANH in built-in functions: x/2*(1+TANH(u)), u = SQRT(2/PI())*"
    "(x+0.044715*x^3), written as x*SIGMOID(2u) with EXP(-ABS(2u)) only and "
    "|x| capped at 100, so that neither EXP nor x^3 overflows."
)

#: Every activation, in the order the gallery and ``xlnn functions`` list them.
TABLE = (
    Activation(
        name="step",
        function=activations.step,
        excel_name="STEP",
        python_name="step_function",  # Step is a VBA keyword
        help="Step function: 1 where x > 0, else 0.",
        caption="the step function fires 1 where the sum is positive",
        plain=lambda r: f"IF({r}>0,1,0)",
    ),
    Activation(
        name="sigmoid",
        function=activations.sigmoid,
        excel_name="SIGMOID",
        help="Sigmoid 1/(1+EXP(-x)), stable for any x.",
        caption="sigmoid squashes each sum into (0, 1)",
        plain=_stable_sigmoid,
        plain_note=_SIGMOID_NOTE,
        sklearn_name="logistic",
        onnx_op="Sigmoid",
    ),
    Activation(
        name="relu",
        function=activations.relu,
        excel_name="RELU",
        help="ReLU: MAX(0, x) for each cell.",
        caption="ReLU keeps positive sums and zeroes the rest",
        plain=lambda r: f"IF({r}>0,{r},0)",
        sklearn_name="relu",
        onnx_op="Relu",
    ),
    Activation(
        name="identity",
        function=activations.identity,
        excel_name="IDENTITY",
        help="Identity: each number unchanged.",
        caption="identity: the output is the sum itself",
        plain=lambda r: r,
        gallery=False,
        sklearn_name="identity",
    ),
    Activation(
        name="tanh",
        function=activations.tanh,
        excel_name="TANH",
        help="Hyperbolic tangent of each cell.",
        caption="tanh squashes each sum into (-1, 1)",
        plain=lambda r: f"TANH({r})",
        sklearn_name="tanh",
        onnx_op="Tanh",
    ),
    Activation(
        name="leaky_relu",
        function=activations.leaky_relu,
        excel_name="LEAKY_RELU",
        help="Leaky ReLU: x where x > 0, else alpha * x.",
        caption="leaky ReLU keeps positive sums and scales the rest by {alpha}",
        plain=lambda r, alpha: f"IF({r}>0,{r},{alpha}*{r})",
        parameter=Parameter(
            "alpha", 0.01, "Slope for x <= 0 (optional, default 0.01)."
        ),
        onnx_op="LeakyRelu",
    ),
    Activation(
        name="elu",
        function=activations.elu,
        excel_name="ELU",
        help="ELU: x where x > 0, else alpha * (EXP(x)-1).",
        caption="ELU keeps positive sums and bends the rest towards {minus_alpha}",
        # EXP only of min(x, 0), so a large positive x never overflows.
        plain=lambda r, alpha: (
            f"IF({r}>0,{r},{_scaled(alpha, f'EXP(IF({r}>0,0,{r}))-1')})"
        ),
        parameter=Parameter(
            "alpha", 1.0, "Scale of the negative side (optional, default 1)."
        ),
        onnx_op="Elu",
    ),
    Activation(
        name="softplus",
        function=activations.softplus,
        excel_name="SOFTPLUS",
        help="Softplus LN(1+EXP(x)), stable for any x.",
        caption="softplus is a smooth ReLU, LN(1+EXP(sum))",
        # max(x, 0) + LN(1 + EXP(-|x|)): EXP never overflows.
        plain=lambda r: f"IF({r}>0,{r},0)+LN(1+EXP(-ABS({r})))",
        onnx_op="Softplus",
    ),
    Activation(
        name="gelu",
        function=activations.gelu,
        excel_name="GELU",
        help="GELU: x times the normal CDF of x.",
        caption="GELU weighs each sum by the normal CDF of itself",
        plain=lambda r: f"{r}*ERFC(-{r}/SQRT(2))/2",
        onnx_op="Gelu",  # with approximate="tanh" it is gelu_tanh
    ),
    Activation(
        name="gelu_tanh",
        function=activations.gelu_tanh,
        excel_name="GELU_TANH",
        help="GELU, tanh approximation: x/2*(1+TANH(SQRT(2/PI())*(x+0.044715*x^3))).",
        caption="GELU's tanh form weighs each sum by a smooth step of itself",
        plain=_gelu_tanh,
        plain_note=_GELU_TANH_NOTE,
        gallery=False,  # read from ONNX; the gallery workbooks stay as they are
    ),
    Activation(
        name="silu",
        function=activations.silu,
        excel_name="SILU",
        help="SiLU (swish): x * SIGMOID(x).",
        caption="SiLU multiplies each sum by its sigmoid",
        plain=lambda r: f"{r}*{_stable_sigmoid(r)}",
    ),
    Activation(
        name="hard_sigmoid",
        function=activations.hard_sigmoid,
        excel_name="HARD_SIGMOID",
        help="Hard sigmoid: MAX(0, MIN(1, x/6 + 0.5)) for each cell.",
        caption="hard sigmoid is a straight line from 0 at -3 to 1 at 3",
        # IF, not MAX/MIN, which would reduce an array formula's range to one.
        plain=lambda r: f"IF({r}<=-3,0,IF({r}>=3,1,{r}/6+0.5))",
        gallery=False,  # read from ONNX; the gallery workbooks stay as they are
        onnx_op="HardSigmoid",  # its alpha and beta fold into the layer's sums
    ),
    Activation(
        name="softmax",
        function=activations.softmax,
        excel_name="SOFTMAX",
        help="Softmax: EXP(x)/SUM(EXP(x)) per group, stable for any x; "
        "groups sum to 1.",
        caption="softmax turns the sums into probabilities that add up to 1",
        plain=lambda r: f"EXP({_shifted(r)})/SUM(EXP({_shifted(r)}))",
        grouped=True,
        gallery=False,
        sklearn_name="softmax",
        onnx_op="Softmax",
    ),
    Activation(
        name="log_softmax",
        function=activations.log_softmax,
        excel_name="LOG_SOFTMAX",
        help="Log-softmax: LN(SOFTMAX(x)) per group, finite where SOFTMAX underflows.",
        caption="log-softmax gives the logarithms of softmax's probabilities",
        plain=lambda r: f"{_shifted(r)}-LN(SUM(EXP({_shifted(r)})))",
        grouped=True,
        gallery=False,
        onnx_op="LogSoftmax",
    ),
)

#: The table by activation name (``"sigmoid"``).
ACTIVATIONS = {activation.name: activation for activation in TABLE}


def get(name: str) -> Activation:
    """The activation called ``name``, or a ValueError listing the known ones."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}"
        ) from None


def gallery() -> list[Activation]:
    """The activations the gallery sheet draws, in table order."""
    return [activation for activation in TABLE if activation.gallery]


@dataclass(frozen=True)
class Loss:
    """One loss of :mod:`xlnn.losses` and its Excel function.

    The Excel function takes ``y`` (the outputs, one sample per row) and ``t``
    (the targets, or a column of class indices) and returns one number.
    ``plain`` turns references to ``y`` and one-hot ``t`` (of the same shape,
    one sample per row) into a formula body computing the loss with Excel's
    built-in functions (Excel 2010), the mean over the rows.
    """

    name: str
    function: Callable
    excel_name: str
    help: str
    plain: Callable[[str, str], str]
    python_name: str = ""

    def __post_init__(self):
        if not self.python_name:
            object.__setattr__(self, "python_name", self.name)

    def formula(self, y: str, t: str) -> str:
        """The built-in formula body on ``y`` and one-hot ``t``.

        >>> get_loss("cross_entropy_error").formula("A1:J1", "A2:J2")
        '-SUMPRODUCT(A2:J2,LN(A1:J1+1E-07))/ROWS(A1:J1)'
        """
        return self.plain(y, t)


#: Every loss, in the order ``xlnn functions`` lists them.
LOSS_TABLE = (
    Loss(
        name="mean_squared_error",
        function=losses.mean_squared_error,
        excel_name="MEAN_SQUARED_ERROR",
        help="Mean squared error: 0.5*SUM((y-t)^2) per sample (row), averaged "
        "over the rows.",
        plain=lambda y, t: f"SUMXMY2({y},{t})/2/ROWS({y})",
    ),
    Loss(
        name="cross_entropy_error",
        function=losses.cross_entropy_error,
        excel_name="CROSS_ENTROPY_ERROR",
        help="Cross-entropy error: -SUM(t*LN(y+1E-07)) per sample (row), averaged "
        "over the rows.",
        plain=lambda y, t: (
            f"-SUMPRODUCT({t},LN({y}+{formula_number(losses.DELTA)}))/ROWS({y})"
        ),
    ),
)

#: The loss table by name (``"cross_entropy_error"``).
LOSSES = {loss.name: loss for loss in LOSS_TABLE}


def get_loss(name: str) -> Loss:
    """The loss called ``name``, or a ValueError listing the known ones."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(
            f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}"
        ) from None
