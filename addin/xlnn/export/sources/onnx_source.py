"""Read an ONNX graph of dense layers into a :class:`xlnn.model.Model`.

The graph is read node by node, in its (topological) order, as a symbolic
walk: every tensor is a constant (an initializer or a ``Constant`` node: the
weights), the symbolic shape of the samples (``Shape``, ``Gather``,
``Unsqueeze``, ``Concat``: ``x.view(x.size(0), -1)``), a point on the one path
from the graph's input to its outputs, or an elementwise expression of a
layer's sums waiting to be recognised as an activation. No node is ever
skipped: every other node is refused with :class:`UnsupportedModel`, naming
the op, the node and what xlnn reads, before anything is written.

The path moves on like this:

* ``Sub``/``Div``/``Mul``/``Add`` by constants, ``BatchNormalization``,
  ``Scaler`` and ``Normalizer`` before the first layer become preprocessing;
* ``Gemm`` or ``MatMul`` open a layer; ``Add``/``Mul``/... by constants and a
  ``BatchNormalization`` that follow fold into its weights; a second linear
  layer with no activation between closes the first with ``identity``;
* one activation op (``Relu``, ``LeakyRelu(alpha)``, ``Elu(alpha)``,
  ``Gelu``, ``Softmax``, ``LogSoftmax``, ...) closes the layer. An
  activation written out of elementwise ops (GELU as ``Erf`` or ``Tanh`` and
  ``Pow``, SiLU as ``x * Sigmoid(x)``, Softplus as ``Greater``/``Where``)
  is kept as a float64 NumPy expression of the sums and recognised, when a
  non-elementwise node or a graph output consumes it, by evaluating it on a
  grid of points and comparing it with each catalog activation (estimating
  LEAKY_RELU's and ELU's alpha); an expression that matches none is refused
  with its nodes named;
* an affine op after an activation (``Mul``/``Add`` by constants,
  ``BatchNormalization``) is folded into the next layer's weights, or
  becomes a layer of its own with ``identity`` if no layer follows;
* ``Flatten``, ``Reshape`` (a constant shape, or one built from ``Shape``),
  ``Cast``, ``Identity`` and inference ``Dropout`` keep the samples as rows
  and their values in C order, so they change nothing but the shape.

The input may have any rank: its non-batch dimensions, multiplied, are the
features, flattened row by row as the framework flattens them
(:attr:`Model.input_shape`). A fixed batch size (a graph exported from a
dummy batch) is kept: the reference runs in chunks of that size.

What is refused on purpose: ``Softmax`` over any axis but the last,
``Gemm`` with ``transA=1`` (its rows would not be the samples), and
``Normalizer`` with ``norm="MAX"`` (ONNX divides by the largest value, xlnn
by the largest absolute value). ``HardSigmoid``'s alpha and beta are folded
into its layer's weights, so the workbook's sums for that layer are
``6 (alpha a + beta - 1/2)`` rather than the framework's ``a``; its outputs
are the framework's.

The output kind: a graph with a label branch or a ``ZipMap`` is a classifier
(``"binary"`` when skl2onnx's ``Concat(1 - p, p)`` follows one sigmoid,
else ``"probabilities"``); otherwise a last ``Softmax`` gives
``"probabilities"`` over classes 0..k-1, one last ``Sigmoid`` output gives
``"binary"`` over classes (0, 1), and anything else gives ``"values"``.

The reference is onnxruntime on the graph: the probability tensor
(``ZipMap``'s list of dicts turned back into columns, in class order) or the
values, as float64. :attr:`Model.exact` is onnx's ``ReferenceEvaluator`` on a
float64 copy of the graph, giving the same columns; it is None where the
graph holds an op the ReferenceEvaluator lacks (the ``ai.onnx.ml`` ops
``Scaler``, ``Normalizer``, ``ZipMap``, ``ArrayFeatureExtractor``), and then
xlnn's NumPy forward pass is the float64 side.

Safety: weights stored outside the model (``MODEL.onnx.data``) are read only
from inside the model's folder, each tensor's declared size is checked
against its bytes before any array is made, the input and every layer are
at most Excel's 16,384 columns wide, and anything the onnx library cannot
parse is a one-line :class:`SourceError`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path, PurePath

import numpy as np

from xlnn import activations, limits
from xlnn.errors import UserError, install_hint
from xlnn.export.sources import SourceError, read_at_most, sha256
from xlnn.functions import catalog
from xlnn.model import (
    FLOAT32_TOLERANCE,
    FLOAT64_TOLERANCE,
    Affine,
    Model,
    Normalize,
    Source,
)
from xlnn.network import Dense, Network


class UnsupportedModel(SourceError):
    """The ONNX graph holds something xlnn cannot lay out in cells."""


#: The ops that compute a catalog activation alone (its ``onnx_op``), and
#: the activation's name.
ACTIVATION_OPS = {
    activation.onnx_op: activation.name
    for activation in catalog.TABLE
    if activation.onnx_op
}

#: The ops xlnn reads, named in every refusal.
SUPPORTED = (
    "Gemm, MatMul, Add, Sub, Mul, Div, BatchNormalization, "
    f"{', '.join(ACTIVATION_OPS)}, "
    "activations written out of Erf, Tanh, Pow, Neg, Exp, Log, Sqrt, Abs, "
    "Reciprocal, Max, Min, Greater, Less, Where; Identity, Dropout, Flatten, "
    "Reshape, Shape, Gather, Unsqueeze, Slice, Concat, Cast, Constant, ArgMax, "
    "ai.onnx.ml Scaler, Normalizer(L1, L2), ZipMap, ArrayFeatureExtractor"
)

#: The largest .onnx file (and external data) read.
MAX_FILE_BYTES = limits.MAX_MODEL_FILE_BYTES
#: Excel's columns: the widest input or layer a workbook can hold.
MAX_COLUMNS = limits.EXCEL_COLUMNS
#: The most values one tensor may declare: xlnn reads weights as float64.
MAX_TENSOR_VALUES = limits.MAX_ARRAY_BYTES // 8

_ML = "ai.onnx.ml"
# ONNX TensorProto element types.
_FLOAT, _DOUBLE, _FLOAT16 = 1, 11, 10
_EXTERNAL = 1  # TensorProto.EXTERNAL
# Where each element type keeps its values when it has no raw_data.
_TYPED_FIELDS = {
    1: "float_data",
    11: "double_data",
    7: "int64_data",
    6: "int32_data",
    5: "int32_data",
    4: "int32_data",
    3: "int32_data",
    2: "int32_data",
    9: "int32_data",
    10: "int32_data",
    16: "int32_data",
    12: "uint64_data",
    13: "uint64_data",
    8: "string_data",
}


# --- what a tensor is, symbolically -------------------------------------


@dataclass(frozen=True)
class _Path:
    """The samples on their way through the network: one row each.

    ``dims`` is one sample's shape (its values in C order), ``steps`` the
    preprocessing so far, ``layers`` the closed layers, ``pending`` a linear
    map ``(W, b)`` that waits for its activation, ``carry`` a per-column
    ``(scale, shift)`` after the last activation that waits for the next
    layer. ``binary`` marks skl2onnx's ``Concat(1 - p, p)`` of one sigmoid.
    ``tensor`` names the ONNX tensor, for the reference. ``inexact`` names
    the written-out activations that the catalog's match only to
    :data:`_MATCH` (float32 constants such as 0.70710677 for 1/sqrt(2)).
    """

    dims: tuple
    tensor: str
    steps: tuple = ()
    layers: tuple = ()
    pending: tuple | None = None
    carry: tuple | None = None
    binary: bool = False
    inexact: tuple = ()

    @property
    def width(self) -> int:
        return math.prod(self.dims)

    @property
    def raw(self) -> bool:
        """No layer yet: an affine op here is preprocessing."""
        return not self.layers and self.pending is None


@dataclass(frozen=True)
class _Expr:
    """An elementwise function of ``base``'s pending sums, not yet named.

    ``function`` maps the sums (float64, one row per sample) to this tensor;
    ``nodes`` are the nodes it was built from, ``alphas`` the alpha of any
    ``LeakyRelu``/``Elu`` among them, tried first as the parameter.
    """

    base: _Path
    function: Callable
    tensor: str
    nodes: tuple
    alphas: tuple = ()


@dataclass(frozen=True)
class _Dims:
    """A shape tensor built from the samples' shape; ``"N"`` is the batch."""

    entries: tuple
    scalar: bool = False


