"""xlnn.udfs through xlwings' real Office.js path (xlwings Lite / xlwings Server).

Every call goes through ``xlwings.server.custom_functions_call``, the code that
converts Excel's JSON arguments, calls the function and converts the result
back. tests/conftest.py sets XLWINGS_ON_SERVER=true (and the noncommercial
license key) before xlwings is first imported, so ``xlwings.func`` and
``xlwings.arg`` are xlwings.server's real decorators here.
"""

from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import pytest
import xlwings
import xlwings.server
from covering import each_once
from excel_calls import COM_ERRORS, ERROR_TYPES, call, error_in, error_out

from xlnn import activations, udfs
from xlnn.functions import cells

NA = error_in("#N/A")

# Which activation each Excel function computes, by Excel name.
ELEMENTWISE = {
    "STEP": activations.step,
    "SIGMOID": activations.sigmoid,
    "RELU": activations.relu,
    "IDENTITY": activations.identity,
    "TANH": activations.tanh,
    "SOFTPLUS": activations.softplus,
    "GELU": activations.gelu,
    "GELU_TANH": activations.gelu_tanh,
    "SILU": activations.silu,
    "HARD_SIGMOID": activations.hard_sigmoid,
    "LEAKY_RELU": activations.leaky_relu,  # default alpha 0.01
    "ELU": activations.elu,  # default alpha 1
}
GROUPED = {"SOFTMAX": activations.softmax, "LOG_SOFTMAX": activations.log_softmax}
ACTIVATION = {**ELEMENTWISE, **GROUPED}

BY_NAME = {f.excel_name: f for f in udfs.FUNCTIONS}


def _kind(cell):
    if cell is None or cell == "":
        return "blank", None
    if isinstance(cell, dict):
        return "error", cell["basicValue"]
    if isinstance(cell, str):
        return "error", "#VALUE!"
    return "number", float(cell)


def expected_elementwise(activation, grid):
    """Expected Office.js result: the activation on the grid's numbers."""
    kinds = [[_kind(cell) for cell in row] for row in grid]
    numbers = np.array([[p if k == "number" else 0.0 for k, p in row] for row in kinds])
    computed = activation(numbers)
    out = []
    for row, values in zip(kinds, computed.tolist(), strict=True):
        out_row = []
        for (kind, payload), value in zip(row, values, strict=True):
            if kind == "blank":
                out_row.append("")
            elif kind == "error":
                out_row.append(error_out(payload))
            elif math.isfinite(value):
                out_row.append(value)
            else:
                out_row.append(error_out("#NUM!"))
        out.append(out_row)
    return out


def assert_grouped(activation, grid, result, axis):
    """Check a SOFTMAX/LOG_SOFTMAX result group by group against ``activation``."""
    rows, columns = len(grid), len(grid[0])
    assert [len(row) for row in result] == [columns] * rows
    if axis is None:
        groups = [[(r, c) for r in range(rows) for c in range(columns)]]
    elif axis == 1:
        groups = [[(r, c) for c in range(columns)] for r in range(rows)]
    else:
        groups = [[(r, c) for r in range(rows)] for c in range(columns)]
    for group in groups:
        kinds = [_kind(grid[r][c]) for r, c in group]
        outs = [result[r][c] for r, c in group]
        errors = [payload for kind, payload in kinds if kind == "error"]
        if errors:
            assert outs == [error_out(errors[0])] * len(group)
            continue
        numbers = [p for k, p in kinds if k == "number"]
        expected = iter(activation(np.array(numbers)).tolist()) if numbers else iter(())
        for (kind, _), out in zip(kinds, outs, strict=True):
            if kind == "blank":
                assert out == ""
                continue
            value = next(expected)
            if math.isfinite(value):
                assert out == pytest.approx(value, rel=1e-15, abs=0)
            else:  # log_softmax of 1e308 next to -1e308 is -inf
                assert out == error_out("#NUM!")


# --- The runtime is really xlwings.server --------------------------------------


def test_xlwings_server_decorators_are_active():
    assert xlwings.on_server is True
    assert xlwings.func is xlwings.server.func
    assert hasattr(udfs.sigmoid, "__xlfunc__")
    assert udfs.sigmoid.__xlfunc__["excel_name"] == "SIGMOID"
    assert all(hasattr(f, "__xlfunc__") for f in udfs.FUNCTIONS)


