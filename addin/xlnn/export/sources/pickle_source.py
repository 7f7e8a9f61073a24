"""The book's ``sample_weight.pkl``: a pickle of a dict of NumPy arrays.

A pickle names functions that unpickling calls, so an ordinary ``pickle.load``
of a stranger's file can run any command, and even NumPy's own functions can
hand back uninitialized memory (``numpy.ndarray(shape)``) or allocate
gigabytes from a few bytes (``bytearray(3000000000)``).
:class:`RestrictedUnpickler` admits only what rebuilds an *initialized* array,
as ``pickletools`` shows it in the book's file (protocol 3)::

    GLOBAL 'numpy.core.multiarray _reconstruct'
    GLOBAL 'numpy ndarray'
    GLOBAL 'numpy dtype'

plus their NumPy 2 spellings (``numpy._core.multiarray``), NumPy scalars
(``scalar``), protocol 5's ``_frombuffer``, ``set``, ``frozenset``,
``complex``, an empty ``bytes()``, and ``_codecs.encode`` for Latin-1 only
(how protocols 0 to 2 store bytes). Any other global is refused with a
:class:`~xlnn.export.sources.SourceError` naming it, before it is imported or called.

Even admitted globals are held to the way NumPy uses them:

* ``numpy.ndarray`` is only the type argument of ``_reconstruct``; calling it
  is refused.
* ``_reconstruct(ndarray, (0,), b'b')`` is the only call admitted, and gives
  a placeholder that the following BUILD must fill with raw data of exactly
  ``prod(shape) * itemsize`` bytes, checked before the array is made; a
  placeholder never built is refused.
* ``dtype`` is numbers (``biufc``) and strings (``US``) only, never objects or
  records; ``_frombuffer`` and ``scalar`` get their byte counts checked.
* BUILD applies to those placeholders only.

Before unpickling starts the opcodes are scanned (:func:`prescan`), and the
file's size, opcode count and nesting depth bounded (:mod:`xlnn.limits`):
hashing a 1,000,000-deep tuple used as a dict key overflows CPython's C
stack. Unpickling uses the pure-Python unpickler, which lets BUILD be
checked and keeps the memo a dict (the C unpickler sizes its memo table by
the largest index a file names).

The arrays are ``W1, b1, ...`` as in :mod:`xlnn.export.sources.npz_source`. The
book's network (section 3.6.1) is sigmoid, sigmoid, softmax; when no
activations are given a pickle gets sigmoid on every hidden layer and softmax
on the last, which for the book's three layers is exactly that.
"""

from __future__ import annotations

import codecs
import io
import math
import pickle
import pickletools
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xlnn import limits
from xlnn.export.sources import SourceError, read_at_most, sha256
from xlnn.export.sources.npz_source import (
    layer_numbers,
    model_of,
    network_from_arrays,
)
from xlnn.model import Model, Source
from xlnn.network import Network

# The functions themselves, taken from NumPy's own pickling so that neither the
# deprecated numpy.core path nor a NumPy-version check is needed.
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]
_SCALAR = np.float64(0).__reduce__()[0]
_FROMBUFFER = np.ndarray.__reduce_ex__(np.zeros(1), 5)[0]

#: dtype strings NumPy writes for numbers and fixed-width strings.
_DTYPE_SPEC = re.compile(r"[biufc][1-9][0-9]?|[US][0-9]{1,6}")
_ALLOWED_KINDS = "biufcUS"
_MAX_NDIM = 32


