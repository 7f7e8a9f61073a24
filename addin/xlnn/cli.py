"""The ``xlnn`` command: the parser of every subcommand, with its help and exit
codes, and what runs each (``xlnn --help`` lists them)."""

from __future__ import annotations

import argparse
import signal
import sys
import textwrap
import threading
import time
from pathlib import Path

import xlnn
from xlnn.errors import UserError, stopped_by
from xlnn.excel import CLASSIC_EXCEL, CLASSIC_EXCEL_WHY

#: Exit codes of every command: done; a cell or output differs (build, export);
#: not (everything) written, or a user's mistake, as argparse's own 2.
EXIT_OK, EXIT_FAILED, EXIT_NOT_WRITTEN = 0, 1, 2
#: A command line argparse cannot run (also no command at all): argparse's code.
EXIT_USAGE = 2

DESCRIPTION = """\
Neural-network building blocks for Excel: activation functions for xlwings,
and sample workbooks of a small network's forward pass."""

EXAMPLES = """\
examples:
  xlnn functions                  list the Excel functions
  xlnn build --out my-workbooks   write and verify the sample workbooks
  xlnn build --help               what build does, its options and exit codes
  xlnn export model.onnx          your trained model as a verified workbook
  xlnn train data.csv --label-column label --out model.npz
                                  train the book's two-layer network
  xlnn serve                      xlwings Server for a team (the server extra)
  python -m xlnn --version        xlnn's version and those of numpy, xlwings
                                  and openpyxl"""

FUNCTIONS_DESCRIPTION = """\
List every Excel function xlnn registers through xlwings: its signature
(optional arguments in brackets) and one line of help."""

FUNCTIONS_EXAMPLES = """\
examples:
  xlnn functions
  xlnn functions | grep SOFTMAX"""

BUILD_DESCRIPTION = """\
Write the four sample workbooks, each in two flavors (plain built-in formulas,
and the add-in's functions), into a folder; then verify every one:
LibreOffice recalculates the plain flavor, the formulas package the add-in
flavor, and every computed cell must equal NumPy (the forward pass, and for
the training sample xlnn.learning's gradient descent).

No file is overwritten without --force, not even one that appears while the
build runs. All eight files are written before verification starts, so a
missing or failing engine never costs a workbook: its files are reported as
not verified, with the reason and how to install the engine.
Progress (each file, each engine, elapsed time) goes to stderr.

exit codes:
  0    all written; each verified, or not verified (engine missing or failed)
  1    a cell differs from NumPy; with --strict, also a file not verified
  2    not everything was written: the folder or a file is in the way, or a
       disk problem (the message names the path); or a bad option
  130  interrupted by Ctrl-C, 143 by SIGTERM (LibreOffice is stopped)"""

BUILD_EXAMPLES = """\
examples:
  xlnn build --out my-workbooks                  write and verify
  xlnn build --out workbooks --force             rebuild the committed copies
  xlnn build --out my-workbooks --no-verify      only write
  xlnn build --out ci-out --strict --timeout 600 unverified files fail (CI)"""


EXPORT_DESCRIPTION = """\
Write a trained model (ONNX, .npz of W1, b1, W2, b2 ..., the book's
sample_weight.pkl) as a workbook that runs it: a predict sheet (one input
row, or an image grid with --image), a batch sheet to paste rows into, the
named weights and an about sheet. Then recalculate it (LibreOffice for plain,
formulas for addin) on the --sample-inputs rows, or on seeded random inputs,
and compare every cell with a float64 evaluation of the model (1e-9), every
output also with the framework's own inference at the framework's precision
(1e-5 for float32), each number judged against the size of the terms it
sums, and every predicted label with both.

No file is overwritten without --force, and --force replaces only a regular
file, never the model; a file is complete or absent. Progress goes to stderr.

exit codes:
  0    written; verified, or not verified (engine missing or failed)
  1    an output or label differs from the framework; with --strict, also
       a file not verified
  2    nothing written: the model cannot be read (unsupported op, refused
       pickle), a file is in the way, --out does not end in .xlsx, or a bad
       option
  130  interrupted by Ctrl-C, 143 by SIGTERM"""

