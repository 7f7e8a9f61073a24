"""Graphs in the shapes real exporters write (issue 11), read by onnx_source.

The graphs are built in tests/onnx_graphs.py (no exporter runs here). Every
graph is read from another current folder and compared three ways: xlnn's
NumPy forward pass against onnxruntime run here on the saved file (float32
precision for float32 graphs), and against ``Model.exact`` (onnx's
ReferenceEvaluator on a float64 copy) within 1e-12.
"""

from __future__ import annotations

import os
import time

import numpy as np
import onnx
import pytest
from onnx import helper
from onnx_graphs import (
    B1,
    DOUBLE,
    FLOAT,
    SAMPLES,
    W1,
    WRITTEN_OUT,
    batch_norm,
    dynamo,
    exported,
    initializer,
    keras,
    legacy,
    log_softmax,
    save,
    sklearn_identity,
    written_out,
)

from xlnn import cli
from xlnn.export.sources import SourceError
from xlnn.export.sources.onnx_source import UnsupportedModel, from_proto, read
from xlnn.model import Affine

# float32 graphs: onnxruntime computes in float32, xlnn in float64 from the
# same float32 weights (the bound tests/test_onnx_source.py uses).
RTOL32, ATOL32 = 1e-5, 1e-6
# Model.exact is the same graph in float64; only the order of sums differs.
RTOL_EXACT, ATOL_EXACT = 1e-12, 1e-14


def _onnxruntime(path, x, kind=FLOAT):
    """The graph's first output, run here by onnxruntime on the saved file."""
    import onnxruntime  # here, not at collection: runs of other tests never load it

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


@pytest.mark.parametrize("batch", [None, 1, 8], ids=["dynamic", "batch1", "batch8"])
def test_torch_dynamo_default_export(tmp_path, monkeypatch, batch):
    path = save(dynamo(batch), tmp_path / "exported", external=True)
    model = _read_elsewhere(path, tmp_path, monkeypatch)
    assert model.input_shape == (1, 8, 8)
    assert [layer.activation.name for layer in model.network.layers] == [
        "relu",
        "identity",
    ]
    _agrees(model, path, batch=batch)


@pytest.mark.parametrize("where", ["after_linear", "after_relu"])
@pytest.mark.parametrize("flatten", [True, False], ids=["Flatten", "view"])
def test_torch_legacy_export(tmp_path, monkeypatch, where, flatten):
    path = save(legacy(where, flatten), tmp_path / "exported")
    model = _read_elsewhere(path, tmp_path, monkeypatch)
    assert model.input_shape == (1, 8, 8)
    assert len(model.network.layers) == 2  # BatchNorm is folded, not a layer
    _agrees(model, path)


def test_batch_norm_before_the_first_layer_is_preprocessing(tmp_path, monkeypatch):
    node, inits = batch_norm("bn0", "x", "xb", width=1)  # BatchNorm2d(1)
    nodes = [
        node,
        helper.make_node("Flatten", ["xb"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "W1", "B1"], ["y"], name="fc", transB=1),
    ]
    inits += [initializer("W1", W1.T), initializer("B1", B1)]
    path = save(exported(nodes, inits, shape=["N", 1, 8, 8], width=16), tmp_path / "m")
    model = _read_elsewhere(path, tmp_path, monkeypatch)
    (step,) = model.preprocessing
    assert isinstance(step, Affine) and step.offset.shape == (64,)
    _agrees(model, path)


