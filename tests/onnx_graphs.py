"""ONNX graphs in the shapes real exporters write (issue 11).

No exporter runs here (no torch, no TensorFlow): each graph is built with
onnx.helper in the form the issue's user measured from torch 2.x (the
default "dynamo" exporter, opset 18, weights in ``MODEL.onnx.data``; the
legacy exporter, opset 11-13), tf2onnx / Keras 3 and skl2onnx; only
:func:`sklearn_binary` runs skl2onnx itself. tests/test_onnx_exporters.py
reads them and scripts/exporter_table.py measures their workbooks, so both
see the same graphs and weights.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FLOAT, DOUBLE = TensorProto.FLOAT, TensorProto.DOUBLE

RNG = np.random.default_rng(11)
SAMPLES = RNG.normal(size=(13, 64))  # 13: not a multiple of the fixed batches


def _weights(rows, columns, dtype=np.float32):
    # Small enough that no sum reaches Softplus' threshold of 20.
    return (RNG.normal(size=(rows, columns)) * 0.3).astype(dtype)


W1, B1 = _weights(64, 16), _weights(1, 16)[0]
W2, B2 = _weights(16, 10), _weights(1, 10)[0]


def initializer(name, array, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(array, dtype=dtype), name)


def exported(
    nodes, inits, *, shape, out="y", width=10, opset=18, kind=FLOAT, check=True
):
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


def save(model, folder, *, external=False):
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


# --- torch, dynamo exporter (the default) --------------------------------------


def constant_node(name, value):
    return helper.make_node(
        "Constant",
        [],
        [name],
        name=f"node_{name}",
        value=numpy_helper.from_array(value),
    )


def dynamo(batch):
    """nn.Flatten-free MLP on (N, 1, 8, 8): x.view(x.size(0), -1), Linear, ReLU."""
    if batch is None:  # a dynamic batch: the view's shape is built from x's
        # Small shape constants are Constant nodes: they stay in m.onnx.
        view = [
            constant_node("zero", np.array(0, np.int64)),
            constant_node("axes", np.array([0], np.int64)),
            constant_node("minus1", np.array([-1], np.int64)),
            helper.make_node("Shape", ["x"], ["shape"], name="shape"),
            helper.make_node("Gather", ["shape", "zero"], ["n"], name="size0", axis=0),
            helper.make_node("Unsqueeze", ["n", "axes"], ["n1"], name="unsqueeze"),
            helper.make_node("Concat", ["n1", "minus1"], ["to"], name="cat", axis=0),
        ]
        shape_inits = []
    else:  # a fixed batch is written into the view's constant
        view, shape_inits = [constant_node("to", np.array([batch, 64], np.int64))], []
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
        initializer("fc1.weight", W1.T),
        initializer("fc1.bias", B1),
        initializer("fc2.weight", W2.T),
        initializer("fc2.bias", B2),
    ]
    return exported(nodes, inits, shape=[batch or "s0", 1, 8, 8])


# --- torch, legacy exporter ------------------------------------------------------

BN = {
    "gamma": RNG.uniform(0.5, 1.5, 16).astype(np.float32),
    "beta": RNG.normal(size=16).astype(np.float32),
    "mean": RNG.normal(size=16).astype(np.float32),
    "var": RNG.uniform(0.5, 2.0, 16).astype(np.float32),
}


def batch_norm(name, source, target, width=16):
    inits = [initializer(f"{name}.{k}", v[:width]) for k, v in BN.items()]
    node = helper.make_node(
        "BatchNormalization",
        [source, *(i.name for i in inits)],
        [target],
        name=name,
        epsilon=1e-5,
    )
    return node, inits


def legacy(where, flatten):
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
        view_inits = [initializer("m1", [-1], np.int64)]
    first, second = "h", "r"
    bn_nodes, bn_inits = [], []
    if where == "after_linear":  # folded into the first layer
        node, bn_inits = batch_norm("BatchNormalization_7", "h", "hb")
        bn_nodes, first = [node], "hb"
    linear = helper.make_node(
        "Gemm", ["flat", "W1", "B1"], ["h"], name="Gemm_6", transB=1
    )
    relu = helper.make_node("Relu", [first], ["r"], name="Relu_8")
    if where == "after_relu":  # folded into the next layer
        node, bn_inits = batch_norm("BatchNormalization_9", "r", "rb")
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
        initializer("W1", W1.T),
        initializer("B1", B1),
        initializer("W2", W2.T),
        initializer("B2", B2),
        initializer("ratio", 0.5),
    ]
    return exported(nodes, inits, shape=["batch", 1, 8, 8], opset=12)


# --- Keras 3 / tf2onnx ------------------------------------------------------------


def keras(op, alpha):
    """Input((8, 8)), Flatten, Dense(16, ``op`` with ``alpha``), Dense(10, softmax)."""
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
        initializer("const_fold_opt__8", [-1, 64], np.int64),
        initializer("W1", W1),
        initializer("B1", B1),
        initializer("W2", W2),
        initializer("B2", B2),
    ]
    return exported(nodes, inits, shape=["unk__6", 8, 8], opset=13)


# --- activations written out of elementwise ops ----------------------------------


def written_out(kind, build):
    """Gemm (the sums ``a``), an activation ``build`` writes out, then Gemm."""
    dtype = np.float32 if kind == FLOAT else np.float64
    nodes, inits = build(dtype)
    nodes = [
        helper.make_node("Gemm", ["x", "W1", "B1"], ["a"], name="fc1", transB=1),
        *nodes,
        helper.make_node("Gemm", ["act", "W2", "B2"], ["y"], name="fc2", transB=1),
    ]
    inits += [
        initializer("W1", W1.T, dtype),
        initializer("B1", B1, dtype),
        initializer("W2", W2.T, dtype),
        initializer("B2", B2, dtype),
    ]
    return exported(nodes, inits, shape=["N", 64], opset=17, kind=kind)


def _c(name, value, dtype):
    return initializer(name, value, dtype)


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


# --- LogSoftmax, scikit-learn ------------------------------------------------------


def log_softmax():
    """Gemm, Tanh, Gemm, LogSoftmax: a torch classifier ending in log_softmax."""
    nodes = [
        helper.make_node("Gemm", ["x", "W1", "B1"], ["h"], name="fc1", transB=1),
        helper.make_node("Tanh", ["h"], ["t"], name="tanh"),
        helper.make_node("Gemm", ["t", "W2", "B2"], ["a"], name="fc2", transB=1),
        helper.make_node("LogSoftmax", ["a"], ["y"], name="log_softmax", axis=1),
    ]
    inits = [
        initializer("W1", W1.T),
        initializer("B1", B1),
        initializer("W2", W2.T),
        initializer("B2", B2),
    ]
    return exported(nodes, inits, shape=["N", 64])


def sklearn_identity():
    """skl2onnx's MLPRegressor(activation="identity"): MatMul, Add twice, double."""
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
        initializer("coefficient", W1, np.float64),
        initializer("intercepts", B1, np.float64),
        initializer("coefficient1", W2, np.float64),
        initializer("intercepts1", B2, np.float64),
    ]
    return exported(nodes, inits, shape=[None, 64], kind=DOUBLE)


def breast_cancer():
    """scikit-learn's bundled breast-cancer data (569 x 30), for a binary classifier."""
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    return x, y


def sklearn_binary(kind):
    """skl2onnx run on Pipeline(StandardScaler, MLPClassifier((16,))), fitted here.

    float32: skl2onnx's default graph with its label branch and ZipMap;
    float64: without ZipMap (onnxruntime's ZipMap is float only).
    """
    from skl2onnx import to_onnx
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = breast_cancer()
    pipe = make_pipeline(
        StandardScaler(), MLPClassifier((16,), max_iter=300, random_state=0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: the fit is not the point
        pipe.fit(x, y)
    dtype = np.float32 if kind == FLOAT else np.float64
    options = {id(pipe): {"zipmap": False}} if kind == DOUBLE else None
    return to_onnx(pipe, x[:1].astype(dtype), options=options)
