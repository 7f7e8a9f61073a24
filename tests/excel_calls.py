"""What Excel hands xlnn's functions, and a call through xlwings' real path.

Error values are literals for the tests, from the sources named beside them.
:func:`call` needs the xlwings Office.js setup of tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import atexit

import xlwings
import xlwings.server

from xlnn import udfs

# The COM error ints of classic xlwings (read raw): -2146828288 + n for
# CVErr(n). The first seven as listed in xlwings' docs and its own table
# (xlwings/_xlwindows.py, cell_errors); the others from the XlCVError numbers
# in Microsoft's reference (xlErrSpill = 2045) and Excel's type library
# (exceljava/jinx-com4j XlCVError.java: xlErrGettingData 2043, xlErrConnect
# 2046, xlErrBlocked 2047, xlErrUnknown 2048, xlErrField 2049, xlErrCalc 2050).
COM_ERRORS = {
    -2146826281: "#DIV/0!",
    -2146826246: "#N/A",
    -2146826259: "#NAME?",
    -2146826288: "#NULL!",
    -2146826252: "#NUM!",
    -2146826265: "#REF!",
    -2146826273: "#VALUE!",
    -2146826245: "#GETTING_DATA",
    -2146826243: "#SPILL!",
    -2146826242: "#CONNECT!",
    -2146826241: "#BLOCKED!",
    -2146826240: "#UNKNOWN!",
    -2146826239: "#FIELD!",
    -2146826238: "#CALC!",
}


# Office.js error cells as Excel sends them to a custom function (xlwings docs).
# basicValue -> errorType: Office.js Excel.ErrorCellValueType names.
ERROR_TYPES = {
    "#DIV/0!": "Div0",
    "#N/A": "NotAvailable",
    "#NAME?": "Name",
    "#NULL!": "Null",
    "#NUM!": "Num",
    "#REF!": "Ref",
    "#VALUE!": "Value",
}


def error_in(text):
    return {"type": "Error", "basicValue": text, "errorType": ERROR_TYPES[text]}


def error_out(text):
    """A real error cell in xlwings' Office.js result (runtime 1.4)."""
    return {"type": "Error", "errorType": ERROR_TYPES[text]}


#: One event loop for all calls, as xlwings Server runs its functions in one:
#: a new loop per call (asyncio.run) cost more than the call itself.
_LOOP = asyncio.new_event_loop()
atexit.register(_LOOP.close)


def run(coroutine):
    """Run ``coroutine`` to its end on the tests' one event loop."""
    return _LOOP.run_until_complete(coroutine)


def call(function, *args, runtime="1.4"):
    """Call ``function`` as Excel does through xlwings' Office.js runtime."""
    payload = {
        "func_name": function.__name__,
        "args": list(args),
        "version": xlwings.__version__,
        "runtime": runtime,
    }
    return run(xlwings.server.custom_functions_call(payload, udfs))