EXPORT_EXAMPLES = """\
examples:
  xlnn export model.onnx                              model.xlsx, plain formulas
  xlnn export weights.npz --activations relu,softmax  activations not in the file
  xlnn export sample_weight.pkl --image 28x28 --activations sigmoid,sigmoid,softmax
  xlnn export model.onnx --flavor both --rows 1000 --sample-inputs test.csv
  xlnn export model.onnx --sample-inputs test.csv --sample-labels test_labels.txt"""


def _filled(paragraph: str) -> str:
    """``paragraph`` wrapped as wide as the other help texts (for its f-strings)."""
    return textwrap.fill(" ".join(paragraph.split()), width=76)


INSERT_DESCRIPTION = (
    _filled(f"""
Write a sample (its sheets, formulas, names and formats) into the active
workbook of classic Excel, through xlwings' COM Book, with xlnn's functions
registered there (xlwings' "Import Functions"), so that its formulas bind.
Needs {CLASSIC_EXCEL} ({CLASSIC_EXCEL_WHY}). In xlwings Lite and xlwings
Server, run the scripts insert_activations, insert_three_layer_network and
insert_digits instead.
""")
    + """

exit codes:
  0    written
  2    no Excel here, or the workbook already has one of the sample's sheets
       or names (nothing was written); or a bad option"""
)

INSERT_EXAMPLES = """\
examples:
  xlnn insert three_layer_network          legacy array formulas, any Excel
  xlnn insert digits --spill               one spilling formula per block (365)"""

LITE_DESCRIPTION = """\
Write xlnn's Excel functions and scripts as one Python file for xlwings Lite:
paste it into Lite's main.py and every function works with the same names,
help and results, and the scripts (insert_activations,
insert_three_layer_network, insert_digits, bind_formulas) run from Lite's
pane, with NumPy and xlwings only (the file does not import xlnn).
Without --out the file goes to stdout. No file is overwritten without --force.

exit codes:
  0    written
  2    not written: the file is in the way or a disk problem (the message
       names the path); or a bad option"""

LITE_EXAMPLES = """\
examples:
  xlnn lite --out main.py          write the file to paste into main.py
  xlnn lite --out main.py --force  replace an older one
  xlnn lite | less                 read it first"""


TRAIN_DESCRIPTION = """\
Train the book's two-layer network (chapter 5: Affine, sigmoid or ReLU,
Affine, softmax with cross-entropy) on a CSV by backpropagation and minibatch
gradient descent, and write its weights as an .npz that `xlnn export` turns
into a workbook. The CSV: UTF-8, a header naming the columns, one sample per
row; every column but --label-column holds finite numbers (scale them to
about 0..1 first), the label column any class names. A fifth of the rows,
picked by --seed, is held out; each epoch's loss and accuracy on both parts
go to stderr.

The .npz holds W1, b1, W2, b2, the activations (for xlnn export), the class
of each output (classes, in sorted order: output k is the k-th class) and
the feature_names. No file is overwritten without --force.

exit codes:
  0    trained and written
  2    nothing written: the CSV cannot be read (the message names the line and
       column), too few rows or classes, training diverged, --out is in the
       way, or a bad option
  130  interrupted by Ctrl-C, 143 by SIGTERM"""

TRAIN_EXAMPLES = """\
examples:
  xlnn train digits.csv --label-column label --out digits.npz
  xlnn train iris.csv --label-column species --hidden 10 --activation relu \\
             --epochs 200 --out iris.npz
  xlnn export digits.npz                          then the workbook that runs it"""


