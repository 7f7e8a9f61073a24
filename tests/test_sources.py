"""Model sources: .npz, the book's pickle, scikit-learn; and the hostile pickle."""

from __future__ import annotations

import copy
import hashlib
import os
import pickle
import subprocess
import sys
import types
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from xlnn.export import sources
from xlnn.export.sources import SourceError, pickle_source
from xlnn.export.sources.sklearn_source import from_sklearn

BOOK_WEIGHTS = resources.files("xlnn") / "data" / "sample_weight.pkl"
TOLERANCE = 1e-9  # the export's verification tolerance (xlnn.engines.verify)


# --- reference maths, written here so the tests do not trust xlnn's ----------


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _softmax(a):
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


_PLAIN = {
    "sigmoid": _sigmoid,
    "softmax": _softmax,
    "relu": lambda a: np.maximum(a, 0.0),
    "tanh": np.tanh,
    "identity": lambda a: a,
}


def plain_forward(arrays, activations, x):
    """The book's forward pass (section 3.6.1), one layer after the other."""
    z = np.asarray(x, np.float64)
    for number, name in enumerate(activations, start=1):
        weights = np.asarray(arrays[f"W{number}"], np.float64)
        bias = np.asarray(arrays[f"b{number}"], np.float64)
        z = _PLAIN[name](z @ weights + bias)
    return z


def worst_relative_error(got, expected) -> float:
    """As xlnn.engines.verify: |got - expected| / |expected|, or |got| where 0."""
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    assert got.shape == expected.shape
    scale = np.where(expected == 0, 1.0, np.abs(expected))
    return float(np.max(np.abs(got - expected) / scale))


def agrees(got, expected) -> bool:
    return worst_relative_error(got, expected) <= TOLERANCE


def test_agrees_catches_a_tiny_change():
    values = np.array([[0.25, 0.75]])
    assert agrees(values, values.copy())
    assert not agrees(values * (1 + 1e-8), values)


# --- .npz -----------------------------------------------------------------


def _layers(rng, sizes):
    arrays = {}
    for number, (n_in, n_out) in enumerate(
        zip(sizes, sizes[1:], strict=False), start=1
    ):
        arrays[f"W{number}"] = rng.normal(size=(n_in, n_out))
        arrays[f"b{number}"] = rng.normal(size=n_out)
    return arrays


@pytest.fixture
def arrays():
    return _layers(np.random.default_rng(8), (4, 5, 3, 3))


def _save(path, arrays, **extra):
    np.savez(path, **arrays, **extra)
    return path


def test_npz_with_activations_in_the_file(tmp_path, arrays):
    names = ["relu", "tanh", "softmax"]
    path = _save(tmp_path / "net.npz", arrays, activations=np.array(names))
    model = sources.read(path)
    x = np.random.default_rng(1).normal(size=(20, 4))
    assert agrees(model.predict(x), plain_forward(arrays, names, x))
    assert agrees(model.framework_predict(x), plain_forward(arrays, names, x))
    assert model.output == "probabilities"
    assert model.classes == (0, 1, 2)
    assert model.reference is None
    assert model.source.format == "npz"
    assert model.source.path == str(path)
    assert model.source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_altered_npz_weight_is_caught(tmp_path, arrays):
    names = ["sigmoid", "sigmoid", "softmax"]
    x = np.random.default_rng(2).normal(size=(20, 4))
    altered = copy.deepcopy(arrays)
    altered["W2"][1, 2] += 1e-6
    model = sources.read(_save(tmp_path / "altered.npz", altered), activations=names)
    assert not agrees(model.predict(x), plain_forward(arrays, names, x))


def test_the_callers_activations_win_over_the_files(tmp_path, arrays):
    path = _save(
        tmp_path / "net.npz", arrays, activations=np.array(["relu", "relu", "relu"])
    )
    names = ["tanh", "sigmoid", "identity"]
    model = sources.read(path, activations=names)
    x = np.random.default_rng(3).normal(size=(5, 4))
    assert [layer.activation.name for layer in model.network.layers] == names
    assert agrees(model.predict(x), plain_forward(arrays, names, x))


