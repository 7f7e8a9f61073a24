"""xlwings scripts: put a sample into the open workbook, where its formulas bind;
train a network on the workbook's data.

Each ``insert_*`` script lays out a sample in the add-in flavor
(:mod:`xlnn.samples`) and writes it into the calling workbook through
xlwings' Book API (:mod:`xlnn.sheets.book_writer`). The same code runs in xlwings
Lite and xlwings Server (the scripts below, where dynamic arrays let every
block's formula spill from its top-left cell) and in classic Excel through
COM (``xlnn insert SAMPLE``, with legacy array formulas unless ``--spill``).

``train_network`` trains the book's two-layer network on the selected data
(or the ranges named ``train_x`` and ``train_t``) and adds a sheet whose
``DENSE`` formulas predict with the trained weights
(:mod:`xlnn.excel.training`); in classic Excel, :func:`train_in_active_book`.

Function names in the formulas carry the namespace the runtime gives xlnn's
functions (see :func:`function_namespace`).
"""

import os
import sys

import xlwings as xw
from xlwings import script

from xlnn import samples, udfs
from xlnn.errors import UserError
from xlnn.excel import CLASSIC_EXCEL, binding
from xlnn.excel.binding import NoExcel
from xlnn.sheets import book_writer
from xlnn.sheets.flavors import ADDIN

#: The scripts, and only they: what ``from xlnn.scripts import *`` gives
#: xlwings Server's ``custom_scripts``, which calls any of its attributes by
#: name over HTTP (helpers such as :func:`insert`, or ``os``, must not be).
__all__ = [
    "insert_activations",
    "insert_three_layer_network",
    "insert_digits",
    "insert_training",
    "bind_formulas",
    "train_network",
]

#: Where xlwings Server's setting for its functions' namespace is read from.
SERVER_NAMESPACE_VARIABLE = "XLWINGS_FUNCTIONS_NAMESPACE"
#: xlwings Server's environment: dev, qa, uat, staging or prod (its default).
SERVER_ENVIRONMENT_VARIABLE = "XLWINGS_ENVIRONMENT"
#: xlwings' module attribute for a namespace of the module's own functions.
MODULE_NAMESPACE_ATTRIBUTE = "__xlwings_func_namespace__"


def server_namespace() -> str:
    """The namespace xlwings Server's manifest gives its add-in: ``XLWINGS``.

    As xlwings Server 1.20's ``templates/manifest.xml`` builds it: the
    ``XLWINGS_FUNCTIONS_NAMESPACE`` setting in capitals, and outside the
    ``prod`` environment the environment's name after an underscore
    (``XLWINGS_DEV``; only ``DEV`` when the setting is empty). Empty where the
    setting is not in the environment (xlwings Lite, classic xlwings):
    ``xlnn serve`` always puts it there.
    """
    if SERVER_NAMESPACE_VARIABLE not in os.environ:
        return ""
    namespace = os.environ[SERVER_NAMESPACE_VARIABLE].upper()
    environment = os.environ.get(SERVER_ENVIRONMENT_VARIABLE, "prod")
    if environment == "prod":
        return namespace
    return "_".join(part for part in (namespace, environment.upper()) if part)


def function_namespace() -> str:
    """The prefix Excel shows before xlnn's functions: ``XLWINGS`` in XLWINGS.SIGMOID.

    As xlwings builds it: the add-in's own namespace (xlwings Server's, see
    :func:`server_namespace`; none in xlwings Lite), then the module's
    ``__xlwings_func_namespace__``, joined by a dot. Empty when neither is set.
    """
    parts = [
        server_namespace(),
        getattr(udfs, MODULE_NAMESPACE_ATTRIBUTE, "") or "",
    ]
    return ".".join(part.upper() for part in parts if part)


def insert(book, sample: str, *, spill: bool, namespace: str | None = None) -> None:
    """Write ``sample`` (a name in :data:`xlnn.samples.SAMPLES`) into ``book``.

    ``namespace`` defaults to :func:`function_namespace`. Raises
    :class:`xlnn.sheets.book_writer.BookConflict`, before writing anything, if the
    book already has one of the sample's sheets or names.
    """
    _check_sample(sample)
    layout = samples.SAMPLES[sample](live_flavor(namespace))
    book_writer.write(layout, book, spill=spill)


def live_flavor(namespace: str | None = None):
    """The add-in flavor for formulas entered in xlwings Lite or Server.

    ``namespace`` defaults to :func:`function_namespace`.
    """
    if namespace is None:
        namespace = function_namespace()
    return ADDIN.in_namespace(namespace).entered_live()


def _check_sample(sample: str) -> None:
    if sample not in samples.SAMPLES:
        raise ValueError(
            f"unknown sample {sample!r}; choose one of {', '.join(samples.SAMPLES)}"
        )


@script
def insert_activations(book: xw.Book):
    """Add the activations gallery: x from -6 to 6, a column per activation."""
    insert(book, "activations", spill=True)


@script
def insert_three_layer_network(book: xw.Book):
    """Add the book's three-layer network (section 3.4.3) and its batch."""
    insert(book, "three_layer_network", spill=True)


@script
def insert_digits(book: xw.Book):
    """Add the digits classifier: one editable image, and 360 test images."""
    insert(book, "digits", spill=True)