def test_every_function_is_covered_here():
    # DENSE takes W and b besides x: tests/test_dense.py covers it; the losses
    # take y and t: tests/test_loss_functions.py.
    losses = {"MEAN_SQUARED_ERROR", "CROSS_ENTROPY_ERROR"}
    assert set(BY_NAME) == set(ACTIVATION) | {"DENSE"} | losses
    assert len(udfs.FUNCTIONS) == len(BY_NAME)


# --- Calls ------------------------------------------------------------------

MIXED = [
    [0.5, "", None, -2.0],
    [True, False, "abc", "1.5"],
    [NA, error_in("#DIV/0!"), 3.0, -0.25],
    [1e308, -1e308, 1000.0, -1000.0],
]

_ELEMENTWISE_FUNCTIONS = [pytest.param(BY_NAME[n], id=n) for n in ELEMENTWISE]
_GROUPED_FUNCTIONS = [pytest.param(BY_NAME[n], id=n) for n in GROUPED]
_ACTIVATION_FUNCTIONS = [pytest.param(BY_NAME[n], id=n) for n in ACTIVATION]


SHAPES = {
    "row": [[0.25, -3.0, 7.0]],
    "column": [[0.25], [""], [-3.0]],
    "single": [[2.0]],
    "single-bool": [[True]],
    "single-empty-string": [[""]],
    "single-none": [[None]],
    "single-error": [[NA]],
    "single-text": [["1.5"]],
    "all-errors": [[error_in(e) for e in ERROR_TYPES]],
}


# Every function on the grid that holds every kind of cell; the other shapes
# once each: every elementwise function reads and writes cells by the same
# cells.apply_elementwise.
@pytest.mark.parametrize(
    ("function", "grid"),
    [pytest.param(BY_NAME[n], MIXED, id=f"{n}-2d-mixed") for n in ELEMENTWISE]
    + [
        pytest.param(BY_NAME[n], SHAPES[shape], id=f"{n}-{shape}")
        for n, shape in each_once(list(ELEMENTWISE), list(SHAPES))
    ],
)
def test_elementwise_functions(function, grid):
    activation = ELEMENTWISE[function.excel_name]
    assert call(function, grid) == expected_elementwise(activation, grid)


def test_single_cells_come_back_as_one_cell():
    assert call(udfs.sigmoid, [[0.0]]) == [[0.5]]
    assert call(udfs.sigmoid, [[""]]) == [[""]]
    assert call(udfs.sigmoid, [[None]]) == [[""]]
    assert call(udfs.sigmoid, [[NA]]) == [
        [{"type": "Error", "errorType": "NotAvailable"}]
    ]
    assert call(udfs.step_function, [[0.0]]) == [[0.0]]  # book: step(0) = 0


def test_book_sigmoid_figures_through_office_js():
    # book, ch. 3 (sigmoid)
    assert call(udfs.sigmoid, [[-1.0, 1.0, 2.0]]) == [
        [0.2689414213699951, 0.7310585786300049, 0.8807970779778823]
    ]


def test_errors_come_back_as_real_error_cells():
    result = call(udfs.relu, [[error_in(e) for e in ERROR_TYPES] + ["text"]])
    assert result == [
        [
            {"type": "Error", "errorType": "Div0"},
            {"type": "Error", "errorType": "NotAvailable"},
            {"type": "Error", "errorType": "Name"},
            {"type": "Error", "errorType": "Null"},
            {"type": "Error", "errorType": "Num"},
            {"type": "Error", "errorType": "Ref"},
            {"type": "Error", "errorType": "Value"},
            {"type": "Error", "errorType": "Value"},
        ]
    ]


def test_overflowing_result_becomes_num_error():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # alpha * x overflows
        result = call(udfs.leaky_relu, [[-1e308, 2.0]], [[1e10]])
    assert result == [[{"type": "Error", "errorType": "Num"}, 2.0]]


# Newer errors as Office.js sends them: basicValue and Excel.ErrorCellValueType
# (learn.microsoft.com/javascript/api/excel/excel.errorcellvaluetype).
NEWER_ERRORS = {
    "#SPILL!": "Spill",
    "#CALC!": "Calc",
    "#FIELD!": "Field",
    "#BLOCKED!": "Blocked",
    "#CONNECT!": "Connect",
    "#BUSY!": "Busy",
    "#GETTING_DATA": "GettingData",
}