def test_batch_norm_after_the_last_activation_is_an_identity_layer(
    tmp_path, monkeypatch
):
    node, inits = batch_norm("bn_last", "r", "y")
    nodes = [
        helper.make_node("Gemm", ["x", "W1", "B1"], ["h"], name="fc", transB=1),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        node,
    ]
    inits += [initializer("W1", W1.T), initializer("B1", B1)]
    path = save(exported(nodes, inits, shape=["N", 64], width=16), tmp_path / "m")
    model = _read_elsewhere(path, tmp_path, monkeypatch)
    assert [layer.activation.name for layer in model.network.layers] == [
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
    path = save(keras(op, alpha), tmp_path / "k")
    model = _read_elsewhere(path, tmp_path, monkeypatch)
    assert model.input_shape == (8, 8)
    assert model.output == "probabilities"
    first = model.network.layers[0]
    assert first.activation.name == name
    # ELU's default alpha 1 is the catalog's default: no parameter needed.
    expected = None if op == "Elu" else float(np.float32(alpha))
    assert first.parameter == expected
    _agrees(model, path)


@pytest.mark.parametrize("kind", [FLOAT, DOUBLE], ids=["float32", "float64"])
@pytest.mark.parametrize(
    ("build", "name"), WRITTEN_OUT, ids=[b.__name__ for b, _ in WRITTEN_OUT]
)
def test_written_out_activations_are_recognised(
    tmp_path, monkeypatch, build, name, kind
):
    path = save(written_out(kind, build), tmp_path / "w")
    model = _read_elsewhere(path, tmp_path, monkeypatch)
    assert [layer.activation.name for layer in model.network.layers] == [
        name,
        "identity",
    ]
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
    path = save(written_out(DOUBLE, build), tmp_path / "w")
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
    path = save(written_out(FLOAT, lambda dtype: (nodes, [])), tmp_path / "w")
    with pytest.raises(UnsupportedModel, match="nodes exp, times: .*no activation"):
        read(path)


# --- LogSoftmax, scikit-learn's identity MLP --------------------------------------


def test_log_softmax_output(tmp_path, monkeypatch):
    path = save(log_softmax(), tmp_path / "l")
    model = _read_elsewhere(path, tmp_path, monkeypatch)
    assert model.network.layers[-1].activation.name == "log_softmax"
    _agrees(model, path)


def test_sklearn_identity_mlp_is_linear_layers_in_a_row(tmp_path, monkeypatch):
    path = save(sklearn_identity(), tmp_path / "s")
    model = _read_elsewhere(path, tmp_path, monkeypatch)
    assert [layer.activation.name for layer in model.network.layers] == [
        "identity",
        "identity",
    ]
    _agrees(model, path, kind=DOUBLE)


def test_from_proto_reads_what_read_reads(tmp_path):
    proto = dynamo(None)
    path = save(proto, tmp_path / "p")
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
    return exported(nodes, [weights], shape=["N", 64], width=None, check=False)


def test_a_tensor_declaring_more_than_it_holds_is_refused(tmp_path):
    tensor = initializer("W", np.ones((64, 4)))
    tensor.dims[:] = [64, 100_000]  # declares 25 MB, holds 1 KB
    path = tmp_path / "liar.onnx"
    path.write_bytes(_one_layer(tensor).SerializeToString())
    with pytest.raises(SourceError, match="tensor W: dims .*declare"):
        read(path)


def test_a_zero_unit_layer_and_a_nan_weight_are_refused(tmp_path):
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(
        _one_layer(initializer("W", np.ones((64, 0)))).SerializeToString()
    )
    with pytest.raises(UnsupportedModel, match="node fc: .*0 units"):
        read(empty)
    broken = np.ones((64, 4))
    broken[3, 2] = np.nan
    nan = tmp_path / "nan.onnx"
    nan.write_bytes(_one_layer(initializer("W", broken), name="W").SerializeToString())
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
    path = save(dynamo(None), tmp_path / "x", external=True)
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
    good = legacy("after_relu", flatten=False).SerializeToString()
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
        path = save(dynamo(1), tmp_path / "exported", external=True)
    else:
        path = save(legacy("after_linear", flatten=True), tmp_path / "exported")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    out = tmp_path / "book.xlsx"
    code = cli.main(["export", os.path.relpath(path), "--out", str(out)])
    printed = capsys.readouterr().out
    assert out.is_file()  # read, laid out and recalculated from another folder
    assert "verified by libreoffice" in printed.lower(), printed
    assert code == 0, printed
