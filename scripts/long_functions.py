"""List the functions longer than a limit, longest first (issue 13: none over 80).

A function's length runs from its ``def`` line to its last line, docstring
and comments included, decorators not; a method is named with its class.

Example::

    python scripts/long_functions.py            # addin/, over 80 lines
    python scripts/long_functions.py addin 60   # another folder or limit

Exit 1 if any function is over the limit.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def long_functions(root: Path, limit: int) -> list[tuple[int, str]]:
    """(lines, ``path:line name``) of each function over ``limit`` lines."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        parents = [(tree, "")]
        while parents:
            node, prefix = parents.pop()
            for child in ast.iter_child_nodes(node):
                if not isinstance(
                    child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
                ):
                    continue
                name = prefix + child.name
                parents.append((child, name + "."))
                if isinstance(child, ast.ClassDef):
                    continue
                lines = child.end_lineno - child.lineno + 1
                if lines > limit:
                    where = path.relative_to(root).as_posix()
                    found.append((lines, f"{where}:{child.lineno} {name}"))
    return sorted(found, key=lambda entry: -entry[0])


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path(__file__).parent.parent / "addin"
    limit = int(argv[1]) if len(argv) > 1 else 80
    found = long_functions(root, limit)
    for lines, where in found:
        print(f"{lines:4d}  {where}")
    print(f"{len(found)} functions over {limit} lines under {root}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