def newer_error(text):
    return {"type": "Error", "basicValue": text, "errorType": NEWER_ERRORS[text]}


# Every function and every newer error once: the errors are one rule of cells.
@pytest.mark.parametrize(
    ("function", "text"),
    [
        pytest.param(BY_NAME[n], text, id=f"{n}-{text}")
        for n, text in each_once(list(ELEMENTWISE), list(NEWER_ERRORS))
    ],
)
def test_errors_a_custom_function_cannot_return_become_value_errors(function, text):
    # Custom functions can return only the seven classic errors (Office.js
    # CustomFunctions.ErrorCode); newer ones come back as #VALUE!, and as
    # their own text below runtime 1.4.
    result = call(function, [[newer_error(text), 1.0]])
    assert result[0][0] == {"type": "Error", "errorType": "Value"}
    assert (
        result[0][1]
        == expected_elementwise(ELEMENTWISE[function.excel_name], [[1.0]])[0][0]
    )
    assert call(function, [[newer_error(text)]], runtime="1.3") == [[text]]


@pytest.mark.parametrize("function", _GROUPED_FUNCTIONS)
@pytest.mark.parametrize("text", [*NEWER_ERRORS, "#NULL!"])
def test_newer_errors_poison_their_group(function, text):
    cell = newer_error(text) if text in NEWER_ERRORS else error_in(text)
    result = call(function, [[1.0, cell], [2.0, 2.0]], runtime="1.3")
    assert result[0] == [text, text]
    assert result[1] == pytest.approx(GROUPED[function.excel_name]([2.0, 2.0]).tolist())


# --- SOFTMAX and LOG_SOFTMAX ------------------------------------------------------

GROUPED_GRIDS = [
    pytest.param([[0.3, 2.9, 4.0]], id="row"),
    pytest.param([[0.3], [2.9], [""], [4.0]], id="column"),
    pytest.param(
        [[1.0, "", 2.0], [NA, 1.0, "abc"], ["", None, ""], [3.0, True, False]], id="2d"
    ),
    pytest.param([[1010.0, 1000.0, 990.0], [1e308, -1e308, 0.0]], id="2d-large"),
]


@pytest.mark.parametrize("function", _GROUPED_FUNCTIONS)
@pytest.mark.parametrize("grid", GROUPED_GRIDS)
@pytest.mark.parametrize(
    ("direction", "axis_2d"),
    [
        pytest.param(None, 1, id="omitted"),
        pytest.param([[None]], 1, id="none"),
        pytest.param([[""]], 1, id="blank"),
        pytest.param([["rows"]], 1, id="rows"),
        pytest.param([["Columns"]], 0, id="columns"),
        pytest.param([["ALL"]], None, id="all"),
    ],
)
# [1e308, -1e308] hits a known activations overflow warning (see
# test_activations.py); the results are still right.
def test_grouped_functions(function, grid, direction, axis_2d):
    activation = GROUPED[function.excel_name]
    args = [grid] if direction is None else [grid, direction]
    result = call(function, *args)
    single_line = len(grid) == 1 or len(grid[0]) == 1
    automatic = direction is None or direction in ([[None]], [[""]])
    axis = None if (automatic and single_line) else axis_2d
    assert_grouped(activation, grid, result, axis)


def test_softmax_book_figures_through_office_js():
    # book, ch. 3 (softmax examples); rel 1e-15 (the sum's last bit may vary)
    result = call(udfs.softmax, [[0.3, 2.9, 4.0], [1010.0, 1000.0, 990.0]])
    assert result[0] == pytest.approx(
        [0.018211273295547531, 0.24519181293507392, 0.73659691376937864], rel=1e-15
    )
    assert result[1] == pytest.approx(
        [0.99995460007033099, 4.5397868608866663e-05, 2.0610600462090622e-09], rel=1e-15
    )


def test_softmax_single_cell_and_blank_groups():
    assert call(udfs.softmax, [[5.0]]) == [[1.0]]
    assert call(udfs.softmax, [[""]]) == [[""]]
    assert call(udfs.softmax, [["", None], [2.0, 2.0]]) == [["", ""], [0.5, 0.5]]
    assert call(udfs.log_softmax, [[0.0, 1000.0]]) == [[-1000.0, 0.0]]


