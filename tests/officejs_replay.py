"""Replay an xlwings script's Office.js actions, and evaluate them as Excel 365 would.

A test helper, not part of the package. An xlwings script run through
``xlwings.server.custom_scripts_call`` with a JSON book returns the actions the
Office.js add-in would apply to the open workbook (``book.json()["actions"]``).
:class:`Replay` applies them to a small model of a workbook (sheets, constant
cells, formulas in the order written, defined names; formatting is recorded,
not interpreted), and :meth:`Replay.evaluate` computes every formula with the
``formulas`` package's compiler and xlnn's functions registered, as they are
registered in the runtime (``XLWINGS.SIGMOID`` under a namespace).

Why not load a file into ``formulas.ExcelModel``: ``formulas`` 1.3.4 does not
spill. A one-cell formula (``setFormula``, which Office.js enters as a dynamic
array formula) whose result is an array keeps only its top-left value there.
Here it spills as in Excel 365: its values fill the range right and down from
its cell, and a spill range that is not empty gives ``#SPILL!``. A legacy array
formula (``setFormulaArray``) fills its own range as Excel does: a single row
or column repeats, a larger range is padded with ``#N/A``. With
``dynamic_arrays=False`` a one-cell formula shows its top-left value, as in an
Excel without dynamic arrays.

Formulas are evaluated once each, in the order written; a formula whose cell
(or array range) another formula reads is computed first, wherever it was
written (the digits sheet writes its pixel row below the layers that read it).
A blank cell that a spill fills only later raises :class:`ReplayError` if a
formula read it first, so an order the replay cannot follow is never mistaken
for a blank.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import xlwings
from openpyxl.utils import get_column_letter, range_boundaries

Cell = tuple[str, int, int]  # (sheet, row, col), 1-based as in xlnn.sheets.layout.Block


def json_book(sheets=("Sheet1",), *, selection="A1", names=()) -> xlwings.Book:
    """A JSON book as the Office.js add-in sends it, for xlwings' script path.

    ``sheets`` names the sheets (each one empty cell), or maps each name to
    its values, a list of rows. ``names`` are (name, address) pairs on the
    first sheet, in the workbook's scope.
    """
    if not isinstance(sheets, Mapping):
        sheets = {name: [[""]] for name in sheets}
    payload = {
        "client": "Office.js",
        "version": xlwings.__version__,
        "book": {"name": "Book1.xlsx", "active_sheet_index": 0, "selection": selection},
        "names": [
            {"name": name, "sheet_index": 0, "address": address, "book_scope": True,
             "scope_sheet_name": None, "scope_sheet_index": None}
            for name, address in names
        ],
        "sheets": [
            {"name": name, "values": values, "pictures": [], "tables": []}
            for name, values in sheets.items()
        ],
    }  # fmt: skip
    return xlwings.Book(json=copy.deepcopy(payload))  # xlwings appends to it


class ReplayError(RuntimeError):
    """The actions do something this replay does not model, or Excel refuses."""


@dataclass(frozen=True)
class Written:
    """One formula as the add-in enters it.

    ``array`` is a legacy array formula over the whole ``rows`` x ``cols``
    range; otherwise the formula sits in its top-left cell alone and spills.
    """

    sheet: str
    row: int
    col: int
    text: str
    array: bool = False
    rows: int = 1
    cols: int = 1

    @property
    def anchor(self) -> Cell:
        return (self.sheet, self.row, self.col)

    @property
    def address(self) -> str:
        return f"{self.sheet}!{get_column_letter(self.col)}{self.row}"

    def cells(self) -> Iterable[Cell]:
        for i in range(self.rows):
            for j in range(self.cols):
                yield (self.sheet, self.row + i, self.col + j)


@dataclass
class Replay:
    """A workbook built from Office.js actions: sheets, constants, formulas, names."""

    sheets: list[str] = field(default_factory=lambda: ["Sheet1"])
    constants: dict[Cell, object] = field(default_factory=dict)
    #: Formulas by anchor cell, in the order written.
    formulas: dict[Cell, Written] = field(default_factory=dict)
    #: Defined names, upper-cased, to what they refer to (``='network'!$B$3:$D$4``).
    names: dict[str, str] = field(default_factory=dict)
    #: Every other action (formats, widths, frozen panes), as sent.
    formatting: list[dict] = field(default_factory=list)
    #: Each cell of a legacy array formula, to that formula.
    in_array: dict[Cell, Written] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, actions: Iterable[Mapping], sheets=("Sheet1",)) -> Replay:
        """The workbook that ``actions`` make of a book with ``sheets``."""
        replay = cls(sheets=list(sheets))
        for action in actions:
            replay.apply(action)
        return replay

    # --- applying actions ---------------------------------------------------

    def apply(self, action: Mapping) -> None:
        kind = action["func"]
        if kind == "addSheet":
            self._add_sheet(*action["args"])
        elif kind == "setValues":
            for cell, value in self._targets(action):
                self._put(cell, value)
        elif kind in ("setFormula", "setFormula2"):
            for cell, value in self._targets(action):
                if isinstance(value, str) and value.startswith("="):
                    self._put(cell, Written(*cell, text=value))
                else:
                    self._put(cell, value)
        elif kind == "setFormulaArray":
            sheet, row, col = self._origin(action)
            rows, cols = action["row_count"], action["column_count"]
            (text,) = action["args"]  # xlwings sends a one-item list
            formula = Written(sheet, row, col, text, True, rows, cols)
            self._put_array(formula)
        elif kind == "namesAdd":
            name, refers_to = action["args"]
            if name.upper() in self.names:
                raise ReplayError(f"the name {name!r} is defined twice")
            self.names[name.upper()] = refers_to
        else:
            self.formatting.append(dict(action))

    def _add_sheet(self, position: int, name: str) -> None:
        if name.lower() in (sheet.lower() for sheet in self.sheets):
            raise ReplayError(f"a sheet is already called {name!r}")
        self.sheets.insert(position, name)

    def _origin(self, action: Mapping) -> Cell:
        sheet = self.sheets[action["sheet_position"]]
        return sheet, action["start_row"] + 1, action["start_column"] + 1

    def _targets(self, action: Mapping):
        """Each (cell, value) of an action's 2-D ``values``, which fit its range."""
        sheet, row, col = self._origin(action)
        values = action["values"]
        shape = (action["row_count"], action["column_count"])
        if not isinstance(values, list) or np.shape(values) != shape:
            raise ReplayError(
                f"{action['func']} at {sheet}!{get_column_letter(col)}{row}: values "
                f"of shape {np.shape(values)} for a {shape} range are not modelled"
            )
        for i, line in enumerate(values):
            for j, value in enumerate(line):
                yield (sheet, row + i, col + j), value

    def _put(self, cell: Cell, content) -> None:
        self._refuse_part_of_array(cell)
        self.constants.pop(cell, None)
        self.formulas.pop(cell, None)  # written again: it moves to the end
        if isinstance(content, Written):
            self.formulas[cell] = content
        elif content not in (None, ""):
            self.constants[cell] = content

    def _put_array(self, written: Written) -> None:
        for cell in written.cells():
            self._put(cell, None)
            self.in_array[cell] = written
        self.formulas[(written.sheet, written.row, written.col)] = written

    def _refuse_part_of_array(self, cell: Cell) -> None:
        if cell in self.in_array:
            # Excel: "You can't change part of an array."
            raise ReplayError(
                f"{_name(cell)} is part of the array formula at "
                f"{self.in_array[cell].address}"
            )

    # --- evaluating ---------------------------------------------------------

    def evaluate(
        self, *, namespace: str = "", dynamic_arrays: bool = True
    ) -> dict[str, dict[str, object]]:
        """Compute every formula; ``{sheet: {"A1": value}}`` as Excel would show it.

        xlnn's functions are registered as ``NAMESPACE.NAME`` (``SIGMOID`` when
        ``namespace`` is empty) for the evaluation only, as the runtime registers
        them. Blanks are left out; errors are their text (``"#NAME?"``).
        """
        with np.errstate(all="ignore"), _xlnn_functions(namespace):
            cells = _Evaluation(self, dynamic_arrays=dynamic_arrays).run()
        values: dict[str, dict[str, object]] = {sheet: {} for sheet in self.sheets}
        for (sheet, row, col), value in cells.items():
            value = _shown(value)
            if value is not None:
                values[sheet][f"{get_column_letter(col)}{row}"] = value
        return values


