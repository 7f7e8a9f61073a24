"""The script ``train_network`` in the workbook: find the cells, write the new sheet.

Only the workbook's side is here, the same for every xlwings Book (classic
Excel through COM, xlwings Lite and xlwings Server through Office.js): which
cells hold the data and the settings, their values as xlwings reads them
(raw), a sheet name not yet taken, and writing the layout. What the cells
mean and the training are :mod:`xlnn.training.from_cells`'s; the sheet's layout is
:mod:`xlnn.samples.trained`'s.

Where the data comes from: the ranges named ``train_x`` and ``train_t``
(workbook scope) when the workbook defines them, otherwise the selection,
cut to the sheet's used range (selecting whole columns A:E is fine).
"""

from __future__ import annotations

from dataclasses import dataclass

from xlnn.samples.trained import trained_sheet
from xlnn.sheets import book_writer
from xlnn.sheets.flavors import Flavor
from xlnn.sheets.layout import Block, BookLayout
from xlnn.training import from_cells
from xlnn.training.from_cells import NamedCell, TrainingRefused

#: The names of the data's ranges.
INPUTS_NAME, LABELS_NAME = "train_x", "train_t"
#: The new sheet's name, and after it " 2", " 3", ... until one is free.
SHEET_NAME = "trained"


@dataclass(frozen=True)
class Plan:
    """What :func:`train_into` writes: the sheet's layout, the data and the run."""

    layout: BookLayout
    data: from_cells.TrainingData
    run: from_cells.Run

    @property
    def title(self) -> str:
        return self.layout.sheet_titles[0]

    def summary(self) -> str:
        return self.run.summary(self.data, self.title)


def is_classic(book) -> bool:
    """Whether ``book`` is classic Excel's (COM: error cells come as ints)."""
    return book.app.engine.type != "remote"


def book_names(book) -> dict[str, object]:
    """The workbook-scoped names of ``book``, by lower-case name."""
    found = {}
    for name in book.names:
        if "!" not in name.name:  # sheet-scoped names read Sheet1!name
            found[name.name.lower()] = name
    return found


def _block(rng) -> Block:
    rows, cols = rng.shape
    return Block(rng.sheet.name, rng.row, rng.column, rows, cols)


def _named_range(name, text: str):
    try:
        return name.refers_to_range
    except Exception:  # a constant or a formula: xlwings' errors differ by engine
        raise TrainingRefused(
            f"the name {text} must refer to a range of cells, not {name.refers_to!r}"
        ) from None


def _raw(rng, block: Block, what: str):
    from_cells.check_size(block.rows, block.cols, what)
    return rng.raw_value


def read_data(book, names: dict) -> from_cells.TrainingData:
    """The samples: from ``train_x`` and ``train_t`` if named, else the selection."""
    classic = is_classic(book)
    found = [name for name in (INPUTS_NAME, LABELS_NAME) if name in names]
    if len(found) == 1:
        missing = LABELS_NAME if found == [INPUTS_NAME] else INPUTS_NAME
        raise TrainingRefused(
            f"this workbook names {found[0]} but not {missing}: name both (the "
            "inputs and the labels), or delete the name to train on the selection"
        )
    if found:
        x_range = _named_range(names[INPUTS_NAME], INPUTS_NAME)
        t_range = _named_range(names[LABELS_NAME], LABELS_NAME)
        x_block, t_block = _block(x_range), _block(t_range)
        from_cells.check_size(
            x_block.rows, x_block.cols + t_block.cols, "train_x and train_t"
        )
        return from_cells.from_names(
            x_range.raw_value, x_block, t_range.raw_value, t_block, classic
        )
    selection = _selection(book)
    block = _block(selection)
    return from_cells.from_selection(
        _raw(selection, block, f"the selection {block.sheet}!{block.coordinates}"),
        block,
        classic,
    )


def _selection(book):
    """The selected cells, cut to the used range of their sheet."""
    try:
        selection = book.selection
    except Exception:  # several areas: the Office.js address does not parse
        selection = None
    # Office.js gives a range without an address when a shape is selected.
    if selection is None or getattr(selection.impl, "arg1", True) is None:
        raise TrainingRefused(
            "select the data (one block of cells: a sample per row, the labels in "
            "the last column), or name the ranges train_x and train_t"
        )
    used = selection.sheet.used_range
    last_row = min(selection.row + selection.shape[0], used.row + used.shape[0]) - 1
    last_col = min(selection.column + selection.shape[1], used.column + used.shape[1])
    last_col -= 1
    if last_row < selection.row or last_col < selection.column:
        raise TrainingRefused(
            f"the selection {selection.sheet.name}!{selection.address} is empty: "
            "select the data, a sample per row, the labels in the last column"
        )
    return selection.sheet.range(
        (selection.row, selection.column), (last_row, last_col)
    )


def read_settings(book, names: dict) -> from_cells.Settings:
    """Settings from their named cells (:data:`~xlnn.training.from_cells.SETTINGS`)."""
    cells = {}
    for setting in from_cells.SETTINGS:
        name = names.get(setting.name)
        if name is None:
            continue
        rng = _named_range(name, setting.name)
        block = _block(rng)
        where = f"{block.sheet}!{block.coordinates}"
        from_cells.check_size(block.rows, block.cols, f"the name {setting.name}")
        cells[setting.name] = NamedCell(rng.raw_value, where)
    return from_cells.settings_from_cells(cells, is_classic(book))


def fresh_title(book) -> str:
    """``trained``, or ``trained 2``, ... : the first name no sheet has."""
    taken = {sheet.name.lower() for sheet in book.sheets}
    title, number = SHEET_NAME, 1
    while title.lower() in taken:
        number += 1
        title = f"{SHEET_NAME} {number}"
    return title


def plan(book, flavor: Flavor) -> Plan:
    """Read, check and train; the sheet to write. Raises :class:`TrainingRefused`."""
    names = book_names(book)
    settings = read_settings(book, names)
    data = read_data(book, names)
    title = fresh_title(book)
    trained_sheet(title, data, from_cells.untrained(data, settings), flavor)
    run = from_cells.train(data, settings)
    return Plan(trained_sheet(title, data, run, flavor), data, run)


def train_into(book, flavor: Flavor, *, spill: bool) -> Plan:
    """Train on ``book``'s data and add the new sheet; nothing is written on refusal."""
    done = plan(book, flavor)
    book_writer.write(done.layout, book, spill=spill)
    book.sheets[done.title].activate()
    return done