@pytest.mark.parametrize("function", _GROUPED_FUNCTIONS)
@pytest.mark.parametrize("bad", ["diagonal", 1.0, True, ["rows", "columns"]])
def test_bad_direction_raises_naming_the_allowed_values(function, bad):
    direction = [bad] if isinstance(bad, list) else [[bad]]
    with pytest.raises(cells.ArgumentError) as info:
        call(function, [[1.0, 2.0], [3.0, 4.0]], direction)
    message = str(info.value)
    for allowed in ('"rows"', '"columns"', '"all"'):
        assert allowed in message


# --- LEAKY_RELU's alpha ---------------------------------------------------------


@pytest.mark.parametrize(
    ("alpha", "slope"),
    [
        pytest.param(None, 0.01, id="omitted"),
        pytest.param([[None]], 0.01, id="none"),
        pytest.param([[""]], 0.01, id="blank"),
        pytest.param([[0.5]], 0.5, id="0.5"),
        pytest.param([[2]], 2.0, id="int"),
        pytest.param([[0.0]], 0.0, id="zero"),
    ],
)
def test_leaky_relu_alpha(alpha, slope):
    grid = [[-4.0, "", 3.0], [NA, -0.5, True]]
    args = [grid] if alpha is None else [grid, alpha]
    expected = expected_elementwise(lambda x: activations.leaky_relu(x, slope), grid)
    assert call(udfs.leaky_relu, *args) == expected


@pytest.mark.parametrize("alpha", [[[0.5, 0.6]], [[0.5], [0.6]]], ids=["row", "column"])
def test_leaky_relu_range_alpha_raises(alpha):
    with pytest.raises(cells.ArgumentError, match="alpha"):
        call(udfs.leaky_relu, [[-1.0]], alpha)


@pytest.mark.parametrize(
    ("alpha", "error"),
    [
        pytest.param([[NA]], "#N/A", id="error"),
        pytest.param([[error_in("#DIV/0!")]], "#DIV/0!", id="div0"),
        pytest.param([["#N/A"]], "#N/A", id="error-text"),
        pytest.param([[newer_error("#SPILL!")]], "#VALUE!", id="spill"),
        pytest.param([["abc"]], "#VALUE!", id="text"),
        pytest.param([["0.5"]], "#VALUE!", id="numeric-text"),
        pytest.param([[{"basicValue": 0.5}]], "#VALUE!", id="unknown-dict"),
        pytest.param([[10**400]], "#NUM!", id="huge-int"),
    ],
)
def test_leaky_relu_alpha_error_fills_every_cell(alpha, error):
    grid = [[-4.0, "", 3.0], [NA, -0.5, True]]
    assert call(udfs.leaky_relu, grid, alpha) == [[error_out(error)] * 3] * 2
    assert call(udfs.leaky_relu, [[-1.0]], alpha) == [[error_out(error)]]


def test_leaky_relu_alpha_error_below_runtime_1_4_is_text():
    spill = [[newer_error("#SPILL!")]]
    assert call(udfs.leaky_relu, [[-1.0, 2.0]], spill, runtime="1.3") == [
        ["#SPILL!", "#SPILL!"]
    ]


# --- The same shape on every runtime ---------------------------------------------

# Custom functions requirement sets 1.1 to 1.5 (learn.microsoft.com/javascript/
# api/requirement-sets/excel/custom-functions-requirement-sets). Every function
# goes through the same ShownCells and cells.to_excel, whose one branch is
# typed errors from 1.4 on: 1.3 and 1.4 here, one of each; every runtime,
# and ones it does not know, in test_cells.test_to_excel_always_gives_rows.
RUNTIMES = ["1.3", "1.4"]


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("function", _ACTIVATION_FUNCTIONS)
def test_single_cell_is_one_cell_on_every_runtime(function, runtime):
    value = call(function, [[0.0]], runtime=runtime)
    assert isinstance(value, list) and len(value) == 1 and len(value[0]) == 1
    assert type(value[0][0]) is float
    assert call(function, [[""]], runtime=runtime) == [[""]]
    typed = runtime in ("1.4", "1.5")
    na = error_out("#N/A") if typed else "#N/A"
    assert call(function, [[NA]], runtime=runtime) == [[na]]
    assert call(function, [[0.0, NA]], runtime=runtime)[0][1] == na


