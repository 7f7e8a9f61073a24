"""NumPy ``.npz`` files of weights: ``W1, b1, W2, b2, ...``.

Layer ``k`` is ``activation_k(x . Wk + bk)``, with ``Wk`` one row per input and
one column per output, as in the book (``np.dot(x, W1) + b1``). The layers are
numbered from 1 without gaps. Arrays named otherwise (``test_images``, a seed)
are ignored, so a file may carry its own test data.

The activations, one catalog name per layer, come from the caller's list
(``--activations sigmoid,relu,softmax``) or from a string array named
``activations`` in the file. When both are given the caller's list wins: it
is what the user typed for this export, and lets them correct a file without
rewriting it.

A ``softmax`` last layer makes a classifier. Its classes are the file's
``classes`` array when it has one (as ``xlnn train`` writes it: one label per
output, numbers or strings; a whole number such as ``7.0`` is the class
``7``), else ``0..n-1``; anything else gives plain values (and a ``classes``
array is ignored). Labels that are strings come from a user's file: the
workbook writers enter them as text, never as formulas. A ``feature_names``
array (strings, one per input, as ``xlnn train`` writes it) names the inputs
on the workbook's sheets, also as text.

NumPy is the framework, so the model's reference is its own NumPy forward
pass. Only the arrays used are read, with their declared sizes checked first
(:func:`read_used_arrays`, with the bounds of :mod:`xlnn.limits`), and never
with pickle: an ``.npz`` never runs code.
"""

from __future__ import annotations

import dataclasses
import math
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from xlnn import limits
from xlnn.export.sources import SourceError, file_sha256
from xlnn.functions import catalog
from xlnn.model import Model, Source
from xlnn.network import Dense, Network

_LAYER_ARRAY = re.compile(r"([Wb])([1-9][0-9]*)")


def read(path: str | Path, *, activations: Sequence[str] | None = None) -> Model:
    """The model in an ``.npz`` file of ``W1, b1, W2, b2, ...``.

    Raises
    ------
    SourceError
        A missing, misshaped, oversized or non-numeric array (named), missing
        or unknown activations, or a file that is not an ``.npz``.
    """
    path = Path(path)
    where = path.name
    arrays = read_used_arrays(path, where=where)
    if activations is None and "activations" in arrays:
        activations = _names_in_file(arrays["activations"], where)
    network = network_from_arrays(arrays, activations, where=where)
    source = Source(str(path), "npz", file_sha256(path))
    classes = None
    if "classes" in arrays and network.layers[-1].activation.name == "softmax":
        classes = class_labels(arrays["classes"], network.layers[-1].n_outputs, where)
    model = model_of(network, source, classes=classes)
    if "feature_names" in arrays:
        names = feature_names(arrays["feature_names"], network.n_inputs, where)
        model = dataclasses.replace(model, feature_names=names)
    return model


#: The arrays besides the layers' that xlnn reads.
_OTHER_USED = ("activations", "classes", "feature_names")


def is_used(name: str) -> bool:
    """Whether xlnn reads the array ``name`` (``W<k>``, ``b<k>``, ``activations``,
    ``classes``, ``feature_names``)."""
    return name in _OTHER_USED or _LAYER_ARRAY.fullmatch(name) is not None


#: What zipfile raises on a damaged or unsupported archive or member: bad
#: headers, truncation, a CRC or deflate stream that does not check out, a
#: password, an unknown compression method.
_BROKEN_ZIP = (
    OSError,
    ValueError,
    EOFError,
    RuntimeError,
    NotImplementedError,
    zipfile.BadZipFile,
    zlib.error,
) + ((zipfile.lzma.LZMAError,) if getattr(zipfile, "lzma", None) else ())