class Refused(pickle.UnpicklingError):
    """A pickle used an admitted global in a way that NumPy's pickles never do."""


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle named a global that the restricted unpickler does not admit."""

    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.module = module
        self.name = name


class _NdarrayType:
    """What ``numpy.ndarray`` stands for: a type tag, not a constructor."""

    def __call__(self, *args, **kwargs):
        raise Refused("numpy.ndarray(...) is refused: it returns uninitialized memory")

    def __repr__(self) -> str:
        return "numpy.ndarray"


_NDARRAY = _NdarrayType()


class _Placeholder:
    """Stands for an object until the BUILD that follows it supplies its state."""

    def __init__(self):
        self.built = None
        self.memo_keys: list = []

    def build(self, state):
        raise NotImplementedError


class _PendingDtype(_Placeholder):
    def __init__(self, spec: str):
        super().__init__()
        self.spec = spec

    def build(self, state) -> np.dtype:
        # numpy's dtype state: (version, byte order, subarray, names, fields,
        # itemsize, alignment, flags[, metadata]); only plain types are admitted.
        if not (
            isinstance(state, tuple)
            and len(state) in (8, 9)
            and state[0] in (3, 4)
            and state[1] in ("<", ">", "|", "=")
            and state[2:5] == (None, None, None)
            and all(type(value) is int for value in state[5:8])
            and (len(state) == 8 or state[8] is None)
        ):
            raise Refused(
                f"dtype {self.spec!r}: state {_short(state)} is not a plain type"
            )
        base = np.dtype(self.spec)
        itemsize = state[5]
        if base.kind in "US" and itemsize >= 0:
            if itemsize > 2**16 or (base.kind == "U" and itemsize % 4):
                raise Refused(f"dtype {self.spec!r}: item size {itemsize}")
            base = np.dtype(
                f"{base.kind}{itemsize // 4 if base.kind == 'U' else itemsize}"
            )
        elif itemsize not in (-1, base.itemsize):
            raise Refused(f"dtype {self.spec!r}: item size {itemsize}")
        return base.newbyteorder(state[1]) if state[1] in "<>" else base


class _PendingArray(_Placeholder):
    def build(self, state) -> np.ndarray:
        # numpy's array state: ([version,] shape, dtype, is_fortran, raw data).
        if isinstance(state, tuple) and len(state) == 5 and state[0] == 1:
            state = state[1:]
        if not (isinstance(state, tuple) and len(state) == 4):
            raise Refused(f"array state {_short(state)} is not NumPy's")
        shape, dtype, is_fortran, raw = state
        if isinstance(raw, str):  # Python 2 pickles, read as Latin-1
            raw = raw.encode("latin1")
        if not isinstance(raw, bytes | bytearray):
            raise Refused(f"array data is a {type(raw).__name__}, not bytes")
        dtype = _checked_dtype(dtype)
        _check_size(shape, dtype, len(raw))
        array = _RECONSTRUCT(np.ndarray, (0,), b"b")
        array.__setstate__((1, shape, dtype, bool(is_fortran), bytes(raw)))
        return array


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _checked_dtype(dtype) -> np.dtype:
    if not isinstance(dtype, np.dtype):
        raise Refused(f"{_short(dtype)} is not a dtype built from the pickle")
    if dtype.kind not in _ALLOWED_KINDS or dtype.hasobject or dtype.fields:
        raise Refused(f"dtype {dtype} is refused; only numbers and strings are")
    return dtype


def _check_size(shape, dtype: np.dtype, n_bytes: int) -> None:
    """Refuse a shape that is not NumPy's or whose bytes differ from ``n_bytes``."""
    if not (
        isinstance(shape, tuple)
        and len(shape) <= _MAX_NDIM
        and all(type(size) is int and size >= 0 for size in shape)
    ):
        raise Refused(f"array shape {_short(shape)} is not a tuple of sizes")
    # Python integers: a product of hostile sizes cannot overflow.
    declared = math.prod(shape) * dtype.itemsize
    if declared > limits.MAX_ARRAY_BYTES:
        raise Refused(
            f"an array of shape {shape} ({declared} bytes) is larger than "
            f"xlnn.limits.MAX_ARRAY_BYTES ({limits.MAX_ARRAY_BYTES})"
        )
    if declared != n_bytes:
        raise Refused(
            f"an array of shape {shape} and dtype {dtype} needs {declared} "
            f"bytes, the pickle gives {n_bytes}"
        )


# --- the admitted callables ------------------------------------------------------