class _Evaluation:
    """One pass over a replay's formulas, in the order written."""

    def __init__(self, replay: Replay, *, dynamic_arrays: bool):
        self.replay = replay
        self.dynamic_arrays = dynamic_arrays
        self.cells: dict[Cell, object] = dict(replay.constants)
        #: Cells no spill may cover: constants and every formula's own cells.
        self.occupied = set(replay.constants)
        for written in replay.formulas.values():
            self.occupied.update(written.cells())
        self.pending = set(replay.formulas)  # anchors not computed yet
        self.computing: set[Cell] = set()
        self.read_blank: dict[Cell, str] = {}  # a blank cell -> who read it

    def run(self) -> dict[Cell, object]:
        for anchor in self.replay.formulas:
            if anchor in self.pending:
                self._evaluate(anchor)
        return self.cells

    def _evaluate(self, anchor: Cell) -> None:
        written = self.replay.formulas[anchor]
        if anchor in self.computing:
            raise ReplayError(f"{written.address}: a circular reference")
        self.computing.add(anchor)
        result = self._compute(written)
        self.computing.discard(anchor)
        self.pending.discard(anchor)
        if written.array:
            self._fill(written, result)
        else:
            self._spill(written, result)

    def _compute(self, written: Written) -> np.ndarray:
        import formulas
        from schedula.utils.exc import DispatcherError

        try:
            function = formulas.Parser().ast(written.text)[1].compile()
        except Exception as error:
            raise ReplayError(f"{written.address}: {written.text}: {error}") from error
        arguments = [self._argument(name, written) for name in function.inputs]
        try:
            result = function(*arguments)
        except DispatcherError as error:
            if isinstance(error.args[-1], NotImplementedError):
                return _error("#NAME?")  # a function nobody registered
            raise ReplayError(f"{written.address}: {written.text}: {error}") from error
        return np.atleast_2d(np.asarray(result, dtype=object))

    def _argument(self, reference: str, reader: Written):
        bounds = self._resolve(reference, reader)
        if bounds is None:
            return _error("#NAME?")  # Excel's answer to an undefined name
        from formulas.ranges import Ranges

        sheet, min_col, min_row, max_col, max_row = bounds
        block = np.empty((max_row - min_row + 1, max_col - min_col + 1), dtype=object)
        for i, row in enumerate(range(min_row, max_row + 1)):
            for j, col in enumerate(range(min_col, max_col + 1)):
                block[i, j] = self._read((sheet, row, col), reader)
        # A reference with its values, as formulas' ExcelModel passes one:
        # ROWS and COLUMNS read its address, the other functions its values.
        first = f"{get_column_letter(min_col)}{min_row}"
        last = f"{get_column_letter(max_col)}{max_row}"
        quoted = sheet.replace("'", "''")
        return Ranges().push(f"'{quoted}'!{first}:{last}", block)

    def _resolve(self, reference: str, reader: Written):
        """(sheet, min_col, min_row, max_col, max_row) of a range or a name."""
        if reference.upper() in self.replay.names:
            reference = self.replay.names[reference.upper()].lstrip("=")
        sheet, _, cells = reference.rpartition("!")
        sheet = (
            self._sheet(sheet.strip("'").replace("''", "'")) if sheet else reader.sheet
        )
        try:
            bounds = range_boundaries(cells)
        except ValueError:
            return None
        if None in bounds:
            message = f"whole rows or columns ({reference}) are not modelled"
            raise ReplayError(f"{reader.address}: {message}")
        return (sheet, *bounds)

    def _sheet(self, name: str) -> str:
        for sheet in self.replay.sheets:  # formulas upper-cases sheet names
            if sheet.lower() == name.lower():
                return sheet
        raise ReplayError(f"a formula refers to a sheet {name!r} that does not exist")

    def _read(self, cell: Cell, reader: Written):
        import schedula

        if cell in self.pending:
            self._evaluate(cell)  # a formula written after the one reading it
        elif cell in self.replay.in_array and cell not in self.cells:
            self._evaluate(self.replay.in_array[cell].anchor)
        if cell not in self.cells:
            self.read_blank.setdefault(cell, reader.address)
            return schedula.EMPTY
        return _formulas_value(self.cells[cell])

    def _store(self, cell: Cell, value) -> None:
        if cell in self.read_blank:
            raise ReplayError(
                f"{self.read_blank[cell]} read {_name(cell)} while it was blank; "
                "a formula written later fills it"
            )
        self.cells[cell] = value

    def _fill(self, written: Written, result: np.ndarray) -> None:
        """A legacy array formula's values over its range, as Excel fills it."""
        rows, cols = result.shape
        for i in range(written.rows):
            for j in range(written.cols):
                inside = (rows == 1 or i < rows) and (cols == 1 or j < cols)
                value = result[min(i, rows - 1), min(j, cols - 1)] if inside else None
                self._store(
                    (written.sheet, written.row + i, written.col + j),
                    value if inside else _error("#N/A")[0, 0],
                )

    def _spill(self, written: Written, result: np.ndarray) -> None:
        """A one-cell formula's values, spilled right and down from its cell."""
        anchor = (written.sheet, written.row, written.col)
        if result.shape == (1, 1) or not self.dynamic_arrays:
            self._store(anchor, result[0, 0])
            return
        targets = [
            (written.sheet, written.row + i, written.col + j)
            for i in range(result.shape[0])
            for j in range(result.shape[1])
        ]
        if any(cell in self.occupied for cell in targets[1:]):
            self._store(anchor, _error("#SPILL!")[0, 0])
            return
        self.occupied.update(targets)
        for cell, value in zip(targets, result.flat, strict=True):
            self._store(cell, value)


