"""Graphs in the shapes real exporters write (issue 11), read by onnx_source.

No exporter runs here (no torch, no TensorFlow): each graph is built with
onnx.helper in the form the issue's user measured from torch 2.x (the
default "dynamo" exporter, opset 18, weights in ``MODEL.onnx.data``; the
legacy exporter, opset 11-13), tf2onnx / Keras 3 and skl2onnx. Every graph
is read from another current folder and compared three ways: xlnn's NumPy
forward pass against onnxruntime run here on the saved file (float32
precision for float32 graphs), and against ``Model.exact`` (onnx's
ReferenceEvaluator on a float64 copy) within 1e-12.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

from xlnn import cli
from xlnn.model import Affine
from xlnn.sources import SourceError
from xlnn.sources.onnx_source import UnsupportedModel, from_proto, read

FLOAT, DOUBLE = TensorProto.FLOAT, TensorProto.DOUBLE
# float32 graphs: onnxruntime computes in float32, xlnn in float64 from the
# same float32 weights (the bound tests/test_onnx_source.py uses).
RTOL32, ATOL32 = 1e-5, 1e-6
# Model.exact is the same graph in float64; only the order of sums differs.
RTOL_EXACT, ATOL_EXACT = 1e-12, 1e-14
RNG = np.random.default_rng(11)
SAMPLES = RNG.normal(size=(13, 64))  # 13: not a multiple of the fixed batches


def _weights(rows, columns, dtype=np.float32):
    # Small enough that no sum reaches Softplus' threshold of 20.
    return (RNG.normal(size=(rows, columns)) * 0.3).astype(dtype)


W1, B1 = _weights(64, 16), _weights(1, 16)[0]
W2, B2 = _weights(16, 10), _weights(1, 10)[0]


def _init(name, array, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(array, dtype=dtype), name)


def _graph(nodes, inits, *, shape, out="y", width=10, opset=18, kind=FLOAT, check=True):
    graph = helper.make_graph(
        nodes,
        "exported",
        [helper.make_tensor_value_info("x", kind, shape)],
        [helper.make_tensor_value_info(out, kind, [shape[0], width])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    if check:
        onnx.checker.check_model(model)
    return model


def _save(model, folder, *, external=False):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "m.onnx"
    if external:  # torch's dynamo exporter: every weight in m.onnx.data
        onnx.save_model(
            model,
            str(path),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location="m.onnx.data",
            size_threshold=0,
        )
        assert (folder / "m.onnx.data").is_file()
    else:
        onnx.save_model(model, str(path))
    return path


def _onnxruntime(path, x, kind=FLOAT):
    """The graph's first output, run here by onnxruntime on the saved file."""
    session = onnxruntime.InferenceSession(
        str(path), providers=["CPUExecutionProvider"]
    )
    feed = session.get_inputs()[0]
    shape = [x.shape[0], *feed.shape[1:]]
    dtype = np.float32 if kind == FLOAT else np.float64
    return session.run(None, {feed.name: x.reshape(shape).astype(dtype)})[0]