def _latin1_encode(text, encoding="latin1"):
    # Protocols 0-2 store bytes as _codecs.encode(str, "latin1"); any other
    # codec could mean a codec module nobody asked for.
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise Refused(
            f"_codecs.encode is admitted for Latin-1 text only, not {encoding!r}"
        )
    return codecs.encode(text, "latin1")


def _frombuffer(buffer, dtype, shape, order):
    if not isinstance(buffer, bytes | bytearray):
        raise Refused(f"_frombuffer of a {type(buffer).__name__}, not bytes")
    dtype = _checked_dtype(dtype)
    _check_size(shape, dtype, len(buffer))
    if order not in ("C", "F"):
        raise Refused(f"_frombuffer order {_short(order)}")
    return _FROMBUFFER(buffer, dtype, shape, order)


def _scalar(dtype, data=None):
    dtype = _checked_dtype(dtype)
    if isinstance(data, str):  # Python 2 pickles, read as Latin-1
        data = data.encode("latin1")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise Refused(f"a {dtype} scalar needs {dtype.itemsize} bytes of data")
    return _SCALAR(dtype, data)


def _bytes(*args):
    # Protocols 0-2 write b"" as bytes(); bytes(n) would allocate n bytes.
    if args:
        raise Refused("bytes(...) with an argument is refused; only bytes() is")
    return b""


def _complex(*args):
    if not all(type(part) in (int, float) for part in args) or len(args) > 2:
        raise Refused(f"complex{_short(args)}")
    return complex(*args)


def _container(kind):
    def make(*args):
        # Protocols 0-3 write a set as set([items]).
        if len(args) > 1 or (args and not isinstance(args[0], list)):
            raise Refused(f"{kind.__name__}(...) of something other than a list")
        return kind(*args)

    make.__name__ = kind.__name__
    return make


_NUMPY_CALLABLES = ("_reconstruct", "scalar")
_BUILTINS = {
    "set": _container(set),
    "frozenset": _container(frozenset),
    "bytes": _bytes,
    "complex": _complex,
}

#: The admitted globals: (module, name) -> what it stands for; ``None`` marks
#: the ones bound to each unpickler (they make placeholders it tracks).
ALLOWED = {
    **{(module, name): None for module in ("numpy.core.multiarray",
                                           "numpy._core.multiarray")
       for name in _NUMPY_CALLABLES},
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): None,
    ("_codecs", "encode"): _latin1_encode,
    **{(module, name): obj for module in ("builtins", "__builtin__")
       for name, obj in _BUILTINS.items()},
}  # fmt: skip


class _Memo(dict):
    """The unpickler's memo, noting where each placeholder is stored."""

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        if isinstance(value, _Placeholder):
            value.memo_keys.append(key)