def test_a_network_without_softmax_gives_values(tmp_path, arrays):
    model = sources.read(
        _save(tmp_path / "net.npz", arrays), activations=["relu", "relu", "identity"]
    )
    assert model.output == "values"
    assert model.classes is None


def test_npz_extra_arrays_are_ignored(tmp_path, arrays):
    path = _save(tmp_path / "net.npz", arrays, test_images=np.zeros((2, 4)), seed=3)
    model = sources.read(path, activations=["relu", "relu", "softmax"])
    assert len(model.network.layers) == 3


# xlnn train writes the classes it found as a 'classes' array: numbers as
# float64 (whole ones stand for ints), text as strings.
NPZ_CLASSES = [
    (np.array(["cat", "=1+1", "eel"]), ("cat", "=1+1", "eel")),
    (np.array([b"ant", b"b\xc3\xa9e", b"cow"]), ("ant", "b\u00e9e", "cow")),
    (np.array([3.0, 7.0, 10.0]), (3, 7, 10)),
    (np.array([0.5, 1.0, -2.25]), (0.5, 1, -2.25)),
    (np.array([4, 1, 9], dtype=np.int16), (4, 1, 9)),
]


@pytest.mark.parametrize(("stored", "expected"), NPZ_CLASSES)
def test_npz_classes_name_the_outputs(tmp_path, arrays, stored, expected):
    path = _save(tmp_path / "net.npz", arrays, classes=stored)
    model = sources.read(path, activations=["relu", "relu", "softmax"])
    assert model.classes == expected
    assert [type(label) for label in model.classes] == [type(e) for e in expected]


def test_npz_classes_of_a_network_without_softmax_are_ignored(tmp_path, arrays):
    path = _save(tmp_path / "net.npz", arrays, classes=np.array(["only one"]))
    model = sources.read(path, activations=["relu", "relu", "identity"])
    assert model.classes is None


@pytest.mark.parametrize(
    ("classes", "named"),
    [
        (np.array(["a", "b"]), "'classes' array has 2 labels, but the last layer"),
        (np.array([["a", "b", "c"]]), "1-D array of numbers or strings"),
        (np.array([1 + 2j, 0, 1]), "1-D array of numbers or strings, one label"),
        (np.array([True, False, True]), "not bool of shape 3"),
        (np.array([0.0, np.nan, 2.0]), "'classes' array holds NaN"),
        (np.array(["a", "b", "a"]), "'classes' array names 'a' twice"),
        (np.array([1.0, 2.0, 1.0]), "'classes' array names 1 twice"),
        (np.array([b"a", b"\xff", b"c"]), "bytes that are not UTF-8"),
        (np.array(["a", 2, None], dtype=object), "array classes holds object"),
    ],
)
def test_npz_classes_are_checked(tmp_path, arrays, classes, named):
    path = _save(tmp_path / "bad.npz", arrays, classes=classes)
    with pytest.raises(SourceError, match=named) as info:
        sources.read(path, activations=["relu", "relu", "softmax"])
    assert str(info.value).startswith("bad.npz: ")


def test_npz_classes_are_in_the_exported_workbook_as_text(tmp_path, arrays):
    import openpyxl

    from xlnn import export

    labels = ["setosa", "=1+1", "virginica"]
    path = _save(tmp_path / "net.npz", arrays, classes=np.array(labels))
    model = sources.read(path, activations=["relu", "relu", "softmax"])
    out = tmp_path / "net.xlsx"
    export.to_workbook(model, out, flavor="addin", rows=3, verify=False)
    book = openpyxl.load_workbook(out)
    texts = {
        cell.value
        for sheet in book.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if cell.data_type == "s"
    }
    assert set(labels) <= texts