@dataclass(frozen=True)
class _Complement:
    """``1 - p`` for a path ``p`` ending in one sigmoid (skl2onnx binary)."""

    path: _Path


@dataclass(frozen=True)
class _Label:
    """The predicted label of ``path``: an index, or a label from ``classes``."""

    path: _Path
    classes: tuple | None = None


@dataclass(frozen=True)
class _ProbMap:
    """ZipMap of ``path``'s probabilities, keyed by ``classes``."""

    path: _Path
    classes: tuple
    tensor: str


@dataclass(frozen=True)
class _Input:
    """The graph's input: its name, element type, batch size and sample shape."""

    name: str
    elem_type: int
    batch: int | None
    dims: tuple


# --- reading ------------------------------------------------------------


def read(path) -> Model:
    """The ONNX model in ``path`` as a :class:`Model`, with onnxruntime as reference.

    External data (``MODEL.onnx.data``) is looked for in the model's own
    folder, whatever the current folder.

    Raises
    ------
    SourceError
        The file is missing, too large or not ONNX; or
        :class:`UnsupportedModel` naming the first node xlnn cannot read.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SourceError(
                f"{path.name}: {size} bytes; xlnn reads ONNX files up to "
                f"{MAX_FILE_BYTES} bytes (2 GiB)"
            )
    except OSError as error:
        raise SourceError(f"{path}: {error.strerror or error}") from None
    data = read_at_most(path, MAX_FILE_BYTES + 1)  # it may have grown since
    if len(data) > MAX_FILE_BYTES:
        raise SourceError(
            f"{path.name}: over {MAX_FILE_BYTES} bytes; xlnn reads ONNX files "
            "up to 2 GiB"
        )
    proto = _parse(data, path.name)
    source = Source(str(path), "onnx", sha256([data]))
    return _from_proto(proto, path.parent, source, path.name)


def from_proto(proto, *, path=None) -> Model:
    """An in-memory ``onnx.ModelProto`` as a :class:`Model`.

    ``path`` is where the model was loaded from: its folder is where
    external data is read from (a model with external data and no path is
    refused). The caller's proto is never changed.

    Raises
    ------
    SourceError
        As :func:`read`.
    """
    import onnx

    if not isinstance(proto, onnx.ModelProto):
        raise SourceError(f"expected an onnx.ModelProto, not {type(proto).__name__}")
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    folder = Path(path).parent if path is not None else None
    name = Path(path).name if path is not None else "ModelProto"
    digest = sha256([proto.SerializeToString()])
    source = Source(str(path) if path is not None else "<ModelProto>", "onnx", digest)
    return _from_proto(copy, folder, source, name)


def _parse(data: bytes, name: str):
    import onnx

    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception as error:  # protobuf's DecodeError, RuntimeWarning, ...
        raise SourceError(
            f"{name}: not an ONNX model ({type(error).__name__}: {error})"
        ) from None
    return proto


def _from_proto(proto, folder: Path | None, source: Source, name: str) -> Model:
    """Read ``proto`` (which this changes: external data is loaded into it)."""
    try:
        return _read_graph(proto, folder, source)
    except UserError:
        raise
    except Exception as error:  # the onnx library's, on a malformed graph
        message = " ".join(f"{type(error).__name__}: {error}".split())[:300]
        raise SourceError(
            f"{name}: the ONNX graph cannot be read ({message})"
        ) from None


def _read_graph(proto, folder: Path | None, source: Source) -> Model:
    graph = proto.graph
    initializer_names = {i.name for i in graph.initializer}
    the_input = _the_input(graph, initializer_names)
    budget = [MAX_FILE_BYTES]
    constants = {}
    for tensor in graph.initializer:
        constants[tensor.name] = _array(tensor, folder, budget)
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                _load_external(attribute.t, folder, budget, _tensor_values(attribute.t))
    consumers = Counter(name for node in graph.node for name in node.input if name)
    consumers.update(o.name for o in graph.output)
    start = _Path(dims=the_input.dims, tensor=the_input.name)
    values: dict = {start.tensor: start}
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            constants[node.output[0]] = _constant(node)
            continue
        outputs = _step(node, values, constants, consumers, the_input)
        for output, value in zip(node.output[: len(outputs)], outputs, strict=True):
            values[output] = value
    model, tensor, inexact = _model(graph, values, source)
    model = replace(
        model,
        input_shape=the_input.dims if len(the_input.dims) > 1 else None,
        # onnxruntime computes a float32 graph in float32.
        reference_tolerance=(
            FLOAT32_TOLERANCE if the_input.elem_type == _FLOAT else FLOAT64_TOLERANCE
        ),
    )
    runnable = _with_output(proto, tensor, the_input.elem_type)
    exact = None if inexact else _exact(runnable, model, the_input)
    return replace(
        model,
        reference=_reference(runnable.SerializeToString(), model, the_input, exact),
        # The graph's float32-rounded constants make it a function ~1e-8 from
        # the catalog's; the workbook computes the catalog's, exactly as
        # xlnn's NumPy forward pass does, which is then the float64 side.
        exact=exact,
    )


def _the_input(graph, initializer_names) -> _Input:
    inputs = [i for i in graph.input if i.name not in initializer_names]
    if len(inputs) != 1:
        raise UnsupportedModel(
            f"the graph has {len(inputs)} inputs; xlnn reads one input, "
            "a batch of samples"
        )
    (the_input,) = inputs
    tensor = the_input.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    if len(dims) < 2 or any(d is None or d <= 0 for d in dims[1:]):
        raise UnsupportedModel(
            f"input {the_input.name}: shape {dims}; xlnn reads a batch of samples "
            "[samples, features, ...] whose other dimensions are known"
        )
    features = math.prod(dims[1:])
    if features > MAX_COLUMNS:
        raise UnsupportedModel(
            f"input {the_input.name}: {features} features; a workbook holds at "
            f"most {MAX_COLUMNS} (Excel's columns)"
        )
    if tensor.elem_type not in (_FLOAT, _DOUBLE):
        raise UnsupportedModel(
            f"input {the_input.name}: element type {tensor.elem_type}; "
            "xlnn reads float or double"
        )
    batch = dims[0] if dims[0] else None
    if batch is not None and (batch < 0 or batch * features > MAX_TENSOR_VALUES):
        # the reference runs the graph on whole fixed batches: a batch of 10**15
        # would be allocated before anything else could refuse it
        raise UnsupportedModel(
            f"input {the_input.name}: a fixed batch of {batch:,} samples; xlnn "
            f"runs batches of at most {MAX_TENSOR_VALUES:,} values"
        )
    return _Input(the_input.name, tensor.elem_type, batch, tuple(dims[1:]))


# --- tensors, checked before they are made ------------------------------------


def _tensor_values(tensor) -> int:
    """How many values ``tensor`` declares, refused above the cap."""
    if any(d < 0 for d in tensor.dims):
        raise SourceError(
            f"tensor {tensor.name}: negative dimension {list(tensor.dims)}"
        )
    count = math.prod(tensor.dims)
    if count > MAX_TENSOR_VALUES:
        raise SourceError(
            f"tensor {tensor.name}: {count:,} values; xlnn reads tensors of at "
            f"most {MAX_TENSOR_VALUES:,} (xlnn.limits.MAX_ARRAY_BYTES as float64)"
        )
    return count


def _array(tensor, folder: Path | None, budget: list) -> np.ndarray:
    """``tensor`` as an array, its size checked against its bytes first."""
    from onnx import helper, numpy_helper

    count = _tensor_values(tensor)
    if tensor.HasField("segment"):
        raise SourceError(f"tensor {tensor.name}: segmented tensors are not read")
    if tensor.data_type not in _TYPED_FIELDS:
        raise SourceError(
            f"tensor {tensor.name}: element type {tensor.data_type} is not read"
        )
    _load_external(tensor, folder, budget, count)
    if tensor.data_type != 8:  # strings have no fixed size
        itemsize = helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
        if tensor.raw_data:
            held, wanted = len(tensor.raw_data), count * itemsize
        else:
            held, wanted = len(getattr(tensor, _TYPED_FIELDS[tensor.data_type])), count
        if held != wanted:
            raise SourceError(
                f"tensor {tensor.name}: dims {list(tensor.dims)} declare {wanted} "
                f"{'bytes' if tensor.raw_data else 'values'} but it holds {held}"
            )
    elif len(tensor.string_data) != count:
        raise SourceError(f"tensor {tensor.name}: {count} strings declared")
    array = numpy_helper.to_array(tensor)
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise SourceError(f"tensor {tensor.name}: holds NaN or infinity")
    return array


def _load_external(tensor, folder: Path | None, budget: list, count: int) -> None:
    """Move ``tensor``'s external bytes into it, from inside ``folder`` only."""
    from onnx import helper

    if tensor.data_location != _EXTERNAL:
        return
    if folder is None:
        raise SourceError(
            f"tensor {tensor.name}: its data is in another file, and a model "
            "with no path has no folder to read it from"
        )
    info = {entry.key: entry.value for entry in tensor.external_data}
    location = info.get("location", "")
    parts = PurePath(location).parts
    if not location or PurePath(location).is_absolute() or ".." in parts:
        raise SourceError(
            f"tensor {tensor.name}: external data location {location!r} is not "
            "a file inside the model's folder"
        )
    home = folder.resolve()
    target = (home / location).resolve()
    if not target.is_relative_to(home) or not target.is_file():
        raise SourceError(
            f"tensor {tensor.name}: external data {location!r} is not a file "
            f"inside {home}"
        )
    try:
        offset = int(info.get("offset", "0"))
        itemsize = helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
        length = int(info.get("length", str(count * itemsize)))
    except (ValueError, KeyError, TypeError):
        raise SourceError(
            f"tensor {tensor.name}: unreadable external data offset or length"
        ) from None
    size = target.stat().st_size
    if offset < 0 or length != count * itemsize or offset + length > size:
        raise SourceError(
            f"tensor {tensor.name}: external data {location!r} at offset {offset}, "
            f"length {length}: the tensor needs {count * itemsize} bytes and the "
            f"file has {size}"
        )
    budget[0] -= length
    if budget[0] < 0:
        raise SourceError(f"external data beyond {MAX_FILE_BYTES} bytes in all")
    with open(target, "rb") as stream:
        stream.seek(offset)
        tensor.raw_data = stream.read(length)
    tensor.data_location = 0  # DEFAULT
    del tensor.external_data[:]


