"""xlnn train: the two-layer network trained on a CSV, written as an .npz that
xlnn export reads; bad input is one line and exit 2."""

from __future__ import annotations

import contextlib
import csv
import io
import re

import numpy as np
import pytest

from xlnn import activations, cli
from xlnn.export import sample_inputs
from xlnn.export.sheets import ExportError
from xlnn.export.sources import npz_source
from xlnn.training import command as train_command

# Enough for digits, measured: 95.8% held out after 10 epochs (1.5 s).
DIGITS_OPTIONS = ["--hidden", "50", "--epochs", "10", "--learning-rate", "1.0",
                  "--batch-size", "32", "--seed", "0"]  # fmt: skip


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's 8x8 digits, scaled to 0..1: (images, labels)."""
    from sklearn.datasets import load_digits

    loaded = load_digits()
    return loaded.data / 16.0, loaded.target


@pytest.fixture(scope="module")
def digits_csv(digits, tmp_path_factory):
    """The digits with a header and a label column; repr keeps every float exact."""
    header = [f"pixel{k}" for k in range(64)] + ["label"]
    rows = [
        [repr(float(v)) for v in image] + [int(label)]
        for image, label in zip(*digits, strict=True)
    ]
    return write_csv(tmp_path_factory.mktemp("digits") / "digits.csv", header, rows)


@pytest.fixture(scope="module")
def digits_model(digits_csv, tmp_path_factory):
    """``xlnn train`` on the digits: (the .npz, stdout, stderr)."""
    out = tmp_path_factory.mktemp("model") / "digits.npz"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli.main(["train", str(digits_csv), "--label-column", "label",
                         "--out", str(out), *DIGITS_OPTIONS])  # fmt: skip
    assert code == 0, stderr.getvalue()
    return out, stdout.getvalue(), stderr.getvalue()


def held_out(images, labels, seed=0):
    """The held-out rows as xlnn train picks them from the CSV: (x, labels)."""
    split_seed = np.random.SeedSequence(seed).spawn(3)[0]
    _, test_rows = train_command.split(len(images), split_seed)
    return images[test_rows], labels[test_rows]


def test_digits_reach_93_percent_on_the_held_out_fifth(digits, digits_model):
    out, stdout, _ = digits_model
    arrays = np.load(out)
    x, labels = held_out(*digits)
    assert len(x) == 1797 // 5
    hidden = activations.sigmoid(x @ arrays["W1"] + arrays["b1"])
    predicted = np.argmax(hidden @ arrays["W2"] + arrays["b2"], axis=1)
    accuracy = np.mean(predicted == labels)
    assert accuracy >= 0.93
    assert f"held-out accuracy {accuracy:.1%} of 359 rows" in stdout


def test_progress_is_one_line_per_epoch_on_stderr(digits_model):
    _, stdout, stderr = digits_model
    epochs = re.findall(
        r"epoch (\d+)/10: loss ([\d.]+), train accuracy ([\d.]+)%, "
        r"held-out accuracy ([\d.]+)%",
        stderr,
    )
    assert [int(epoch) for epoch, *_ in epochs] == list(range(1, 11))
    assert float(epochs[-1][1]) < float(epochs[0][1])  # the loss fell
    assert "1797 rows, 64 features, 10 classes" in stderr
    assert "epoch 1/" not in stdout and f"next: xlnn export {digits_model[0]}" in stdout


def test_the_npz_holds_what_xlnn_export_reads(digits_model):
    out, _, _ = digits_model
    arrays = np.load(out)
    assert {name: arrays[name].shape for name in ("W1", "b1", "W2", "b2")} == {
        "W1": (64, 50),
        "b1": (50,),
        "W2": (50, 10),
        "b2": (10,),
    }
    assert arrays["activations"].tolist() == ["sigmoid", "softmax"]
    assert arrays["classes"].tolist() == list(range(10))
    assert arrays["feature_names"].tolist() == [f"pixel{k}" for k in range(64)]
    model = npz_source.read(out)  # no --activations needed
    assert model.classes == tuple(range(10))
    assert [layer.activation.name for layer in model.network.layers] == [
        "sigmoid",
        "softmax",
    ]