def _input_count(arrays) -> int:
    return arrays["W1"].shape[0]


def test_npz_feature_names_name_the_inputs_in_the_workbook_as_text(tmp_path, arrays):
    import openpyxl

    from xlnn import export

    names = [f"x{k}" for k in range(_input_count(arrays) - 1)] + ["=HYPERLINK(1)"]
    path = _save(tmp_path / "net.npz", arrays, feature_names=np.array(names))
    model = sources.read(path, activations=["relu", "relu", "softmax"])
    assert model.feature_names == tuple(names)
    out = tmp_path / "net.xlsx"
    export.to_workbook(model, out, rows=3, verify=False)
    predict = openpyxl.load_workbook(out)["predict"]
    texts = {cell.value for row in predict.iter_rows() for cell in row}
    assert set(names) <= texts
    formulas = [
        c.value for row in predict.iter_rows() for c in row if c.data_type == "f"
    ]
    assert not any("HYPERLINK" in str(formula) for formula in formulas)


@pytest.mark.parametrize(
    ("names", "named"),
    [
        (lambda n: np.array(["a"] * 2), "must be {n} strings, one per input"),
        (lambda n: np.arange(n, dtype=float), "must be {n} strings"),
        (
            lambda n: np.array([f"x{k}" for k in range(n - 1)] + ["x0"]),
            "names 'x0' twice",
        ),
        (lambda n: np.array([b"\xff"] * n), "'feature_names' array holds bytes that"),
    ],
)
def test_npz_feature_names_are_checked(tmp_path, arrays, names, named):
    n = _input_count(arrays)
    path = _save(tmp_path / "bad.npz", arrays, feature_names=names(n))
    with pytest.raises(SourceError, match=named.format(n=n).replace("(", r"\(")):
        sources.read(path, activations=["relu", "relu", "softmax"])


def test_the_digits_npz_shipped_with_xlnn(tmp_path):
    path = resources.files("xlnn") / "data" / "digits_mlp.npz"
    with resources.as_file(path) as file, np.load(file) as data:
        model = sources.read(file, activations="sigmoid softmax".split())
        x = data["test_images"][:10]
        expected = plain_forward(data, ["sigmoid", "softmax"], x)
    assert agrees(model.predict(x), expected)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda a: a.pop("b2"), "b2 is missing"),
        (lambda a: a.pop("W1"), "W1 is missing"),
        (lambda a: a.update(W5=np.ones((3, 1)), b5=np.ones(1)), "W4 is missing"),
        (lambda a: a.update(W2=np.ones((4, 3))), "W2 has 4 rows"),
        (lambda a: a.update(b1=np.ones(4)), "b1 has shape 4"),
        (lambda a: a.update(W1=np.ones(4)), "W1 must be a matrix"),
        (lambda a: a.update(W3=np.full((3, 3), "x")), "W3 holds <U1"),
        (lambda a: a.update(b3=np.array([0.0, np.nan, 1.0])), "b3 holds NaN"),
        (lambda a: a.clear() or a.update(w=np.ones(1)), "no layer arrays"),
    ],
)
def test_npz_problems_name_the_array(tmp_path, arrays, change, named):
    change(arrays)
    path = _save(tmp_path / "bad.npz", arrays)
    with pytest.raises(SourceError, match=named) as info:
        sources.read(path, activations=["relu", "relu", "softmax"])
    assert str(info.value).startswith("bad.npz: ")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("activations", "named"),
    [
        (None, "no activations; give one per layer"),
        (["relu", "softmax"], "2 activations"),
        (["relu", "swish", "softmax"], "unknown activation 'swish'"),
    ],
)
def test_npz_activations_are_checked(tmp_path, arrays, activations, named):
    with pytest.raises(SourceError, match=named):
        sources.read(_save(tmp_path / "net.npz", arrays), activations=activations)