# --- Office.js rich values -------------------------------------------------------


@pytest.mark.parametrize("function", _ELEMENTWISE_FUNCTIONS)
def test_rich_values(function):
    grid = [
        [
            {"type": "Double", "basicValue": 1.5},
            {"type": "FormattedNumber", "basicValue": 0.25, "numberFormat": "0%"},
            {"type": "Boolean", "basicValue": True},
            {"type": "Empty", "basicValue": ""},
        ]
    ]
    numbers = [[1.5, 0.25, True, ""]]
    expected = expected_elementwise(ELEMENTWISE[function.excel_name], numbers)
    assert call(function, grid) == expected


UNKNOWN_SHAPES = [
    {},
    {"basicValue": 1.5},
    {"type": "Double"},
    {"type": "Double", "basicValue": "1.5"},
    {"type": "Double", "basicValue": {"type": "Double", "basicValue": 1.5}},
    {"type": "String", "basicValue": "abc"},
    {"type": "Error"},
    {"type": "Error", "basicValue": "oops"},
    {"type": "Entity", "text": "Seattle", "properties": {}},
    {"type": "WebImage", "basicValue": "#VALUE!", "address": "https://x"},
]


# Every function and every unknown shape once: one rule of cells reads them all.
@pytest.mark.parametrize(
    ("function", "cell"),
    [
        pytest.param(BY_NAME[n], cell, id=f"{n}-{k}")
        for k, (n, cell) in enumerate(each_once(list(ACTIVATION), UNKNOWN_SHAPES))
    ],
)
def test_rich_values_of_unknown_shape_are_value_errors(function, cell):
    value = error_out("#VALUE!")
    result = call(function, [[cell, 1.0], [1.0, 1.0]])
    assert result[0][0] == value
    if function.excel_name in GROUPED:  # the first row is one group
        assert result[0][1] == value
    assert call(function, [[cell]]) == [[value]]


# --- Integers beyond float64 ------------------------------------------------------


# Every function and both signs once: one rule of cells reads the integers.
@pytest.mark.parametrize(
    ("function", "huge"),
    [
        pytest.param(BY_NAME[n], huge, id=f"{n}-{'+' if huge > 0 else '-'}")
        for n, huge in each_once(list(ACTIVATION), [10**400, -(10**400)])
    ],
)
def test_integers_beyond_float_range_are_num_errors(function, huge):
    num = error_out("#NUM!")
    assert call(function, [[huge]]) == [[num]]
    result = call(function, [[huge, 1.0], [1.0, 1.0]])
    assert result[0][0] == num
    if function.excel_name in GROUPED:
        assert result[0][1] == num


# --- Classic xlwings' COM error ints, through the same adapters --------------------


@pytest.fixture
def classic(monkeypatch):
    """The adapters as classic xlwings runs them: COM error ints are errors.

    Classic xlwings passes no runtime to the result converter (runtime None):
    errors come back as text, in a list of rows.
    """
    monkeypatch.setattr(udfs, "CLASSIC", True)
    return lambda function, *args: call(function, *args, runtime=None)


@pytest.mark.parametrize("function", _ELEMENTWISE_FUNCTIONS)
def test_classic_com_errors_are_error_cells(classic, function):
    codes = sorted(COM_ERRORS)
    assert classic(function, [codes]) == [[COM_ERRORS[c] for c in codes]]
    assert classic(function, [[codes[0]]]) == [[COM_ERRORS[codes[0]]]]


# Both grouped functions and every COM error once: one lookup reads the codes.
@pytest.mark.parametrize(
    ("function", "code"),
    [
        pytest.param(BY_NAME[n], code, id=f"{n}-{code}")
        for n, code in each_once(list(GROUPED), sorted(COM_ERRORS))
    ],
)
def test_classic_com_errors_poison_their_group(classic, function, code):
    result = classic(function, [[1.0, code], [2.0, 2.0]])
    assert result[0] == [COM_ERRORS[code]] * 2
    assert result[1] == pytest.approx(
        [0.5, 0.5] if function is udfs.softmax else [math.log(0.5)] * 2
    )