def _add_train(commands, raw) -> None:
    train = commands.add_parser(
        "train",
        help="train the book's two-layer network on a CSV; write an .npz",
        description=TRAIN_DESCRIPTION,
        epilog=TRAIN_EXAMPLES,
        formatter_class=raw,
    )
    train.add_argument("data", type=Path, metavar="DATA.csv", help="the CSV")
    train.add_argument(
        "--label-column", required=True, metavar="NAME", help="the header's name of "
        "the column of labels (classes)",
    )  # fmt: skip
    train.add_argument(
        "--out", type=Path, required=True, metavar="MODEL.npz",
        help="the weights to write, a name ending in .npz",
    )  # fmt: skip
    train.add_argument(
        "--hidden", type=int, default=50, metavar="N", help="hidden units (default 50)"
    )
    train.add_argument(
        "--activation", choices=["sigmoid", "relu"], default="sigmoid",
        help="the hidden layer's activation (default sigmoid)",
    )  # fmt: skip
    train.add_argument(
        "--epochs", type=int, default=20, metavar="N", help="passes over the "
        "training rows (default 20)",
    )  # fmt: skip
    train.add_argument(
        "--learning-rate", type=float, default=0.5, metavar="R",
        help="step size of gradient descent (default 0.5)",
    )  # fmt: skip
    train.add_argument(
        "--batch-size", type=int, default=32, metavar="B",
        help="rows per gradient step (default 32)",
    )  # fmt: skip
    train.add_argument(
        "--seed", type=int, default=0, metavar="S",
        help="seeds the held-out fifth, the starting weights and the order of "
        "the rows (default 0)",
    )  # fmt: skip
    train.add_argument(
        "--force", action="store_true", help="overwrite --out if it is a regular file"
    )


def run_train(args) -> int:
    """Read the CSV, hold out a fifth, train, write the .npz; report on stderr."""
    from xlnn.training import command as training

    _check_train_options(args)
    out = training.check_target(args.out, force=args.force, protect=[args.data])
    progress = _progress_to_stderr()
    data = training.read_csv(args.data, args.label_column, progress)
    progress(
        f"{args.data}: {len(data.x)} rows, {data.x.shape[1]} features, "
        f"{len(data.classes)} classes"
    )
    result = training.train_network(
        data,
        hidden=args.hidden,
        activation=args.activation,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=progress,
    )
    training.write_model(out, result, data, force=args.force, protect=[args.data])
    print(result.summary(out, data.classes))
    return EXIT_OK


def _check_train_options(args) -> None:
    import math

    for option, value in (
        ("--hidden", args.hidden),
        ("--epochs", args.epochs),
        ("--batch-size", args.batch_size),
    ):
        if value < 1:
            raise UserError(f"{option} must be at least 1, not {value}")
    rate = args.learning_rate
    if not (math.isfinite(rate) and rate > 0):
        raise UserError(f"--learning-rate must be a positive number, not {rate}")


def run_lite(args) -> int:
    from xlnn.excel import lite

    text = lite.paste_file()
    if args.out is None:
        sys.stdout.write(text)
        return EXIT_OK
    lite.write(args.out, text, force=args.force)
    print(f"wrote {args.out}: paste it into xlwings Lite's main.py")
    return EXIT_OK


def list_functions(out=None) -> None:
    """Print each Excel function with its signature and one line of help."""
    out = sys.stdout if out is None else out  # sys.stdout as main() set it
    from xlnn import udfs

    rows = [
        (udfs.excel_signature(f), f.__doc__.strip().splitlines()[0])
        for f in udfs.FUNCTIONS
    ]
    width = max(len(signature) for signature, _ in rows)
    for signature, summary in rows:
        print(f"{signature:<{width}}  {summary}", file=out)
    print(
        f"\nIn classic xlwings ({CLASSIC_EXCEL}, VBA wrappers) STEP is "
        "STEP_FUNCTION: Step is a VBA keyword.",
        file=out,
    )


def version_text() -> str:
    """``xlnn 0.1.0``, then the version of each library xlnn builds on."""
    from importlib.metadata import PackageNotFoundError, version

    lines = [f"xlnn {xlnn.__version__}"]
    for package in ("numpy", "xlwings", "openpyxl"):
        try:
            lines.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            lines.append(f"{package} (not installed)")
    return "\n".join(lines)


class _PrintVersion(argparse.Action):
    """``--version``: argparse's own action, but the text is read from package
    metadata only when asked for, not at every parse (importing
    importlib.metadata and reading four packages' metadata costs each command
    a few milliseconds, and the tests build this parser hundreds of times)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(
            option_strings,
            dest=argparse.SUPPRESS,
            default=argparse.SUPPRESS,
            nargs=0,
            help="show program's version number and exit",
        )

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()


def _seconds(text: str) -> float:
    """A positive number of seconds, for ``--timeout``."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")
    return seconds