def test_npz_activations_in_bytes_that_are_not_utf8_are_refused(tmp_path, arrays):
    names = np.array([b"relu", b"rel\xff", b"softmax"])
    path = _save(tmp_path / "bad.npz", arrays, activations=names)
    with pytest.raises(SourceError, match="'activations' array holds bytes that are"):
        sources.read(path)


def test_an_object_array_in_an_npz_is_refused(tmp_path, arrays):
    path = _save(
        tmp_path / "net.npz", arrays, activations=np.array(["relu", 3], dtype=object)
    )
    with pytest.raises(
        SourceError,
        match="array activations holds object: it cannot be read without pickle",
    ):
        sources.read(path)


def test_a_file_that_is_not_an_npz(tmp_path):
    path = tmp_path / "net.npz"
    path.write_text("not a zip")
    with pytest.raises(SourceError, match="not a NumPy .npz file"):
        sources.read(path, activations=["relu"])


def test_unknown_extension_and_missing_file(tmp_path):
    with pytest.raises(SourceError, match=r"unknown model format '\.h5'"):
        sources.read(tmp_path / "model.h5")
    with pytest.raises(SourceError, match="no such file"):
        sources.read(tmp_path / "model.npz")


def test_onnx_is_handed_to_the_onnx_reader(tmp_path, monkeypatch):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"")
    calls = []
    fake = types.ModuleType("xlnn.export.sources.onnx_source")
    fake.read = lambda given: calls.append(given) or "the model"
    monkeypatch.setitem(sys.modules, "xlnn.export.sources.onnx_source", fake)
    assert sources.read(path) == "the model"
    assert calls == [path]
    with pytest.raises(SourceError, match="names its own activations"):
        sources.read(path, activations=["relu"])


# --- the book's pickle --------------------------------------------------------


def _trusted_book_arrays():
    # Our own committed file, loaded with plain pickle: the independent path.
    with resources.as_file(BOOK_WEIGHTS) as path, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # numpy.core in NumPy 2
        return pickle.loads(path.read_bytes())


def test_the_books_weights_have_the_books_shapes():
    with resources.as_file(BOOK_WEIGHTS) as path:
        model = sources.read(path)
    shapes = [layer.weights.shape for layer in model.network.layers]
    # The book, section 3.6.1: 784 -> 50 -> 100 -> 10.
    assert shapes == [(784, 50), (50, 100), (100, 10)]
    assert [layer.activation.name for layer in model.network.layers] == [
        "sigmoid",
        "sigmoid",
        "softmax",
    ]
    assert model.output == "probabilities"
    assert model.classes == tuple(range(10))
    assert model.source.format == "pickle"


def test_the_books_network_predicts_as_plain_numpy():
    arrays = _trusted_book_arrays()
    assert sorted(arrays) == ["W1", "W2", "W3", "b1", "b2", "b3"]
    with resources.as_file(BOOK_WEIGHTS) as path:
        model = sources.read(path)
    x = np.random.default_rng(5).random((50, 784))  # pixels scaled to 0..1
    expected = plain_forward(arrays, ["sigmoid", "sigmoid", "softmax"], x)
    assert agrees(model.predict(x), expected)
    assert agrees(model.framework_predict(x), expected)
    altered = copy.deepcopy(arrays)
    altered["W3"][7, 3] += 1e-4
    assert not agrees(
        model.predict(x), plain_forward(altered, ["sigmoid", "sigmoid", "softmax"], x)
    )