class RestrictedUnpickler(pickle._Unpickler):
    """An unpickler that rebuilds NumPy arrays and builtin containers, nothing else.

    The pure-Python unpickler, so that BUILD can be checked (see the module
    docstring); :func:`restricted_load` also scans the opcodes first.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file):
        # Latin-1: Python 2 pickles store raw array data as str.
        super().__init__(file, encoding="latin1")
        self.memo = _Memo()
        self.placeholders: list[_Placeholder] = []

    def find_class(self, module: str, name: str):
        try:
            admitted = ALLOWED[(module, name)]
        except KeyError:
            raise RefusedGlobal(module, name) from None
        if admitted is not None:
            return admitted
        return {
            "_reconstruct": self._reconstruct,
            "scalar": _scalar,
            "dtype": self._dtype,
        }[name]

    def persistent_load(self, pid):
        raise Refused("persistent ids are refused")

    def _reconstruct(self, subtype, shape, dtype):
        if subtype is not _NDARRAY or shape != (0,) or dtype not in (b"b", "b"):
            raise Refused(
                "_reconstruct is admitted only as NumPy writes it, "
                f"(numpy.ndarray, (0,), b'b'), not {_short((subtype, shape, dtype))}"
            )
        return self._track(_PendingArray())

    def _dtype(self, spec, align=False, copy=False):
        if isinstance(spec, bytes):
            spec = spec.decode("latin1")
        if not isinstance(spec, str) or not _DTYPE_SPEC.fullmatch(spec):
            raise Refused(
                f"dtype {_short(spec)} is refused; only numbers and strings are"
            )
        return self._track(_PendingDtype(spec))

    def _track(self, placeholder: _Placeholder) -> _Placeholder:
        self.placeholders.append(placeholder)
        return placeholder

    def load_build(self):
        state = self.stack.pop()
        placeholder = self.stack[-1]
        if not isinstance(placeholder, _Placeholder) or placeholder.built is not None:
            raise Refused(
                f"BUILD of a {type(placeholder).__name__}; only NumPy's arrays "
                "and dtypes are built"
            )
        built = placeholder.build(state)
        placeholder.built = built
        # Everything that refers to the placeholder from now on gets the object.
        self.stack[-1] = built
        for key in placeholder.memo_keys:
            if self.memo.get(key) is placeholder:
                dict.__setitem__(self.memo, key, built)

    dispatch[pickle.BUILD[0]] = load_build


# --- the scan before unpickling ----------------------------------------------------


class _Node:
    """An object of the pickle as the scan sees it: how deep it nests."""

    __slots__ = ("depth", "nested")

    def __init__(self, depth: int):
        self.depth = depth
        self.nested = False


_MARK = object()
_MUTATORS = {"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS"}
_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}
_GETS = {"GET", "BINGET", "LONG_BINGET"}


def prescan(data: bytes) -> None:
    """Refuse a pickle that is malformed, too long, or nests too deep.

    Simulates the unpickler's stack with each object's nesting depth (an upper
    bound: a container's depth is fixed once it is inside another, and a
    container that grows deeper after that, as a cycle does, is refused).

    Raises
    ------
    Refused
        Saying what bound the pickle exceeds.
    ValueError
        The opcodes are malformed (from :func:`pickletools.genops`).
    """
    stack: list = []
    memo: dict = {}
    for count, (op, arg, _) in enumerate(pickletools.genops(data), start=1):
        if count > limits.MAX_PICKLE_OPCODES:
            raise Refused(
                f"more than {limits.MAX_PICKLE_OPCODES} opcodes "
                "(xlnn.limits.MAX_PICKLE_OPCODES)"
            )
        name = op.name
        if name == "MARK":
            stack.append(_MARK)
        elif name in ("PROTO", "FRAME", "STOP"):
            continue
        elif name == "MEMOIZE" or name in _PUTS:
            if not stack or stack[-1] is _MARK:
                raise ValueError(f"{name} with nothing to memoize")
            memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1]
        elif name in _GETS:
            if arg not in memo:
                raise ValueError(f"{name} of memo key {arg} never stored")
            stack.append(memo[arg])
        elif name == "DUP":
            if not stack or stack[-1] is _MARK:
                raise ValueError("DUP with nothing to duplicate")
            stack.append(stack[-1])
        elif name == "POP":
            stack.pop() if stack else None
        elif name == "POP_MARK":
            _pop_mark(stack)
        elif name == "BUILD":
            _pop(stack, 1)  # the state, used up by the placeholder
        else:
            _apply(name, op, stack)


def _pop(stack: list, count: int) -> list:
    if count == 0:
        return []
    items = stack[-count:]
    if len(items) < count or any(item is _MARK for item in items):
        raise ValueError("stack underflow")
    del stack[-count:]
    return items


def _pop_mark(stack: list) -> list:
    for index in range(len(stack) - 1, -1, -1):
        if stack[index] is _MARK:
            items = stack[index + 1 :]
            del stack[index:]
            return items
    raise ValueError("no MARK on the stack")


def _apply(name: str, op, stack: list) -> None:
    before = op.stack_before
    if pickletools.markobject in before:
        # What lies below the mark: APPENDS' list, nothing for TUPLE or OBJ.
        children = _pop_mark(stack)
        children = _pop(stack, before.index(pickletools.markobject)) + children
    else:
        children = _pop(stack, len(before))
    if name in _MUTATORS:
        container, items = children[0], children[1:]
        if any(item is container for item in items):
            raise Refused("a container holds itself (a cycle)")
        depth = max([container.depth] + [item.depth + 1 for item in items])
        if depth > container.depth and container.nested:
            raise Refused(
                "a container grows deeper after it was put in another "
                "(a cycle, or a crafted pickle)"
            )
        _nest(items)
        container.depth = depth
        _check_depth(depth)
        stack.append(container)
        return
    _nest(children)
    for _ in op.stack_after:
        node = _Node(1 + max((child.depth for child in children), default=0))
        _check_depth(node.depth)
        stack.append(node)


def _nest(children: list) -> None:
    for child in children:
        child.nested = True


def _check_depth(depth: int) -> None:
    if depth > limits.MAX_PICKLE_DEPTH:
        raise Refused(
            f"objects nested deeper than {limits.MAX_PICKLE_DEPTH} levels "
            "(xlnn.limits.MAX_PICKLE_DEPTH)"
        )


# --- loading -------------------------------------------------------------------------


def restricted_load(data: bytes, *, where: str = "pickle"):
    """Unpickle ``data`` admitting only :data:`ALLOWED` globals, as NumPy uses them.

    Arrays come back as plain, initialized ``numpy.ndarray``; see the module
    docstring for what is refused.

    Raises
    ------
    SourceError
        Naming the refused global or use, or saying why the pickle is
        unreadable.
    """
    if len(data) > limits.MAX_PICKLE_BYTES:
        raise SourceError(
            f"{where}: {len(data)} bytes is more than xlnn reads from a pickle "
            f"(xlnn.limits.MAX_PICKLE_BYTES = {limits.MAX_PICKLE_BYTES})"
        )
    try:
        prescan(data)
        unpickler = RestrictedUnpickler(io.BytesIO(data))
        loaded = unpickler.load()
        _refuse_placeholders(loaded, unpickler.placeholders)
        return loaded
    except RefusedGlobal as refused:
        hint = (
            "; xlnn never unpickles scikit-learn files: convert with skl2onnx "
            "or pass the estimator to xlnn.export.sources.sklearn_source.from_sklearn"
            if refused.module.split(".")[0] in ("sklearn", "joblib")
            else ""
        )
        raise SourceError(
            f"{where}: refused to unpickle global {refused.module}.{refused.name}; "
            f"only NumPy arrays and builtin containers are allowed{hint}"
        ) from None
    except Refused as refused:
        raise SourceError(f"{where}: refused: {refused}") from None
    except Exception as error:  # a truncated or hostile stream fails many ways
        raise SourceError(
            f"{where}: not a readable pickle of NumPy arrays "
            f"({type(error).__name__}: {_short(str(error))})"
        ) from None


def _refuse_placeholders(loaded, placeholders: list[_Placeholder]) -> None:
    """Refuse a placeholder never built, or one used before its BUILD."""
    if any(placeholder.built is None for placeholder in placeholders):
        raise Refused("an array or dtype was never given its data (no BUILD)")
    if not placeholders:
        return
    # A placeholder put in a container before its BUILD stays a placeholder
    # there; the scan bounded the depth, and ids keep shared objects single.
    seen = set()
    pending = [loaded]
    while pending:
        item = pending.pop()
        if isinstance(item, _Placeholder):
            raise Refused("an array or dtype was used before it was built")
        if id(item) in seen or not isinstance(
            item, dict | list | tuple | set | frozenset
        ):
            continue
        seen.add(id(item))
        pending.extend(item.items() if isinstance(item, dict) else item)


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
    data = read_at_most(path, limits.MAX_PICKLE_BYTES + 1)
    weights = restricted_load(data, where=path.name)
    arrays = _arrays_of(weights, path.name)
    if activations is None:
        activations = book_activations(len(layer_numbers(arrays, path.name)))
    network: Network = network_from_arrays(arrays, activations, where=path.name)
    # the hash of the bytes unpickled, not of the file read again
    return model_of(network, Source(str(path), "pickle", sha256([data])))


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