def _constant(node) -> np.ndarray:
    from onnx import helper

    if len(node.attribute) != 1:
        raise _refuse(node, "a Constant needs exactly one value attribute")
    attribute = node.attribute[0]
    if attribute.name == "value":
        return _array(attribute.t, None, [0])
    if attribute.name in ("value_float", "value_floats", "value_int", "value_ints"):
        value = np.asarray(helper.get_attribute_value(attribute))
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise _refuse(node, "holds NaN or infinity")
        return value
    raise _refuse(node, f"a Constant's {attribute.name} is not a number")


def _refuse(node, why: str = "") -> UnsupportedModel:
    name = node.name or (node.output[0] if node.output else "?")
    if why:
        return UnsupportedModel(f"node {name}: op {node.op_type}: {why}")
    return UnsupportedModel(
        f"node {name}: op {node.op_type} is not supported; supported: {SUPPORTED}"
    )


def _attributes(node) -> dict:
    from onnx import helper

    out = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        out[a.name] = value.decode() if isinstance(value, bytes) else value
    return out


# --- one node -------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    """What every handler may need besides its node and arguments."""

    consumers: Counter
    the_input: _Input


def _step(node, values, constants, consumers, the_input) -> list:
    """The symbolic values of ``node``'s outputs."""
    ops = {_ML: _ML_OPS, "": _OPS, "ai.onnx": _OPS}.get(node.domain, {})
    handler = ops.get(node.op_type)
    if handler is None:
        raise _refuse(node)
    args = [
        values.get(name, constants.get(name)) if name else None for name in node.input
    ]
    missing = [n for n, a in zip(node.input, args, strict=True) if n and a is None]
    if missing:
        raise _refuse(node, f"input {missing[0]} comes from no supported node")
    return handler(node, args, _attributes(node), _Context(consumers, the_input))


def _dynamic(args) -> list:
    return [a for a in args if a is not None and not isinstance(a, np.ndarray)]


def _only_path(node, args, kinds=(_Path,)):
    dynamic = _dynamic(args)
    if len(dynamic) != 1 or not isinstance(dynamic[0], kinds):
        raise _refuse(node, "expects the samples and constants only")
    return dynamic[0]


def _resolved(node, value):
    """``value`` with an elementwise expression recognised as an activation."""
    return _recognise(node, value) if isinstance(value, _Expr) else value


def _renamed(value, node):
    if isinstance(value, (_Path, _Expr)):
        return replace(value, tensor=node.output[0])
    return value


def _passthrough(node, args, attrs, context):
    return [_renamed(args[0], node)]


def _dropout(node, args, attrs, context):
    training = args[2] if len(args) > 2 else None
    if training is not None and (
        not isinstance(training, np.ndarray) or np.any(training)
    ):
        raise _refuse(node, "only inference Dropout (training_mode false) is read")
    if len(args) > 1 and args[1] is not None and not isinstance(args[1], np.ndarray):
        raise _refuse(node, "the ratio must be a constant")
    # The mask output is not produced: a node reading it is refused.
    return [_renamed(args[0], node)]


def _cast(node, args, attrs, context):
    value = args[0]
    if isinstance(value, np.ndarray):
        from onnx import helper

        return [value.astype(helper.tensor_dtype_to_np_dtype(attrs["to"]))]
    if isinstance(value, _Dims):
        return [value]
    if isinstance(value, (_Path, _Expr)) and attrs.get("to") not in (
        _FLOAT,
        _DOUBLE,
    ):
        raise _refuse(node, "casts the samples to a non-float type")
    return [_renamed(value, node)]


def _flatten(node, args, attrs, context):
    path = _resolved(node, _only_path(node, args[:1], (_Path, _Expr)))
    rank = len(path.dims) + 1
    if attrs.get("axis", 1) % rank != 1:
        raise _refuse(node, "Flatten must keep the samples as rows (axis 1)")
    return [replace(path, dims=(path.width,), tensor=node.output[0])]


