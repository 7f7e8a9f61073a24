"""xlnn.export.sources.onnx_source: ONNX graphs read into a Model, checked.

Every model is built here: by hand with onnx.helper, or by skl2onnx from a
tiny scikit-learn network. Graphs are DOUBLE wherever onnxruntime has double
kernels, so NumPy and onnxruntime agree within 1e-9 relative; where a graph is
float32 the tolerance is stated beside it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from xlnn.export.sources.onnx_source import UnsupportedModel, read
from xlnn.model import Affine, Normalize
from xlnn.network import Dense, Network

RTOL = 1e-9
# float32 graphs: onnxruntime computes in float32 (about 7 digits), xlnn in
# float64 from the same float32 weights; sums near 0 lose relative digits.
RTOL32, ATOL32 = 1e-5, 1e-6
DOUBLE, FLOAT = TensorProto.DOUBLE, TensorProto.FLOAT
RNG = np.random.default_rng(8)
X = RNG.normal(size=(7, 3)) * 2.0


def _init(name, array, dtype=np.float64):
    return numpy_helper.from_array(np.asarray(array, dtype=dtype), name)


def _save(
    tmp_path, nodes, inits, *, n_in=3, out="y", out_width=None, opset=17, kind=DOUBLE
):
    """A graph from input x [N, n_in] to output ``out``, saved to a file."""
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", kind, [None, n_in])],
        [helper.make_tensor_value_info(out, kind, [None, out_width])],
        initializer=inits,
    )
    imports = [helper.make_opsetid("", opset), helper.make_opsetid("ai.onnx.ml", 3)]
    model = helper.make_model(graph, opset_imports=imports)
    onnx.checker.check_model(model)
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def _agrees(model, x=X, rtol=RTOL, atol=0.0):
    mine, theirs = model.predict(x), model.framework_predict(x)
    assert mine.shape == theirs.shape
    np.testing.assert_allclose(mine, theirs, rtol=rtol, atol=atol)
    return mine


W1 = RNG.normal(size=(3, 4))
B1 = RNG.normal(size=4)
W2 = RNG.normal(size=(4, 2))
B2 = RNG.normal(size=2)


def _dense(tmp_path, activation_node, *, opset=17, kind=DOUBLE):
    """x -> MatMul + Add -> the activation node (input "a", output "y")."""
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["m"], name="mm"),
        helper.make_node("Add", ["m", "b"], ["a"], name="add"),
        activation_node,
    ]
    dtype = np.float64 if kind == DOUBLE else np.float32
    inits = [_init("W", W1, dtype), _init("b", B1, dtype)]
    return _save(tmp_path, nodes, inits, out_width=4, opset=opset, kind=kind)


# --- layers ----------------------------------------------------------------------


def test_gemm_with_trans_b_alpha_and_beta(tmp_path):
    nodes = [
        helper.make_node(
            "Gemm", ["x", "Wt", "c"], ["y"], name="fc", transB=1, alpha=0.5, beta=2.0
        )
    ]
    path = _save(tmp_path, nodes, [_init("Wt", W1.T), _init("c", B1)], out_width=4)
    model = read(path)
    (layer,) = model.network.layers
    np.testing.assert_array_equal(layer.weights, 0.5 * W1)
    np.testing.assert_array_equal(layer.bias, 2.0 * B1)
    assert layer.activation.name == "identity" and model.output == "values"
    _agrees(model)


def test_gemm_without_bias_and_a_row_bias(tmp_path):
    nodes = [
        helper.make_node("Gemm", ["x", "W"], ["h"], name="fc1"),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        helper.make_node("Gemm", ["r", "W2", "c2"], ["y"], name="fc2"),
    ]
    inits = [_init("W", W1), _init("W2", W2), _init("c2", B2.reshape(1, 2))]
    model = read(_save(tmp_path, nodes, inits, out_width=2))
    assert [layer.activation.name for layer in model.network.layers] == [
        "relu",
        "identity",
    ]
    np.testing.assert_array_equal(model.network.layers[0].bias, np.zeros(4))
    _agrees(model)


def test_matmul_add_two_layers(tmp_path):
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["m1"], name="mm1"),
        helper.make_node("Add", ["m1", "b1"], ["a1"], name="add1"),
        helper.make_node("Tanh", ["a1"], ["z1"], name="tanh"),
        helper.make_node("MatMul", ["z1", "W2"], ["m2"], name="mm2"),
        helper.make_node("Add", ["b2", "m2"], ["a2"], name="add2"),  # c + x too
        helper.make_node("Softmax", ["a2"], ["y"], name="softmax", axis=-1),
    ]
    inits = [_init("W1", W1), _init("b1", B1), _init("W2", W2), _init("b2", B2)]
    model = read(_save(tmp_path, nodes, inits, out_width=2))
    assert model.output == "probabilities" and model.classes == (0, 1)
    _agrees(model)


def test_mul_div_sub_after_matmul_fold_into_the_layer(tmp_path):
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["m"], name="mm"),
        helper.make_node("Mul", ["k", "m"], ["s"], name="mul"),
        helper.make_node("Sub", ["s", "b"], ["d"], name="sub"),
        helper.make_node("Div", ["d", "q"], ["a"], name="div"),
        helper.make_node("Sigmoid", ["a"], ["y"], name="sigmoid"),
    ]
    inits = [_init("W", W1), _init("k", 2.5), _init("b", B1), _init("q", [4.0] * 4)]
    model = read(_save(tmp_path, nodes, inits, out_width=4))
    assert model.preprocessing == () and len(model.network.layers) == 1
    _agrees(model)


def test_constant_nodes_are_weights(tmp_path):
    nodes = [
        helper.make_node("Constant", [], ["W"], value=numpy_helper.from_array(W1, "W")),
        helper.make_node("Constant", [], ["b"], value=numpy_helper.from_array(B1, "b")),
        helper.make_node("MatMul", ["x", "W"], ["m"], name="mm"),
        helper.make_node("Add", ["m", "b"], ["y"], name="add"),
    ]
    model = read(_save(tmp_path, nodes, [], out_width=4))
    np.testing.assert_array_equal(model.network.layers[0].bias, B1)
    _agrees(model)


# --- activations ---------------------------------------------------------------

# (node, xlnn name, opset, kind). onnxruntime (1.32) has no double kernel
# for Softplus, Elu, Gelu or HardSigmoid: those graphs are float32.
ACTIVATIONS = [
    (helper.make_node("Relu", ["a"], ["y"], name="act"), "relu", 17, DOUBLE),
    (helper.make_node("Sigmoid", ["a"], ["y"], name="act"), "sigmoid", 17, DOUBLE),
    (helper.make_node("Tanh", ["a"], ["y"], name="act"), "tanh", 17, DOUBLE),
    (helper.make_node("Softplus", ["a"], ["y"], name="act"), "softplus", 17, FLOAT),
    (helper.make_node("Elu", ["a"], ["y"], name="act"), "elu", 17, FLOAT),
    (helper.make_node("Gelu", ["a"], ["y"], name="act"), "gelu", 20, FLOAT),
    (helper.make_node("Identity", ["a"], ["y"], name="act"), "identity", 17, DOUBLE),
    (
        helper.make_node("Softmax", ["a"], ["y"], name="act", axis=1),
        "softmax",
        17,
        DOUBLE,
    ),
    # ONNX stores alpha as float32: 0.01 is 0.009999999776, xlnn's is 0.01,
    # so negative sums differ by 2.2e-8 relative (the test's tolerance below).
    (helper.make_node("LeakyRelu", ["a"], ["y"], name="act"), "leaky_relu", 17, DOUBLE),
    (
        helper.make_node("HardSigmoid", ["a"], ["y"], name="act", alpha=0.3, beta=0.4),
        "hard_sigmoid",
        17,
        FLOAT,
    ),
    (
        helper.make_node("HardSigmoid", ["a"], ["y"], name="act", alpha=1 / 6),
        "hard_sigmoid",
        17,
        FLOAT,
    ),
    # the defaults are float32 too (0.2 is 0.2000000029802322): in a float64
    # graph the unrounded 0.2 was 7.4e-9 off, over the 1e-9 tolerance
    (
        helper.make_node("HardSigmoid", ["a"], ["y"], name="act"),
        "hard_sigmoid",
        17,
        DOUBLE,
    ),
]


@pytest.mark.parametrize(
    ("node", "name", "opset", "kind"),
    ACTIVATIONS,
    ids=[f"{n.op_type}-{i}" for i, (n, *_) in enumerate(ACTIVATIONS)],
)
def test_each_activation_agrees_with_onnxruntime(tmp_path, node, name, opset, kind):
    model = read(_dense(tmp_path, node, opset=opset, kind=kind))
    assert model.network.layers[-1].activation.name == name
    if kind == FLOAT:
        out = _agrees(model, X * 3.0, rtol=RTOL32, atol=ATOL32)
    else:
        out = _agrees(model, X * 3.0, rtol=3e-8 if name == "leaky_relu" else RTOL)
    if name == "hard_sigmoid":  # both flat ends and the slope are exercised
        assert (out == 0).any() and (out == 1).any() and ((out > 0) & (out < 1)).any()


def test_softmax_over_the_samples_is_refused(tmp_path):
    node = helper.make_node("Softmax", ["a"], ["y"], name="lr", axis=0)
    with pytest.raises(UnsupportedModel, match="node lr: op Softmax: .*last axis"):
        read(_dense(tmp_path, node))


@pytest.mark.parametrize(
    ("op", "alpha"), [("LeakyRelu", 0.2), ("LeakyRelu", 0.3), ("Elu", 0.5)]
)
def test_activation_alphas_become_the_layers_parameter(tmp_path, op, alpha):
    # Issue 11: PyTorch's LeakyReLU(0.2), Keras' 0.3; the attribute is a
    # float32, so the graph computes with float(np.float32(alpha)).
    # FLOAT: onnxruntime has no double kernel for Elu.
    node = helper.make_node(op, ["a"], ["y"], name="act", alpha=alpha)
    model = read(_dense(tmp_path, node, kind=FLOAT))
    layer = model.network.layers[-1]
    assert layer.activation.name == {"LeakyRelu": "leaky_relu", "Elu": "elu"}[op]
    assert layer.parameter == float(np.float32(alpha))
    _agrees(model, X * 3.0, rtol=RTOL32, atol=ATOL32)


def test_gelu_tanh_approximation_reads_as_gelu_tanh(tmp_path):
    # Needs the catalog's gelu_tanh (being added on another branch). FLOAT:
    # onnxruntime's double tanh-Gelu is itself only ~1e-6 accurate.
    node = helper.make_node("Gelu", ["a"], ["y"], name="g", approximate="tanh")
    model = read(_dense(tmp_path, node, opset=20, kind=FLOAT))
    assert model.network.layers[-1].activation.name == "gelu_tanh"
    _agrees(model, X * 3.0, rtol=RTOL32, atol=ATOL32)


@pytest.mark.parametrize("batch", [-1, 10**15])
def test_a_fixed_batch_too_large_or_negative_is_refused_before_any_run(tmp_path, batch):
    # the reference runs whole fixed batches: 10**15 would be allocated first
    path = _dense(tmp_path, helper.make_node("Relu", ["a"], ["y"], name="act"))
    model = onnx.load(path)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = batch
    path.write_bytes(model.SerializeToString())
    with pytest.raises(UnsupportedModel, match=f"a fixed batch of {batch:,} samples"):
        read(path)


# --- shape no-ops and preprocessing ---------------------------------------------


def test_flatten_and_reshape_on_a_batch_change_nothing(tmp_path):
    nodes = [
        helper.make_node("Flatten", ["x"], ["f"], name="flat"),
        helper.make_node("Reshape", ["f", "s"], ["r"], name="reshape"),
        helper.make_node("Gemm", ["r", "W"], ["y"], name="fc"),
    ]
    inits = [_init("W", W1), _init("s", [-1, 3], np.int64)]
    _agrees(read(_save(tmp_path, nodes, inits, out_width=4)))


def test_reshape_that_mixes_samples_is_refused(tmp_path):
    nodes = [
        helper.make_node("Reshape", ["x", "s"], ["r"], name="reshape"),
        helper.make_node("Gemm", ["r", "W"], ["y"], name="fc"),
    ]
    inits = [_init("W", np.ones((1, 4))), _init("s", [-1, 1], np.int64)]
    with pytest.raises(
        UnsupportedModel, match=r"node reshape: op Reshape: .*\[-1, 1\]"
    ):
        read(_save(tmp_path, nodes, inits, out_width=4))


def test_sub_div_mul_before_the_first_layer_are_preprocessing(tmp_path):
    offset, spread, factor = np.array([1.0, -2.0, 0.5]), np.array([2.0, 4.0, 0.5]), 3.0
    nodes = [
        helper.make_node("Sub", ["x", "o"], ["s"], name="sub"),
        helper.make_node("Div", ["s", "d"], ["q"], name="div"),
        helper.make_node("Mul", ["q", "k"], ["p"], name="mul"),
        helper.make_node("Gemm", ["p", "W"], ["y"], name="fc"),
    ]
    inits = [_init("o", offset), _init("d", spread), _init("k", factor), _init("W", W1)]
    model = read(_save(tmp_path, nodes, inits, out_width=4))
    first, second = model.preprocessing
    np.testing.assert_array_equal(first.offset, offset)  # Sub and Div are one step
    np.testing.assert_array_equal(first.scale, 1.0 / spread)
    np.testing.assert_array_equal(second.scale, [factor] * 3)
    _agrees(model)


@pytest.mark.parametrize("norm", ["L1", "L2"])
def test_scaler_and_normalizer(tmp_path, norm):
    nodes = [
        helper.make_node(
            "Scaler",
            ["x"],
            ["s"],
            name="scaler",
            domain="ai.onnx.ml",
            offset=[0.5, -1.0, 2.0],
            scale=[2.0, 0.25, 1.0],
        ),
        helper.make_node(
            "Normalizer", ["s"], ["n"], name="norm", domain="ai.onnx.ml", norm=norm
        ),
        helper.make_node("Gemm", ["n", "W"], ["y"], name="fc"),
    ]
    graph_inits = [_init("W", W1, np.float32)]  # Scaler outputs float32
    model = read(_save(tmp_path, nodes, graph_inits, out_width=4, kind=FLOAT))
    scaler, normalizer = model.preprocessing
    assert isinstance(scaler, Affine) and isinstance(normalizer, Normalize)
    assert normalizer.norm == norm.lower()
    # Scaler's attributes are float32, exact for these values; onnxruntime's
    # Scaler and Normalizer compute and return float32.
    _agrees(model, rtol=RTOL32, atol=ATOL32)


def test_normalizer_max_is_refused(tmp_path):
    # ONNX's MAX is x / max(x) (onnxruntime agrees), not x / max(|x|).
    nodes = [
        helper.make_node(
            "Normalizer", ["x"], ["n"], name="nm", domain="ai.onnx.ml", norm="MAX"
        ),
        helper.make_node("Gemm", ["n", "W"], ["y"], name="fc"),
    ]
    path = _save(tmp_path, nodes, [_init("W", W1, np.float32)], out_width=4, kind=FLOAT)
    with pytest.raises(UnsupportedModel, match="node nm: op Normalizer: norm MAX"):
        read(path)


# --- classifiers from a hand-built graph ------------------------------------------


def test_argmax_only_graph_gives_probabilities(tmp_path):
    nodes = [
        helper.make_node("Gemm", ["x", "W"], ["a"], name="fc"),
        helper.make_node("Softmax", ["a"], ["p"], name="softmax"),
        helper.make_node("ArgMax", ["p"], ["y"], name="argmax", axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [None, 3])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, [None])],
        initializer=[_init("W", W1)],
    )
    path = tmp_path / "argmax.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    model = read(path)
    assert model.output == "probabilities" and model.classes == (0, 1, 2, 3)
    _agrees(model)


# --- scikit-learn through skl2onnx ------------------------------------------------


def _skl2onnx(tmp_path, estimator, x, dtype=np.float64):
    """skl2onnx's graph; doubles without ZipMap (onnxruntime's is float only)."""
    from skl2onnx import to_onnx

    options = None
    if dtype == np.float64 and hasattr(estimator, "predict_proba"):
        options = {id(estimator): {"zipmap": False}}
    onx = to_onnx(estimator, x[:1].astype(dtype), options=options)
    path = tmp_path / "sk.onnx"
    path.write_bytes(onx.SerializeToString())
    return path


# Each graph is compared with the estimator it was converted from, so a fit need
# not converge: 20 epochs give weights away from their start, at a tenth of the
# 200 that cost half a second over this file's fits.
EPOCHS = 20


def _fit(estimator, x, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tiny on purpose
        return estimator.fit(x, y)


@pytest.fixture(scope="module")
def data():
    x = np.random.default_rng(1).normal(size=(60, 3))
    return x, np.digitize(x[:, 0] + x[:, 1], [-0.5, 0.5])


def test_binary_mlp_classifier_is_binary(tmp_path, data):
    from sklearn.neural_network import MLPClassifier

    x, y = data
    clf = _fit(MLPClassifier((5,), max_iter=EPOCHS, random_state=0), x, y > 0)
    model = read(_skl2onnx(tmp_path, clf, x))
    assert model.output == "binary" and model.classes == (False, True)
    assert model.network.layers[-1].activation.name == "sigmoid"
    _agrees(model, x)
    np.testing.assert_allclose(model.predict(x), clf.predict_proba(x), rtol=1e-9)


def test_multiclass_mlp_classifier_in_a_scaler_pipeline(tmp_path, data):
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = data
    labels = np.array(["low", "mid", "high"])[y]
    clf = MLPClassifier((5,), activation="tanh", max_iter=EPOCHS, random_state=0)
    pipe = _fit(make_pipeline(StandardScaler(), clf), x * 10 + 3, labels)
    model = read(_skl2onnx(tmp_path, pipe, x))
    assert model.output == "probabilities"
    assert model.classes == tuple(pipe.classes_)
    (scaler,) = model.preprocessing
    np.testing.assert_allclose(scaler.offset, pipe[0].mean_, rtol=1e-15)
    _agrees(model, x * 10 + 3)
    np.testing.assert_allclose(
        model.predict(x * 10 + 3), pipe.predict_proba(x * 10 + 3), rtol=1e-9
    )


def test_multiclass_mlp_classifier_with_int_labels(tmp_path, data):
    from sklearn.neural_network import MLPClassifier

    x, y = data
    clf = _fit(MLPClassifier((4, 3), max_iter=EPOCHS, random_state=0), x, y)
    model = read(_skl2onnx(tmp_path, clf, x))
    assert model.classes == (0, 1, 2) and len(model.network.layers) == 3
    _agrees(model, x)


def test_mlp_regressor_gives_values(tmp_path, data):
    from sklearn.neural_network import MLPRegressor

    x, _ = data
    reg = _fit(
        MLPRegressor(hidden_layer_sizes=(6,), max_iter=EPOCHS, random_state=0),
        x,
        x[:, 0] * x[:, 1],
    )
    model = read(_skl2onnx(tmp_path, reg, x))
    assert model.output == "values" and model.output_names == ("variable",)
    mine = _agrees(model, x)
    np.testing.assert_allclose(mine[:, 0], reg.predict(x), rtol=1e-9)


@pytest.mark.parametrize("binary", [False, True], ids=["multiclass", "binary"])
def test_float32_graph_with_zipmap(tmp_path, data, binary):
    from sklearn.neural_network import MLPClassifier

    x, y = data
    y = np.array(["no", "yes"])[(y > 0) * 1] if binary else y
    clf = _fit(MLPClassifier((5,), max_iter=EPOCHS, random_state=0), x, y)
    model = read(_skl2onnx(tmp_path, clf, x, dtype=np.float32))
    assert model.classes == tuple(clf.classes_)
    assert model.output == ("binary" if binary else "probabilities")
    # the reference turns ZipMap's dicts back into columns in class order
    _agrees(model, x, rtol=RTOL32, atol=ATOL32)


# --- what the reference catches, and what is refused ------------------------------


def test_source_has_the_files_sha256(tmp_path):
    nodes = [helper.make_node("Gemm", ["x", "W"], ["y"], name="fc")]
    path = _save(tmp_path, nodes, [_init("W", W1)], out_width=4)
    model = read(path)
    assert model.source.format == "onnx"
    assert model.source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_altered_weight_is_caught(tmp_path, data):
    from sklearn.neural_network import MLPClassifier

    x, y = data
    clf = _fit(MLPClassifier((5,), max_iter=EPOCHS, random_state=0), x, y)
    model = read(_skl2onnx(tmp_path, clf, x))
    first = model.network.layers[0]
    weights = first.weights.copy()
    weights[1, 2] *= 1.0 + 1e-6
    altered = dataclasses.replace(
        model,
        network=Network(
            (Dense(weights, first.bias, first.activation),) + model.network.layers[1:]
        ),
    )
    with pytest.raises(AssertionError):
        _agrees(altered, x)


def test_an_unsupported_op_is_named_with_its_node(tmp_path):
    nodes = [
        helper.make_node("Gemm", ["x", "W"], ["a"], name="fc"),
        helper.make_node("Sin", ["a"], ["y"], name="wave"),
    ]
    path = _save(tmp_path, nodes, [_init("W", W1)], out_width=4)
    with pytest.raises(UnsupportedModel, match="node wave: op Sin is not supported"):
        read(path)


def test_conv_is_refused(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "K"], ["y"], name="conv1")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [None, 3])],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)],
        initializer=[_init("K", np.ones((1, 1, 1)))],
    )
    path = tmp_path / "conv.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    with pytest.raises(UnsupportedModel, match="node conv1: op Conv .*supported: Gemm"):
        read(path)


def test_a_residual_add_is_refused(tmp_path):
    nodes = [
        helper.make_node("Gemm", ["x", "W"], ["a"], name="fc"),
        helper.make_node("Relu", ["a"], ["r"], name="relu"),
        helper.make_node("Add", ["r", "r"], ["y"], name="skip"),
    ]
    path = _save(tmp_path, nodes, [_init("W", W1)], out_width=4)
    with pytest.raises(UnsupportedModel, match="node skip: op Add"):
        read(path)


def test_gemm_trans_a_is_refused(tmp_path):
    nodes = [helper.make_node("Gemm", ["x", "W"], ["y"], name="fc", transA=1)]
    path = _save(tmp_path, nodes, [_init("W", np.ones((2, 4)))], out_width=4)
    with pytest.raises(UnsupportedModel, match="node fc: op Gemm: transA"):
        read(path)


@pytest.mark.parametrize(("kind", "tolerance"), [(DOUBLE, 1e-9), (FLOAT, 1e-5)])
def test_the_tolerance_against_onnxruntime_follows_the_graphs_precision(
    tmp_path, kind, tolerance
):
    # onnxruntime computes a float32 graph in float32: the float64 workbook can
    # agree with it only to float32's precision, so the export allows that much.
    relu = helper.make_node("Relu", ["a"], ["y"], name="act")
    model = read(_dense(tmp_path, relu, kind=kind))
    assert model.reference_tolerance == tolerance
    differences = np.abs(model.predict(X) - model.framework_predict(X))
    worst = float(np.max(differences / np.maximum(np.abs(model.predict(X)), 1e-300)))
    assert worst <= tolerance
