"""Measure the workbooks of graphs in the shapes real exporters write (issue 11).

Each graph comes from ``tests/onnx_graphs.py`` (built with onnx.helper in the
shapes torch's two exporters, tf2onnx and skl2onnx write; the skl2onnx
classifier is converted by skl2onnx itself). Each is saved in a temporary
folder, with its weights in ``m.onnx.data`` where torch's dynamo exporter puts
them, read back with :func:`xlnn.export.sources.read`, exported as a plain workbook
and recalculated by LibreOffice. The script prints one Markdown table row per
graph (the layers xlnn read, the output cells compared, the worst error
against float64 and against the framework, with their cells, the labels and
the outcome), then the command, the machine and the versions.

Example::

    PYTHONPATH=addin python scripts/exporter_table.py

Exit 1 if any workbook failed or could not be verified.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime

# The graph builders are shared with tests/test_onnx_exporters.py, which must
# read exactly what is measured here, so they live with the tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import onnx_graphs as g  # noqa: E402

from xlnn import export
from xlnn.engines.libreoffice import find_soffice  # noqa: E402
from xlnn.export import sources

WRITTEN = {build.__name__: build for build, _ in g.WRITTEN_OUT}
TORCH_SOFTPLUS = "Softplus Greater/Where (torch dynamo)"


def cases():
    """(pattern, graph, external data?, sample inputs) for every measured row."""
    x = g.SAMPLES
    breast = g.breast_cancer()[0][::10]  # 57 rows: the batch sheet holds 100
    yield (
        "PyTorch dynamo (default), external .onnx.data, dynamic batch",
        g.dynamo(None),
        True,
        x,
    )
    yield "PyTorch dynamo (default), external .onnx.data, batch 1", g.dynamo(1), True, x
    yield "PyTorch dynamo (default), external .onnx.data, batch 8", g.dynamo(8), True, x
    yield (
        "PyTorch legacy, Flatten + BatchNormalization after Linear",
        g.legacy("after_linear", flatten=True),
        False,
        x,
    )
    yield (
        "PyTorch legacy, Shape/Gather/Concat view + BatchNormalization after ReLU",
        g.legacy("after_relu", flatten=False),
        False,
        x,
    )
    yield "Keras/tf2onnx, LeakyRelu 0.3", g.keras("LeakyRelu", 0.3), False, x
    yield "Keras/tf2onnx, Elu", g.keras("Elu", 1.0), False, x
    for kind, precision in ((g.FLOAT, "float32"), (g.DOUBLE, "float64")):
        for name, pattern in (
            ("gelu_div_erf", "GELU as Div/Erf (torch legacy)"),
            ("gelu_neg_erf", "GELU as Neg/Erf (Keras)"),
            ("gelu_tanh_pow", "GELU tanh approximation as Pow/Tanh"),
            ("silu_mul_sigmoid", "SiLU x*Sigmoid(x)"),
            ("softplus_where", TORCH_SOFTPLUS),
        ):
            graph = g.written_out(kind, WRITTEN[name])
            yield f"{pattern} ({precision})", graph, False, x
    yield "LogSoftmax output (torch)", g.log_softmax(), False, x
    yield (
        "scikit-learn identity MLP (skl2onnx, float64)",
        g.sklearn_identity(),
        False,
        x,
    )
    yield (
        "skl2onnx StandardScaler + binary MLPClassifier, ZipMap (float32)",
        g.sklearn_binary(g.FLOAT),
        False,
        breast,
    )
    yield (
        "skl2onnx StandardScaler + binary MLPClassifier (float64)",
        g.sklearn_binary(g.DOUBLE),
        False,
        breast,
    )


def layers(model) -> str:
    """``30-16(relu)-1(sigmoid)``, after any preprocessing xlnn read."""
    parts = [str(model.n_inputs)]
    for layer in model.network.layers:
        name = layer.activation.name.replace("_", " ")
        if layer.parameter is not None:
            name += f" {layer.parameter:.3g}"
        parts.append(f"{layer.n_outputs}({name})")
    text = "-".join(parts)
    if model.preprocessing:
        steps = ", ".join(type(step).__name__ for step in model.preprocessing)
        text = f"{steps}; {text}"
    return text


def framework(path: Path, model) -> str:
    """onnxruntime, or the ReferenceEvaluator where onnxruntime cannot run it."""
    try:
        onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception:  # onnxruntime's NOT_IMPLEMENTED for a double kernel
        return f"ReferenceEvaluator ({model.reference_precision})"
    return f"onnxruntime ({model.reference_precision})"


def worst(result) -> str:
    if not result.worst_cell:
        return "no cells"
    return f"{result.worst_relative_error:.1e} at {result.worst_cell}"


def row(pattern, graph, external, inputs, folder: Path) -> tuple[str, bool]:
    path = g.save(graph, folder / "graph", external=external)
    model = sources.read(path)
    result = export.to_workbook(
        model, folder / "book.xlsx", sample_inputs=inputs, flavor="plain"
    )
    agreement = result.workbooks[0].agreement
    if not agreement.verified:
        outcome = f"not verified: {agreement.cells.problem}"
    else:
        outcome = "FAILED" if agreement.failed else "verified"
    labels = f"{agreement.labels_agree}/{agreement.labels}" if agreement.labels else "-"
    cells = [
        pattern,
        layers(model),
        str(agreement.outputs.cells),
        worst(agreement.cells),
        worst(agreement.outputs),
        framework(path, model),
        labels,
        outcome,
    ]
    return "| " + " | ".join(cells) + " |", outcome == "verified"


def soffice_version() -> str:
    try:
        done = subprocess.run(
            [find_soffice(), "--version"], capture_output=True, text=True, timeout=60
        )
    except Exception as error:  # the table is still worth printing
        return f"unknown ({error})"
    return done.stdout.strip() or done.stderr.strip()


def main() -> int:
    print(
        "| Exporter, pattern | Layers xlnn read | Output cells | Worst vs float64 "
        "(every cell) | Worst vs framework (outputs) | Framework | Labels agree "
        "| Result |"
    )
    print("|---|---|---:|---|---|---|---:|---|")
    everything_verified = True
    for number, (pattern, graph, external, inputs) in enumerate(cases()):
        with tempfile.TemporaryDirectory(prefix=f"xlnn-table-{number}-") as folder:
            line, verified = row(pattern, graph, external, inputs, Path(folder))
        print(line, flush=True)
        everything_verified &= verified
    import skl2onnx
    import sklearn

    print()
    print(f"Command: `PYTHONPATH=addin python {shlex.join(sys.argv)}`")
    print(
        f"Machine: {os.cpu_count()} cores (nproc), {platform.platform()}, "
        f"Python {platform.python_version()}"
    )
    print(
        f"Versions: onnx {onnx.__version__}, onnxruntime {onnxruntime.__version__}, "
        f"numpy {np.__version__}, scikit-learn {sklearn.__version__}, "
        f"skl2onnx {skl2onnx.__version__}, {soffice_version()}"
    )
    return 0 if everything_verified else 1


if __name__ == "__main__":
    raise SystemExit(main())
