"""The book's ``sample_weight.pkl``: a pickle of a dict of NumPy arrays.

A pickle names functions that unpickling calls, so an ordinary ``pickle.load``
of a stranger's file can run any command. :class:`RestrictedUnpickler` admits
only the globals that rebuilding NumPy arrays needs, as ``pickletools`` shows
them in the book's file (protocol 3)::

    GLOBAL 'numpy.core.multiarray _reconstruct'
    GLOBAL 'numpy ndarray'
    GLOBAL 'numpy dtype'

plus their NumPy 2 spellings (``numpy._core.multiarray``), NumPy scalars
(``scalar``), protocol 5's ``_frombuffer``, the builtin containers, and
``_codecs.encode`` for Latin-1 only (how protocols 0 to 2 store bytes). Any
other global is refused with a :class:`~xlnn.sources.SourceError` naming its
module and name, before it is imported or called.

The arrays are ``W1, b1, ...`` as in :mod:`xlnn.sources.npz_source`. The
book's network (section 3.6.1) is sigmoid, sigmoid, softmax; when no
activations are given a pickle gets sigmoid on every hidden layer and softmax
on the last, which for the book's three layers is exactly that.
"""

from __future__ import annotations

import codecs
import io
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xlnn.model import Model, Source
from xlnn.network import Network
from xlnn.sources import SourceError, file_sha256
from xlnn.sources.npz_source import model_of, network_from_arrays


def _latin1_encode(text, encoding="latin1"):
    # Protocols 0-2 store bytes as _codecs.encode(str, "latin1"); any other
    # codec could mean a codec module nobody asked for.
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(
            f"_codecs.encode is admitted for Latin-1 text only, not {encoding!r}"
        )
    return codecs.encode(text, "latin1")


# The functions themselves, taken from NumPy's own pickling so that neither the
# deprecated numpy.core path nor a NumPy-version check is needed.
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]
_SCALAR = np.float64(0).__reduce__()[0]
_FROMBUFFER = np.ndarray.__reduce_ex__(np.zeros(1), 5)[0]

_NUMPY = {
    "_reconstruct": _RECONSTRUCT,
    "scalar": _SCALAR,
}
_BUILTINS = {
    name: getattr(__import__("builtins"), name)
    # bytes: protocols 0-2 write an empty bytes object as bytes().
    for name in (
        "dict",
        "list",
        "tuple",
        "set",
        "frozenset",
        "bytearray",
        "bytes",
        "complex",
    )
}

#: (module, name) -> the object an admitted global stands for.
ALLOWED = {
    **{(module, name): obj for module in ("numpy.core.multiarray",
                                          "numpy._core.multiarray")
       for name, obj in _NUMPY.items()},
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
    **{(module, name): obj for module in ("builtins", "__builtin__")
       for name, obj in _BUILTINS.items()},
}  # fmt: skip


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle named a global that the restricted unpickler does not admit."""

    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.module = module
        self.name = name


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds NumPy arrays and builtin containers, nothing else."""

    def find_class(self, module: str, name: str):
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise RefusedGlobal(module, name) from None


def restricted_load(data: bytes, *, where: str = "pickle"):
    """Unpickle ``data`` admitting only :data:`ALLOWED` globals.

    Raises
    ------
    SourceError
        Naming the refused global, or saying why the pickle is unreadable.
    """
    try:
        return RestrictedUnpickler(io.BytesIO(data)).load()
    except RefusedGlobal as refused:
        hint = (
            "; xlnn never unpickles scikit-learn files: convert with skl2onnx "
            "or pass the estimator to xlnn.sources.sklearn_source.from_sklearn"
            if refused.module.split(".")[0] in ("sklearn", "joblib")
            else ""
        )
        raise SourceError(
            f"{where}: refused to unpickle global {refused.module}.{refused.name}; "
            f"only NumPy arrays and builtin containers are allowed{hint}"
        ) from None
    except Exception as error:  # a truncated or hostile stream fails many ways
        raise SourceError(
            f"{where}: not a readable pickle of NumPy arrays "
            f"({type(error).__name__}: {error})"
        ) from None


def book_activations(n_layers: int) -> list[str]:
    """The book's choice: sigmoid on hidden layers, softmax on the last.

    >>> book_activations(3)
    ['sigmoid', 'sigmoid', 'softmax']
    """
    return ["sigmoid"] * (n_layers - 1) + ["softmax"]


def read(path: str | Path, *, activations: Sequence[str] | None = None) -> Model:
    """The model in a pickle of a dict ``{"W1": array, "b1": array, ...}``.

    ``activations`` default to :func:`book_activations` (the book's
    sigmoid, sigmoid, softmax for its three layers).
    """
    path = Path(path)
    weights = restricted_load(path.read_bytes(), where=path.name)
    arrays = _arrays_of(weights, path.name)
    if activations is None:
        activations = book_activations(_count_layers(arrays))
    network: Network = network_from_arrays(arrays, activations, where=path.name)
    return model_of(network, Source(str(path), "pickle", file_sha256(path)))


def _arrays_of(weights, where: str) -> dict[str, np.ndarray]:
    if not isinstance(weights, dict):
        raise SourceError(
            f"{where}: the pickle holds a {type(weights).__name__}, "
            "not a dict of arrays W1, b1, ..."
        )
    arrays = {}
    for key, value in weights.items():
        if not isinstance(key, str):
            raise SourceError(f"{where}: key {key!r} is not a string")
        if not isinstance(value, np.ndarray | np.generic):
            raise SourceError(
                f"{where}: {key} is a {type(value).__name__}, not a NumPy array"
            )
        arrays[key] = value
    return arrays


def _count_layers(arrays: dict[str, np.ndarray]) -> int:
    numbers = [int(key[1:]) for key in arrays if key[:1] == "W" and key[1:].isdigit()]
    # No W arrays at all: network_from_arrays says so by name.
    return max(numbers, default=1)
