"""``export.to_workbook`` takes what users hold: a Model, a fitted scikit-learn
estimator or Pipeline, an ONNX ModelProto, or a model file's path.
"""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import openpyxl
import pytest

from xlnn import export
from xlnn.export.sources import onnx_source
from xlnn.model import Model
from xlnn.network import Dense, Network

FIXED = dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.timezone.utc)
X = np.random.default_rng(0).normal(size=(40, 3))
Y = X @ [1.0, -2.0, 0.5]
LABELS = np.where(Y > 0, "up", "down")


def mlp_regressor():
    from sklearn.neural_network import MLPRegressor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MLPRegressor(hidden_layer_sizes=(4,), max_iter=50, random_state=0).fit(
            X, Y
        )


def pipeline():
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_pipeline(
            StandardScaler(),
            MLPClassifier(hidden_layer_sizes=(4,), max_iter=50, random_state=0),
        ).fit(X, LABELS)


def _write(obj, path, **options):
    return export.to_workbook(
        obj, path, rows=3, verify=False, exported_at=FIXED, **options
    )


def _sheets(path) -> list[str]:
    return openpyxl.load_workbook(path).sheetnames


def test_a_model(tmp_path):
    rng = np.random.default_rng(1)
    model = Model(Network((Dense(rng.normal(size=(3, 2)), np.zeros(2), "softmax"),)))
    _write(model, tmp_path / "m.xlsx")
    assert _sheets(tmp_path / "m.xlsx") == ["predict", "batch", "weights", "about"]


@pytest.mark.parametrize("make", [mlp_regressor, pipeline])
def test_a_fitted_scikit_learn_estimator(tmp_path, make):
    estimator = make()
    result = _write(estimator, tmp_path / "m.xlsx")
    assert result.workbooks[0].formulas > 0
    about = openpyxl.load_workbook(tmp_path / "m.xlsx")["about"]
    texts = [c.value for row in about.iter_rows() for c in row if c.value]
    assert "scikit-learn" in texts


def test_a_path_str_or_pathlike(tmp_path):
    rng = np.random.default_rng(2)
    npz = tmp_path / "net.npz"
    np.savez(npz, W1=rng.normal(size=(3, 2)), b1=np.zeros(2))
    _write(str(npz), tmp_path / "a.xlsx", activations=["softmax"])
    _write(npz, tmp_path / "b.xlsx", activations=["softmax"])
    assert (tmp_path / "a.xlsx").is_file() and (tmp_path / "b.xlsx").is_file()


@pytest.mark.xfail(
    not hasattr(onnx_source, "from_proto"),
    reason="onnx_source.from_proto arrives with another branch",
    strict=True,
)
def test_an_onnx_model_proto(tmp_path):
    from skl2onnx import to_onnx

    proto = to_onnx(mlp_regressor(), X[:1].astype(np.float32))
    _write(proto, tmp_path / "m.xlsx")
    assert _sheets(tmp_path / "m.xlsx") == ["predict", "batch", "weights", "about"]


@pytest.mark.parametrize("thing", [42, [[1.0, 2.0]], {"W1": np.eye(2)}])
def test_anything_else_is_a_type_error_naming_what_is_accepted(tmp_path, thing):
    with pytest.raises(TypeError, match="an xlnn Model, a fitted scikit-learn"):
        _write(thing, tmp_path / "m.xlsx")
    assert list(tmp_path.iterdir()) == []


def test_activations_are_for_files_only(tmp_path):
    with pytest.raises(TypeError, match="model file"):
        _write(mlp_regressor(), tmp_path / "m.xlsx", activations=["relu"])
