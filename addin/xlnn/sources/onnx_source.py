"""Read an ONNX graph of dense layers into a :class:`xlnn.model.Model`.

The graph is read node by node, in its (topological) order, as a symbolic
walk: every tensor is either a constant (an initializer or a ``Constant``
node: the weights) or a point on the one path from the graph's input to its
outputs. Each node moves the path on: ``Sub``/``Div``/``Mul``/``Add`` by
constants, ``Scaler`` and ``Normalizer`` before the first layer become
preprocessing; ``Gemm`` or ``MatMul`` (+ ``Add``) open a layer, and the next
activation closes it; ``Flatten``, ``Reshape``, ``Cast`` and ``Identity`` on
the 2-D batch change nothing. A classifier's label branch (``ArgMax``,
``ArrayFeatureExtractor``, ``ZipMap`` and the casts and reshapes around
them, as skl2onnx writes them) only names the classes. Every other node is
refused with :class:`UnsupportedModel` before anything is written; no node is
ever skipped.

What is refused on purpose (xlnn's activations carry no parameter per layer):
``LeakyRelu`` with an alpha other than 0.01, ``Elu`` with an alpha other than
1, ``Gelu`` with ``approximate="tanh"``, ``Softmax`` over any axis but the
last, and ``Gemm`` with ``transA=1`` (its rows would not be the samples), and
``Normalizer`` with ``norm="MAX"`` (ONNX divides by the largest value, xlnn
by the largest absolute value).
``HardSigmoid``'s alpha and beta are folded into its layer's weights, so the
workbook's sums for that layer are ``6 (alpha a + beta - 1/2)`` rather than
the framework's ``a``; its outputs are the framework's.

The output kind: a graph with a label branch or a ``ZipMap`` is a classifier
(``"binary"`` when skl2onnx's ``Concat(1 - p, p)`` follows one sigmoid,
else ``"probabilities"``); otherwise a last ``Softmax`` gives
``"probabilities"`` over classes 0..k-1, one last ``Sigmoid`` output gives
``"binary"`` over classes (0, 1), and anything else gives ``"values"``.

The reference is onnxruntime on the file's own bytes: the probability
tensor (``ZipMap``'s list of dicts turned back into columns, in class order)
or the values, as float64.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from xlnn.model import (
    FLOAT32_TOLERANCE,
    FLOAT64_TOLERANCE,
    Affine,
    Model,
    Normalize,
    Source,
)
from xlnn.network import Dense, Network
from xlnn.sources import SourceError


class UnsupportedModel(SourceError):
    """The ONNX graph holds something xlnn cannot lay out in cells."""


#: The ops xlnn reads, named in every refusal.
SUPPORTED = (
    "Gemm, MatMul, Add, Sub, Mul, Div, Relu, Sigmoid, Tanh, Softmax, "
    "LeakyRelu(alpha=0.01), Elu(alpha=1), Softplus, Gelu(exact), HardSigmoid, "
    "Identity, Flatten, Reshape, Cast, Constant, Concat(1-p, p), ArgMax, "
    "ai.onnx.ml Scaler, Normalizer(L1, L2), ZipMap, ArrayFeatureExtractor"
)

_ML = "ai.onnx.ml"
# ONNX TensorProto element types for float and double.
_FLOAT, _DOUBLE = 1, 11


# --- what a tensor is, symbolically -------------------------------------


@dataclass(frozen=True)
class _Path:
    """The samples on their way through the network: one row each.

    ``steps`` is the preprocessing so far, ``layers`` the closed layers,
    ``pending`` a linear map ``(W, b)`` that waits for its activation.
    ``binary`` marks skl2onnx's ``Concat(1 - p, p)`` of one sigmoid.
    ``tensor`` names the ONNX tensor, for the reference.
    """

    width: int
    tensor: str
    steps: tuple = ()
    layers: tuple = ()
    pending: tuple | None = None
    binary: bool = False

    @property
    def raw(self) -> bool:
        """No layer yet: an affine op here is preprocessing."""
        return not self.layers and self.pending is None


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


# --- reading ------------------------------------------------------------


def read(path) -> Model:
    """The ONNX model in ``path`` as a :class:`Model`, with onnxruntime as reference.

    Raises :class:`UnsupportedModel` naming the first node xlnn cannot read.
    """
    import onnx
    from onnx import numpy_helper

    data = Path(path).read_bytes()
    proto = onnx.load_from_string(data)
    graph = proto.graph
    constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    start, input_type = _the_input(graph, constants)
    values: dict = {start.tensor: start}
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            constants[node.output[0]] = _constant(node)
            continue
        outputs = _step(node, values, constants)
        for name, value in zip(node.output[: len(outputs)], outputs, strict=True):
            values[name] = value
    model, tensor = _model(graph, values, Source(str(path), "onnx", _sha256(data)))
    runnable = _with_output(proto, tensor, input_type)
    return replace(
        model,
        reference=_reference(runnable, model, input_type),
        # onnxruntime computes a float32 graph in float32.
        reference_tolerance=(
            FLOAT32_TOLERANCE if input_type == _FLOAT else FLOAT64_TOLERANCE
        ),
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _the_input(graph, constants) -> tuple[_Path, int]:
    inputs = [i for i in graph.input if i.name not in constants]
    if len(inputs) != 1:
        raise UnsupportedModel(
            f"the graph has {len(inputs)} inputs; xlnn reads one 2-D input"
        )
    tensor = inputs[0].type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    if len(dims) != 2 or dims[1] is None:
        raise UnsupportedModel(
            f"input {inputs[0].name}: shape {dims}; xlnn reads a 2-D batch "
            "[samples, features] with a known number of features"
        )
    if tensor.elem_type not in (_FLOAT, _DOUBLE):
        raise UnsupportedModel(
            f"input {inputs[0].name}: element type {tensor.elem_type}; "
            "xlnn reads float or double"
        )
    return _Path(width=dims[1], tensor=inputs[0].name), tensor.elem_type


def _constant(node) -> np.ndarray:
    from onnx import helper, numpy_helper

    attribute = node.attribute[0]
    value = helper.get_attribute_value(attribute)
    if attribute.name == "value":
        return numpy_helper.to_array(value)
    if attribute.name in ("value_float", "value_floats", "value_int", "value_ints"):
        return np.asarray(value)
    raise _refuse(node, f"a Constant's {attribute.name} is not a number")


def _refuse(node, why: str = "") -> UnsupportedModel:
    name = node.name or node.output[0]
    if why:
        return UnsupportedModel(f"node {name}: op {node.op_type}: {why}")
    return UnsupportedModel(
        f"node {name}: op {node.op_type} is not supported; supported: {SUPPORTED}"
    )


def _attributes(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


# --- one node -------------------------------------------------------------

_ACTIVATIONS = {
    "Relu": "relu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "Softplus": "softplus",
}


def _step(node, values, constants) -> list:
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
    return handler(node, args, _attributes(node))


def _only_path(node, args, kinds=(_Path,)):
    dynamic = [a for a in args if not isinstance(a, np.ndarray) and a is not None]
    if len(dynamic) != 1 or not isinstance(dynamic[0], kinds):
        raise _refuse(node, "expects the samples and constants only")
    return dynamic[0]


def _renamed(value, node):
    if isinstance(value, _Path):
        return replace(value, tensor=node.output[0])
    return value


def _passthrough(node, args, attrs):
    return [_renamed(args[0], node)]


def _cast(node, args, attrs):
    value = args[0]
    if isinstance(value, _Path) and attrs.get("to") not in (_FLOAT, _DOUBLE):
        raise _refuse(node, "casts the samples to a non-float type")
    return [_renamed(value, node)]


def _flatten(node, args, attrs):
    path = _only_path(node, args[:1])
    if attrs.get("axis", 1) not in (1, -1):
        raise _refuse(node, "Flatten must keep the samples as rows (axis 1)")
    return [_renamed(path, node)]


def _reshape(node, args, attrs):
    value = args[0]
    if isinstance(value, (_Label, _ProbMap)):
        return [value]
    path = _only_path(node, args[:1])
    if not isinstance(args[1], np.ndarray):
        raise _refuse(node, "the new shape must be a constant")
    shape = [int(v) for v in args[1].reshape(-1)]
    keeps = len(shape) == 2 and (
        (shape[0] in (-1, 0) and shape[1] == path.width)
        or (shape[0] == 0 and shape[1] == -1)
    )
    if not keeps:
        raise _refuse(
            node, f"reshape to {shape}; only [-1 or 0, {path.width}] keeps the batch"
        )
    return [_renamed(path, node)]


def _gemm(node, args, attrs):
    a, b = args[0], args[1]
    c = args[2] if len(args) > 2 else None
    if not isinstance(a, _Path) or not isinstance(b, np.ndarray):
        raise _refuse(node, "expects the samples as A and constant weights as B")
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


def _matmul(node, args, attrs):
    a, b = args
    if not isinstance(a, _Path) or not isinstance(b, np.ndarray) or b.ndim != 2:
        raise _refuse(node, "expects the samples times a 2-D constant")
    weights = b.astype(np.float64)
    return [_open_layer(node, a, weights, np.zeros(weights.shape[1]))]


def _open_layer(node, path: _Path, weights, bias) -> _Path:
    if path.pending is not None:
        raise _refuse(node, "two linear layers with no activation between")
    if weights.shape[0] != path.width:
        raise _refuse(node, f"weights take {weights.shape[0]} inputs, not {path.width}")
    return replace(
        path,
        tensor=node.output[0],
        pending=(weights, bias),
        width=weights.shape[1],
    )


def _row(node, c, width: int) -> np.ndarray:
    """A constant broadcast over the samples: one value per column."""
    c = np.asarray(c, dtype=np.float64)
    if c.ndim > 2 or (c.ndim == 2 and c.shape[0] != 1):
        raise _refuse(node, f"constant of shape {c.shape} is not one row")
    c = c.reshape(-1)
    if c.size not in (1, width):
        raise _refuse(node, f"constant of {c.size} values for {width} columns")
    return np.broadcast_to(c, (width,)).copy()


def _arithmetic(node, args, attrs):
    op = node.op_type
    if op == "Sub" and isinstance(args[1], _Path) and isinstance(args[0], np.ndarray):
        return [_subtracted_from(node, args[0], args[1])]
    path = _only_path(node, args)
    constant = args[1] if isinstance(args[0], _Path) else args[0]
    if op in ("Sub", "Div") and not isinstance(args[0], _Path):
        raise _refuse(node, "expects the samples first and a constant second")
    c = _row(node, constant, path.width)
    if path.raw:
        return [_preprocessed(node, path, op, c)]
    if path.pending is None:
        raise _refuse(node, f"{op} after an activation is not part of a layer")
    weights, bias = path.pending
    if op == "Add":
        pending = (weights, bias + c)
    elif op == "Sub":
        pending = (weights, bias - c)
    elif op == "Mul":
        pending = (weights * c, bias * c)
    else:
        pending = (weights / c, bias / c)
    return [replace(path, pending=pending, tensor=node.output[0])]


def _preprocessed(node, path: _Path, op: str, c) -> _Path:
    ones, zeros = np.ones(path.width), np.zeros(path.width)
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


def _subtracted_from(node, c, path: _Path):
    if path.raw:  # c - x = (x - c) * -1
        row = _row(node, c, path.width)
        return _with_step(path, Affine(row, -np.ones(path.width), label="Sub"), node)
    last = path.layers[-1] if path.layers else None
    if (
        path.pending is None
        and last is not None
        and last.activation == "sigmoid"
        and path.width == 1
        and np.all(np.asarray(c) == 1)
    ):
        return _Complement(path)
    raise _refuse(node, "only 1 - sigmoid (a binary classifier) is read here")


def _activation(node, args, attrs):
    path = _only_path(node, args)
    op = node.op_type
    if op == "LeakyRelu":
        alpha = attrs.get("alpha", 0.01)
        if alpha != np.float32(0.01):
            raise _refuse(node, f"alpha {alpha:g} is not supported; only 0.01")
        name = "leaky_relu"
    elif op == "Elu":
        alpha = attrs.get("alpha", 1.0)
        if alpha != 1.0:
            raise _refuse(node, f"alpha {alpha:g} is not supported; only 1")
        name = "elu"
    elif op == "Gelu":
        if attrs.get("approximate", "none") not in ("none", b"none"):
            raise _refuse(node, "approximate='tanh' is not supported; only exact")
        name = "gelu"
    elif op == "Softmax":
        if attrs.get("axis", -1) not in (1, -1):
            raise _refuse(node, "softmax must run over the last axis of a 2-D batch")
        name = "softmax"
    elif op == "HardSigmoid":
        return [_hard_sigmoid(node, path, attrs)]
    else:
        name = _ACTIVATIONS[op]
    return [_close_layer(node, path, name)]


def _close_layer(node, path: _Path, activation: str, pending=None) -> _Path:
    if path.pending is None:
        raise _refuse(node, "an activation must follow a Gemm or MatMul")
    weights, bias = pending or path.pending
    layer = Dense(weights, bias, activation)
    return replace(
        path, layers=(*path.layers, layer), pending=None, tensor=node.output[0]
    )


def _hard_sigmoid(node, path: _Path, attrs) -> _Path:
    # ONNX: max(0, min(1, alpha a + beta)); xlnn's hard_sigmoid(s) is
    # max(0, min(1, s / 6 + 1/2)), so s = 6 (alpha a + beta - 1/2).
    if path.pending is None:
        raise _refuse(node, "an activation must follow a Gemm or MatMul")
    alpha, beta = attrs.get("alpha", 0.2), attrs.get("beta", 0.5)
    weights, bias = path.pending
    folded = (6.0 * alpha * weights, 6.0 * (alpha * bias + beta - 0.5))
    return _close_layer(node, path, "hard_sigmoid", folded)


def _concat(node, args, attrs):
    if (
        len(args) == 2
        and isinstance(args[0], _Complement)
        and args[0].path is args[1]
        and attrs.get("axis") in (1, -1)
    ):
        return [replace(args[1], binary=True, width=2, tensor=node.output[0])]
    raise _refuse(node, "only Concat(1 - p, p) of a binary classifier is read")


def _argmax(node, args, attrs):
    path = _only_path(node, args)
    if attrs.get("axis", 0) not in (1, -1) or attrs.get("select_last_index", 0):
        raise _refuse(node, "ArgMax must pick the first largest column of each row")
    return [_Label(path)]


def _scaler(node, args, attrs):
    path = _only_path(node, args)
    if not path.raw:
        raise _refuse(node, "Scaler only before the first layer")
    offset = _row(node, attrs.get("offset", [0.0]), path.width)
    scale = _row(node, attrs.get("scale", [1.0]), path.width)
    return [_with_step(path, Affine(offset, scale, label="Scaler"), node)]


def _normalizer(node, args, attrs):
    path = _only_path(node, args)
    if not path.raw:
        raise _refuse(node, "Normalizer only before the first layer")
    norm = attrs.get("norm", b"MAX")
    norm = norm.decode() if isinstance(norm, bytes) else norm
    if norm == "MAX":
        # ONNX's MAX divides by the row's largest value, xlnn's (and
        # scikit-learn's) "max" by its largest absolute value.
        raise _refuse(node, "norm MAX (x / max(x)) is not supported; L1 or L2")
    return [_with_step(path, Normalize(norm.lower()), node)]


def _zipmap(node, args, attrs):
    path = _only_path(node, args)
    labels = attrs.get("classlabels_strings") or attrs.get("classlabels_int64s")
    return [_ProbMap(path, _labels(labels), node.output[0])]


def _array_feature_extractor(node, args, attrs):
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
    "Cast": _cast,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Add": _arithmetic,
    "Sub": _arithmetic,
    "Mul": _arithmetic,
    "Div": _arithmetic,
    "Relu": _activation,
    "Sigmoid": _activation,
    "Tanh": _activation,
    "Softplus": _activation,
    "Softmax": _activation,
    "LeakyRelu": _activation,
    "Elu": _activation,
    "Gelu": _activation,
    "HardSigmoid": _activation,
    "Concat": _concat,
    "ArgMax": _argmax,
}
_ML_OPS = {
    "Scaler": _scaler,
    "Normalizer": _normalizer,
    "ZipMap": _zipmap,
    "ArrayFeatureExtractor": _array_feature_extractor,
    "Cast": _cast,
}


# --- the graph's outputs ----------------------------------------------------


def _model(graph, values, source: Source) -> tuple[Model, str]:
    """The model, and the tensor holding its probabilities or values."""
    outputs = [values.get(o.name) for o in graph.output]
    if any(o is None for o in outputs):
        raise UnsupportedModel("an output of the graph comes from no node xlnn read")
    paths = {id(_network_path(o)): _network_path(o) for o in outputs}
    if len(paths) != 1:
        raise UnsupportedModel(
            "the graph's outputs come from different points of the network"
        )
    (path,) = paths.values()
    if path.pending is not None:  # a last linear layer with no activation
        path = replace(path, layers=(*path.layers, Dense(*path.pending, "identity")))
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
    return model, path.tensor


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
    if last.activation == "softmax":
        return "probabilities", tuple(range(last.n_outputs))
    if last.activation == "sigmoid" and last.n_outputs == 1:
        return "binary", (0, 1)
    return "values", None


# --- onnxruntime as the reference -------------------------------------------


def _with_output(proto, tensor: str, input_type: int) -> bytes:
    """The model's bytes, with ``tensor`` made an output if it is not one.

    A graph that outputs only labels (or only a ZipMap) still has the
    probabilities inside; onnxruntime returns them once they are an output.
    """
    from onnx import helper

    names = [o.name for o in proto.graph.output]
    zipmaps = [n for n in proto.graph.node if n.op_type == "ZipMap"]
    if tensor in names or any(n.output[0] in names for n in zipmaps):
        return proto.SerializeToString()
    proto = type(proto).FromString(proto.SerializeToString())  # leave the caller's
    proto.graph.output.append(helper.make_tensor_value_info(tensor, input_type, None))
    return proto.SerializeToString()


def _reference(data: bytes, model: Model, input_type: int):
    """onnxruntime on the file's bytes, giving what :meth:`Model.predict` gives."""
    session = None
    dtype = np.float32 if input_type == _FLOAT else np.float64

    def run(x: np.ndarray) -> np.ndarray:
        nonlocal session
        if session is None:
            session = _session(data)
        x = np.atleast_2d(np.asarray(x, dtype=np.float64)).astype(dtype)
        name = session.get_inputs()[0].name
        outputs = dict(
            zip(
                [o.name for o in session.get_outputs()],
                session.run(None, {name: x}),
                strict=True,
            )
        )
        return _columns(outputs, model)

    return run


def _session(data: bytes):
    try:
        import onnxruntime
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(
            "the reference needs onnxruntime: pip install 'xlnn[onnx]'"
        ) from error
    return onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])


def _columns(outputs: dict, model: Model) -> np.ndarray:
    """The probabilities (or values) among onnxruntime's outputs, as float64."""
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
    raise UnsupportedModel("onnxruntime gave no probabilities or values to compare")