def _read_elsewhere(path, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return read(path)


def _agrees(
    model, path, *, batch=None, kind=FLOAT, exact_rtol=RTOL_EXACT, runtime=True
):
    """predict against onnxruntime (unless it cannot run the graph) and exact."""
    x = SAMPLES[:batch] if batch else SAMPLES
    rtol, atol = (RTOL32, ATOL32) if kind == FLOAT else (1e-9, 0.0)
    if runtime:
        theirs = _onnxruntime(path, x, kind)
        np.testing.assert_allclose(model.predict(x), theirs, rtol=rtol, atol=atol)
        # The reference runs any number of samples, whatever the fixed batch.
        np.testing.assert_allclose(
            model.predict(SAMPLES),
            model.framework_predict(SAMPLES),
            rtol=rtol,
            atol=atol,
        )
    mine = model.predict(SAMPLES)
    if exact_rtol is None:
        assert model.exact is None
        return
    assert model.exact is not None
    np.testing.assert_allclose(
        mine, model.exact_predict(SAMPLES), rtol=exact_rtol, atol=ATOL_EXACT
    )


# --- torch, dynamo exporter (the default) --------------------------------------


def _constant_node(name, value):
    return helper.make_node(
        "Constant",
        [],
        [name],
        name=f"node_{name}",
        value=numpy_helper.from_array(value),
    )


def _dynamo(batch):
    """nn.Flatten-free MLP on (N, 1, 8, 8): x.view(x.size(0), -1), Linear, ReLU."""
    if batch is None:  # a dynamic batch: the view's shape is built from x's
        # Small shape constants are Constant nodes: they stay in m.onnx.
        view = [
            _constant_node("zero", np.array(0, np.int64)),
            _constant_node("axes", np.array([0], np.int64)),
            _constant_node("minus1", np.array([-1], np.int64)),
            helper.make_node("Shape", ["x"], ["shape"], name="shape"),
            helper.make_node("Gather", ["shape", "zero"], ["n"], name="size0", axis=0),
            helper.make_node("Unsqueeze", ["n", "axes"], ["n1"], name="unsqueeze"),
            helper.make_node("Concat", ["n1", "minus1"], ["to"], name="cat", axis=0),
        ]
        shape_inits = []
    else:  # a fixed batch is written into the view's constant
        view, shape_inits = [_constant_node("to", np.array([batch, 64], np.int64))], []
    nodes = [
        *view,
        helper.make_node("Reshape", ["x", "to"], ["flat"], name="node_view"),
        helper.make_node(
            "Gemm",
            ["flat", "fc1.weight", "fc1.bias"],
            ["h"],
            name="node_linear",
            transB=1,
        ),
        helper.make_node("Relu", ["h"], ["r"], name="node_relu"),
        helper.make_node(
            "Gemm",
            ["r", "fc2.weight", "fc2.bias"],
            ["y"],
            name="node_linear_1",
            transB=1,
        ),
    ]
    inits = [
        *shape_inits,
        _init("fc1.weight", W1.T),
        _init("fc1.bias", B1),
        _init("fc2.weight", W2.T),
        _init("fc2.bias", B2),
    ]
    return _graph(nodes, inits, shape=[batch or "s0", 1, 8, 8])


@pytest.mark.parametrize("batch", [None, 1, 8], ids=["dynamic", "batch1", "batch8"])
def test_torch_dynamo_default_export(tmp_path, monkeypatch, batch):
    path = _save(_dynamo(batch), tmp_path / "exported", external=True)
    model = _read_elsewhere(path, tmp_path, monkeypatch)
    assert model.input_shape == (1, 8, 8)
    assert [layer.activation for layer in model.network.layers] == [
        "relu",
        "identity",
    ]
    _agrees(model, path, batch=batch)


# --- torch, legacy exporter ------------------------------------------------------

BN = {
    "gamma": RNG.uniform(0.5, 1.5, 16).astype(np.float32),
    "beta": RNG.normal(size=16).astype(np.float32),
    "mean": RNG.normal(size=16).astype(np.float32),
    "var": RNG.uniform(0.5, 2.0, 16).astype(np.float32),
}


def _batch_norm(name, source, target, width=16):
    inits = [_init(f"{name}.{k}", v[:width]) for k, v in BN.items()]
    node = helper.make_node(
        "BatchNormalization",
        [source, *(i.name for i in inits)],
        [target],
        name=name,
        epsilon=1e-5,
    )
    return node, inits


def _legacy(where, flatten):
    """Flatten (or the view chain), Linear, BatchNorm1d, ReLU, Dropout, Linear."""
    if flatten:
        view = [helper.make_node("Flatten", ["x"], ["flat"], name="Flatten_0")]
        view_inits = []
    else:
        view = [
            helper.make_node("Shape", ["x"], ["s"], name="Shape_0"),
            helper.make_node(
                "Constant",
                [],
                ["i0"],
                name="Constant_1",
                value=numpy_helper.from_array(np.array(0, np.int64)),
            ),
            helper.make_node("Gather", ["s", "i0"], ["n"], name="Gather_2", axis=0),
            helper.make_node("Unsqueeze", ["n"], ["n1"], name="Unsqueeze_3", axes=[0]),
            helper.make_node("Concat", ["n1", "m1"], ["to"], name="Concat_4", axis=0),
            helper.make_node("Reshape", ["x", "to"], ["flat"], name="Reshape_5"),
        ]
        view_inits = [_init("m1", [-1], np.int64)]
    first, second = "h", "r"
    bn_nodes, bn_inits = [], []
    if where == "after_linear":  # folded into the first layer
        node, bn_inits = _batch_norm("BatchNormalization_7", "h", "hb")
        bn_nodes, first = [node], "hb"
    linear = helper.make_node(
        "Gemm", ["flat", "W1", "B1"], ["h"], name="Gemm_6", transB=1
    )
    relu = helper.make_node("Relu", [first], ["r"], name="Relu_8")
    if where == "after_relu":  # folded into the next layer
        node, bn_inits = _batch_norm("BatchNormalization_9", "r", "rb")
        bn_nodes, second = [node], "rb"
    dropout = helper.make_node(
        "Dropout", [second, "ratio"], ["d", "mask"], name="Dropout_10"
    )
    if where == "after_linear":
        nodes = [*view, linear, *bn_nodes, relu]
    else:
        nodes = [*view, linear, relu, *bn_nodes]
    nodes += [
        dropout,
        helper.make_node("Gemm", ["d", "W2", "B2"], ["y"], name="Gemm_11", transB=1),
    ]
    inits = [
        *view_inits,
        *bn_inits,
        _init("W1", W1.T),
        _init("B1", B1),
        _init("W2", W2.T),
        _init("B2", B2),
        _init("ratio", 0.5),
    ]
    return _graph(nodes, inits, shape=["batch", 1, 8, 8], opset=12)


@pytest.mark.parametrize("where", ["after_linear", "after_relu"])
@pytest.mark.parametrize("flatten", [True, False], ids=["Flatten", "view"])
def test_torch_legacy_export(tmp_path, monkeypatch, where, flatten):
    path = _save(_legacy(where, flatten), tmp_path / "exported")
    model = _read_elsewhere(path, tmp_path, monkeypatch)
    assert model.input_shape == (1, 8, 8)
    assert len(model.network.layers) == 2  # BatchNorm is folded, not a layer
    _agrees(model, path)


def test_batch_norm_before_the_first_layer_is_preprocessing(tmp_path, monkeypatch):
    node, inits = _batch_norm("bn0", "x", "xb", width=1)  # BatchNorm2d(1)
    nodes = [
        node,
        helper.make_node("Flatten", ["xb"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "W1", "B1"], ["y"], name="fc", transB=1),
    ]
    inits += [_init("W1", W1.T), _init("B1", B1)]
    path = _save(_graph(nodes, inits, shape=["N", 1, 8, 8], width=16), tmp_path / "m")
    model = _read_elsewhere(path, tmp_path, monkeypatch)
    (step,) = model.preprocessing
    assert isinstance(step, Affine) and step.offset.shape == (64,)
    _agrees(model, path)


def test_batch_norm_after_the_last_activation_is_an_identity_layer(
    tmp_path, monkeypatch
):
    node, inits = _batch_norm("bn_last", "r", "y")
    nodes = [
        helper.make_node("Gemm", ["x", "W1", "B1"], ["h"], name="fc", transB=1),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        node,
    ]
    inits += [_init("W1", W1.T), _init("B1", B1)]
    path = _save(_graph(nodes, inits, shape=["N", 64], width=16), tmp_path / "m")
    model = _read_elsewhere(path, tmp_path, monkeypatch)
    assert [layer.activation for layer in model.network.layers] == [
        "relu",
        "identity",
    ]
    assert model.input_shape is None
    _agrees(model, path)


# --- Keras 3 / tf2onnx ------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "alpha", "name"),
    [
        ("LeakyRelu", 0.3, "leaky_relu"),
        ("LeakyRelu", 0.2, "leaky_relu"),
        ("Elu", 1.0, "elu"),
    ],
    ids=["LeakyReLU-0.3", "leaky_relu-0.2", "Elu"],
)
def test_keras_flatten_matmul_add(tmp_path, monkeypatch, op, alpha, name):
    # Input((8, 8)), Flatten, Dense(16, activation), Dense(10, softmax).
    nodes = [
        helper.make_node(
            "Reshape",
            ["x", "const_fold_opt__8"],
            ["flatten/Reshape:0"],
            name="sequential/flatten/Reshape",
        ),
        helper.make_node(
            "MatMul",
            ["flatten/Reshape:0", "W1"],
            ["m1"],
            name="sequential/dense/MatMul",
        ),
        helper.make_node("Add", ["m1", "B1"], ["a1"], name="sequential/dense/BiasAdd"),
        helper.make_node(op, ["a1"], ["h1"], name="sequential/dense/act", alpha=alpha),
        helper.make_node(
            "MatMul", ["h1", "W2"], ["m2"], name="sequential/dense_1/MatMul"
        ),
        helper.make_node(
            "Add", ["m2", "B2"], ["a2"], name="sequential/dense_1/BiasAdd"
        ),
        helper.make_node("Softmax", ["a2"], ["y"], name="sequential/dense_1/Softmax"),
    ]
    inits = [
        _init("const_fold_opt__8", [-1, 64], np.int64),
        _init("W1", W1),
        _init("B1", B1),
        _init("W2", W2),
        _init("B2", B2),
    ]
    path = _save(_graph(nodes, inits, shape=["unk__6", 8, 8], opset=13), tmp_path / "k")
    model = _read_elsewhere(path, tmp_path, monkeypatch)
    assert model.input_shape == (8, 8)
    assert model.output == "probabilities"
    first = model.network.layers[0]
    assert first.activation == name
    # ELU's default alpha 1 is the catalog's default: no parameter needed.
    expected = None if op == "Elu" else float(np.float32(alpha))
    assert first.parameter == expected
    _agrees(model, path)