@pytest.mark.parametrize("code", sorted(COM_ERRORS))
def test_classic_com_error_as_alpha_fills_every_cell(classic, code):
    assert classic(udfs.leaky_relu, [[-1.0, 2.0]], [[code]]) == [[COM_ERRORS[code]] * 2]


# --- Metadata Excel registers ---------------------------------------------------


@pytest.fixture(scope="module")
def meta():
    return xlwings.server.custom_functions_meta(udfs)


def test_meta_function_names(meta):
    names = sorted(f["name"] for f in meta["functions"])
    assert names == sorted(
        [
            "SIGMOID",
            "RELU",
            "STEP",
            "SOFTMAX",
            "IDENTITY",
            "TANH",
            "LEAKY_RELU",
            "ELU",
            "SOFTPLUS",
            "GELU",
            "GELU_TANH",
            "SILU",
            "HARD_SIGMOID",
            "LOG_SOFTMAX",
            "DENSE",
            "MEAN_SQUARED_ERROR",
            "CROSS_ENTROPY_ERROR",
        ]
    )
    ids = {f["name"]: f["id"] for f in meta["functions"]}
    assert ids["STEP"] == "STEP_FUNCTION"
    assert ids["SIGMOID"] == "SIGMOID"
    assert len(set(ids.values())) == len(ids)


def test_meta_descriptions_and_parameter_help(meta):
    by_name = {f["name"]: f for f in meta["functions"]}
    for excel_name, function in BY_NAME.items():
        entry = by_name[excel_name]
        description = entry["description"]
        assert description and not description.startswith("Python function")
        assert description == inspect.getdoc(function).splitlines()[0]
        parameters = inspect.signature(function).parameters
        assert [p["name"] for p in entry["parameters"]] == list(parameters)
        for parameter in entry["parameters"]:
            assert parameter["description"].strip()
            assert not parameter["description"].startswith("Positional argument")
            has_default = (
                parameters[parameter["name"]].default is not inspect.Parameter.empty
            )
            assert parameter.get("optional", False) is has_default
        assert entry["result"]["dimensionality"] == "matrix"


def test_meta_optional_parameters(meta):
    optional = {
        (f["name"], p["name"])
        for f in meta["functions"]
        for p in f["parameters"]
        if p.get("optional")
    }
    assert optional == {
        ("LEAKY_RELU", "alpha"),
        ("ELU", "alpha"),
        ("SOFTMAX", "direction"),
        ("LOG_SOFTMAX", "direction"),
        ("DENSE", "activation"),
        ("DENSE", "parameter"),
    }


def test_meta_lets_errors_in(meta):
    # Without these, Excel would not call the function for error cells at all.
    assert meta["allowErrorForDataTypeAny"] is True
    for entry in meta["functions"]:
        for parameter in entry["parameters"]:
            assert parameter["type"] == "any"


# --- argument errors on their way to Excel ----------------------------------------


@pytest.mark.parametrize(
    ("function", "args", "words"),
    [
        pytest.param(udfs.softmax, ([[1.0]], [["sideways"]]), '"rows"', id="direction"),
        pytest.param(
            udfs.dense, ([[1.0]], [[1.0]], [[0.0]], [["swish"]]), "sigmoid", id="name"
        ),
        pytest.param(
            udfs.dense, ([[1.0]], [[1.0, 2.0]], [[0.0]]), "b must be", id="shape"
        ),
        pytest.param(udfs.leaky_relu, ([[1.0]], [[1.0, 2.0]]), "alpha", id="alpha"),
        pytest.param(
            udfs.sigmoid, ([[0.0] * 2001] * 2000,), "at most 4,000,000", id="size"
        ),
    ],
)
def test_argument_errors_reach_xlwings_as_xlwings_errors(function, args, words):
    """xlwings Server shows an XlwingsError's message in the cell (HTTP 400)."""
    with pytest.raises(xlwings.XlwingsError) as info:
        call(function, *args)
    assert isinstance(info.value, cells.ArgumentError)  # still a ValueError too
    assert type(info.value).__name__ == "ArgumentError"  # what classic and Lite show
    assert words in str(info.value)


def test_registered_functions_keep_their_signatures():
    assert list(inspect.signature(udfs.leaky_relu).parameters) == ["x", "alpha"]
    assert list(inspect.signature(udfs.dense).parameters) == [
        "x",
        "W",
        "b",
        "activation",
        "parameter",
    ]
