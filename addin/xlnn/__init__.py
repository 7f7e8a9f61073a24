"""xlnn: neural-network building blocks for Excel.

- :mod:`xlnn.activations`: the activation functions, in plain NumPy.
- :mod:`xlnn.functions.cells`: the rules that turn Excel cells into arrays and back.
- :mod:`xlnn.udfs`: the Excel functions, registered through xlwings.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("xlnn")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