def _reshape(node, args, attrs, context):
    value = args[0]
    if isinstance(value, (_Label, _ProbMap)):
        return [value]
    path = _resolved(node, _only_path(node, args[:1], (_Path, _Expr)))
    shape = args[1]
    if isinstance(shape, np.ndarray):
        entries = tuple(int(v) for v in shape.reshape(-1))
    elif isinstance(shape, _Dims):
        entries = shape.entries
    else:
        raise _refuse(node, "the new shape must be a constant or the samples' shape")
    dims = _kept_batch(entries, path, context.the_input.batch, attrs)
    if dims is None:
        shown = [e if e != "N" else "batch" for e in entries]
        raise _refuse(
            node,
            f"reshape of [batch, {', '.join(map(str, path.dims))}] to {shown}; "
            "only a shape that keeps the samples as rows is read",
        )
    return [replace(path, dims=dims, tensor=node.output[0])]


def _kept_batch(entries, path: _Path, batch: int | None, attrs) -> tuple | None:
    """One sample's new dims, or None if the reshape would mix samples."""
    if not entries:
        return None
    current = ("N", *path.dims)
    resolved = []
    for index, entry in enumerate(entries):
        if entry == 0 and not attrs.get("allowzero", 0):
            if index >= len(current):
                return None
            entry = current[index]
        resolved.append(entry)
    first, rest = resolved[0], resolved[1:]
    if any(e == "N" for e in rest) or sum(e == -1 for e in resolved) > 1:
        return None
    if any(not isinstance(e, int) or (e <= 0 and e != -1) for e in rest):
        return None
    known = math.prod(e for e in rest if e != -1)
    if -1 in rest:
        if first not in ("N",) and first != batch or path.width % known:
            return None
        rest = [path.width // known if e == -1 else e for e in rest]
    elif first not in ("N", -1) and first != batch:
        return None
    if math.prod(rest) != path.width:
        return None
    return tuple(rest) if rest else None


def _shape(node, args, attrs, context):
    path = _only_path(node, args, (_Path, _Expr))
    dims = path.base.pending[0].shape[1:] if isinstance(path, _Expr) else path.dims
    entries = ("N", *dims)
    return [_Dims(entries[slice(attrs.get("start", 0), attrs.get("end"))])]


def _gather(node, args, attrs, context):
    data, indices = args
    if not isinstance(data, _Dims) or not isinstance(indices, np.ndarray):
        raise _refuse(node, "only picking from the samples' shape is read")
    picked = tuple(data.entries[int(i)] for i in indices.reshape(-1))
    return [_Dims(picked, scalar=indices.ndim == 0)]


def _unsqueeze(node, args, attrs, context):
    data = args[0]
    axes = attrs.get("axes")
    if axes is None and len(args) > 1 and isinstance(args[1], np.ndarray):
        axes = [int(a) for a in args[1].reshape(-1)]
    if isinstance(data, np.ndarray) and axes is not None:
        out = data
        for axis in sorted(axes):
            out = np.expand_dims(out, axis)
        return [out]
    if isinstance(data, _Dims) and data.scalar and list(axes or []) in ([0], [-1]):
        return [_Dims(data.entries)]
    raise _refuse(node, "only a scalar from the samples' shape or a constant")


def _slice(node, args, attrs, context):
    data = args[0]
    if not isinstance(data, _Dims) or not all(
        isinstance(a, np.ndarray) for a in args[1:3]
    ):
        raise _refuse(node, "only slicing the samples' shape is read")
    steps = args[4] if len(args) > 4 else None
    if steps is not None and not np.all(steps == 1):
        raise _refuse(node, "only slicing with step 1")
    start, end = int(args[1].reshape(-1)[0]), int(args[2].reshape(-1)[0])
    return [_Dims(data.entries[start:end])]


def _gemm(node, args, attrs, context):
    a, b = _resolved(node, args[0]), args[1]
    c = args[2] if len(args) > 2 else None
    if not isinstance(a, _Path) or not isinstance(b, np.ndarray) or b.ndim != 2:
        raise _refuse(node, "expects the samples as A and constant 2-D weights as B")
    if c is not None and not isinstance(c, np.ndarray):
        raise _refuse(node, "the bias C must be a constant")
    if attrs.get("transA", 0):
        raise _refuse(node, "transA=1 would put the samples in columns")
    weights = b.astype(np.float64)
    if attrs.get("transB", 0):
        weights = weights.T
    weights = attrs.get("alpha", 1.0) * weights
    bias = np.zeros(weights.shape[1]) if c is None else attrs.get("beta", 1.0) * c
    return [_open_layer(node, a, weights, _row(node, bias, weights.shape[1]))]


def _matmul(node, args, attrs, context):
    a, b = _resolved(node, args[0]), args[1]
    if not isinstance(a, _Path) or not isinstance(b, np.ndarray) or b.ndim != 2:
        raise _refuse(node, "expects the samples times a 2-D constant")
    return [_open_layer(node, a, b.astype(np.float64), np.zeros(b.shape[1]))]


def _open_layer(node, path: _Path, weights, bias) -> _Path:
    if len(path.dims) != 1:
        raise _refuse(
            node,
            f"the samples have shape [batch, {', '.join(map(str, path.dims))}]; "
            "a layer reads them flattened (Flatten or Reshape first)",
        )
    if weights.shape[0] != path.width:
        raise _refuse(node, f"weights take {weights.shape[0]} inputs, not {path.width}")
    if not 0 < weights.shape[1] <= MAX_COLUMNS:
        raise _refuse(
            node,
            f"a layer of {weights.shape[1]} units; xlnn lays out 1 to "
            f"{MAX_COLUMNS} (Excel's columns)",
        )
    if path.pending is not None:  # two linear layers in a row
        path = _close_layer(node, path, "identity")
    if path.carry is not None:  # x * s + t, then x W + b
        scale, shift = path.carry
        weights, bias = scale[:, None] * weights, shift @ weights + bias
        path = replace(path, carry=None)
    return replace(
        path, tensor=node.output[0], pending=(weights, bias), dims=(weights.shape[1],)
    )


def _row(node, c, width: int, dims: tuple | None = None) -> np.ndarray:
    """A constant broadcast over one sample of shape ``dims``: one per column."""
    c = np.asarray(c, dtype=np.float64)
    dims = dims or (width,)
    if c.ndim > len(dims) + 1 or (c.ndim == len(dims) + 1 and c.shape[0] != 1):
        raise _refuse(node, f"constant of shape {c.shape} is not one per sample")
    if c.ndim == len(dims) + 1:
        c = c[0]
    try:
        return np.broadcast_to(c, dims).reshape(-1).copy()
    except ValueError:
        raise _refuse(
            node, f"constant of shape {c.shape} does not fit a sample of {dims}"
        ) from None


# --- elementwise ops: preprocessing, folded, carried or an expression ----------

_erf = np.frompyfunc(math.erf, 1, 1)


def _float_attribute(attrs, name: str, default: float) -> float:
    # ONNX keeps float attributes as float32, a default too: the graph computes
    # with exactly that value (0.2 is 0.2000000029802322).
    return float(np.float32(attrs.get(name, default)))


def _alpha(attrs, default: float) -> float:
    return _float_attribute(attrs, "alpha", default)


def _hard_sigmoid_ab(attrs) -> tuple[float, float]:
    return _alpha(attrs, 0.2), _float_attribute(attrs, "beta", 0.5)


def _gelu(v, attrs):
    if attrs.get("approximate", "none") == "tanh":
        return activations.gelu_tanh(v)
    return activations.gelu(v)


def _hard_sigmoid_values(v, attrs):
    alpha, beta = _hard_sigmoid_ab(attrs)
    return np.clip(alpha * v + beta, 0.0, 1.0)


#: Elementwise ops of one tensor, in float64: (values, attributes) -> values.
#: An activation of the catalog is the catalog's own function.
_UNARY = {
    "Neg": lambda v, a: -v,
    "Abs": lambda v, a: np.abs(v),
    "Exp": lambda v, a: np.exp(v),
    "Log": lambda v, a: np.log(v),
    "Sqrt": lambda v, a: np.sqrt(v),
    "Reciprocal": lambda v, a: 1.0 / v,
    "Tanh": lambda v, a: activations.tanh(v),
    "Sigmoid": lambda v, a: activations.sigmoid(v),
    "Erf": lambda v, a: np.asarray(_erf(v), np.float64),
    "Relu": lambda v, a: activations.relu(v),
    "Softplus": lambda v, a: activations.softplus(v),
    "LeakyRelu": lambda v, a: activations.leaky_relu(v, _alpha(a, 0.01)),
    "Elu": lambda v, a: activations.elu(v, _alpha(a, 1.0)),
    "Gelu": _gelu,
    "HardSigmoid": _hard_sigmoid_values,
    "Identity": lambda v, a: v,
    "Cast": lambda v, a: v,
}
#: Elementwise ops of several tensors (NumPy broadcasting, as ONNX's).
_MANY = {
    "Add": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
    "Div": np.divide,
    "Pow": np.power,
    "Max": np.maximum,
    "Min": np.minimum,
    "Greater": np.greater,
    "Less": np.less,
    "GreaterOrEqual": np.greater_equal,
    "LessOrEqual": np.less_equal,
    "Where": lambda c, a, b: np.where(np.asarray(c, bool), a, b),
}
#: Ops that close a layer on their own when they are its sums' one consumer:
#: the elementwise activation ops (Softmax and LogSoftmax go to _softmax).
_DIRECT = tuple(
    op for op, name in ACTIVATION_OPS.items() if not catalog.get(name).grouped
)


def _elementwise(node, args, attrs, context):
    op = node.op_type
    dynamic = _dynamic(args)
    if not dynamic:  # constants only: computed once, here
        return [_apply(op, [np.asarray(a, np.float64) for a in args], attrs)]
    if op == "Cast" and attrs.get("to") not in (_FLOAT, _DOUBLE):
        raise _refuse(node, "casts the samples to a non-float type")
    if op == "Sub" and _is_complement(args):
        return [_Complement(args[1])]
    if len(dynamic) == 1 and isinstance(dynamic[0], _Path):
        path = dynamic[0]
        position = next(i for i, a in enumerate(args) if a is path)
        single = context.consumers[node.input[position]] == 1
        divides_constant = op == "Div" and position == 1
        if (
            op in ("Add", "Sub", "Mul", "Div")
            and len(args) == 2
            and not divides_constant
        ):
            if path.raw:
                return [_preprocessed(node, path, args)]
            if path.pending is None:
                return [_carried(node, path, *_affine_of(node, path, args))]
            if single:
                return [_folded(node, path, *_affine_of(node, path, args))]
        elif path.pending is not None and single and op in _DIRECT:
            return [_activation(node, path, attrs)]
        if path.pending is None:
            raise _refuse(
                node, "an activation or elementwise op must follow a Gemm or MatMul"
            )
    return [_extended(node, args, attrs)]


def _apply(op, values, attrs):
    with np.errstate(all="ignore"):
        if op in _UNARY:
            return _UNARY[op](values[0], attrs)
        if op in ("Max", "Min"):
            out = values[0]
            for value in values[1:]:
                out = _MANY[op](out, value)
            return out
        return _MANY[op](*values)


def _extended(node, args, attrs) -> _Expr:
    """The expression ``node`` computes of one layer's pending sums."""
    bases = []
    for value in _dynamic(args):
        if isinstance(value, _Expr):
            bases.append(value.base)
        elif isinstance(value, _Path) and value.pending is not None:
            bases.append(value)
        else:
            raise _refuse(node, "combines the samples with something not elementwise")
    base = bases[0]
    if any(other is not base for other in bases[1:]):
        raise _refuse(node, "combines two different tensors (a skip connection?)")
    width = base.width
    parts = []
    for value in args:
        if value is None:
            continue
        if isinstance(value, _Expr):
            parts.append(value.function)
        elif isinstance(value, _Path):
            parts.append(lambda z: z)
        else:
            row = _row(node, value, width)
            parts.append(lambda z, row=row: row)
    op = node.op_type

    def function(z):
        return _apply(op, [part(z) for part in parts], attrs)

    earlier = [v for v in args if isinstance(v, _Expr)]
    nodes = tuple(n for e in earlier for n in e.nodes)
    alphas = tuple(a for e in earlier for a in e.alphas)
    if op in ("LeakyRelu", "Elu"):
        alphas += (_alpha(attrs, 0.01 if op == "LeakyRelu" else 1.0),)
    name = node.name or node.output[0]
    return _Expr(
        base, function, node.output[0], (*dict.fromkeys((*nodes, name)),), alphas
    )


def _is_complement(args) -> bool:
    one, path = args[0], args[1]
    return (
        isinstance(one, np.ndarray)
        and isinstance(path, _Path)
        and path.pending is None
        and path.carry is None
        and bool(path.layers)
        and path.layers[-1].activation.name == "sigmoid"
        and path.width == 1
        and bool(np.all(one == 1))
    )


def _affine_of(node, path: _Path, args) -> tuple[np.ndarray, np.ndarray]:
    """``(scale, shift)`` per column of an Add/Sub/Mul/Div by a constant."""
    op = node.op_type
    first_is_path = args[0] is path
    c = _row(node, args[1] if first_is_path else args[0], path.width, path.dims)
    ones, zeros = np.ones(path.width), np.zeros(path.width)
    if op == "Add":
        return ones, c
    if op == "Mul":
        return c, zeros
    if op == "Sub":
        return (ones, -c) if first_is_path else (-ones, c)
    if not first_is_path:
        raise _refuse(node, "divides a constant by the samples")
    return 1.0 / c, zeros


def _preprocessed(node, path: _Path, args) -> _Path:
    op = node.op_type
    c = _row(node, args[1] if args[0] is path else args[0], path.width, path.dims)
    ones, zeros = np.ones(path.width), np.zeros(path.width)
    if op == "Sub" and args[0] is not path:  # c - x = (x - c) * -1
        step = Affine(c, -ones, label="Sub")
    elif op == "Div" and args[0] is not path:
        raise _refuse(node, "divides a constant by the samples")
    else:
        step = {
            "Sub": Affine(c, ones, label="Sub"),
            "Add": Affine(-c, ones, label="Add"),
            "Mul": Affine(zeros, c, label="Mul"),
            "Div": Affine(zeros, 1.0 / c, label="Div"),
        }[op]
    return _with_step(path, step, node)


def _with_step(path: _Path, step, node) -> _Path:
    steps = path.steps
    last = steps[-1] if steps else None
    # A Sub then a Div (StandardScaler) is one step: (x - o) * 1 * s is exact.
    if (
        isinstance(last, Affine)
        and isinstance(step, Affine)
        and np.all(last.scale == 1)
        and np.all(step.offset == 0)
    ):
        step = Affine(last.offset, step.scale, label=f"{last.label}, {step.label}")
        steps = steps[:-1]
    return replace(path, steps=(*steps, step), tensor=node.output[0])


def _folded(node, path: _Path, scale, shift) -> _Path:
    """The pending sums times ``scale`` plus ``shift``, in the layer's weights."""
    weights, bias = path.pending
    return replace(
        path, pending=(weights * scale, bias * scale + shift), tensor=node.output[0]
    )


def _carried(node, path: _Path, scale, shift) -> _Path:
    """An affine map after the last activation, kept for the next layer."""
    if len(path.dims) != 1:
        raise _refuse(node, "an affine op after an activation needs 2-D samples")
    if path.carry is not None:
        before_scale, before_shift = path.carry
        scale, shift = before_scale * scale, before_shift * scale + shift
    return replace(path, carry=(scale, shift), tensor=node.output[0])


def _batch_norm(node, args, attrs, context):
    value, *parameters = args[:5]
    if len(parameters) != 4 or not all(isinstance(p, np.ndarray) for p in parameters):
        raise _refuse(node, "scale, B, mean and var must be constants")
    if attrs.get("training_mode", 0) or len([o for o in node.output if o]) > 1:
        raise _refuse(node, "only the inference form (one output) is read")
    path = _resolved(node, value)
    if not isinstance(path, _Path):
        raise _refuse(node, "expects the samples and constants only")
    scale, offset, mean, var = (p.astype(np.float64).reshape(-1) for p in parameters)
    channels = path.dims[0]
    if not all(p.size == channels for p in (scale, offset, mean, var)):
        raise _refuse(node, f"parameters for {channels} channels expected")
    epsilon = float(np.float32(attrs.get("epsilon", 1e-5)))
    factor = scale / np.sqrt(var + epsilon)
    shift = offset - mean * factor
    # One value per channel (axis 1), the same over the rest of a sample.
    spread = (channels,) + (1,) * (len(path.dims) - 1)
    factor = _row(node, factor.reshape(spread), path.width, path.dims)
    shift = _row(node, shift.reshape(spread), path.width, path.dims)
    if path.raw:
        if np.any(factor == 0):
            raise _refuse(node, "a zero scale cannot be preprocessing")
        return [
            _with_step(path, Affine(-shift / factor, factor, label="BatchNorm"), node)
        ]
    if path.pending is not None:
        return [_folded(node, path, factor, shift)]
    return [_carried(node, path, factor, shift)]


# --- activations -----------------------------------------------------------------


def _activation(node, path: _Path, attrs) -> _Path:
    """One activation op on a layer's sums: the layer is closed."""
    op = node.op_type
    if op == "HardSigmoid":
        return _hard_sigmoid(node, path, attrs)
    if op == "Gelu" and attrs.get("approximate", "none") == "tanh":
        if "gelu_tanh" not in catalog.ACTIVATIONS:
            raise _refuse(node, "this xlnn has no gelu_tanh activation")
        return _close_layer(node, path, "gelu_tanh")
    parameter = None
    if op in ("LeakyRelu", "Elu"):  # ONNX's default alphas
        parameter = _alpha(attrs, 0.01 if op == "LeakyRelu" else 1.0)
    return _close_layer(node, path, ACTIVATION_OPS[op], parameter=parameter)


def _softmax(node, args, attrs, context):
    path = _resolved(node, _only_path(node, args, (_Path, _Expr)))
    if len(path.dims) != 1:
        raise _refuse(node, "softmax over a sample that is not flat")
    # Before opset 13 the default axis is 1; on a 2-D batch both are the last.
    if attrs.get("axis", -1) not in (1, -1):
        raise _refuse(node, "softmax must run over the last axis of a 2-D batch")
    return [_close_layer(node, path, ACTIVATION_OPS[node.op_type])]


def _close_layer(node, path: _Path, activation: str, pending=None, parameter=None):
    if path.pending is None:
        raise _refuse(node, "an activation must follow a Gemm or MatMul")
    weights, bias = pending or path.pending
    if activation == "elu" and parameter == 1.0:
        # ELU's default: the layer is the same without it, and an xlnn whose
        # catalog gives ELU no parameter still reads it.
        parameter = None
    layer = Dense(weights, bias, activation, parameter=parameter)
    tensor = node.output[0] if node is not None else path.tensor
    return replace(path, layers=(*path.layers, layer), pending=None, tensor=tensor)


def _hard_sigmoid(node, path: _Path, attrs) -> _Path:
    # ONNX: max(0, min(1, alpha a + beta)); xlnn's hard_sigmoid(s) is
    # max(0, min(1, s / 6 + 1/2)), so s = 6 (alpha a + beta - 1/2).
    alpha, beta = _hard_sigmoid_ab(attrs)
    weights, bias = path.pending
    folded = (6.0 * alpha * weights, 6.0 * (alpha * bias + beta - 0.5))
    return _close_layer(node, path, "hard_sigmoid", folded)


#: Where a written-out activation is compared with the catalog's: dense near
#: 0, where activations differ, and out to both tails (Softplus' threshold 20).
_GRID = np.concatenate([np.linspace(-12.0, 12.0, 961), [-40, -30, -21, 21, 30, 40]])
#: How close (relative, at least 1 absolute) the expression must come. A
#: float32 graph's constants (1/sqrt(2) as 0.70710677) move it by ~1e-8; the
#: nearest two catalog functions (gelu and gelu_tanh) differ by ~5e-4.
_MATCH = 1e-6
#: Closer than this (a quarter of the workbook's 1e-9 tolerance), the
#: catalog's function stands for the graph's, and a float64 evaluation of the
#: graph is the workbook's exact reference; farther, xlnn's NumPy forward pass
#: is. PyTorch's Softplus (x itself past 20) is 1.03e-10 from softplus.
_EXACT_MATCH = 2.5e-10
#: The catalog's elementwise activations an expression may be.
_CANDIDATES = (
    "relu",
    "sigmoid",
    "tanh",
    "softplus",
    "gelu",
    "gelu_tanh",
    "silu",
    "leaky_relu",
    "elu",
    "hard_sigmoid",
)


def _recognise(node, expression: _Expr) -> _Path:
    """The layer ``expression`` closes, or its pending sums moved by an affine map."""
    base = expression.base
    grid = np.broadcast_to(_GRID[:, None], (_GRID.size, base.width))
    with np.errstate(all="ignore"):
        values = np.asarray(
            np.broadcast_to(expression.function(grid), grid.shape), np.float64
        )
    shift = expression.function(np.zeros((1, base.width)))
    scale = expression.function(np.ones((1, base.width))) - shift
    shift, scale = (
        np.broadcast_to(v, (1, base.width))[0].astype(float) for v in (shift, scale)
    )
    if _close(values, grid * scale + shift):
        return _folded_as(expression, base, scale, shift)
    for name in _CANDIDATES:
        try:
            activation = catalog.get(name)
        except ValueError:  # not in this xlnn's catalog
            continue
        parameters = [None]
        if activation.parameter is not None:
            parameters = [*expression.alphas, *_estimated_alpha(name, values)]
        for parameter in parameters:
            with np.errstate(all="ignore"):
                wanted = (
                    activation.function(grid)
                    if parameter is None
                    else activation.function(grid, parameter)
                )
            if _close(values, wanted):
                closed = _close_layer(node, base, name, parameter=parameter)
                inexact = closed.inexact
                if not _close(values, wanted, _EXACT_MATCH):
                    inexact = (*inexact, f"{name} ({', '.join(expression.nodes)})")
                return replace(closed, tensor=expression.tensor, inexact=inexact)
    raise UnsupportedModel(
        f"nodes {', '.join(expression.nodes)}: their elementwise ops compute no "
        f"activation xlnn knows (compared on {_GRID.size} points with "
        f"{', '.join(_CANDIDATES)}); supported: {SUPPORTED}"
    )


def _folded_as(expression: _Expr, base: _Path, scale, shift) -> _Path:
    weights, bias = base.pending
    return replace(
        base,
        pending=(weights * scale, bias * scale + shift),
        tensor=expression.tensor,
    )


def _estimated_alpha(name: str, values) -> list[float]:
    """LEAKY_RELU's or ELU's alpha, from the expression at x = -1."""
    at_minus_one = values[np.flatnonzero(_GRID == -1.0)[0]]
    if not np.all(at_minus_one == at_minus_one[0]) or not np.isfinite(at_minus_one[0]):
        return []
    if name == "leaky_relu":
        return [float(-at_minus_one[0])]
    return [float(at_minus_one[0] / math.expm1(-1.0))]


def _close(values, wanted, tolerance: float = _MATCH) -> bool:
    wanted = np.asarray(wanted, np.float64)
    same = (values == wanted) | (np.isnan(values) & np.isnan(wanted))
    with np.errstate(all="ignore"):
        near = np.abs(values - wanted) <= tolerance * np.maximum(1.0, np.abs(wanted))
    return bool(np.all(same | near))


# --- the rest of the graph -----------------------------------------------------


def _concat(node, args, attrs, context):
    if any(isinstance(a, _Dims) for a in args):
        entries = []
        for value in args:
            if isinstance(value, _Dims):
                entries.extend(value.entries)
            elif isinstance(value, np.ndarray):
                entries.extend(int(v) for v in value.reshape(-1))
            else:
                raise _refuse(node, "only a shape from the samples' and constants")
        return [_Dims(tuple(entries))]
    if all(isinstance(a, np.ndarray) for a in args):
        return [np.concatenate(args, axis=attrs.get("axis", 0))]
    if (
        len(args) == 2
        and isinstance(args[0], _Complement)
        and args[0].path is args[1]
        and attrs.get("axis") in (1, -1)
    ):
        return [replace(args[1], binary=True, dims=(2,), tensor=node.output[0])]
    raise _refuse(node, "only Concat(1 - p, p) of a binary classifier is read")


def _argmax(node, args, attrs, context):
    path = _resolved(node, _only_path(node, args, (_Path, _Expr)))
    if attrs.get("axis", 0) not in (1, -1) or attrs.get("select_last_index", 0):
        raise _refuse(node, "ArgMax must pick the first largest column of each row")
    return [_Label(path)]


def _scaler(node, args, attrs, context):
    path = _only_path(node, args)
    if not path.raw:
        raise _refuse(node, "Scaler only before the first layer")
    offset = _row(node, attrs.get("offset", [0.0]), path.width)
    scale = _row(node, attrs.get("scale", [1.0]), path.width)
    return [_with_step(path, Affine(offset, scale, label="Scaler"), node)]


def _normalizer(node, args, attrs, context):
    path = _only_path(node, args)
    if not path.raw or len(path.dims) != 1:
        raise _refuse(node, "Normalizer only before the first layer, on 2-D samples")
    norm = attrs.get("norm", "MAX")
    if norm == "MAX":
        # ONNX's MAX divides by the row's largest value, xlnn's (and
        # scikit-learn's) "max" by its largest absolute value.
        raise _refuse(node, "norm MAX (x / max(x)) is not supported; L1 or L2")
    if norm not in ("L1", "L2"):
        raise _refuse(node, f"norm {norm!r} is not supported; L1 or L2")
    return [_with_step(path, Normalize(norm.lower()), node)]


def _zipmap(node, args, attrs, context):
    path = _resolved(node, _only_path(node, args, (_Path, _Expr)))
    labels = attrs.get("classlabels_strings") or attrs.get("classlabels_int64s")
    if labels is None:
        raise _refuse(node, "a ZipMap needs class labels")
    return [_ProbMap(path, _labels(labels), node.output[0])]


def _array_feature_extractor(node, args, attrs, context):
    classes, label = args
    if not isinstance(classes, np.ndarray) or not isinstance(label, _Label):
        raise _refuse(node, "only picking a class label by the ArgMax is read")
    return [_Label(label.path, _labels(classes.reshape(-1)))]


def _labels(values) -> tuple:
    out = []
    for value in values:
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, np.generic):
            value = value.item()
        out.append(value)
    return tuple(out)


