"""xlnn export's --sample-inputs: --rows bounds the read, a header names the
features, and an image model is drawn as an image without --image."""

import numpy as np
import openpyxl
import pytest

from xlnn import cli, export
from xlnn.model import Model
from xlnn.network import Dense, Network


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