BIND_DESCRIPTION = (
    _filled(f"""
Enter again every formula of the active Excel workbook that calls an xlnn
function, so that cells showing #NAME? (the file was opened before the
functions were loaded) bind to them. Classic xlwings, in {CLASSIC_EXCEL}
({CLASSIC_EXCEL_WHY}): import the functions first (xlwings tab, UDF Modules
xlnn.udfs, Import Functions). STEP is written STEP_FUNCTION, as classic
xlwings names it; other formulas are left alone. In xlwings Lite and xlwings
Server, run the script bind_formulas.
""")
    + """

exit codes:
  0    done (it says how many formulas it entered again)
  2    no Excel or no open workbook here (nothing was written)"""
)

BIND_EXAMPLES = """\
examples:
  xlnn bind           legacy array formulas stay legacy arrays
  xlnn bind --spill   Excel 365: each array becomes one spilling formula"""


def build_parser() -> argparse.ArgumentParser:
    from xlnn.engines.libreoffice import DEFAULT_TIMEOUT

    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="xlnn", description=DESCRIPTION, epilog=EXAMPLES, formatter_class=raw
    )
    parser.add_argument("--version", action=_PrintVersion)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "functions",
        help="list the Excel functions",
        description=FUNCTIONS_DESCRIPTION,
        epilog=FUNCTIONS_EXAMPLES,
        formatter_class=raw,
    )
    _add_build(commands, raw, DEFAULT_TIMEOUT)
    _add_export(commands, raw, DEFAULT_TIMEOUT)
    _add_train(commands, raw)
    _add_insert(commands, raw)
    from xlnn.excel import serve

    serve.add_arguments(
        commands.add_parser(
            "serve",
            help="run xlwings Server with xlnn's functions and scripts",
            description=serve.DESCRIPTION,
            epilog=serve.EXAMPLES,
            formatter_class=raw,
        )
    )
    _add_lite(commands, raw)
    bind = commands.add_parser(
        "bind",
        help="enter the active workbook's xlnn formulas again (classic Excel)",
        description=BIND_DESCRIPTION,
        epilog=BIND_EXAMPLES,
        formatter_class=raw,
    )
    bind.add_argument("--spill", action="store_true", help="Excel 365: spill arrays")
    return parser


def _add_build(commands, raw, default_timeout: float) -> None:
    build = commands.add_parser(
        "build",
        help="write the sample workbooks (both flavors) and verify them",
        description=BUILD_DESCRIPTION,
        epilog=BUILD_EXAMPLES,
        formatter_class=raw,
    )
    build.add_argument(
        "--out",
        type=Path,
        default=Path("workbooks"),
        help="folder to write into, created if missing (default: ./workbooks)",
    )
    build.add_argument(
        "--force", action="store_true", help="overwrite workbooks that exist"
    )
    build.add_argument(
        "--no-verify",
        action="store_true",
        help="skip recalculating the workbooks with LibreOffice and formulas",
    )
    build.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when a file could not be verified (engine missing, crashed "
        "or timed out), not only when a cell differs",
    )
    build.add_argument(
        "--timeout",
        type=_seconds,
        default=default_timeout,
        metavar="SECONDS",
        help="how long LibreOffice may take for all plain files together "
        f"(default: {default_timeout:g})",
    )


class _SampleNames:
    """The samples' names, as ``insert``'s choices: read from
    :data:`xlnn.samples.SAMPLES` only when argparse shows or checks them,
    since importing the samples (NumPy, the layouts) would cost every other
    command, ``xlnn --version`` included, a quarter of a second."""

    def __iter__(self):
        from xlnn.samples import SAMPLES

        return iter(SAMPLES)

    def __contains__(self, name) -> bool:
        return name in set(self)


def _add_insert(commands, raw) -> None:
    insert = commands.add_parser(
        "insert",
        help="write a sample into the active workbook of classic Excel",
        description=INSERT_DESCRIPTION,
        epilog=INSERT_EXAMPLES,
        formatter_class=raw,
    )
    insert.add_argument(
        "sample", metavar="SAMPLE", choices=_SampleNames(), help="%(choices)s"
    )
    insert.add_argument(
        "--spill",
        action="store_true",
        help="one formula per block that spills (Excel 365), not array formulas",
    )


