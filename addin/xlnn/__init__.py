"""xlnn: neural-network building blocks for Excel.

- :mod:`xlnn.activations`: the activation functions, in plain NumPy.
- :mod:`xlnn.functions.cells`: the rules that turn Excel cells into arrays and back.
- :mod:`xlnn.udfs`: the Excel functions, registered through xlwings.
"""


def __getattr__(name: str):
    # __version__ is read from package metadata when first asked for: importing
    # importlib.metadata would cost every ``import xlnn``, each command's too,
    # a few milliseconds.
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    global __version__
    try:
        __version__ = version("xlnn")
    except PackageNotFoundError:  # running from a source tree that is not installed
        __version__ = "0.0.0+unknown"
    return __version__
