"""Each source format, read, exported and verified against its own framework.

End to end: the model is read the way `xlnn export` reads it, the workbook is
written and recalculated by LibreOffice (plain) or `formulas` (add-in), and its
outputs are compared with onnxruntime, scikit-learn or NumPy. Then one weight
in the written workbook is changed and the same check must fail.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from xlnn import export
from xlnn.export import sources
from xlnn.export.sources.sklearn_source import from_sklearn
from xlnn.sheets.flavors import ADDIN, PLAIN

pytestmark = pytest.mark.engine

BOOK_PICKLE = Path(__file__).resolve().parents[1] / "addin/xlnn/data/sample_weight.pkl"
RNG = np.random.default_rng(20241129)


def _iris_pipeline():
    from sklearn.datasets import load_iris
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    iris = load_iris()
    pipe = make_pipeline(
        StandardScaler(), MLPClassifier((6,), max_iter=300, random_state=0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of a tiny fit
        pipe.fit(iris.data, iris.target_names[iris.target])
    return pipe, iris.data


def _npz(tmp_path) -> Path:
    path = tmp_path / "net.npz"
    np.savez(
        path,
        W1=RNG.normal(size=(4, 5)),
        b1=RNG.normal(size=5),
        W2=RNG.normal(size=(5, 3)),
        b2=RNG.normal(size=3),
        activations=np.array(["tanh", "softmax"]),
    )
    return path


def _onnx(tmp_path) -> tuple[Path, np.ndarray]:
    from skl2onnx import to_onnx

    pipe, data = _iris_pipeline()
    proto = to_onnx(
        pipe, data[:1].astype(np.float64), options={id(pipe): {"zipmap": False}}
    )
    path = tmp_path / "iris.onnx"
    path.write_bytes(proto.SerializeToString())
    return path, data


def _models(tmp_path):
    """(name, model, sample inputs) for every source format."""
    npz = sources.read(_npz(tmp_path))
    yield "npz", npz, RNG.normal(size=(6, 4))
    book = sources.read(BOOK_PICKLE)
    yield "pickle", book, RNG.random((4, 784))
    onnx_path, data = _onnx(tmp_path)
    yield "onnx", sources.read(onnx_path), data[::25]
    pipe, data = _iris_pipeline()
    yield "scikit-learn", from_sklearn(pipe), data[::25]


def _first_weight_changed(path: Path) -> None:
    workbook = openpyxl.load_workbook(path)
    ((sheet, ref),) = workbook.defined_names["W_1"].destinations
    cell = workbook[sheet][ref.replace("$", "").split(":")[0]]
    cell.value = float(cell.value) + 0.25
    workbook.save(path)


@pytest.mark.parametrize("flavor", [PLAIN, ADDIN], ids=["plain", "addin"])
def test_every_source_exports_and_verifies_and_an_altered_weight_is_caught(
    tmp_path, soffice, flavor
):
    for name, model, inputs in _models(tmp_path):
        path = tmp_path / f"{name}_{flavor.name}.xlsx"
        result = export.to_workbook(
            model, path, flavor=flavor.name, rows=len(inputs) + 2,
            sample_inputs=inputs,
        )  # fmt: skip
        (written,) = result.workbooks
        agreement = written.agreement
        assert agreement.verified and not agreement.failed, (name, agreement.summary())
        assert agreement.labels_agree == agreement.labels
        assert agreement.outputs.cells > 0
        tolerance = model.reference_tolerance
        assert agreement.outputs.worst_relative_error <= tolerance, name

        _first_weight_changed(path)
        altered = export.check_workbook(
            path, written.checks, flavor=flavor,
            reference_tolerance=model.reference_tolerance,
        )  # fmt: skip
        assert altered.failed, name


def _xlnn(*args, cwd) -> subprocess.CompletedProcess:
    command = shutil.which("xlnn") or sys.executable
    prefix = [command] if command.endswith("xlnn") else [command, "-m", "xlnn"]
    return subprocess.run(
        [*prefix, *args], capture_output=True, text=True, cwd=cwd, check=False
    )


def test_a_hostile_pickle_is_refused_and_its_command_never_runs(tmp_path):
    marker = tmp_path / "PWNED"
    # pickle protocol 0 for os.system("touch PWNED"), written by hand so that
    # nothing here ever unpickles it.
    payload = f"cos\nsystem\n(Vtouch {marker}\ntR.".encode()
    (tmp_path / "evil.pkl").write_bytes(payload)
    done = _xlnn("export", "evil.pkl", "--out", "evil.xlsx", cwd=tmp_path)
    assert done.returncode == 2
    assert "refused" in done.stderr and "system" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not marker.exists()
    assert not (tmp_path / "evil.xlsx").exists()


def test_an_unsupported_onnx_op_exits_2_names_it_and_writes_nothing(tmp_path):
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["m"], name="layer1"),
        helper.make_node("Sin", ["m"], ["y"], name="wavy"),
    ]
    weights = numpy_helper.from_array(np.ones((3, 2)), "W")
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [None, 3])],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [None, 2])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    (tmp_path / "sin.onnx").write_bytes(model.SerializeToString())
    done = _xlnn("export", "sin.onnx", "--out", "sin.xlsx", cwd=tmp_path)
    assert done.returncode == 2
    assert "Sin" in done.stderr and "wavy" in done.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "sin.onnx"]