def _add_lite(commands, raw) -> None:
    lite = commands.add_parser(
        "lite",
        help="write the functions as one file to paste into xlwings Lite",
        description=LITE_DESCRIPTION,
        epilog=LITE_EXAMPLES,
        formatter_class=raw,
    )
    lite.add_argument(
        "--out", type=Path, metavar="FILE", help="file to write (default: stdout)"
    )
    lite.add_argument("--force", action="store_true", help="overwrite --out")


def _add_export(commands, raw, default_timeout: float) -> None:
    export = commands.add_parser(
        "export",
        help="write your trained model as a workbook that runs it, verified",
        description=EXPORT_DESCRIPTION,
        epilog=EXPORT_EXAMPLES,
        formatter_class=raw,
    )
    export.add_argument("model", type=Path, metavar="MODEL", help="the model file")
    export.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="the workbook, a name ending in .xlsx (any other is refused, exit 2; "
        "default: MODEL.xlsx)",
    )
    export.add_argument(
        "--flavor",
        choices=["plain", "addin", "both"],
        default="plain",
        help="plain built-in formulas (default), xlnn's functions, or both files "
        "(FILE_plain.xlsx, FILE_addin.xlsx)",
    )
    export.add_argument(
        "--rows", type=int, default=100, metavar="N", help="batch rows (default 100)"
    )
    export.add_argument(
        "--image", metavar="HxW", help="show the input as an image grid, e.g. 28x28"
    )
    export.add_argument(
        "--activations",
        metavar="a,b,c",
        help="one activation per layer, for files that do not name them",
    )
    export.add_argument(
        "--sample-inputs",
        type=Path,
        metavar="CSV",
        help="verification inputs, one sample per row, UTF-8, finite numbers; a "
        "first line with no number is a header of feature names; only the first "
        "--rows rows are read (default: seeded random inputs)",
    )
    export.add_argument(
        "--sample-labels",
        type=Path,
        metavar="TXT",
        help="a classifier's true label of each --sample-inputs row, one a line, "
        "UTF-8, each one of the model's classes; adds the accuracy (named "
        "accuracy) and a confusion matrix to the batch sheet",
    )
    export.add_argument(
        "--no-verify",
        action="store_true",
        help="only write: skip recalculating the workbook and comparing it",
    )
    export.add_argument(
        "--force",
        action="store_true",
        help="overwrite FILE if it is a regular file; never a device, a pipe or "
        "the model itself (also through a link)",
    )
    export.add_argument(
        "--strict", action="store_true", help="exit 1 when a file is not verified"
    )
    export.add_argument(
        "--timeout",
        type=_seconds,
        default=default_timeout,
        metavar="SECONDS",
        help=f"how long LibreOffice may take (default: {default_timeout:g})",
    )


def run_export(args) -> int:
    """Read the model, export it, report; a user's mistake is a UserError."""
    from xlnn import export

    try:
        image = export.parse_image(args.image) if args.image else None
    except ValueError as error:
        raise UserError(error) from None
    if args.rows < 1:
        raise UserError(f"--rows must be at least 1, not {args.rows}")
    if args.sample_labels and not args.sample_inputs:
        raise UserError("--sample-labels labels the rows of --sample-inputs: give both")
    out = args.out or Path(args.model.stem + ".xlsx")
    export.targets(out, args.flavor)  # a wrong name is refused before any reading
    activations = (
        [name.strip() for name in args.activations.split(",")]
        if args.activations
        else None
    )
    model = export.as_model(args.model, activations=activations)
    progress = _progress_to_stderr()
    inputs = labels = None
    if args.sample_inputs:
        inputs, model, more = _sample_inputs(
            args.sample_inputs, model, args.rows, progress
        )
        labels = _sample_labels(args.sample_labels, model, len(inputs), more)
    if image is None:
        image = export.image_of(model)
        if image:
            progress(f"the input is a {image[0]}x{image[1]} image: drawn as one")
    result = export.to_workbook(
        model,
        out,
        flavor=args.flavor,
        rows=args.rows,
        image=image,
        force=args.force,
        sample_inputs=inputs,
        sample_labels=labels,
        verify=not args.no_verify,
        timeout=args.timeout,
        progress=progress,
    )
    for workbook in result.workbooks:
        print(workbook.line())
    if result.unverified:
        print(
            "--strict counts a file not verified as a failure"
            if args.strict
            else "(not verified is not a failure; pass --strict to make it one)"
        )
    failed = result.failed or (args.strict and result.unverified)
    return EXIT_FAILED if failed else EXIT_OK