_OPS = {
    "Identity": _passthrough,
    "Dropout": _dropout,
    "Cast": _cast,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Shape": _shape,
    "Gather": _gather,
    "Unsqueeze": _unsqueeze,
    "Slice": _slice,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "BatchNormalization": _batch_norm,
    "Softmax": _softmax,
    "LogSoftmax": _softmax,
    "Concat": _concat,
    "ArgMax": _argmax,
    **{op: _elementwise for op in (*_UNARY, *_MANY) if op not in ("Identity", "Cast")},
}
_ML_OPS = {
    "Scaler": _scaler,
    "Normalizer": _normalizer,
    "ZipMap": _zipmap,
    "ArrayFeatureExtractor": _array_feature_extractor,
    "Cast": _cast,
}


# --- the graph's outputs ----------------------------------------------------


def _model(graph, values, source: Source) -> tuple[Model, str, tuple]:
    """The model, the tensor holding its probabilities or values, and the
    written-out activations read inexactly (:attr:`_Path.inexact`)."""
    outputs = [values.get(o.name) for o in graph.output]
    if not outputs or any(o is None for o in outputs):
        raise UnsupportedModel("an output of the graph comes from no node xlnn read")
    outputs = [_final(o) for o in outputs]
    paths = {id(_network_path(o)): _network_path(o) for o in outputs}
    if len(paths) != 1:
        raise UnsupportedModel(
            "the graph's outputs come from different points of the network"
        )
    (path,) = paths.values()
    if len(path.dims) != 1:
        raise UnsupportedModel("the graph's output is not one row per sample")
    if path.pending is not None:  # a last linear layer with no activation
        path = replace(path, layers=(*path.layers, Dense(*path.pending, "identity")))
    if path.carry is not None:  # an affine op after the last activation
        scale, shift = path.carry
        layer = Dense(np.diag(scale), shift, "identity")
        path = replace(path, layers=(*path.layers, layer), carry=None)
    if not path.layers:
        raise UnsupportedModel("the graph has no Gemm or MatMul layer")
    network = Network(path.layers)
    kind, classes = _output_kind(path, outputs, network)
    names = None
    if kind == "values" and network.layers[-1].n_outputs == 1:
        names = (graph.output[0].name,)
    model = Model(
        network=network,
        preprocessing=path.steps,
        output=kind,
        classes=classes,
        output_names=names,
        source=source,
    )
    return model, path.tensor, path.inexact