@pytest.mark.engine
def test_xlnn_export_of_the_trained_model_verifies(digits_model, soffice, capsys):
    out, _, _ = digits_model
    workbook = out.with_suffix(".xlsx")
    code = cli.main(["export", str(out), "--out", str(workbook), "--rows", "20"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "verified by LibreOffice" in printed and "predicted labels agree" in printed
    assert "FAILED" not in printed and workbook.exists()


# --- Small data --------------------------------------------------------------------


@pytest.fixture
def blobs(tmp_path):
    """Two features, three text classes around three centres."""
    rng = np.random.default_rng(0)
    centres = {"cat": (0.2, 0.2), "dog": (0.8, 0.2), "eel": (0.5, 0.8)}
    rows = [
        [*(np.array(centre) + 0.05 * rng.standard_normal(2)).round(4).tolist(), name]
        for name, centre in centres.items()
        for _ in range(20)
    ]
    return write_csv(tmp_path / "blobs.csv", ["x", "y", "kind"], rows)


def train(*args) -> int:
    return cli.main(["train", *map(str, args)])


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_text_labels_become_classes_in_sorted_order(
    blobs, tmp_path, capsys, activation
):
    out = tmp_path / "blobs.npz"
    code = train(blobs, "--label-column", "kind", "--out", out, "--hidden", 8,
                 "--activation", activation, "--epochs", 60,
                 "--batch-size", 8)  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert "outputs by class: 0 cat, 1 dog, 2 eel" in printed
    arrays = np.load(out)
    assert arrays["classes"].tolist() == ["cat", "dog", "eel"]
    assert arrays["feature_names"].tolist() == ["x", "y"]
    assert arrays["activations"].tolist() == [activation, "softmax"]
    assert "held-out accuracy 100.0% of 12 rows" in printed


def test_the_same_seed_gives_the_same_model(blobs, tmp_path, capsys):
    runs = []
    for name in ("a.npz", "b.npz"):
        out = tmp_path / name
        assert train(blobs, "--label-column", "kind", "--out", out, "--seed", 7) == 0
        runs.append(np.load(out))
    for name in ("W1", "b1", "W2", "b2"):
        np.testing.assert_array_equal(runs[0][name], runs[1][name])


def test_numeric_labels_are_classes_by_value(tmp_path):
    rows = [[k / 10, label] for k, label in enumerate(["3", "7", "3.0", "7", "10"] * 2)]
    data = train_command.read_csv(write_csv(tmp_path / "n.csv", ["x", "y"], rows), "y")
    assert data.classes == (3.0, 7.0, 10.0)
    assert data.t.tolist() == [0, 1, 0, 1, 2] * 2


# --- No-clobber -----------------------------------------------------------------------


def one_error_line(capsys) -> str:
    """The one error line on stderr, the last; any before it are progress."""
    captured = capsys.readouterr()
    *progress, last = captured.err.strip().splitlines()
    assert last.startswith("xlnn train: "), captured.err
    assert all(line.startswith("[") for line in progress), captured.err
    return last


def test_an_existing_model_is_not_replaced_without_force(blobs, tmp_path, capsys):
    out = tmp_path / "m.npz"
    out.write_bytes(b"mine")
    assert train(blobs, "--label-column", "kind", "--out", out) == 2
    assert "already exists; pass --force" in one_error_line(capsys)
    assert out.read_bytes() == b"mine"
    assert train(blobs, "--label-column", "kind", "--out", out, "--force") == 0
    assert np.load(out)["W1"].shape == (2, 50)


def test_force_never_replaces_the_data(blobs, tmp_path, capsys):
    link = tmp_path / "data.npz"
    link.symlink_to(blobs)
    before = blobs.read_bytes()
    assert train(blobs, "--label-column", "kind", "--out", link, "--force") == 2
    assert "never replaces it" in one_error_line(capsys)
    assert blobs.read_bytes() == before


# --- Bad input: one line, exit 2, nothing written ------------------------------------


@pytest.mark.parametrize(
    "content, words",
    [
        ("a,b,label\n1,2,x\n3,4,y\n", "training needs at least 5"),
        ("a,b,kind\n" + "1,2,x\n" * 6, "no column named 'label'"),
        ("1,2,x\n" * 6, "must be a header"),
        ("a,b,label\n" + "1,2,x\n" * 6, "a classifier needs at least two classes"),
        (
            "a,b,label\n" + "1,2,x\n1,two,y\n" * 3,
            "line 3, column 2: 'two' is not a number",
        ),
        (
            "a,b,label\n" + "1,2,x\n1,nan,y\n" * 3,
            "line 3, column 2: 'nan' is not a finite",
        ),
        ("a,b,label\n" + "1,2,x\n1,2\n" * 3, "line 3: 2 cells, the header has 3"),
        ("a,b,label\n" + "1,2,x\n1,2,\n" * 3, "line 3, column 3: the label is empty"),
        ("label\n" + "x\ny\n" * 3, "no column besides 'label'"),
        ("a,label,label\n" + "1,x,y\n" * 6, "the header has twice named 'label'"),
        ("", "no rows of numbers"),
    ],
)
def test_a_bad_csv_is_one_line_and_exit_2(tmp_path, capsys, content, words):
    data = tmp_path / "bad.csv"
    data.write_text(content, encoding="utf-8")
    out = tmp_path / "m.npz"
    assert train(data, "--label-column", "label", "--out", out) == 2
    assert words in one_error_line(capsys)
    assert not out.exists()


def test_a_csv_that_is_not_utf8_is_refused(tmp_path, capsys):
    data = tmp_path / "latin1.csv"
    data.write_bytes("a,label\n1,caf\u00e9\n".encode("latin-1"))
    assert train(data, "--label-column", "label", "--out", tmp_path / "m.npz") == 2
    assert "not UTF-8" in one_error_line(capsys)


@pytest.mark.parametrize(
    "options, words",
    [
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--hidden", "0"], "--hidden must be at least 1"),
        (["--batch-size", "-3"], "--batch-size must be at least 1"),
        (["--learning-rate", "0"], "--learning-rate must be a positive number"),
        (["--learning-rate", "nan"], "--learning-rate must be a positive number"),
        (["--learning-rate", "1e308"], "diverged in epoch 1"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(blobs, tmp_path, capsys, options, words):
    out = tmp_path / "m.npz"
    assert train(blobs, "--label-column", "kind", "--out", out, *options) == 2
    assert words in one_error_line(capsys)
    assert not out.exists()


@pytest.mark.parametrize(
    "name, words",
    [
        ("m.xlsx", "must end in .npz"),
        ("missing/m.npz", "no such folder"),
        ("folder.npz", "is a folder"),
    ],
)
def test_a_bad_out_is_refused_before_training(blobs, tmp_path, capsys, name, words):
    (tmp_path / "folder.npz").mkdir()
    assert train(blobs, "--label-column", "kind", "--out", tmp_path / name) == 2
    line = one_error_line(capsys)
    assert words in line
    assert "epoch" not in capsys.readouterr().err


def test_a_missing_csv_is_one_line(tmp_path, capsys):
    missing = tmp_path / "none.csv"
    assert train(missing, "--label-column", "label", "--out", tmp_path / "m.npz") == 2
    assert "none.csv" in one_error_line(capsys)


# --- The CSV reader's label column ---------------------------------------------------


def test_sample_inputs_keeps_the_label_column_apart(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("a,label,b\n1, cat ,2\n3,dog,4\n", encoding="utf-8")
    read = sample_inputs.read(path, label_column="label")
    np.testing.assert_array_equal(read.rows, [[1, 2], [3, 4]])
    assert read.feature_names == ("a", "b")
    assert read.labels == ("cat", "dog")


def test_sample_inputs_label_column_needs_a_header(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("1,cat,2\n", encoding="utf-8")
    with pytest.raises(ExportError, match="line 1: the first line must be a header"):
        sample_inputs.read(path, label_column="label")
