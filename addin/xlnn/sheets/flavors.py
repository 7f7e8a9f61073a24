"""The workbooks' two flavors: how each writes an activation as formula text.

- ``plain``: built-in functions only (EXP, ABS, IF, MAX, SUM, TANH, LN, ERFC, SQRT, PI),
  for any Excel, LibreOffice and other spreadsheets, with no add-in. The text
  of each activation comes from :mod:`xlnn.functions.catalog`.
- ``addin``: a call of xlnn's Excel function, ``SIGMOID(B4:D4)``.

A flavor's formula for a grouped activation (softmax) normalizes the whole
range it is given; :attr:`Flavor.groups_whole_range` says whether a range of
several samples can still be one formula (the add-in's SOFTMAX groups by rows).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from xlnn.functions.catalog import Activation, formula_number


@dataclass(frozen=True)
class Flavor:
    """One way of writing the workbooks' formulas.

    ``verified_by`` names the engine that recalculates this flavor's files
    (``"libreoffice"`` or ``"formulas"``); ``note`` is the line every sheet
    shows about it. ``namespace`` is the prefix the runtime puts before the
    add-in's function names (``XLWINGS`` in ``=XLWINGS.SIGMOID(...)``), or
    empty for none. ``vba_names`` calls the functions by the names of classic
    xlwings' VBA wrappers, their Python names in capitals (``STEP_FUNCTION``:
    ``Step`` is a VBA keyword). ``binding_help`` is what every sheet says to
    do when the formulas show ``#NAME?``, one line each (the first one a
    caption).
    """

    name: str
    note: str
    verified_by: str
    add_in: bool
    namespace: str = ""
    vba_names: bool = False
    binding_help: tuple[str, ...] = ()

    def activation(
        self, activation: Activation, ref: str, parameter: float | None = None
    ) -> str:
        """Formula body (no ``=``) applying ``activation`` to range ``ref``.

        ``parameter`` is the activation's parameter (LEAKY_RELU's alpha), or
        None for its default, which leaves the text as it was without one.

        >>> from xlnn.functions.catalog import get
        >>> leaky_relu = get("leaky_relu")
        >>> ADDIN.activation(leaky_relu, "A1:C1", 0.2)
        'LEAKY_RELU(A1:C1,0.2)'
        >>> PLAIN.activation(leaky_relu, "A1:C1", 0.2)
        'IF(A1:C1>0,A1:C1,0.2*A1:C1)'
        """
        if not self.add_in:
            return activation.formula(ref, parameter)
        activation.label(parameter)  # refuses a parameter it does not take
        function = (
            activation.python_name.upper() if self.vba_names else activation.excel_name
        )
        arguments = ref if parameter is None else f"{ref},{formula_number(parameter)}"
        return self.call(function, arguments)

    def call(self, function: str, arguments: str) -> str:
        """Formula body calling the add-in's ``function`` (``DENSE``) as named here.

        The name is prefixed with the namespace, if any; it must be the same
        for Office.js and classic xlwings' VBA wrapper (all but STEP's are).

        >>> ADDIN.in_namespace("xlwings").call("DENSE", 'A1:B2,W,b,"sigmoid"')
        'XLWINGS.DENSE(A1:B2,W,b,"sigmoid")'
        """
        if not self.add_in:
            raise ValueError(f"the {self.name} flavor calls no add-in function")
        prefix = f"{self.namespace}." if self.namespace else ""
        return f"{prefix}{function}({arguments})"

    def in_namespace(self, namespace: str) -> Flavor:
        """This flavor, with the add-in's functions called as ``NAMESPACE.NAME``."""
        return dataclasses.replace(self, namespace=namespace.upper())

    def entered_live(self) -> Flavor:
        """This flavor for formulas entered into an open workbook: they bind at
        once, so the sheets need no help on binding."""
        return dataclasses.replace(self, binding_help=())

    def for_classic(self) -> Flavor:
        """This flavor for classic xlwings: VBA wrapper names, no namespace."""
        return dataclasses.replace(self, namespace="", vba_names=True)

    def formula_note(self, activation: Activation) -> str:
        """What a reader of this flavor's formula for ``activation`` should be told."""
        return "" if self.add_in else activation.plain_note

    def rows_in_one_formula(self, activation: Activation) -> bool:
        """Whether one formula can apply ``activation`` to several sample rows.

        Plain Excel has no per-row MAX inside one array formula (BYROW needs
        Excel 365), so plain softmax takes one formula per row.
        """
        return self.add_in or not activation.grouped


PLAIN = Flavor(
    name="plain",
    note="Plain flavor: only built-in formulas, so it works in any Excel, "
    "LibreOffice or other spreadsheet, with no add-in.",
    verified_by="libreoffice",
    add_in=False,
)
#: What an add-in file says about #NAME?, per runtime: Excel links a formula to
#: an add-in's function only when it parses it, so formulas read before the
#: functions loaded stay #NAME? until entered again (see xlnn.excel.binding).
BINDING_HELP = (
    "If cells show #NAME?, Excel read this file before xlnn's functions were "
    "loaded: load them, then enter the formulas again, as follows.",
    "xlwings Lite: with xlnn's functions and scripts loaded (README, \"xlwings "
    'Lite"), run the script bind_formulas in the xlwings Lite pane.',
    "xlwings Server: run the script bind_formulas from the add-in (it writes the "
    "server's names, such as XLWINGS.SIGMOID).",
    "Classic xlwings (Windows): save as .xlsm, set UDF Modules to xlnn.udfs and "
    "click Import Functions; then run  xlnn bind  in a terminal,",
    "or use Find & Replace (Ctrl+H) on all sheets: replace = with =, then STEP( "
    "with STEP_FUNCTION( (classic xlwings calls STEP so).",
)

ADDIN = Flavor(
    name="addin",
    note="Add-in flavor: the formulas call xlnn's functions (SIGMOID, SOFTMAX, "
    "...) through xlwings. In classic xlwings on Windows, STEP is STEP_FUNCTION.",
    verified_by="formulas",
    add_in=True,
    binding_help=BINDING_HELP,
)

#: Every flavor, by name, in the order ``xlnn build`` writes them.
FLAVORS = {flavor.name: flavor for flavor in (PLAIN, ADDIN)}


def naive_softmax(ref: str) -> str:
    """The textbook softmax without the max shift: overflows past EXP(709.78)."""
    return f"EXP({ref})/SUM(EXP({ref}))"
