"""Measure ``xlnn export`` of a 784-50-100-10 network as the batch grows.

Side by side in one run, on the model of ``bench_export.py`` (random
weights, fixed seed, 28x28 canvas):

1. Writing. xlnn's writer (:func:`xlnn.sheets.xlsx_writer.to_bytes`, openpyxl for
   the small parts and :mod:`xlnn.sheets.row_stream` for the batch rows) against
   XlsxWriter in ``constant_memory`` mode writing the same cells of the same
   layout (texts, inputs, each row's formula, defined names, one format per
   kind of cell): time and size, ratio xlnn / XlsxWriter, target <= 1.2.
2. LibreOffice on both files: one headless conversion each, so that a file
   that LibreOffice reads more slowly shows.
3. Reading back: the checked blocks with :func:`xlnn.engines.xlsx_values.read_blocks`
   against every cell with openpyxl (read-only), and the comparison.
4. The whole export with verification (write, LibreOffice, read back, compare).
5. Peak memory of ``xlnn export --no-verify`` in a process of its own
   (``ru_maxrss`` from ``os.wait4``), at several batch sizes: 10 rows
   filled, and with ``--labelled`` every row filled from a CSV (random
   pixels 0..1 with 3 decimals, a header) with ``--sample-labels``.

    python benchmarks/bench_export_scale.py                   # 1,000 rows
    python benchmarks/bench_export_scale.py --rows 1000 10000 --filled all
    python benchmarks/bench_export_scale.py --rows --labelled  # memory only
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xlsxwriter
from bench_export import mnist_sized_model  # the same folder

from xlnn import export
from xlnn.engines.libreoffice import LibreOffice, find_soffice, read_values
from xlnn.engines.xlsx_values import read_blocks
from xlnn.sheets import styles, xlsx_writer
from xlnn.sheets.layout import BookLayout


def _xlsxwriter_formats(book) -> dict:
    formats = {}

    def get(kind: str, number_format: str = "General"):
        key = (kind, number_format)
        if key not in formats:
            spec = {"num_format": number_format}
            if kind in styles.FILLS:
                spec.update(
                    bg_color="#" + styles.FILLS[kind],
                    border=1,
                    border_color="#" + styles.EDGE,
                )
            font = styles.FONTS.get(kind)
            if font:
                spec.update(
                    font_size=font["size"],
                    bold=font["bold"],
                    italic=font["italic"],
                    font_color="#" + font["color"],
                )
            formats[key] = book.add_format(spec)
        return formats[key]

    return get


def _sheet_rows(sheet):
    """(row, [(col, kind, payload)]) in row order, as constant_memory needs.

    Kept lean, so that the adapter costs XlsxWriter little: an input row is
    one ``write_row``, and cells go in any column order (XlsxWriter orders
    the row it holds).
    """
    sparse: dict[int, list] = {}
    for text in sheet.texts:
        sparse.setdefault(text.block.row, []).append((text.block.col, "text", text))
    for inputs in sheet.inputs:
        for i, row in enumerate(inputs.values.tolist()):
            cell = (inputs.block.col, "row", (row, inputs.number_format))
            sparse.setdefault(inputs.block.row + i, []).append(cell)
    for formula in sheet.formulas:
        sparse.setdefault(formula.block.row, []).append(
            (formula.block.col, "formula", formula)
        )
    rows = set(sparse)
    for block in (*sheet.row_inputs, *sheet.row_formulas):
        rows.update(range(block.block.row, block.block.last_row + 1))
    for row in sorted(rows):
        cells = sparse.get(row, [])
        for inputs in sheet.row_inputs:
            i = row - inputs.block.row
            values = inputs.row_values(i) if 0 <= i < inputs.block.rows else None
            if values:
                cells.append((inputs.block.col, "row", (values, inputs.number_format)))
        for block in sheet.row_formulas:
            if block.block.row <= row <= block.block.last_row:
                cells.append(
                    (block.block.col, "formula", block.row(row - block.block.row))
                )
        yield row, cells


def write_with_xlsxwriter(layout: BookLayout, path: Path) -> None:
    """The cells of ``layout`` written by XlsxWriter, constant_memory mode."""
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    get = _xlsxwriter_formats(book)
    for sheet in layout.sheets:
        worksheet = book.add_worksheet(sheet.title)
        for row, cells in _sheet_rows(sheet):
            for col, kind, payload in cells:
                r, c = row - 1, col - 1
                if kind == "text":
                    worksheet.write_string(r, c, payload.text, get(payload.style))
                elif kind == "row":
                    worksheet.write_row(r, c, payload[0], get("input", payload[1]))
                else:
                    style = get(
                        "output" if payload.output else "computed",
                        payload.number_format,
                    )
                    block = payload.block
                    if block.shape == (1, 1):
                        worksheet.write_formula(r, c, payload.body, style, "")
                    else:
                        worksheet.write_array_formula(
                            r,
                            c,
                            block.last_row - 1,
                            block.last_col - 1,
                            "{=" + payload.body + "}",
                            style,
                            "",
                        )
    for name, block in layout.names.items():
        book.define_name(name, "=" + block.qualified_ref)
    book.close()


def timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - started, result


def peak_memory(rows: int, labelled: bool = False) -> float:
    """Peak MB of ``xlnn export --no-verify`` with ``rows`` batch rows.

    10 rows are filled, or with ``labelled`` every row, from a CSV, each
    with its label (``--sample-inputs``, ``--sample-labels``).
    """
    launcher = (
        "import os, sys\n"
        "argv = [sys.executable, *sys.argv[1:]]\n"
        "pid = os.spawnv(os.P_NOWAIT, sys.executable, argv)\n"
        "_, status, usage = os.wait4(pid, 0)\n"
        "print(usage.ru_maxrss)\n"
    )
    with tempfile.TemporaryDirectory() as folder:
        model = Path(folder) / "m.npz"
        np.savez(model, **_weights())
        command = [
            sys.executable,
            "-c",
            launcher,
            "-m",
            "xlnn",
            "export",
            str(model),
            "--activations",
            "sigmoid,sigmoid,softmax",
            "--image",
            "28x28",
            "--rows",
            str(rows),
            "--no-verify",
            "--out",
            str(Path(folder) / "m.xlsx"),
        ]
        if labelled:
            command += _samples(Path(folder), rows)
        out = subprocess.run(command, capture_output=True, text=True, check=True)
        return int(out.stdout.split()[-1]) / 1024


def _samples(folder: Path, rows: int) -> list[str]:
    """A CSV of ``rows`` random 28x28 images and their labels, as arguments."""
    rng = np.random.default_rng(rows)
    csv, labels = folder / "x.csv", folder / "t.txt"
    with open(csv, "w") as stream:
        stream.write(",".join(f"x{k}" for k in range(784)) + "\n")
        for start in range(0, rows, 1000):  # a chunk at a time: no 188 MB here
            pixels = rng.integers(0, 1001, size=(min(1000, rows - start), 784))
            np.savetxt(stream, pixels / 1000, fmt="%.3f", delimiter=",")
    np.savetxt(labels, rng.integers(0, 10, size=rows), fmt="%d")
    return ["--sample-inputs", str(csv), "--sample-labels", str(labels)]


def _weights() -> dict:
    model = mnist_sized_model()
    arrays = {}
    for k, layer in enumerate(model.network.layers, start=1):
        arrays[f"W{k}"], arrays[f"b{k}"] = layer.weights, layer.bias
    return arrays


def measure(rows: int, filled: int, folder: Path, lines: list[str]) -> None:
    model = mnist_sized_model()
    inputs = export.random_inputs(model, filled, image=(28, 28))
    layout_s, book = timed(
        lambda: export.layout(
            model,
            flavor=export.FLAVORS["plain"],
            inputs=inputs,
            rows=rows,
            image=(28, 28),
        )
    )
    ours, theirs = folder / f"xlnn_{rows}.xlsx", folder / f"xlsxwriter_{rows}.xlsx"
    ours_s, _ = timed(lambda: ours.write_bytes(xlsx_writer.to_bytes(book)))
    theirs_s, _ = timed(write_with_xlsxwriter, book, theirs)
    name = f"{rows:,} rows, {filled:,} filled"
    mb = ours.stat().st_size / 1e6, theirs.stat().st_size / 1e6
    lines.append(
        f"| write, {name} | {ours_s:.2f} s | {theirs_s:.2f} s | "
        f"{ours_s / theirs_s:.2f} | layout {layout_s:.2f} s |"
    )
    lines.append(
        f"| file size, {name} | {mb[0]:.1f} MB | {mb[1]:.1f} MB | "
        f"{mb[0] / mb[1]:.2f} | |"
    )
    print(lines[-2], lines[-1], sep="\n", flush=True)
    if find_soffice() is None:
        return
    office = LibreOffice(timeout=1800)
    ours_lo, converted = timed(office.convert, [ours], folder / "lo_ours")
    theirs_lo, _ = timed(office.convert, [theirs], folder / "lo_theirs")
    lines.append(
        f"| LibreOffice, {name} | {ours_lo:.1f} s | {theirs_lo:.1f} s | "
        f"{ours_lo / theirs_lo:.2f} | |"
    )
    blocks = [check.block for check in book.checks]
    read_s, values = timed(read_blocks, converted[ours], blocks)
    compare_s, agreement = timed(export.compare, book.checks, values, "LibreOffice")
    full_s, _ = timed(read_values, converted[ours]) if rows <= 1000 else (0.0, None)
    shown = f"{full_s:.1f} s (openpyxl, every cell)" if full_s else "-"
    lines.append(
        f"| read back, {name} | {read_s:.1f} s | {shown} | | "
        f"compare {compare_s:.1f} s |"
    )
    print(*lines[-2:], agreement.summary()[:160], sep="\n", flush=True)
    total_s, result = timed(
        lambda: export.to_workbook(
            model,
            folder / f"verified_{rows}.xlsx",
            rows=rows,
            image=(28, 28),
            sample_inputs=inputs,
            force=True,
            timeout=1800,
        )
    )
    lines.append(
        f"| `to_workbook` with verification, {name} | {total_s:.1f} s | | | "
        f"{'verified' if not result.failed else 'FAILED'} |"
    )
    print(lines[-1], flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[1000])
    parser.add_argument("--filled", default="10", help="filled rows, or 'all'")
    parser.add_argument("--memory", type=int, nargs="*", default=[1000, 10000, 30000])
    parser.add_argument(
        "--labelled",
        action="store_true",
        help="measure the peak memory with every row filled and labelled",
    )
    args = parser.parse_args()
    print(
        f"{platform.node()}: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, xlsxwriter {xlsxwriter.__version__}"
    )
    lines = [
        "| measured | xlnn | XlsxWriter (constant_memory) | ratio | |",
        "|---|---:|---:|---:|---|",
    ]
    with tempfile.TemporaryDirectory(prefix="xlnn-bench-scale-") as scratch:
        for rows in args.rows:
            filled = rows if args.filled == "all" else min(int(args.filled), rows)
            measure(rows, filled, Path(scratch), lines)
    filled = "every row filled and labelled" if args.labelled else "10 filled"
    for rows in args.memory:
        lines.append(
            f"| peak memory, `xlnn export --no-verify`, {rows:,} rows, {filled} | "
            f"{peak_memory(rows, args.labelled):.0f} MB | | | target <= 400 MB |"
        )
        print(lines[-1], flush=True)
    print("\n".join(["", *lines]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
