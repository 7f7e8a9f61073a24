"""The Excel functions: the module you register with xlwings.

Each function is a thin adapter: Excel cells in (:mod:`xlnn.functions.cells`), an
activation from :mod:`xlnn.activations`, cells out. DENSE, one dense layer
of a network, takes its activation by name from the same table. The losses
(MEAN_SQUARED_ERROR, CROSS_ENTROPY_ERROR) come from the catalog's loss table
in the same way and return one number. The same module serves
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

import functools
import inspect
import sys

import numpy as np
import xlwings
from xlwings import arg, func, ret
from xlwings.conversion import Converter

from xlnn.functions import catalog, cells
from xlnn.functions.catalog import Activation, Loss

# Classic xlwings hands error cells over as COM error ints, Office.js as text.
CLASSIC = sys.platform == "win32" and not getattr(xlwings, "on_server", False)

RANGE_HELP = (
    f"A cell, row, column or 2-D range of numbers, at most {cells.MAX_CELLS:,} "
    "cells. Blanks stay blank, text gives #VALUE!, errors pass through."
)


class ShownCells(Converter):
    """Hands a result from :mod:`xlnn.functions.cells` to Excel as it is.

    The cell rules already made floats, blanks ("") and error text, so
    xlwings' per-cell conversion is skipped; :func:`xlnn.functions.cells.to_excel`
    makes it a list of rows, with typed errors for the Office.js runtime
    (which xlwings passes in ``options``) 1.4 and later.
    """

    base_type = "raw"

    @staticmethod
    def write_value(value, options):
        return cells.to_excel(value, options.get("runtime"))


class ArgumentError(cells.ArgumentError, xlwings.XlwingsError):
    """A :class:`~xlnn.functions.cells.ArgumentError` on its way to Excel, unchanged.

    xlwings Server answers an ``XlwingsError`` with its message and HTTP 400,
    which the add-in shows in the cell without retrying; any other exception
    becomes a retried HTTP 500 "An error occurred.". Classic xlwings and
    xlwings Lite show the message as before: the class is still a
    ``cells.ArgumentError`` (a ``ValueError``) named ArgumentError.
    """


def _showing_argument_errors(function):
    """``function``, with its argument errors raised as :class:`ArgumentError`."""

    @functools.wraps(function)
    def adapter(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except cells.ArgumentError as error:
            raise ArgumentError(*error.args) from error

    return adapter


def _adapter(activation: Activation):
    """The Excel function for ``activation``: cells in, NumPy, cells out."""
    function = activation.function
    if activation.grouped:

        def adapter(x, direction=None):
            # exp(-inf) is 0: a blank cell takes no part in its group.
            return cells.apply_grouped(function, x, direction, -np.inf, CLASSIC)

    elif activation.parameter is not None:
        parameter = activation.parameter

        def adapter(x, value=None):
            number = cells.Number(value, default=parameter.default)
            return cells.apply_elementwise(
                function, x, CLASSIC, **{parameter.name: number}
            )

        # Excel, xlwings and the VBA wrapper show the table's parameter name.
        signature = inspect.signature(adapter)
        x_parameter, value_parameter = signature.parameters.values()
        adapter.__signature__ = signature.replace(
            parameters=[x_parameter, value_parameter.replace(name=parameter.name)]
        )

    else:

        def adapter(x):
            return cells.apply_elementwise(function, x, CLASSIC)

    return adapter


DIRECTION_HELP = (
    f"Optional: which cells form one group, summing to 1: {cells.DIRECTION_CHOICES}"
    " (any case). Default: a row or column is one group, a 2-D range is grouped "
    "by rows."
)


def _excel_function(function, excel_name: str, arg_help: dict):
    """Register ``function`` with xlwings as ``excel_name``.

    Each argument comes raw, for the cell rules to read, with its help from
    ``arg_help``; the result goes out as the rules made it (:class:`ShownCells`).
    """
    adapter = _showing_argument_errors(function)
    for name, help_text in arg_help.items():
        adapter = arg(name, "raw", doc=help_text)(adapter)
    adapter = func(name=excel_name)(ret(ShownCells)(adapter))
    adapter.excel_name = excel_name
    adapter.arg_help = arg_help
    return adapter


def _register(activation: Activation):
    """Register ``activation``'s adapter with xlwings, named as the table says."""
    adapter = _adapter(activation)
    adapter.__name__ = adapter.__qualname__ = activation.python_name
    adapter.__doc__ = activation.help
    arg_help = {"x": RANGE_HELP}
    if activation.grouped:
        arg_help["direction"] = DIRECTION_HELP
    if activation.parameter is not None:
        arg_help[activation.parameter.name] = activation.parameter.help
    return _excel_function(adapter, activation.excel_name, arg_help)