def _sample_inputs(path: Path, model, rows: int, progress):
    """The CSV's first ``rows`` rows, and the model named by its header."""
    import dataclasses

    from xlnn.export import sample_inputs

    # The rows stay on disk, read a chunk at a time: memory does not grow
    # with them.
    read = sample_inputs.read(path, model.n_inputs, max_rows=rows, spill=True)
    if read.more:
        progress(f"{path}: only its first {rows} rows are used (--rows {rows})")
    if read.feature_names is not None:
        model = dataclasses.replace(model, feature_names=read.feature_names)
    return read.rows, model, read.more


def _sample_labels(path: Path | None, model, count: int, more: bool):
    """The first ``count`` labels of ``path``, as the model's classes; or None.

    Read here rather than by ``to_workbook``: only here is it known whether
    the CSV's rows beyond ``--rows`` (and so the labels beyond ``count``)
    were left unread on purpose.
    """
    if path is None:
        return None
    from xlnn import export
    from xlnn.export import sample_labels

    classes = export.label_classes(model)
    return sample_labels.read(path, classes, count, more=more)


def run_insert(args) -> int:
    from xlnn.scripts import NoExcel, insert_into_active_book

    try:
        name = insert_into_active_book(args.sample, spill=args.spill)
    except NoExcel as error:
        print(f"xlnn insert: {error}", file=sys.stderr)
        return EXIT_NOT_WRITTEN
    print(f"{args.sample} written into {name}")
    return EXIT_OK


def run_bind(args) -> int:
    from xlnn.excel import binding

    try:
        print(binding.bind_active(spill=args.spill))
    except RuntimeError as error:
        print(f"xlnn bind: {error}", file=sys.stderr)
        return EXIT_NOT_WRITTEN
    return EXIT_OK


def _progress_to_stderr():
    """Print progress lines to stderr with the seconds since the start."""
    started = time.monotonic()
    lock = threading.Lock()

    def show(line: str) -> None:
        with lock:
            elapsed = time.monotonic() - started
            print(f"[{elapsed:5.1f} s] {line}", file=sys.stderr, flush=True)

    return show


def _not_verified_lines(unverified) -> list[str]:
    """One line per engine and reason, naming the files it left unverified."""
    by_reason: dict[tuple[str, str], list[str]] = {}
    for entry in unverified:
        key = (entry.verification.engine, entry.verification.problem)
        by_reason.setdefault(key, []).append(entry.path.name)
    return [
        f"not verified by {engine} ({', '.join(names)}): {problem}"
        for (engine, problem), names in by_reason.items()
    ]


def summarize(built, out: Path, *, checked: bool, strict: bool) -> tuple[str, int]:
    """The closing lines of a build, and its exit code."""
    head = f"{len(built)} workbooks written to {out}"
    if not checked:
        return f"{head} (not verified: --no-verify)", EXIT_OK
    failed = [entry for entry in built if entry.failed]
    unverified = [entry for entry in built if entry.unverified]
    verified = len(built) - len(failed) - len(unverified)
    counts = [f"{verified} verified"]
    if failed:
        counts.append(f"{len(failed)} FAILED verification")
    if unverified:
        counts.append(f"{len(unverified)} not verified")
    lines = [f"{head}: {', '.join(counts)}", *_not_verified_lines(unverified)]
    if unverified:
        lines.append(
            "--strict counts files not verified as a failure"
            if strict
            else "(not a failure; pass --strict to make it one)"
        )
    code = EXIT_FAILED if failed or (strict and unverified) else EXIT_OK
    return "\n".join(lines), code