# --- activations written out of elementwise ops ----------------------------------


def _written_out(kind, build):
    """Gemm (the sums ``a``), an activation ``build`` writes out, then Gemm."""
    dtype = np.float32 if kind == FLOAT else np.float64
    nodes, inits = build(dtype)
    nodes = [
        helper.make_node("Gemm", ["x", "W1", "B1"], ["a"], name="fc1", transB=1),
        *nodes,
        helper.make_node("Gemm", ["act", "W2", "B2"], ["y"], name="fc2", transB=1),
    ]
    inits += [
        _init("W1", W1.T, dtype),
        _init("B1", B1, dtype),
        _init("W2", W2.T, dtype),
        _init("B2", B2, dtype),
    ]
    return _graph(nodes, inits, shape=["N", 64], opset=17, kind=kind)


def _c(name, value, dtype):
    return _init(name, value, dtype)


def gelu_div_erf(dtype):  # torch legacy, opset < 20: x * 0.5 * (1 + erf(x / sqrt2))
    return [
        helper.make_node("Div", ["a", "sqrt2"], ["d"], name="Div_1"),
        helper.make_node("Erf", ["d"], ["e"], name="Erf_2"),
        helper.make_node("Add", ["e", "one"], ["p"], name="Add_3"),
        helper.make_node("Mul", ["a", "p"], ["q"], name="Mul_4"),
        helper.make_node("Mul", ["q", "half"], ["act"], name="Mul_5"),
    ], [_c("sqrt2", math.sqrt(2), dtype), _c("one", 1, dtype), _c("half", 0.5, dtype)]


