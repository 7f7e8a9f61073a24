"""The Excel functions: the module you register with xlwings.

Each function is a thin adapter: Excel cells in (:mod:`xlnn.cells`), an
activation from :mod:`xlnn.activations`, cells out. The same module serves
both xlwings runtimes:

- classic xlwings on Windows (``UDF Modules = xlnn.udfs``, then "Import
  Functions"), which writes one VBA wrapper per function, named after the
  Python function;
- Office.js custom functions (xlwings Lite, xlwings Server), where the
  ``name`` given below is the function's name in Excel.

Every argument is read ``"raw"`` and every result written through
:class:`ShownCells`: xlwings' default per-cell conversions are slow on large
ranges (and fold error cells into blanks), and the cell rules here do that
work themselves.

``Step`` is a VBA keyword, so no VBA function can be called STEP. The step
function is therefore the Python function ``step_function`` (the book's own
name): Office.js registers it as STEP, classic xlwings as STEP_FUNCTION.
"""

from __future__ import annotations

import sys

import numpy as np
import xlwings
from xlwings import arg, func, ret
from xlwings.conversion import Converter

from xlnn import activations, cells

# Classic xlwings hands error cells over as COM error ints, Office.js as text.
CLASSIC = sys.platform == "win32" and not getattr(xlwings, "on_server", False)

RANGE_HELP = (
    "A cell, row, column or 2-D range of numbers. Blanks stay blank, "
    "text gives #VALUE!, errors pass through."
)


class ShownCells(Converter):
    """Hands a result from :mod:`xlnn.cells` to Excel as it is.

    The cell rules already made floats, blanks ("") and error text, so
    xlwings' per-cell conversion is skipped; :func:`xlnn.cells.to_excel`
    makes it a list of rows, with typed errors for the Office.js runtime
    (which xlwings passes in ``options``) 1.4 and later.
    """

    base_type = "raw"

    @staticmethod
    def write_value(value, options):
        return cells.to_excel(value, options.get("runtime"))


#: Every Excel function of this module, in the order ``xlnn functions`` lists them.
FUNCTIONS: list = []


def _register(adapter, excel_name: str, **arg_help: str):
    """Register ``adapter`` with xlwings as ``excel_name``, with argument help."""
    for name, help_text in arg_help.items():
        adapter = arg(name, "raw", doc=help_text)(adapter)
    adapter = ret(ShownCells)(adapter)
    adapter = func(name=excel_name)(adapter)
    adapter.excel_name = excel_name
    adapter.arg_help = arg_help
    FUNCTIONS.append(adapter)
    return adapter


def _elementwise(python_name: str, activation, description: str, excel_name=None):
    """Build the Excel function that applies ``activation`` to every cell."""

    def adapter(x):
        return cells.apply_elementwise(activation, x, CLASSIC)

    adapter.__name__ = adapter.__qualname__ = python_name
    adapter.__doc__ = description
    return _register(adapter, excel_name or python_name.upper(), x=RANGE_HELP)


step_function = _elementwise(
    "step_function",
    activations.step,
    "Step function: 1 where x > 0, else 0.",
    excel_name="STEP",
)
sigmoid = _elementwise(
    "sigmoid", activations.sigmoid, "Sigmoid 1/(1+EXP(-x)), stable for any x."
)
relu = _elementwise("relu", activations.relu, "ReLU: MAX(0, x) for each cell.")
identity = _elementwise(
    "identity", activations.identity, "Identity: each number unchanged."
)
tanh = _elementwise("tanh", activations.tanh, "Hyperbolic tangent of each cell.")
elu = _elementwise("elu", activations.elu, "ELU: x where x > 0, else EXP(x)-1.")
softplus = _elementwise(
    "softplus", activations.softplus, "Softplus LN(1+EXP(x)), stable for any x."
)
gelu = _elementwise("gelu", activations.gelu, "GELU: x times the normal CDF of x.")
silu = _elementwise("silu", activations.silu, "SiLU (swish): x * SIGMOID(x).")


def leaky_relu(x, alpha=None):
    """Leaky ReLU: x where x > 0, else alpha * x."""
    alpha = cells.Number(alpha, default=0.01)
    return cells.apply_elementwise(activations.leaky_relu, x, CLASSIC, alpha=alpha)


leaky_relu = _register(
    leaky_relu,
    "LEAKY_RELU",
    x=RANGE_HELP,
    alpha="Slope for x <= 0 (optional, default 0.01).",
)

DIRECTION_HELP = (
    'Optional: "rows" (each row sums to 1), "columns" or "all". '
    "Default: a row or column is one group, a 2-D range is grouped by rows."
)


def softmax(x, direction=None):
    """Softmax: EXP(x)/SUM(EXP(x)) per group, stable for any x; groups sum to 1."""
    # exp(-inf) is 0: a blank cell takes no part in its group.
    return cells.apply_grouped(activations.softmax, x, direction, -np.inf, CLASSIC)


softmax = _register(softmax, "SOFTMAX", x=RANGE_HELP, direction=DIRECTION_HELP)


def log_softmax(x, direction=None):
    """Log-softmax: LN(SOFTMAX(x)) per group, finite where SOFTMAX underflows."""
    return cells.apply_grouped(activations.log_softmax, x, direction, -np.inf, CLASSIC)


log_softmax = _register(
    log_softmax, "LOG_SOFTMAX", x=RANGE_HELP, direction=DIRECTION_HELP
)


def by_excel_name() -> dict:
    """Every Excel function of this module, keyed by its name in Excel."""
    return {function.excel_name: function for function in FUNCTIONS}