def _final(value):
    """A graph output, its expression (if any) recognised."""
    if isinstance(value, _Expr):
        return _recognise(None, value)
    return value


def _network_path(value) -> _Path:
    if isinstance(value, _Path):
        return value
    if isinstance(value, (_Label, _ProbMap, _Complement)):
        return value.path
    raise UnsupportedModel(f"an output of the graph is {type(value).__name__}")


def _output_kind(path: _Path, outputs, network: Network) -> tuple[str, tuple | None]:
    last = network.layers[-1]
    labelled = [o for o in outputs if isinstance(o, (_Label, _ProbMap))]
    named = [o.classes for o in labelled if o.classes is not None]
    if labelled:
        width = 2 if path.binary else last.n_outputs
        classes = named[0] if named else tuple(range(width))
        if len(classes) != width:
            raise UnsupportedModel(
                f"{len(classes)} class labels for {width} probabilities"
            )
        return ("binary" if path.binary else "probabilities"), classes
    if path.binary:
        return "binary", (0, 1)
    if last.activation.name == "softmax":
        return "probabilities", tuple(range(last.n_outputs))
    if last.activation.name == "sigmoid" and last.n_outputs == 1:
        return "binary", (0, 1)
    return "values", None


# --- onnxruntime as the reference, ReferenceEvaluator as the exact side --------


