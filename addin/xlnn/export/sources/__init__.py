"""Model sources: read a trained network from a file (or an object) into a Model.

:func:`read` picks the reader by the file's extension:

==========================  ============================================
``.npz``                    :mod:`xlnn.export.sources.npz_source` (NumPy arrays)
``.pkl``, ``.pickle``       :mod:`xlnn.export.sources.pickle_source` (the book's
                            ``sample_weight.pkl``, restricted unpickler)
``.onnx``                   :mod:`xlnn.export.sources.onnx_source` (``onnx``)
==========================  ============================================

scikit-learn estimators are read from the object, never from a file:
:func:`xlnn.export.sources.sklearn_source.from_sklearn`. Unpickling a scikit-learn
file can run any code the file names, so the command line never does it.

Every reader refuses what it cannot read exactly with a :class:`SourceError`
whose message is one line naming the culprit (an array, a pickle global, an
estimator), so the command line can print it and exit 2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

from xlnn.errors import UserError, install_hint
from xlnn.model import Model

__all__ = ["SourceError", "read", "read_at_most", "sha256", "file_sha256", "READERS"]


class SourceError(UserError, ValueError):
    """A model source that xlnn cannot read, with a one-line reason."""


#: The extensions :func:`read` knows, and the format each names.
READERS = {".npz": "npz", ".pkl": "pickle", ".pickle": "pickle", ".onnx": "onnx"}


def sha256(chunks: Iterable[bytes]) -> str:
    """The SHA-256 of the bytes of ``chunks`` one after another, as 64
    hexadecimal digits: how the about sheet identifies a model's source."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, read a MiB at a time."""
    with open(path, "rb") as stream:
        return sha256(iter(lambda: stream.read(1 << 20), b""))


def read_at_most(path: str | Path, limit: int) -> bytes:
    """The first ``limit`` bytes of the file (all of it, if shorter).

    In blocks: a special or growing file (``/dev/zero``) has no size to
    check first, and ``read(limit)`` would allocate the whole limit up front.
    Raises :class:`SourceError` naming the file when it cannot be read.
    """
    blocks, total = [], 0
    try:
        with open(path, "rb") as stream:
            while total < limit:
                block = stream.read(min(1 << 20, limit - total))
                if not block:
                    break
                blocks.append(block)
                total += len(block)
    except OSError as error:
        raise SourceError(f"{path}: {error.strerror or error}") from None
    return b"".join(blocks)


def read(path: str | Path, *, activations: Sequence[str] | None = None) -> Model:
    """Read the model in ``path``, choosing the reader by its extension.

    ``activations`` names one activation per layer (catalog names such as
    ``"sigmoid"``), for the formats that store weights only (``.npz``,
    ``.pkl``); an ONNX graph names its own, so it refuses them.

    Raises
    ------
    SourceError
        Unknown extension, missing file, or anything the reader refuses.
    """
    path = Path(path)
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise SourceError(
            f"{path.name}: unknown model format {path.suffix or '(no extension)'!r}; "
            f"xlnn reads {', '.join(READERS)} (scikit-learn estimators through "
            "the Python API xlnn.export.sources.sklearn_source.from_sklearn)"
        )
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    if kind == "npz":
        from xlnn.export.sources import npz_source

        return npz_source.read(path, activations=activations)
    if kind == "pickle":
        from xlnn.export.sources import pickle_source

        return pickle_source.read(path, activations=activations)
    return _read_onnx(path, activations)


def _read_onnx(path: Path, activations: Sequence[str] | None) -> Model:
    if activations:
        raise SourceError(
            f"{path.name}: an ONNX graph names its own activations; "
            "--activations applies to .npz and .pkl files only"
        )
    try:
        # Imported here: it needs the optional onnx package.
        from xlnn.export.sources.onnx_source import read as read_onnx
    except ModuleNotFoundError as error:
        if error.name not in ("xlnn.export.sources.onnx_source", "onnx"):
            raise
        raise SourceError(
            f"{path.name}: reading ONNX needs the onnx package: {install_hint('onnx')}"
            if error.name == "onnx"
            else f"{path.name}: this xlnn has no ONNX reader"
        ) from None
    return read_onnx(path)