def gelu_mul_erf(dtype):  # 0.5 x first, then times (1 + erf(x * 0.70710677))
    return [
        helper.make_node("Mul", ["half", "a"], ["h"], name="mul_half"),
        helper.make_node("Mul", ["a", "rsqrt2"], ["d"], name="mul_rsqrt2"),
        helper.make_node("Erf", ["d"], ["e"], name="erf"),
        helper.make_node("Add", ["one", "e"], ["p"], name="add_one"),
        helper.make_node("Mul", ["h", "p"], ["act"], name="mul"),
    ], [
        _c("rsqrt2", 1 / math.sqrt(2), dtype),
        _c("one", 1, dtype),
        _c("half", 0.5, dtype),
    ]


def gelu_neg_erf(dtype):  # Keras: 0.5 x (1 - erf(-x / sqrt2)), an erfc
    return [
        helper.make_node("Neg", ["a"], ["n"], name="neg"),
        helper.make_node("Mul", ["n", "rsqrt2"], ["d"], name="scale"),
        helper.make_node("Erf", ["d"], ["e"], name="erf"),
        helper.make_node("Sub", ["one", "e"], ["p"], name="erfc"),
        helper.make_node("Mul", ["a", "half"], ["h"], name="half_x"),
        helper.make_node("Mul", ["h", "p"], ["act"], name="gelu"),
    ], [
        _c("rsqrt2", 1 / math.sqrt(2), dtype),
        _c("one", 1, dtype),
        _c("half", 0.5, dtype),
    ]


