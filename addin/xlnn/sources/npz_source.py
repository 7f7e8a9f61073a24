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

A ``softmax`` last layer makes a classifier whose classes are ``0..n-1``;
anything else gives plain values. NumPy is the framework, so the model's
reference is its own NumPy forward pass. The file is read with
``allow_pickle=False``: an ``.npz`` never runs code.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from xlnn import catalog
from xlnn.model import Model, Source
from xlnn.network import Dense, Network
from xlnn.sources import SourceError, file_sha256

_LAYER_ARRAY = re.compile(r"([Wb])([1-9][0-9]*)")


def read(path: str | Path, *, activations: Sequence[str] | None = None) -> Model:
    """The model in an ``.npz`` file of ``W1, b1, W2, b2, ...``.

    Raises
    ------
    SourceError
        A missing, misshaped or non-numeric array (named), missing or unknown
        activations, or a file NumPy cannot open.
    """
    path = Path(path)
    where = path.name
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: _load_array(data, name, where) for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        if isinstance(error, SourceError):
            raise
        raise SourceError(f"{where}: not a NumPy .npz file ({error})") from None
    if activations is None and "activations" in arrays:
        activations = _names_in_file(arrays["activations"], where)
    network = network_from_arrays(arrays, activations, where=where)
    return model_of(network, Source(str(path), "npz", file_sha256(path)))


def _load_array(data, name: str, where: str) -> np.ndarray:
    try:
        return data[name]
    except ValueError as error:  # an object array, which needs pickle
        raise SourceError(
            f"{where}: array {name!r} cannot be read without pickle ({error})"
        ) from None


def _names_in_file(array: np.ndarray, where: str) -> list[str]:
    if array.dtype.kind not in "US" or array.ndim != 1:
        raise SourceError(
            f"{where}: the 'activations' array must be a 1-D array of strings, "
            f"not {array.dtype} of shape {array.shape}"
        )
    return [
        item.decode("ascii") if isinstance(item, bytes) else str(item)
        for item in array.tolist()
    ]


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
    numbers = _layer_numbers(arrays, where)
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


def model_of(network: Network, source: Source) -> Model:
    """A softmax network is a classifier of classes ``0..n-1``; others give values."""
    last = network.layers[-1]
    if last.activation == "softmax":
        return Model(
            network,
            output="probabilities",
            classes=tuple(range(last.n_outputs)),
            source=source,
        )
    return Model(network, output="values", source=source)


def _layer_numbers(arrays: Mapping[str, np.ndarray], where: str) -> list[int]:
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
    return "x".join(str(size) for size in np.shape(array)) or "a scalar"
