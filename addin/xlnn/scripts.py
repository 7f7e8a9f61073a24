"""xlwings scripts: put a sample into the open workbook, where its formulas bind.

Each ``insert_*`` script lays out a sample in the add-in flavor
(:mod:`xlnn.samples`) and writes it into the calling workbook through
xlwings' Book API (:mod:`xlnn.book_writer`). The same code runs in xlwings
Lite and xlwings Server (the scripts below, where dynamic arrays let every
block's formula spill from its top-left cell) and in classic Excel through
COM (``xlnn insert SAMPLE``, with legacy array formulas unless ``--spill``).

Function names in the formulas carry the namespace the runtime gives xlnn's
functions (see :func:`function_namespace`).
"""

import os

import xlwings as xw
from xlwings import script

from xlnn import book_writer, samples, udfs
from xlnn.flavors import ADDIN

#: Where xlwings Server's setting for its functions' namespace is read from.
SERVER_NAMESPACE_VARIABLE = "XLWINGS_FUNCTIONS_NAMESPACE"
#: xlwings' module attribute for a namespace of the module's own functions.
MODULE_NAMESPACE_ATTRIBUTE = "__xlwings_func_namespace__"


def function_namespace() -> str:
    """The prefix Excel shows before xlnn's functions: ``XLWINGS`` in XLWINGS.SIGMOID.

    As xlwings builds it: the add-in's own namespace (xlwings Server's
    ``XLWINGS_FUNCTIONS_NAMESPACE`` setting, which ``xlnn serve`` sets; none in
    xlwings Lite), then the module's ``__xlwings_func_namespace__``, joined
    by a dot. Empty when neither is set.
    """
    parts = [
        os.environ.get(SERVER_NAMESPACE_VARIABLE, ""),
        getattr(udfs, MODULE_NAMESPACE_ATTRIBUTE, "") or "",
    ]
    return ".".join(part.upper() for part in parts if part)


def insert(book, sample: str, *, spill: bool, namespace: str | None = None) -> None:
    """Write ``sample`` (a name in :data:`xlnn.samples.SAMPLES`) into ``book``.

    ``namespace`` defaults to :func:`function_namespace`. Raises
    :class:`xlnn.book_writer.BookConflict`, before writing anything, if the
    book already has one of the sample's sheets or names.
    """
    if sample not in samples.SAMPLES:
        raise ValueError(
            f"unknown sample {sample!r}; choose one of {', '.join(samples.SAMPLES)}"
        )
    if namespace is None:
        namespace = function_namespace()
    layout = samples.SAMPLES[sample](ADDIN.in_namespace(namespace))
    book_writer.write(layout, book, spill=spill)


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
async def bind_formulas(book: xw.Book):
    """Enter again every formula that calls an xlnn function, so #NAME? cells bind."""
    from xlnn import binding

    entries = await binding.bind(book, namespace=function_namespace())
    print(binding.summary(entries))
