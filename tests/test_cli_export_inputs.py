"""xlnn export's --sample-inputs: --rows bounds the read, a header names the
features, and an image model is drawn as an image without --image."""

import datetime as dt

import numpy as np
import openpyxl
import pytest

from xlnn import cli, export
from xlnn.model import Model
from xlnn.network import Dense, Network

FIXED = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


@pytest.fixture
def net(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "net.npz"
    np.savez(path, W1=rng.normal(size=(3, 4)), b1=np.zeros(4),
             activations=np.array(["softmax"]))  # fmt: skip
    return path


def _headers(path, sheet="predict"):
    book = openpyxl.load_workbook(path)
    return [c.value for row in book[sheet].iter_rows() for c in row if c.value]


def test_a_header_names_the_features_and_rows_beyond_rows_are_not_read(
    net, tmp_path, capsys
):
    csv = tmp_path / "x.csv"
    lines = ["height,width,=depth"] + [f"{k},{k + 1},{k + 2}" for k in range(50)]
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "net.xlsx"
    code = cli.main(["export", str(net), "--out", str(out), "--rows", "5",
                     "--sample-inputs", str(csv), "--no-verify"])  # fmt: skip
    assert code == 0
    assert "only its first 5 rows are used" in capsys.readouterr().err
    shown = _headers(out)
    assert {"height", "width", "=depth"} <= set(shown)
    batch = openpyxl.load_workbook(out)["batch"]
    numbers = [c.value for row in batch.iter_rows() for c in row
               if c.data_type == "n" and c.value is not None]  # fmt: skip
    # The 5 rows' 15 inputs, not 150: the file's 6th row onwards was not read.
    assert sorted(v for v in numbers if v >= 4) == sorted(
        v for k in range(5) for v in (k, k + 1, k + 2) if v >= 4
    )


def test_a_mixed_first_line_is_an_error_naming_the_cell(net, tmp_path, capsys):
    csv = tmp_path / "x.csv"
    csv.write_text("1,two,3\n4,5,6\n", encoding="utf-8")
    code = cli.main(["export", str(net), "--out", str(tmp_path / "n.xlsx"),
                     "--sample-inputs", str(csv), "--no-verify"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "two" in err
    assert not (tmp_path / "n.xlsx").exists()


@pytest.mark.parametrize(
    ("shape", "image"),
    [((1, 4, 5), (4, 5)), ((4, 5), (4, 5)), ((4, 5, 1), (4, 5)),
     ((3, 4, 5), None), ((20,), None), (None, None)],
)  # fmt: skip
def test_an_image_input_shape_suggests_the_canvas(shape, image):
    layer = Dense(np.ones((20, 2)), np.zeros(2), "softmax")
    model = Model(Network([layer]), input_shape=shape)
    assert export.image_of(model) == image


def _rows_csv(tmp_path, count: int, last: str = "") -> tuple:
    rng = np.random.default_rng(count)
    values = np.round(rng.normal(size=(count, 3)), 3)
    csv = tmp_path / "x.csv"
    lines = ["a,b,c", *(",".join(map(repr, row)) for row in values.tolist())]
    csv.write_text("\n".join([*lines, *([last] if last else [])]) + "\n")
    return csv, values


def test_a_bad_last_line_writes_nothing(net, tmp_path, capsys):
    # The rows stream to the sheet from disk, but every line is read and
    # checked first: a bad line at the end is the same one-line error.
    csv, _ = _rows_csv(tmp_path, 700, last="1,2,oops")
    out = tmp_path / "n.xlsx"
    code = cli.main(["export", str(net), "--out", str(out), "--rows", "800",
                     "--sample-inputs", str(csv), "--no-verify"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "line 702, column 3: 'oops' is not a number" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.npz", "x.csv"]


def test_rows_kept_on_disk_give_the_same_workbook_and_checks(net, tmp_path):
    from xlnn.export import sample_inputs

    csv, values = _rows_csv(tmp_path, 600)  # more than one chunk of rows
    spilled = sample_inputs.read(csv, 3, spill=True).rows
    labels = [int(k) for k in np.random.default_rng(1).integers(0, 4, 600)]
    results = {}
    for name, rows in (("array", values), ("spilled", spilled)):
        results[name] = export.to_workbook(
            net, tmp_path / f"{name}.xlsx", rows=650, sample_inputs=rows,
            sample_labels=labels, verify=False, exported_at=FIXED,
        )  # fmt: skip
    assert (tmp_path / "array.xlsx").read_bytes() == (
        tmp_path / "spilled.xlsx"
    ).read_bytes()
    array, spill = (results[n].workbooks[0] for n in ("array", "spilled"))
    assert array.line().split("  ", 1)[1] == spill.line().split("  ", 1)[1]
    assert len(array.checks) == len(spill.checks)
    for ours, theirs in zip(array.checks, spill.checks, strict=True):
        assert (ours.block, ours.name) == (theirs.block, theirs.name)
        for what in ("expected", "scale", "framework"):
            a, b = getattr(ours, what), getattr(theirs, what)
            assert (a is None) == (b is None), (ours.name, what)
            if a is not None:
                assert a.shape == b.shape and (a == b).all(), (ours.name, what)