def _name(cell: Cell) -> str:
    sheet, row, col = cell
    return f"{sheet}!{get_column_letter(col)}{row}"


def _error(text: str) -> np.ndarray:
    from formulas.tokens.operand import Error, XlError

    block = np.empty((1, 1), dtype=object)
    block[0, 0] = Error.errors.get(text) or XlError(text)
    return block


def _formulas_value(value):
    """A stored cell as ``formulas`` computes with it (see formulas_engine)."""
    from xlnn.engines.formulas_engine import formulas_cell

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return formulas_cell(value)


def _shown(value):
    """A computed cell as Excel shows it: a blank read by ``=A1`` shows 0."""
    import schedula

    from xlnn.engines.formulas_engine import python_value

    if value is schedula.EMPTY:
        return 0.0
    value = python_value(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "#NUM!"
    return value


@contextlib.contextmanager
def _xlnn_functions(namespace: str):
    """xlnn's functions in ``formulas``' registry, named as the runtime names them.

    The registry is global to the process: entries are restored afterwards, so
    that a namespaced replay leaves no plain names behind (and the reverse).
    """
    import formulas

    from xlnn import udfs
    from xlnn.engines.formulas_engine import formulas_function

    registry = formulas.get_functions()
    # Excel's own functions (TANH is one), before anyone registered over them.
    built_in = formulas.get_functions.__wrapped__()
    prefix = f"{namespace.upper()}." if namespace else ""
    ours = {
        f"{prefix}{name}".upper(): formulas_function(adapter)
        for name, adapter in udfs.by_excel_name().items()
    }
    # Under a namespace, a plain SIGMOID must not bind, whoever registered it
    # in this process (formulas_engine does); a plain TANH is Excel's own.
    hidden = {name.upper() for name in udfs.by_excel_name()} - set(ours)
    saved = {name: registry[name] for name in (*ours, *hidden) if name in registry}
    for name in hidden:
        registry.pop(name, None)
        if name in built_in:
            registry[name] = built_in[name]
    registry.update(ours)
    try:
        yield
    finally:
        for name in (*ours, *hidden):
            registry.pop(name, None)
        registry.update(saved)