def test_the_books_file_references_only_numpy_globals():
    # What pickletools shows in the book's file, as the module docstring says.
    import pickletools

    with resources.as_file(BOOK_WEIGHTS) as path:
        data = path.read_bytes()
    globals_ = {arg for op, arg, _ in pickletools.genops(data) if op.name == "GLOBAL"}
    assert globals_ == {
        "numpy.core.multiarray _reconstruct",
        "numpy ndarray",
        "numpy dtype",
    }


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_the_restricted_unpickler_reads_every_protocol(protocol):
    data = {
        "W1": np.arange(6, dtype=np.float32).reshape(2, 3),
        "b1": np.array([0.5, -1.0, 2.0]),
        "empty": np.zeros((0, 2)),
        "scalar": np.float64(2.5),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "big_endian": np.arange(3, dtype=">i4"),
        "names": np.array(["relu", "softmax"]),
        "bools": np.array([True, False]),
        # bytearray is refused as a global (bytearray(3e9) allocates), so
        # none here: protocols 0-4 can only write it that way.
        "nested": [(1, 2), {"a": {3}}, frozenset({4}), b"", b"x", 1j],
    }
    written = pickle.dumps(data, protocol=protocol)
    loaded = pickle_source.restricted_load(written)
    # Plain pickle is the reference (it makes big-endian native below protocol 5).
    trusted = pickle.loads(written)
    assert loaded.keys() == data.keys()
    for key in ("W1", "b1", "empty", "scalar", "fortran", "big_endian", "names"):
        assert type(loaded[key]) is type(data[key])
        assert loaded[key].dtype == trusted[key].dtype
        assert loaded[key].flags.f_contiguous == trusted[key].flags.f_contiguous
        np.testing.assert_array_equal(loaded[key], data[key])
    assert loaded["nested"] == data["nested"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"(c__builtin__\nset\no.", set()),  # OBJ: the class is above the mark
        (b"(c__builtin__\ncomplex\nF1.5\nF2.0\no.", 1.5 + 2j),
        (b"\x80\x02]q\x00(K\x01K\x02e0h\x00.", [1, 2]),  # APPENDS, POP, GET
    ],
)
def test_the_opcode_scan_follows_the_stack(data, expected):
    assert pickle_source.restricted_load(data) == expected


def test_pickle_activations_can_be_given(tmp_path, arrays):
    path = tmp_path / "net.pkl"
    path.write_bytes(pickle.dumps(arrays))
    names = ["relu", "tanh", "identity"]
    model = sources.read(path, activations=names)
    x = np.random.default_rng(6).normal(size=(8, 4))
    assert agrees(model.predict(x), plain_forward(arrays, names, x))
    assert model.output == "values"
    default = sources.read(path)
    assert [layer.activation.name for layer in default.network.layers] == [
        "sigmoid",
        "sigmoid",
        "softmax",
    ]


@pytest.mark.parametrize(
    "extra",
    [
        "W\u00b2",  # str.isdigit() is true of "²", and int("²") a traceback
        "W05",  # not a layer's number: it made the book's activations for 5
    ],
)
def test_pickle_keys_count_layers_as_npz_files_do(tmp_path, arrays, extra):
    path = tmp_path / "net.pkl"
    path.write_bytes(pickle.dumps({"W1": arrays["W1"], "b1": arrays["b1"],
                                   extra: arrays["W2"]}))  # fmt: skip
    model = sources.read(path)  # one layer, W1 and b1; the other key unused
    assert [layer.activation.name for layer in model.network.layers] == ["softmax"]


def test_a_pickles_hash_is_of_the_bytes_read(tmp_path, arrays):
    path = tmp_path / "net.pkl"
    path.write_bytes(pickle.dumps(arrays))
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert sources.read(path).source.sha256 == expected


# --- hostile pickles ------------------------------------------------------------