@script
def insert_training(book: xw.Book):
    """Add the training sample: the book's two-layer network learns iris, step by
    step."""
    insert(book, "training", spill=True)


@script
async def bind_formulas(book: xw.Book):
    """Enter again every formula that calls an xlnn function, so #NAME? cells bind."""
    entries = await binding.bind(book, namespace=function_namespace())
    print(binding.summary(entries))


@script
def train_network(book: xw.Book):
    """Train a neural network on the selected data; add a sheet that predicts.

    Select the data first: one sample per row, the inputs (numbers) in every
    column but the last, the labels (numbers or text) in the last column; a
    first row of headers is recognized. Or name the inputs `train_x` and the
    labels `train_t` (one column, or one-hot rows): the names win over the
    selection.

    Optional named cells change the run (defaults in brackets): `hidden_size`
    (10), `epochs` (100), `learning_rate` (0.1), `batch_size` (10), `seed` (0).

    The book's two-layer network (sigmoid, then softmax) is trained by
    minibatch gradient descent in NumPy. A new sheet, `trained` (or
    `trained 2`, ...), gets the weights, the loss after each epoch, and
    DENSE formulas that predict with the weights on the rows trained on.
    Nothing is written when the data or a setting is refused: the message
    names the cell.
    """
    from xlnn.excel import training

    try:
        done = training.train_into(book, live_flavor(), spill=True)
    except UserError as error:
        _refuse("train_network", error)
        return
    print(done.summary())


class ScriptRefused(xw.XlwingsError):
    """A script's refusal (bad data, a taken name): xlwings Server answers it
    with HTTP 400 and the message, which its add-in shows."""


def _refuse(name: str, error: UserError) -> None:
    """Report a refusal where the user of each runtime looks, without a traceback.

    xlwings Lite shows what a script prints in its pane (and a traceback for
    an exception); xlwings Server shows the message of an ``XlwingsError``.
    """
    print(f"{name}: {error}")
    if sys.platform != "emscripten":  # xlwings Lite runs in Pyodide
        raise ScriptRefused(f"{name}: {error}") from None


class NoSuchScript(xw.XlwingsError, AttributeError):
    """A request for a script xlnn does not have (see :func:`no_such_script`)."""


def no_such_script(name: str):
    """xlwings Server's ``custom_scripts``' module ``__getattr__`` (PEP 562).

    Raises :class:`NoSuchScript`, listing the scripts: an ``XlwingsError``, so
    that xlwings Server answers HTTP 400 with the message, and an
    ``AttributeError``, so that ``hasattr`` and ``getattr(..., None)`` on the
    module still work.
    """
    raise NoSuchScript(
        f"xlnn has no script {name!r}; its scripts are {', '.join(__all__)}"
    )


# --- classic Excel: xlnn insert ------------------------------------------------


def active_book(sample: str):
    """Classic Excel's active workbook, through xlwings (COM on Windows).

    Raises :class:`NoExcel`, naming the script to run instead
    (``insert_<sample>``), when there is no Excel, no xlwings engine or no
    open workbook, or this is not Windows (:data:`xlnn.excel.CLASSIC_EXCEL_WHY`).
    """
    return _active_book(f"insert_{sample}")


def _active_book(script_name: str):
    try:
        return binding.active_book()
    except NoExcel as error:
        raise NoExcel(
            f"needs {CLASSIC_EXCEL} with xlwings installed ({error}); "
            f"in xlwings Lite or xlwings Server, run the script {script_name} "
            "instead"
        ) from error


def insert_into_active_book(sample: str, *, spill: bool = False, book=None) -> str:
    """Write ``sample`` into classic Excel's active workbook; return the book's name.

    Classic xlwings functions have no namespace and carry the VBA wrappers' names
    (STEP_FUNCTION). Without ``spill`` each block
    is a legacy array formula, which every Excel computes; with it, one
    formula per block spills (Excel 365). ``book`` stands in for the active
    workbook (tests). Raises :class:`NoExcel`,
    :class:`xlnn.sheets.book_writer.BookConflict` (before writing anything) or
    ``ValueError`` for an unknown sample.
    """
    _check_sample(sample)
    book = active_book(sample) if book is None else book
    layout = samples.SAMPLES[sample](classic_flavor())
    book_writer.write(layout, book, spill=spill)
    return book.name


def classic_flavor():
    """The add-in flavor for formulas entered through classic xlwings (COM)."""
    return ADDIN.for_classic().entered_live()


def train_in_active_book(*, spill: bool = False, book=None) -> str:
    """``train_network`` in classic Excel's active workbook; return what it says.

    From VBA, with the xlwings add-in: ``RunPython "import xlnn.scripts as s;
    s.train_in_active_book()"``. The formulas call DENSE by its VBA
    wrapper's name; without ``spill`` each is a legacy array formula, which
    every Excel computes. A refusal is shown in a message box (and
    returned): nothing is written then. ``book`` stands in for the active
    workbook (tests). Raises :class:`NoExcel` when there is no Excel.
    """
    from xlnn.excel import training

    book = _active_book("train_network") if book is None else book
    try:
        done = training.train_into(book, classic_flavor(), spill=spill)
    except UserError as error:
        message = f"train_network: {error}"
        book.app.alert(message, "xlnn", mode="critical")
        return message
    return done.summary()
