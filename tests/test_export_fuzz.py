"""`xlnn export` on broken files of every accepted format: exit 0 or 2, never
a traceback; on 2 one line on stderr and nothing written (issue 11).

The readers are fuzzed on their own in tests/test_hostile_files.py and
tests/test_onnx_exporters.py; this runs mutants through the whole command,
where a file that still reads must also lay out and write (weights a flipped
bit made huge included), and a refusal must reach the user as one line.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from xlnn import cli


def _arrays():
    rng = np.random.default_rng(5)
    return {
        "W1": rng.normal(size=(4, 3)),
        "b1": rng.normal(size=3),
        "W2": rng.normal(size=(3, 2)),
        "b2": rng.normal(size=2),
    }


def _onnx_bytes() -> bytes:
    arrays = {k: v.astype(np.float32) for k, v in _arrays().items()}
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["m1"]),
        helper.make_node("Add", ["m1", "b1"], ["a1"]),
        helper.make_node("Relu", ["a1"], ["z1"]),
        helper.make_node("Gemm", ["z1", "W2", "b2"], ["a2"]),
        helper.make_node("Softmax", ["a2"], ["y"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "fuzz",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(v, k) for k, v in arrays.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


def _valid(kind: str, tmp_path) -> bytes:
    if kind == "npz":
        np.savez(tmp_path / "valid.npz", **_arrays(),
                 activations=np.array(["relu", "softmax"]))  # fmt: skip
        return (tmp_path / "valid.npz").read_bytes()
    if kind == "pkl":
        return pickle.dumps(_arrays(), protocol=4)
    if kind == "onnx":
        return _onnx_bytes()
    rng = np.random.default_rng(6)
    rows = (",".join(repr(v) for v in rng.normal(size=4)) for _ in range(6))
    return ("a,b,c,d\n" + "\n".join(rows) + "\n").encode()


def _mutants(valid: bytes, seed: int, count: int):
    rng = np.random.default_rng(seed)
    for index in range(count):
        data = bytearray(valid)
        if index % 3 == 0:
            yield bytes(data[: rng.integers(0, len(data))])
            continue
        for _ in range(rng.integers(1, 4)):
            position = rng.integers(0, len(data))
            data[position] ^= 1 << rng.integers(0, 8)
        if index % 3 == 2:
            data += rng.bytes(rng.integers(1, 64))
        yield bytes(data)


@pytest.fixture
def one_parser(monkeypatch):
    """``cli.main`` parses with one parser for the test, not a new one a mutant.

    Building it (argparse looking up each help text through gettext) took
    5 ms, most of what a refused mutant cost; parsing with it is unchanged.
    """
    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)


@pytest.mark.parametrize("kind", ["npz", "pkl", "onnx", "csv"])
def test_broken_files_exit_0_or_2_with_one_line(kind, tmp_path, capsys, one_parser):
    valid = _valid(kind, tmp_path)
    model = tmp_path / f"model.{'npz' if kind == 'csv' else kind}"
    if kind == "csv":
        model.write_bytes(_valid("npz", tmp_path))
    codes = []
    for number, data in enumerate(_mutants(valid, seed=len(kind), count=45)):
        target = tmp_path / f"mutant.{kind}"
        target.write_bytes(data)
        out = tmp_path / f"out{number}.xlsx"
        args = ["export", str(target if kind != "csv" else model), "--out", str(out),
                "--rows", "8", "--no-verify"]  # fmt: skip
        if kind == "csv":
            args += ["--sample-inputs", str(target)]
        if kind == "pkl":
            args += ["--activations", "relu,softmax"]
        code = cli.main(args)
        err = capsys.readouterr().err
        refusals = [line for line in err.splitlines() if line.startswith("xlnn")]
        assert code in (0, 2), (number, err)
        if code == 2:
            assert len(refusals) == 1 and "Traceback" not in err, (number, err)
            assert not out.exists()
        else:
            assert out.is_file()
        codes.append(code)
    assert 2 in codes  # the mutants were really broken, many of them