def gelu_tanh_pow(dtype):  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    return [
        helper.make_node("Pow", ["a", "three"], ["cube"], name="pow"),
        helper.make_node("Mul", ["cube", "k"], ["kc"], name="mul_k"),
        helper.make_node("Add", ["a", "kc"], ["inner"], name="add"),
        helper.make_node("Mul", ["inner", "s"], ["t"], name="mul_s"),
        helper.make_node("Tanh", ["t"], ["th"], name="tanh"),
        helper.make_node("Add", ["th", "one"], ["p"], name="add_one"),
        helper.make_node("Mul", ["a", "p"], ["q"], name="mul_x"),
        helper.make_node("Mul", ["q", "half"], ["act"], name="mul_half"),
    ], [
        _c("three", 3, dtype),
        _c("k", 0.044715, dtype),
        _c("s", math.sqrt(2 / math.pi), dtype),
        _c("one", 1, dtype),
        _c("half", 0.5, dtype),
    ]


def gelu_tanh_mul(dtype):  # the cube as x * x * x, the half taken first
    return [
        helper.make_node("Mul", ["a", "half"], ["h"], name="half_x"),
        helper.make_node("Mul", ["a", "a"], ["sq"], name="square"),
        helper.make_node("Mul", ["sq", "a"], ["cube"], name="cube"),
        helper.make_node("Mul", ["k", "cube"], ["kc"], name="mul_k"),
        helper.make_node("Add", ["kc", "a"], ["inner"], name="add"),
        helper.make_node("Mul", ["s", "inner"], ["t"], name="mul_s"),
        helper.make_node("Tanh", ["t"], ["th"], name="tanh"),
        helper.make_node("Add", ["one", "th"], ["p"], name="add_one"),
        helper.make_node("Mul", ["h", "p"], ["act"], name="gelu"),
    ], [
        _c("k", 0.044715, dtype),
        _c("s", math.sqrt(2 / math.pi), dtype),
        _c("one", 1, dtype),
        _c("half", 0.5, dtype),
    ]


def silu_mul_sigmoid(dtype):  # x * Sigmoid(x)
    return [
        helper.make_node("Sigmoid", ["a"], ["sg"], name="sigmoid"),
        helper.make_node("Mul", ["a", "sg"], ["act"], name="mul"),
    ], []


def softplus_where(dtype):  # torch dynamo: where(x*beta > 20, x, softplus(x*beta)/beta)
    return [
        helper.make_node("Mul", ["a", "beta"], ["xb"], name="node_mul"),
        helper.make_node("Greater", ["xb", "threshold"], ["big"], name="node_gt"),
        helper.make_node("Softplus", ["xb"], ["sp"], name="node_softplus"),
        helper.make_node("Div", ["sp", "beta"], ["spb"], name="node_div"),
        helper.make_node("Where", ["big", "a", "spb"], ["act"], name="node_where"),
    ], [_c("beta", 1.0, dtype), _c("threshold", 20.0, dtype)]


WRITTEN_OUT = [
    (gelu_div_erf, "gelu"),
    (gelu_mul_erf, "gelu"),
    (gelu_neg_erf, "gelu"),
    (gelu_tanh_pow, "gelu_tanh"),  # needs the catalog's gelu_tanh
    (gelu_tanh_mul, "gelu_tanh"),  # needs the catalog's gelu_tanh
    (silu_mul_sigmoid, "silu"),
    (softplus_where, "softplus"),
]


@pytest.mark.parametrize("kind", [FLOAT, DOUBLE], ids=["float32", "float64"])
@pytest.mark.parametrize(
    ("build", "name"), WRITTEN_OUT, ids=[b.__name__ for b, _ in WRITTEN_OUT]
)
def test_written_out_activations_are_recognised(
    tmp_path, monkeypatch, build, name, kind
):
    path = _save(_written_out(kind, build), tmp_path / "w")
    model = _read_elsewhere(path, tmp_path, monkeypatch)
    assert [layer.activation for layer in model.network.layers] == [name, "identity"]
    # A float32 graph holds 1/sqrt(2) as 0.70710677 (and sqrt(2/pi), 0.044715
    # likewise), so it computes a GELU ~1e-8 away from the catalog's: the
    # float64 evaluation of that graph is then no reference for the workbook
    # (exact is None, and NumPy's forward pass is the float64 side).
    inexact = kind == FLOAT and name.startswith("gelu")
    exact_rtol = None if inexact else RTOL_EXACT
    # onnxruntime 1.32 has no double kernel for Erf or Softplus.
    runtime = kind == FLOAT or name in ("gelu_tanh", "silu")
    _agrees(model, path, kind=kind, exact_rtol=exact_rtol, runtime=runtime)