def read_used_arrays(path: str | Path, *, where: str) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` that xlnn uses (:func:`is_used`), nothing else.

    Unlike ``numpy.load``, each member's sizes (the zip's and the ``.npy``
    header's) are checked against :data:`xlnn.limits.MAX_ARRAY_BYTES` and
    against each other before its data is read, and members that are not used
    are never decompressed.

    Raises
    ------
    SourceError
        Naming the array, or saying why the file is not an ``.npz``.
    """
    try:
        with open(path, "rb") as stream:
            _check_directory(stream, where)
            with zipfile.ZipFile(stream) as archive:
                arrays: dict[str, np.ndarray] = {}
                for info in archive.infolist():
                    # numpy.savez names members "W1.npy"; np.load also finds
                    # a member by its full name.
                    name = info.filename.removesuffix(".npy")
                    if not is_used(name):
                        continue
                    if name in arrays:
                        raise SourceError(f"{where}: array {name} appears twice")
                    arrays[name] = _read_member(archive, info, name, where)
                return arrays
    except SourceError:
        raise
    except _BROKEN_ZIP as error:
        raise SourceError(f"{where}: not a NumPy .npz file ({error})") from None


def _check_directory(stream, where: str) -> None:
    # zipfile parses the whole central directory on opening; its size is in
    # the end record (a private helper, hence the fallback to no check).
    end_record = getattr(zipfile, "_EndRecData", lambda stream: None)(stream)
    size_index = getattr(zipfile, "_ECD_SIZE", None)
    if end_record and size_index is not None:
        size = end_record[size_index]
        if size > limits.MAX_ZIP_DIRECTORY_BYTES:
            raise SourceError(
                f"{where}: the zip directory declares {size} bytes, more than "
                f"xlnn.limits.MAX_ZIP_DIRECTORY_BYTES "
                f"({limits.MAX_ZIP_DIRECTORY_BYTES})"
            )
    stream.seek(0)


#: .npy headers are short; NumPy's own default bound.
_MAX_HEADER_BYTES = 10_000


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str,
                 where: str) -> np.ndarray:  # fmt: skip
    def refuse(why: str) -> SourceError:
        return SourceError(f"{where}: array {name} {why}")

    if info.file_size > limits.MAX_ARRAY_BYTES + _MAX_HEADER_BYTES:
        raise refuse(
            f"declares {info.file_size} bytes, more than "
            f"xlnn.limits.MAX_ARRAY_BYTES ({limits.MAX_ARRAY_BYTES})"
        )
    with archive.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
            header = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }.get(version)
            if header is None:
                raise ValueError(f".npy version {version[0]}.{version[1]}")
            shape, fortran, dtype = header(member, max_header_size=_MAX_HEADER_BYTES)
        except (ValueError, EOFError) as error:
            raise refuse(f"is not a .npy array ({_first_line(error)})") from None
        if dtype.hasobject or dtype.kind not in "biufcUS":
            raise refuse(
                f"holds {dtype}: it cannot be read without pickle, and xlnn "
                "reads numbers and strings only"
            )
        # Python integers: a product of hostile sizes cannot overflow.
        n_bytes = math.prod(shape) * dtype.itemsize
        if n_bytes > limits.MAX_ARRAY_BYTES:
            raise refuse(
                f"of shape {_dims(shape)} needs {n_bytes} bytes, more than "
                f"xlnn.limits.MAX_ARRAY_BYTES ({limits.MAX_ARRAY_BYTES})"
            )
        if member.tell() + n_bytes != info.file_size:
            raise refuse(
                f"of shape {_dims(shape)} needs {n_bytes} bytes of data, but the "
                f"zip member holds {info.file_size - member.tell()}"
            )
        data = member.read(n_bytes)
        # Reading on to the end makes zipfile check the CRC.
        if len(data) != n_bytes or member.read(1):
            raise refuse("is truncated or longer than it declares")
    array = np.frombuffer(data, dtype=dtype)
    if fortran:
        return array.reshape(shape[::-1]).T
    return array.reshape(shape)


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:120] if text else type(error).__name__


def _names_in_file(array: np.ndarray, where: str) -> list[str]:
    if array.dtype.kind not in "US" or array.ndim != 1:
        raise SourceError(
            f"{where}: the 'activations' array must be a 1-D array of strings, "
            f"not {array.dtype} of shape {array.shape}"
        )
    return [_text(item, where, "activations") for item in array.tolist()]


def network_from_arrays(
    arrays: Mapping[str, np.ndarray],
    activations: Sequence[str] | None,
    *,
    where: str,
) -> Network:
    """A network from arrays ``W1, b1, ...`` and one activation per layer.

    ``where`` starts every error message (the file's name). A bias may be
    1-D or one row (``1 x n``). Names other than ``W<k>``/``b<k>`` are ignored.
    """
    numbers = layer_numbers(arrays, where)
    names = _activation_names(activations, len(numbers), where)
    layers = []
    n_inputs = None
    for number, activation in zip(numbers, names, strict=True):
        weights = _matrix(arrays, f"W{number}", where)
        if n_inputs is not None and weights.shape[0] != n_inputs:
            raise SourceError(
                f"{where}: W{number} has {weights.shape[0]} rows but layer "
                f"{number - 1} gives {n_inputs} outputs (W{number - 1} is "
                f"{_shape(arrays[f'W{number - 1}'])})"
            )
        bias = _bias(arrays, f"b{number}", weights.shape[1], where)
        layers.append(Dense(weights, bias, activation))
        n_inputs = weights.shape[1]
    return Network(tuple(layers))


def model_of(network: Network, source: Source, classes: tuple | None = None) -> Model:
    """A softmax network is a classifier of ``classes`` (by default ``0..n-1``);
    others give values."""
    last = network.layers[-1]
    if last.activation.name == "softmax":
        return Model(
            network,
            output="probabilities",
            classes=tuple(range(last.n_outputs)) if classes is None else classes,
            source=source,
        )
    return Model(network, output="values", source=source)


def class_labels(array: np.ndarray, n_outputs: int, where: str) -> tuple:
    """The ``classes`` array of a file as labels: one per output, all different.

    Strings stay strings (bytes must be UTF-8); numbers must be finite, and a
    whole number is an ``int`` (``xlnn train`` writes ``7.0`` for the class 7).
    Its size was checked before it was read (:func:`read_used_arrays`).

    >>> class_labels(np.array([3.0, 7.0, 0.5]), 3, "m.npz")
    (3, 7, 0.5)
    >>> class_labels(np.array(["cat", "dog"]), 2, "m.npz")
    ('cat', 'dog')
    """
    if array.ndim != 1 or array.dtype.kind not in "iufUS":
        raise SourceError(
            f"{where}: the 'classes' array must be a 1-D array of numbers or "
            f"strings, one label per output, not {array.dtype} of shape "
            f"{_shape(array)}"
        )
    if len(array) != n_outputs:
        raise SourceError(
            f"{where}: the 'classes' array has {len(array)} labels, but the last "
            f"layer has {n_outputs} outputs"
        )
    if array.dtype.kind in "iuf":
        labels = tuple(_class_number(value) for value in _numeric_classes(array, where))
    else:
        labels = tuple(_text(item, where) for item in array.tolist())
    _refuse_repeats(labels, where, "classes")
    return labels


def feature_names(array: np.ndarray, n_inputs: int, where: str) -> tuple[str, ...]:
    """The ``feature_names`` array of a file: one string per input, all different.

    >>> feature_names(np.array(["petal length", "petal width"]), 2, "m.npz")
    ('petal length', 'petal width')
    """
    if array.ndim != 1 or array.dtype.kind not in "US" or len(array) != n_inputs:
        raise SourceError(
            f"{where}: the 'feature_names' array must be {n_inputs} strings, one "
            f"per input, not {array.dtype} of shape {_shape(array)}"
        )
    names = tuple(_text(item, where, "feature_names") for item in array.tolist())
    _refuse_repeats(names, where, "feature_names")
    return names


def _refuse_repeats(items: tuple, where: str, array: str) -> None:
    counts = Counter(items)
    repeated = next((item for item in items if counts[item] > 1), None)
    if repeated is not None:
        raise SourceError(f"{where}: the '{array}' array names {repeated!r} twice")


def _numeric_classes(array: np.ndarray, where: str) -> list:
    if not np.isfinite(array.astype(np.float64)).all():
        raise SourceError(f"{where}: the 'classes' array holds NaN or infinite values")
    return array.tolist()


def _class_number(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _text(item, where: str, array: str = "classes") -> str:
    if not isinstance(item, bytes):
        return str(item)
    try:
        return item.decode("utf-8")
    except UnicodeDecodeError:
        raise SourceError(
            f"{where}: the '{array}' array holds bytes that are not UTF-8 text"
        ) from None


def layer_numbers(arrays: Mapping[str, np.ndarray], where: str) -> list[int]:
    """The layers' numbers 1, 2, ... of arrays ``W1, b1, W2, b2, ...``; a
    :class:`SourceError` when there are none or one is missing."""
    found = {}
    for name in arrays:
        match = _LAYER_ARRAY.fullmatch(name)
        if match:
            found.setdefault(int(match[2]), set()).add(match[1])
    if not found:
        raise SourceError(f"{where}: no layer arrays; expected W1, b1, W2, b2, ...")
    for number in range(1, max(found) + 1):
        for letter in "Wb":
            if letter not in found.get(number, ()):
                raise SourceError(
                    f"{where}: array {letter}{number} is missing "
                    f"(layers are W1, b1, W2, b2, ... up to "
                    f"W{max(found)}, b{max(found)})"
                )
    return list(range(1, max(found) + 1))


def _activation_names(
    activations: Sequence[str] | None, n_layers: int, where: str
) -> list[str]:
    if activations is None:
        raise SourceError(
            f"{where}: no activations; give one per layer ({n_layers}), e.g. "
            "--activations sigmoid,softmax, or store an 'activations' array"
        )
    if isinstance(activations, str):  # a lone "relu" would be read letter by letter
        activations = [activations]
    names = [str(name).strip().lower() for name in activations]
    if len(names) != n_layers:
        raise SourceError(
            f"{where}: {len(names)} activations ({', '.join(names)}) "
            f"for {n_layers} layers; give one per layer"
        )
    for name in names:
        if name not in catalog.ACTIVATIONS:
            raise SourceError(
                f"{where}: unknown activation {name!r}; "
                f"choose one of {', '.join(catalog.ACTIVATIONS)}"
            )
    return names


def _numeric(arrays: Mapping[str, np.ndarray], name: str, where: str) -> np.ndarray:
    array = np.asarray(arrays[name])
    if array.dtype.kind not in "fiub":
        raise SourceError(f"{where}: array {name} holds {array.dtype}, not numbers")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise SourceError(f"{where}: array {name} holds NaN or infinite values")
    return array


def _matrix(arrays: Mapping[str, np.ndarray], name: str, where: str) -> np.ndarray:
    weights = _numeric(arrays, name, where)
    if weights.ndim != 2 or 0 in weights.shape:
        raise SourceError(
            f"{where}: array {name} must be a matrix (inputs x outputs), "
            f"not of shape {_shape(weights)}"
        )
    return weights


def _bias(
    arrays: Mapping[str, np.ndarray], name: str, n_outputs: int, where: str
) -> np.ndarray:
    bias = _numeric(arrays, name, where)
    if bias.shape not in ((n_outputs,), (1, n_outputs)):
        raise SourceError(
            f"{where}: array {name} has shape {_shape(bias)}, but W{name[1:]} "
            f"has {n_outputs} outputs, so {name} needs shape ({n_outputs},)"
        )
    return bias.reshape(-1)


def _shape(array) -> str:
    return _dims(np.shape(array))


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(str(size) for size in shape) or "a scalar"