def run_build(args) -> int:
    from xlnn.samples.build import build

    built = build(
        args.out,
        force=args.force,
        check=not args.no_verify,
        timeout=args.timeout,
        progress=_progress_to_stderr(),
    )
    summary, code = summarize(
        built, args.out, checked=not args.no_verify, strict=args.strict
    )
    print(summary)
    return code


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM arrived: unwind so that every cleanup runs.

    Not a ``KeyboardInterrupt``: libraries catch that one in places (a bare
    ``except`` around an import), and one that passes through C code such as
    an extension module's import can make Python end itself with SIGINT
    after a clean exit. A ``BaseException``, so ``except Exception`` (which
    ``formulas`` uses per cell) lets it through.
    """

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def interruptible(run, what: str) -> int:
    """Run ``run()``; on Ctrl-C or SIGTERM, one line and exit code 130 or 143.

    While ``run`` runs, both signals raise :class:`Interrupted`, so that
    ``finally`` blocks (stopping LibreOffice, removing temporary files) run.
    One raised where Python cannot pass it on (a finalizer run by the garbage
    collector) is raised again a moment later; should a library swallow it,
    the signal still decides the exit code.
    """
    if threading.current_thread() is not threading.main_thread():
        return run()
    received = []
    active = threading.Event()  # set while the handlers are ours

    def handler(signum, frame):
        received.append(signum)
        raise Interrupted(signum)

    def raise_again(signum):
        # to the main thread, so that a sleep or wait there is cut short
        if active.is_set() and hasattr(signal, "pthread_kill"):
            signal.pthread_kill(threading.main_thread().ident, signum)
        elif active.is_set():
            signal.raise_signal(signum)

    def unraisable(info, earlier=sys.unraisablehook):
        if not isinstance(info.exc_value, Interrupted):
            earlier(info)
            return
        again = threading.Timer(0.05, raise_again, [info.exc_value.signum])
        again.daemon = True
        again.start()

    previous = {
        signum: signal.signal(signum, handler)
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    previous_hook, sys.unraisablehook = sys.unraisablehook, unraisable
    active.set()
    try:
        code = run()
    except Interrupted as interruption:
        received.append(interruption.signum)
    finally:
        active.clear()
        sys.unraisablehook = previous_hook
        for signum, earlier in previous.items():
            signal.signal(signum, earlier)
    if not received:
        return code
    # After a newline: the terminal shows ^C, or a progress line was cut short.
    return stopped_by(f"\n{what}", received[0], "; nothing half-written was left")


def main(argv: list[str] | None = None) -> int:
    """Run one command; anything a user caused is one line and exit code 2.

    Every :class:`~xlnn.errors.UserError` raised below, whatever the
    command, becomes ``xlnn COMMAND: message`` on stderr; exit code 1 is kept
    for a real mismatch, and any other exception is a bug, with its traceback.
    A standard output that cannot be written (closed, full, a pipe with no
    reader) is exit code 2 too, with one line unless the reader just left.
    """
    from xlnn import stdout

    command = None
    try:
        with stdout.checked():
            parser = build_parser()
            args = parser.parse_args(argv)
            command = args.command
            try:
                return _run(parser, args)
            except UserError as error:
                print(f"xlnn {args.command}: {error}", file=sys.stderr)
                return EXIT_NOT_WRITTEN
    except stdout.StdoutError as error:
        stdout.discard()
        if not error.reader_gone:  # a reader that left asked for no more
            print(
                f"{' '.join(filter(None, ['xlnn', command]))}: {error}", file=sys.stderr
            )
        return EXIT_NOT_WRITTEN


def _run(parser, args) -> int:
    if args.command == "functions":
        list_functions()
        return EXIT_OK
    if args.command == "build":
        return interruptible(lambda: run_build(args), "xlnn build")
    if args.command == "export":
        return interruptible(lambda: run_export(args), "xlnn export")
    if args.command == "train":
        return interruptible(lambda: run_train(args), "xlnn train")
    if args.command == "insert":
        return run_insert(args)
    if args.command == "serve":
        from xlnn.excel import serve

        return serve.run(args)
    if args.command == "lite":
        return run_lite(args)
    if args.command == "bind":
        return run_bind(args)
    # No command is a mistake like a bad option: the help goes where errors go.
    parser.print_help(sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