class _Runs:
    """Unpickling this calls ``function(*args)``."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def _hostile(kind: str, marker: Path) -> bytes:
    command = f"touch {marker}"
    payloads = {
        "os.system": _Runs(os.system, command),
        "subprocess.Popen": _Runs(subprocess.Popen, ["touch", str(marker)]),
        "builtins.eval": _Runs(eval, f"__import__('os').system({command!r})"),
        "builtins.exec": _Runs(exec, f"open({str(marker)!r}, 'w').close()"),
        "nested": {"W1": np.ones((2, 2)), "b1": [_Runs(os.system, command)]},
    }
    return pickle.dumps(payloads[kind])


HOSTILE = ["os.system", "subprocess.Popen", "builtins.eval", "builtins.exec", "nested"]
#: How each payload's callable names itself in the pickle.
REFUSED_NAME = {
    "os.system": f"{os.system.__module__}.system",  # posix.system on Linux
    "subprocess.Popen": "subprocess.Popen",
    "builtins.eval": "builtins.eval",
    "builtins.exec": "builtins.exec",
    "nested": f"{os.system.__module__}.system",
}


def test_the_hostile_payload_really_runs_under_plain_pickle(tmp_path):
    # The control: the same bytes do run a command when unpickled normally.
    marker = tmp_path / "MARKER"
    pickle.loads(_hostile("os.system", marker))
    assert marker.exists()


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_pickle_is_refused_and_runs_nothing(tmp_path, kind):
    marker = tmp_path / "MARKER"
    path = tmp_path / "weights.pkl"
    path.write_bytes(_hostile(kind, marker))
    with pytest.raises(SourceError) as info:
        sources.read(path)
    message = str(info.value)
    assert f"refused to unpickle global {REFUSED_NAME[kind]}" in message
    assert message.startswith("weights.pkl: ")
    assert not marker.exists()


def test_a_hand_written_global_is_refused_before_import():
    # Protocol 0 text: push os.system, call it, stop.
    data = b"cos\nsystem\n(S'touch /nonexistent/xlnn-marker'\ntR."
    with pytest.raises(SourceError, match="global os.system"):
        pickle_source.restricted_load(data)


def test_a_scikit_learn_pickle_gets_a_hint():
    data = b"csklearn.neural_network\nMLPClassifier\n."
    with pytest.raises(SourceError, match="skl2onnx"):
        pickle_source.restricted_load(data)


def test_latin1_is_the_only_codec_admitted():
    data = b"c_codecs\nencode\n(Vabc\nVrot13\ntR."
    with pytest.raises(SourceError, match="Latin-1 text only"):
        pickle_source.restricted_load(data)


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ([np.ones(2)], "holds a list"),
        ({"W1": [[1.0]], "b1": np.ones(1)}, "W1 is a list"),
        ({1: np.ones(1)}, "key 1 is not a string"),
    ],
)
def test_pickles_of_other_things_are_refused(tmp_path, payload, named):
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps(payload))
    with pytest.raises(SourceError, match=named):
        sources.read(path)


def test_a_truncated_pickle(tmp_path):
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps({"W1": np.ones((2, 2))})[:-10])
    with pytest.raises(SourceError, match="not a readable pickle"):
        sources.read(path)


# --- scikit-learn -------------------------------------------------------------------
# scikit-learn is imported by the tests that use it: importing it (scipy.stats
# with it) is a second at collection, paid by runs that select no such test.


def _fit(estimator, x, y):
    from sklearn.exceptions import ConvergenceWarning

    # A few iterations are enough for weights to compare; they do not converge.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(x, y)


def _data(n_features=4, seed=0):
    rng = np.random.default_rng(seed)
    # Features on different scales, so that the scalers matter.
    x = rng.normal(size=(60, n_features)) * [1, 10, 0.1, 100][:n_features] + 5
    return x, rng


def _inputs(seed=99, n_features=4):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(40, n_features)) * [1, 10, 0.1, 100][:n_features] + 5


def _mlp(kind, **options):
    """An untrained scikit-learn network; ``kind`` names its class."""
    from sklearn import neural_network

    options = {"hidden_layer_sizes": (5, 3), "max_iter": 20, "random_state": 0} | (
        options
    )
    return getattr(neural_network, kind)(**options)


@pytest.mark.parametrize("activation", ["relu", "logistic", "tanh", "identity"])
def test_multiclass_mlp_matches_predict_proba(activation):
    x, rng = _data()
    y = rng.choice(["cat", "dog", "eel"], size=len(x))
    mlp = _fit(_mlp("MLPClassifier", activation=activation), x, y)
    model = from_sklearn(mlp)
    inputs = _inputs()
    assert agrees(model.predict(inputs), mlp.predict_proba(inputs))
    assert agrees(model.framework_predict(inputs), mlp.predict_proba(inputs))
    assert model.output == "probabilities"
    assert model.classes == ("cat", "dog", "eel")
    hidden = {"logistic": "sigmoid"}.get(activation, activation)
    assert [layer.activation.name for layer in model.network.layers] == [
        hidden,
        hidden,
        "softmax",
    ]


def test_binary_mlp_is_one_sigmoid_output():
    x, rng = _data()
    y = rng.choice([-1, 7], size=len(x))
    mlp = _fit(_mlp("MLPClassifier"), x, y)
    model = from_sklearn(mlp)
    inputs = _inputs()
    assert model.output == "binary"
    assert model.classes == (-1, 7)
    assert model.network.layers[-1].n_outputs == 1
    assert model.network.layers[-1].activation.name == "sigmoid"
    assert agrees(model.predict(inputs), mlp.predict_proba(inputs))


@pytest.mark.parametrize("n_outputs", [1, 3])
def test_regressor_matches_predict(n_outputs):
    x, rng = _data()
    y = rng.normal(size=(len(x), n_outputs))
    if n_outputs == 1:
        y = y.ravel()
    mlp = _fit(_mlp("MLPRegressor", activation="tanh"), x, y)
    model = from_sklearn(mlp)
    inputs = _inputs()
    expected = mlp.predict(inputs).reshape(len(inputs), -1)
    assert model.output == "values"
    assert model.classes is None
    assert model.framework_predict(inputs).shape == (len(inputs), n_outputs)
    assert agrees(model.predict(inputs), expected)
    assert agrees(model.framework_predict(inputs), expected)


def _scalers(steps):
    """scikit-learn scalers from (class name, options) pairs; strings as they are."""
    from sklearn import preprocessing

    return [
        step if isinstance(step, str) else getattr(preprocessing, step[0])(**step[1])
        for step in steps
    ]


@pytest.mark.parametrize(
    "steps",
    [
        [("StandardScaler", {})],
        [("StandardScaler", {"with_mean": False})],
        [("StandardScaler", {"with_std": False})],
        [("MinMaxScaler", {})],
        [("MinMaxScaler", {"feature_range": (-1, 2)})],
        [("StandardScaler", {}), ("MinMaxScaler", {})],
        ["passthrough", ("StandardScaler", {})],
    ],
    ids=lambda steps: "+".join(
        step if isinstance(step, str) else f"{step[0]}{step[1]}" for step in steps
    ),
)
def test_pipeline_of_scalers_and_mlp(steps):
    from sklearn.pipeline import make_pipeline

    scalers = _scalers(steps)
    x, rng = _data()
    y = rng.choice([0, 1, 2], size=len(x))
    pipeline = _fit(make_pipeline(*scalers, _mlp("MLPClassifier")), x, y)
    model = from_sklearn(pipeline)
    inputs = _inputs()
    assert len(model.preprocessing) == sum(s != "passthrough" for s in scalers)
    assert agrees(model.predict(inputs), pipeline.predict_proba(inputs))
    assert agrees(model.framework_predict(inputs), pipeline.predict_proba(inputs))
    # The scaling itself, step by step, against scikit-learn's transform.
    transformed = pipeline[:-1].transform(inputs)
    assert agrees(model.preprocess(inputs), transformed)


def test_a_pipeline_regressor_with_minmax():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    x, rng = _data()
    y = x @ [1.0, 0.1, 10.0, 0.01] + rng.normal(size=len(x))
    pipeline = _fit(make_pipeline(MinMaxScaler(), _mlp("MLPRegressor")), x, y)
    model = from_sklearn(pipeline)
    inputs = _inputs()
    assert agrees(model.predict(inputs), pipeline.predict(inputs).reshape(-1, 1))
    assert model.source.path == "Pipeline(MinMaxScaler, MLPRegressor)"


def test_an_altered_coefficient_is_caught():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, rng = _data()
    y = rng.choice([0, 1, 2], size=len(x))
    pipeline = _fit(make_pipeline(StandardScaler(), _mlp("MLPClassifier")), x, y)
    model = from_sklearn(pipeline)
    altered = copy.deepcopy(pipeline)
    altered[-1].coefs_[1][2, 1] += 1e-4
    inputs = _inputs()
    assert agrees(model.predict(inputs), pipeline.predict_proba(inputs))
    assert not agrees(model.predict(inputs), altered.predict_proba(inputs))
    assert from_sklearn(altered).source.sha256 != model.source.sha256
    scaled = copy.deepcopy(pipeline)
    scaled[0].mean_[3] += 1e-3
    assert not agrees(model.predict(inputs), scaled.predict_proba(inputs))


def test_feature_names_from_the_estimator_or_the_caller():
    x, rng = _data()
    y = rng.choice([0, 1], size=len(x))
    mlp = _fit(_mlp("MLPClassifier"), x, y)
    assert from_sklearn(mlp).feature_names is None
    names = ("age", "income", "ratio", "area")
    assert from_sklearn(mlp, feature_names=names).feature_names == names
    with pytest.raises(SourceError, match="3 feature names for 4 inputs"):
        from_sklearn(mlp, feature_names=names[:3])
    # As a DataFrame leaves it (pandas is not needed to check the reading).
    named = copy.deepcopy(mlp)
    named.feature_names_in_ = np.array(names, dtype=object)
    model = from_sklearn(named)
    assert model.feature_names == names
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the reference silences sklearn's warning
        assert agrees(model.framework_predict(_inputs()), mlp.predict_proba(_inputs()))
    with pytest.raises(SourceError, match="differ from the names"):
        from_sklearn(named, feature_names=("a", "b", "c", "d"))


def test_other_estimators_and_steps_are_refused():
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    x, rng = _data()
    y = rng.choice([0, 1], size=len(x))
    with pytest.raises(SourceError, match="cannot export LogisticRegression"):
        from_sklearn(LogisticRegression().fit(x, y))
    pipeline = _fit(make_pipeline(PCA(3), _mlp("MLPClassifier")), x, y)
    with pytest.raises(SourceError, match=r"step 'pca' \(PCA\)"):
        from_sklearn(pipeline)
    clipping = _fit(make_pipeline(MinMaxScaler(clip=True), _mlp("MLPClassifier")), x, y)
    with pytest.raises(SourceError, match=r"MinMaxScaler\(clip=True\)"):
        from_sklearn(clipping)
    with pytest.raises(SourceError, match="MLPClassifier is not fitted"):
        from_sklearn(MLPClassifier())


def test_a_multilabel_classifier_is_refused():
    x, rng = _data()
    y = rng.integers(0, 2, size=(len(x), 3))
    mlp = _fit(_mlp("MLPClassifier"), x, y)
    with pytest.raises(SourceError, match="multilabel MLPClassifier"):
        from_sklearn(mlp)


def test_a_poisson_regressor_is_refused():
    x, rng = _data()
    mlp = _mlp("MLPRegressor")
    if "loss" not in mlp.get_params():
        pytest.skip("this scikit-learn has no Poisson loss (added in 1.7)")
    mlp.set_params(loss="poisson")
    _fit(mlp, x, rng.poisson(3.0, size=len(x)))
    with pytest.raises(SourceError, match="out_activation_='exp'"):
        from_sklearn(mlp)