def test_a_float64_graph_onnxruntime_cannot_run_is_referenced_by_the_evaluator(
    tmp_path, monkeypatch
):
    # onnxruntime 1.32 has no double kernel for Erf: the framework's side is
    # then onnx's float64 ReferenceEvaluator, not a crash.
    build = dict((b.__name__, b) for b, _ in WRITTEN_OUT)["gelu_div_erf"]
    path = _save(_written_out(DOUBLE, build), tmp_path / "w")
    model = _read_elsewhere(path, tmp_path, monkeypatch)
    with pytest.raises(Exception, match="(?i)not.?implemented|Erf"):
        _onnxruntime(path, SAMPLES, DOUBLE)
    np.testing.assert_allclose(
        model.framework_predict(SAMPLES), model.predict(SAMPLES), rtol=1e-12
    )


def test_an_expression_that_is_no_activation_is_refused(tmp_path):
    nodes = [  # x * exp(x)
        helper.make_node("Exp", ["a"], ["e"], name="exp"),
        helper.make_node("Mul", ["a", "e"], ["act"], name="times"),
    ]
    path = _save(_written_out(FLOAT, lambda dtype: (nodes, [])), tmp_path / "w")
    with pytest.raises(UnsupportedModel, match="nodes exp, times: .*no activation"):
        read(path)


# --- LogSoftmax, scikit-learn's identity MLP --------------------------------------


def test_log_softmax_output(tmp_path, monkeypatch):
    nodes = [
        helper.make_node("Gemm", ["x", "W1", "B1"], ["h"], name="fc1", transB=1),
        helper.make_node("Tanh", ["h"], ["t"], name="tanh"),
        helper.make_node("Gemm", ["t", "W2", "B2"], ["a"], name="fc2", transB=1),
        helper.make_node("LogSoftmax", ["a"], ["y"], name="log_softmax", axis=1),
    ]
    inits = [_init("W1", W1.T), _init("B1", B1), _init("W2", W2.T), _init("B2", B2)]
    path = _save(_graph(nodes, inits, shape=["N", 64]), tmp_path / "l")
    model = _read_elsewhere(path, tmp_path, monkeypatch)
    assert model.network.layers[-1].activation == "log_softmax"
    _agrees(model, path)


def test_sklearn_identity_mlp_is_linear_layers_in_a_row(tmp_path, monkeypatch):
    # skl2onnx, MLPRegressor(activation="identity"), double input.
    nodes = [
        helper.make_node("MatMul", ["x", "coefficient"], ["mul_result"], name="MatMul"),
        helper.make_node(
            "Add", ["mul_result", "intercepts"], ["add_result"], name="Add"
        ),
        helper.make_node(
            "MatMul", ["add_result", "coefficient1"], ["mul_result1"], name="MatMul1"
        ),
        helper.make_node("Add", ["mul_result1", "intercepts1"], ["y"], name="Add1"),
    ]
    inits = [
        _init("coefficient", W1, np.float64),
        _init("intercepts", B1, np.float64),
        _init("coefficient1", W2, np.float64),
        _init("intercepts1", B2, np.float64),
    ]
    path = _save(_graph(nodes, inits, shape=[None, 64], kind=DOUBLE), tmp_path / "s")
    model = _read_elsewhere(path, tmp_path, monkeypatch)
    assert [layer.activation for layer in model.network.layers] == [
        "identity",
        "identity",
    ]
    _agrees(model, path, kind=DOUBLE)


def test_from_proto_reads_what_read_reads(tmp_path):
    proto = _dynamo(None)
    path = _save(proto, tmp_path / "p")
    from_file, from_memory = read(path), from_proto(proto)
    np.testing.assert_array_equal(
        from_file.predict(SAMPLES), from_memory.predict(SAMPLES)
    )
    np.testing.assert_allclose(
        from_memory.predict(SAMPLES),
        from_memory.exact_predict(SAMPLES),
        rtol=RTOL_EXACT,
        atol=ATOL_EXACT,
    )


# --- refusals: sizes, external data, broken files -------------------------------------


def test_a_huge_declared_input_is_refused_at_once(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name="r")],
        "g",
        [helper.make_tensor_value_info("x", FLOAT, ["N", 300_000_000])],
        [helper.make_tensor_value_info("y", FLOAT, ["N", 300_000_000])],
    )
    path = tmp_path / "huge.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    assert path.stat().st_size < 300
    started = time.perf_counter()
    with pytest.raises(UnsupportedModel, match="300000000 features.*16384"):
        read(path)
    assert time.perf_counter() - started < 0.5


