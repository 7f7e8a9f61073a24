"""The ``xlnn`` command: ``xlnn --version``, ``xlnn functions``, ``xlnn build``."""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

import xlnn


def _signature(adapter) -> str:
    """Excel-style signature: optional arguments in brackets."""
    parts = []
    for parameter in inspect.signature(adapter).parameters.values():
        optional = parameter.default is not inspect.Parameter.empty
        parts.append(f"[{parameter.name}]" if optional else parameter.name)
    return f"{adapter.excel_name}({', '.join(parts)})"


def list_functions(out=sys.stdout) -> None:
    """Print each Excel function with its signature and one line of help."""
    from xlnn import udfs

    rows = [(_signature(f), f.__doc__.strip().splitlines()[0]) for f in udfs.FUNCTIONS]
    width = max(len(signature) for signature, _ in rows)
    for signature, summary in rows:
        print(f"{signature:<{width}}  {summary}", file=out)
    print(
        "\nIn classic xlwings (Windows, VBA wrappers) STEP is STEP_FUNCTION: "
        "Step is a VBA keyword.",
        file=out,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xlnn", description="Neural-network building blocks for Excel."
    )
    parser.add_argument("--version", action="version", version=xlnn.__version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("functions", help="list the Excel functions")
    build = commands.add_parser(
        "build", help="write the sample workbooks (both flavors) and verify them"
    )
    build.add_argument(
        "--out",
        type=Path,
        default=Path("workbooks"),
        help="folder to write into (default: ./workbooks)",
    )
    build.add_argument(
        "--force", action="store_true", help="overwrite workbooks that exist"
    )
    build.add_argument(
        "--no-verify",
        action="store_true",
        help="skip recalculating the workbooks with LibreOffice and formulas",
    )
    return parser


def run_build(args) -> int:
    from xlnn.build import BuildError, build

    try:
        built = build(args.out, force=args.force, check=not args.no_verify)
    except BuildError as error:
        print(f"xlnn build: {error}", file=sys.stderr)
        return 1
    failed = [entry for entry in built if not entry.ok]
    print(
        f"{len(built)} workbooks written to {args.out}"
        + (f", {len(failed)} FAILED verification" if failed else "")
    )
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "functions":
        list_functions()
        return 0
    if args.command == "build":
        return run_build(args)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