def _with_output(proto, tensor: str, input_type: int):
    """A copy of ``proto`` with ``tensor`` made an output if it is not one.

    A graph that outputs only labels (or only a ZipMap) still has the
    probabilities inside; onnxruntime returns them once they are an output.
    """
    from onnx import helper

    copy = type(proto)()
    copy.CopyFrom(proto)
    names = [o.name for o in copy.graph.output]
    zipmaps = [n for n in copy.graph.node if n.op_type == "ZipMap"]
    if tensor not in names and not any(n.output[0] in names for n in zipmaps):
        copy.graph.output.append(
            helper.make_tensor_value_info(tensor, input_type, None)
        )
    return copy


def _in_batches(run, x: np.ndarray, the_input: _Input) -> np.ndarray:
    """``run`` on ``x`` shaped as the graph's input, in its fixed batch if any."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    x = x.reshape((x.shape[0], *the_input.dims))  # C order, as the framework
    size = the_input.batch
    if size is None:
        return run(x)
    chunks = []
    for start in range(0, x.shape[0], size):
        chunk = x[start : start + size]
        count = chunk.shape[0]
        if count < size:  # padded with zeros; the padding's rows are dropped
            padding = np.zeros((size - count, *the_input.dims))
            chunk = np.concatenate([chunk, padding])
        chunks.append(run(chunk)[:count])
    return np.concatenate(chunks)


def _reference(data: bytes, model: Model, the_input: _Input, fallback=None):
    """onnxruntime on the graph, giving what :meth:`Model.predict` gives.

    onnxruntime has no double kernel for some ops (Erf, Softplus, Elu in
    1.32): for such a float64 graph the reference is ``fallback``, the
    float64 ReferenceEvaluator, when there is one.
    """
    session = None
    dtype = np.float32 if the_input.elem_type == _FLOAT else np.float64

    def run_batch(x: np.ndarray) -> np.ndarray:
        outputs = dict(
            zip(
                [o.name for o in session.get_outputs()],
                session.run(None, {the_input.name: x.astype(dtype)}),
                strict=True,
            )
        )
        return _columns(outputs, model)

    def run(x: np.ndarray) -> np.ndarray:
        nonlocal session
        if session is None:
            try:
                session = _session(data)
            except UserError:
                raise
            except Exception as error:  # onnxruntime's own, e.g. NOT_IMPLEMENTED
                if fallback is None:
                    message = " ".join(str(error).split())[:200]
                    raise SourceError(
                        f"onnxruntime cannot run this graph ({message})"
                    ) from None
                session = fallback
        if session is fallback:
            return fallback(x)
        return _in_batches(run_batch, x, the_input)

    return run


def _session(data: bytes):
    try:
        import onnxruntime
    except ImportError:  # pragma: no cover - depends on the install
        raise SourceError(
            f"verifying an ONNX model needs onnxruntime: {install_hint('onnx')}"
        ) from None
    return onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])


def _exact(proto, model: Model, the_input: _Input):
    """ReferenceEvaluator on a float64 copy of ``proto``, or None if it lacks an op."""
    from onnx.reference import ReferenceEvaluator

    double = _as_float64(proto)
    try:
        evaluator = ReferenceEvaluator(double, new_ops=_float64_ops())
    except Exception:  # an op it lacks (ai.onnx.ml's), or one it cannot build
        return None

    def run_batch(x: np.ndarray) -> np.ndarray:
        results = evaluator.run(None, {the_input.name: x})
        return _columns(dict(zip(evaluator.output_names, results, strict=True)), model)

    def run(x: np.ndarray) -> np.ndarray:
        return _in_batches(run_batch, x, the_input)

    return run


def _float64_ops() -> list:
    """Ops the ReferenceEvaluator computes otherwise than the ONNX spec says.

    onnx 1.23's ``BatchNormalization`` (opsets 9 to 13) uses the batch's own
    statistics (training mode) whenever ``momentum`` is set, which the
    schema's default always is; onnxruntime, and the exporters, mean the
    stored mean and variance. Its ``Erf`` rounds every value to float32.
    """
    from onnx.reference.op_run import OpRun

    class BatchNormalization(OpRun):
        op_domain = ""

        def _run(self, x, scale, bias, mean, var, epsilon=None, **unused):
            shape = (-1,) + (1,) * (x.ndim - 2)  # one value per channel (axis 1)
            epsilon = 1e-5 if epsilon is None else epsilon
            y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + epsilon)
            return ((y * scale.reshape(shape) + bias.reshape(shape)).astype(x.dtype),)

    class Erf(OpRun):
        op_domain = ""

        def _run(self, x):
            return (np.asarray(_erf(x), np.float64).astype(x.dtype),)

    return [BatchNormalization, Erf]


def _as_float64(proto):
    """A copy of ``proto`` computing in double wherever it computed in float."""
    from onnx import helper, numpy_helper

    copy = type(proto)()
    copy.CopyFrom(proto)
    graph = copy.graph
    for tensor in graph.initializer:
        if tensor.data_type in (_FLOAT, _FLOAT16):
            array = numpy_helper.to_array(tensor).astype(np.float64)
            tensor.CopyFrom(numpy_helper.from_array(array, tensor.name))
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t") and attribute.t.data_type in (_FLOAT, _FLOAT16):
                array = numpy_helper.to_array(attribute.t).astype(np.float64)
                attribute.t.CopyFrom(numpy_helper.from_array(array, attribute.t.name))
        if node.op_type == "Constant" and node.attribute[0].name in (
            "value_float",
            "value_floats",
        ):
            value = np.asarray(
                helper.get_attribute_value(node.attribute[0]), np.float64
            )
            del node.attribute[:]
            node.attribute.append(
                helper.make_attribute("value", numpy_helper.from_array(value))
            )
        if node.op_type == "Cast":
            for attribute in node.attribute:
                if attribute.name == "to" and attribute.i in (_FLOAT, _FLOAT16):
                    attribute.i = _DOUBLE
    for info in (*graph.input, *graph.output, *graph.value_info):
        if info.type.tensor_type.elem_type in (_FLOAT, _FLOAT16):
            info.type.tensor_type.elem_type = _DOUBLE
    return copy


def _columns(outputs: dict, model: Model) -> np.ndarray:
    """The probabilities (or values) among the outputs, as float64."""
    for value in outputs.values():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return np.array(  # ZipMap: one dict per sample
                [[row[c] for c in model.classes] for row in value], np.float64
            )
    width = model.network.layers[-1].n_outputs
    wanted = 2 if model.output == "binary" else width
    for value in outputs.values():
        array = np.asarray(value)
        if (
            array.dtype.kind == "f"
            and array.ndim == 2
            and array.shape[1]
            in (
                wanted,
                width,
            )
        ):
            array = array.astype(np.float64)
            if model.output == "binary" and array.shape[1] == 1:
                array = np.hstack([1.0 - array, array])
            return array
    raise UnsupportedModel("the runtime gave no probabilities or values to compare")