def _one_layer(weights, *, name="W"):
    nodes = [helper.make_node("Gemm", ["x", name], ["y"], name="fc")]
    return _graph(nodes, [weights], shape=["N", 64], width=None, check=False)


def test_a_tensor_declaring_more_than_it_holds_is_refused(tmp_path):
    tensor = _init("W", np.ones((64, 4)))
    tensor.dims[:] = [64, 100_000]  # declares 25 MB, holds 1 KB
    path = tmp_path / "liar.onnx"
    path.write_bytes(_one_layer(tensor).SerializeToString())
    with pytest.raises(SourceError, match="tensor W: dims .*declare"):
        read(path)


def test_a_zero_unit_layer_and_a_nan_weight_are_refused(tmp_path):
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(_one_layer(_init("W", np.ones((64, 0)))).SerializeToString())
    with pytest.raises(UnsupportedModel, match="node fc: .*0 units"):
        read(empty)
    broken = np.ones((64, 4))
    broken[3, 2] = np.nan
    nan = tmp_path / "nan.onnx"
    nan.write_bytes(_one_layer(_init("W", broken), name="W").SerializeToString())
    with pytest.raises(SourceError, match="tensor W: holds NaN"):
        read(nan)


@pytest.mark.parametrize(
    ("location", "words"),
    [
        ("../outside.data", "not a file inside"),
        ("/etc/passwd", "not a file inside"),
        ("m.onnx.data", "offset 1000000"),
    ],
    ids=["dotdot", "absolute", "past-the-end"],
)
def test_external_data_outside_the_folder_or_file_is_refused(tmp_path, location, words):
    path = _save(_dynamo(None), tmp_path / "x", external=True)
    proto = onnx.load_model(str(path), load_external_data=False)
    tensor = next(t for t in proto.graph.initializer if t.name == "fc1.weight")
    entries = {e.key: e for e in tensor.external_data}
    entries["location"].value = location
    if location == "m.onnx.data":
        entries["offset"].value = "1000000"
    path.write_bytes(proto.SerializeToString())
    with pytest.raises(SourceError, match=words):
        read(path)


def test_a_constant_without_a_value_is_a_source_error(tmp_path):
    nodes = [
        helper.make_node("Constant", [], ["W"], name="empty_constant"),
        helper.make_node("Gemm", ["x", "W"], ["y"], name="fc"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", FLOAT, None)],
    )
    path = tmp_path / "c.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    with pytest.raises(SourceError, match="node empty_constant: op Constant"):
        read(path)


def test_broken_files_give_source_errors_only(tmp_path):
    good = _legacy("after_relu", flatten=False).SerializeToString()
    rng = np.random.default_rng(2026)
    cases = [good[:cut] for cut in rng.integers(0, len(good), 120)]
    for _ in range(120):
        flipped = bytearray(good)
        for position in rng.integers(0, len(good), 3):
            flipped[position] ^= 1 << int(rng.integers(0, 8))
        cases.append(bytes(flipped))
    cases += [rng.bytes(int(rng.integers(1, 400))) for _ in range(80)]
    path = tmp_path / "fuzz.onnx"
    read_fine = 0
    for case in cases:
        path.write_bytes(case)
        try:
            read(path)
            read_fine += 1
        except SourceError:
            pass
    # Most broken files must be refused; some bit flips only change a weight.
    assert read_fine < len(cases) / 2


# --- end to end --------------------------------------------------------------------


@pytest.mark.engine
@pytest.mark.parametrize("graph", ["dynamo_external", "legacy_batchnorm_flatten"])
def test_cli_export_from_another_folder(soffice, tmp_path, monkeypatch, capsys, graph):
    if graph == "dynamo_external":
        path = _save(_dynamo(1), tmp_path / "exported", external=True)
    else:
        path = _save(_legacy("after_linear", flatten=True), tmp_path / "exported")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    out = tmp_path / "book.xlsx"
    code = cli.main(["export", os.path.relpath(path), "--out", str(out)])
    printed = capsys.readouterr().out
    assert out.is_file()  # read, laid out and recalculated from another folder
    assert "verified by libreoffice" in printed.lower(), printed
    assert code == 0, printed