def _layer_activation(activation: Activation):
    """DENSE's ``activation``: the NumPy function, with the parameter if given."""
    function = activation.function
    if activation.parameter is not None:
        return function

    def without_parameter(sums, *parameter):
        if parameter:
            raise cells.ArgumentError(
                f"{activation.name} takes no parameter; leave DENSE's fifth "
                "argument out"
            )
        return function(sums)

    return without_parameter


#: DENSE's activations, by the table's names.
LAYER_ACTIVATIONS = {
    activation.name: _layer_activation(activation) for activation in catalog.TABLE
}

DENSE_HELP = {
    "x": "The inputs, one sample per row (a row or a 2-D range). A blank row "
    "gives a blank row; text or an error gives an error in its own row only.",
    "W": "The weights: one row per input (column of x), one column per output.",
    "b": "The biases: a row of one value per column of W.",
    "activation": 'Optional: "sigmoid", "relu", "softmax", ... (any case); '
    "blank means identity. Softmax normalizes each row.",
    "parameter": "Optional: the activation's parameter, such as leaky_relu's or "
    "elu's alpha; blank means its default.",
}


def dense(x, W, b, activation=None, parameter=None):
    """Dense layer: activation(MMULT(x, W) + b), each row of x one sample."""
    choice = cells.Choice(activation, LAYER_ACTIVATIONS, "identity", "activation")
    return cells.apply_dense(x, W, b, choice, CLASSIC, parameter)


LOSS_HELP = {
    "y": "The outputs, one sample per row (a single row or column is one "
    "sample). A row of blanks, with its t, takes no part.",
    "t": "The targets in y's shape (one-hot for classes), or one column of "
    "0-based class indices, one per row of y (one cell for one sample).",
}


def _register_loss(loss: Loss):
    """Register ``loss``'s Excel function with xlwings, named as the table says."""
    function = loss.function

    def adapter(y, t):
        return cells.apply_loss(function, y, t, CLASSIC)

    adapter.__name__ = adapter.__qualname__ = loss.python_name
    adapter.__doc__ = loss.help
    return _excel_function(adapter, loss.excel_name, LOSS_HELP)


#: Every Excel function of this module: the activations' table, in its order,
#: then DENSE, then the losses' table.
FUNCTIONS = [_register(activation) for activation in catalog.TABLE]
FUNCTIONS.append(_excel_function(dense, "DENSE", DENSE_HELP))
FUNCTIONS.extend(_register_loss(loss) for loss in catalog.LOSS_TABLE)

# xlwings finds functions as attributes of this module, by their Python name;
# ``from xlnn.udfs import *`` (xlwings Lite's main.py) takes ``__all__``.
globals().update({function.__name__: function for function in FUNCTIONS})
__all__ = [function.__name__ for function in FUNCTIONS]


def by_excel_name() -> dict:
    """Every Excel function of this module, keyed by its name in Excel."""
    return {function.excel_name: function for function in FUNCTIONS}


def excel_signature(function) -> str:
    """``LEAKY_RELU(x, [alpha])``: the Excel name, optional arguments bracketed."""
    parts = [
        f"[{p.name}]" if p.default is not inspect.Parameter.empty else p.name
        for p in inspect.signature(function).parameters.values()
    ]
    return f"{function.excel_name}({', '.join(parts)})"


class NoSuchFunction(xlwings.XlwingsError, AttributeError):
    """A call of a function xlnn does not have (see :func:`function_named`)."""


def function_named(name: str):
    """xlwings Server's ``custom_functions``' module ``__getattr__`` (PEP 562).

    xlwings Server looks a called function up by the name the request gives:
    its add-in sends the Python name (``sigmoid``), found without this. A
    client that sends a name from the metadata instead, the function's
    ``name`` (``SIGMOID``, ``STEP``) or ``id`` (``STEP_FUNCTION``), in any
    case, gets the same function. Any other name raises
    :class:`NoSuchFunction`, listing the functions: an ``XlwingsError``, which
    xlwings Server answers with HTTP 400 and the message (rather than 500), and
    an ``AttributeError``, so that ``hasattr`` and ``getattr(m, name, None)``
    on the module still work.
    """
    if not (name.startswith("__") and name.endswith("__")):
        names = by_excel_name() | {f.__name__.upper(): f for f in FUNCTIONS}
        if name.upper() in names:
            return names[name.upper()]
    raise NoSuchFunction(
        f"xlnn has no function {name!r}; its functions are "
        f"{', '.join(sorted(by_excel_name()))}"
    )
