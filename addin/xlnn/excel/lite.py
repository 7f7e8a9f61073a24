"""xlwings Lite: xlnn as a plugin, or as one file pasted into ``main.py``.

xlwings Lite runs Python in Excel through Pyodide (Windows, Mac and the web).
xlnn reaches it in two ways.

The plugin way. The xlnn wheel is pure Python (``py3-none-any``) and needs only
numpy, openpyxl and xlwings (see :data:`PYODIDE_SOURCES`). Lite's documentation
(lite.xlwings.org/plugins) says a plugin is a regular package that registers
its functions and scripts when it is listed in the workbook's
``requirements.txt``. xlnn declares the modules Lite should load as entry
points in ``pyproject.toml``: :mod:`xlnn.udfs` (the functions) and
:mod:`xlnn.scripts` (the scripts that insert the samples), under the group
:data:`PLUGIN_GROUP`. The part of Lite that reads them is closed source, and
the group's name could not be confirmed from any published source; if Lite
uses another, that one line of ``pyproject.toml`` changes. Either module also
works from ``main.py`` as ``from xlnn.udfs import *``.

The paste way. :func:`paste_file` (``xlnn lite [--out FILE]``) writes one
self-contained Python file that needs only NumPy and xlwings; pasted into
Lite's ``main.py`` it gives every function of :mod:`xlnn.udfs` with the same
Excel names, help and results, and every script of :mod:`xlnn.scripts`
(``bind_formulas``, which every add-in sheet tells Lite users to run, the
``insert_*`` scripts and ``train_network``). It cannot drift from the
package, because it is the package's own modules:

- The sources of :data:`MODULES` (the functions, then the scripts with the
  samples and layouts they need) are embedded verbatim, each as one string
  literal, checked to read back as exactly that source; the package's
  :data:`DATA_FILES` (the digits network) as base64.
- The only change is to the import statements that name ``xlnn`` (found with
  :mod:`ast`, so comments and docstrings are untouched): ``xlnn`` becomes the
  private package :data:`PACKAGE` in place, so every line keeps its number,
  the file never imports xlnn and never clashes with an installed xlnn (the
  plugin next to the pasted file).
- A short loader at the top of the file runs each source in a module of
  that private package, registered in ``sys.modules`` first (dataclasses
  look their module up there) and in ``linecache`` (so tracebacks show the
  lines). The package's loader answers ``pkgutil.get_data`` with the data
  files. Then every function and script is bound by its Python name at the
  top of ``main.py``, where Lite looks for them.
- Generating fails with :class:`LiteError` if an embedded module imports
  anything but the standard library, NumPy, xlwings and the other embedded
  modules, so a change in the package cannot quietly break the file.

The scripts cost size: the file is about 330 kB with them (328,109 bytes
with the training sample and its iris data; 286,513 before it, 230 kB
before train_network brought xlnn.learning and its own modules),
76 kB without (xlnn 0.1.0, when the scripts came); 36 kB of it are the
digits network.
"""

from __future__ import annotations

import ast
import base64
import re
import sys
import textwrap
from importlib import resources
from pathlib import Path

import xlnn
from xlnn.errors import UserError

#: Entry-point group under which ``pyproject.toml`` names the plugin's modules.
#: Not confirmed: xlwings Lite's plugin loader is not public (see above).
PLUGIN_GROUP = "xlwings.plugins"
#: The plugin's modules: the Excel functions and the sample scripts.
PLUGIN_MODULES = ("xlnn.udfs", "xlnn.scripts")

#: Where each runtime dependency comes from under Pyodide. numpy: Pyodide's
#: own build (pyodide/pyodide-recipes, packages/numpy/meta.yaml). openpyxl
#: and its one dependency et-xmlfile: pure-Python ``py3-none-any`` wheels on
#: PyPI, which micropip installs. xlwings: its pure-Python "any" wheel, which
#: xlwings builds for wasm (xlwings/xlwings .github/workflows/main.yml, "any
#: wheel (for now used for wasm but without the Reader)"); Lite brings it.
PYODIDE_SOURCES = {
    "numpy": "Pyodide build",
    "openpyxl": "pure-Python wheel from PyPI",
    "et-xmlfile": "pure-Python wheel from PyPI",
    "xlwings": "pure-Python wheel from PyPI",
}

#: Oldest xlwings whose ``@func(name=...)`` names a function in Excel
#: (xlwings changelog, v0.36.12): older ones would register STEP_FUNCTION.
MIN_XLWINGS = (0, 36, 12)

#: The modules the pasted file embeds, each after the ones it imports: the
#: functions (:mod:`xlnn.udfs`), then the scripts (:mod:`xlnn.scripts`) with
#: the samples they lay out, the binding of #NAME? cells and the training.
MODULES = (
    "errors",
    "limits",
    "activations",
    "losses",
    "functions.cells",
    "functions.catalog",
    "udfs",
    "network",
    "sheets.layout",
    "sheets.styles",
    "sheets.flavors",
    "sheets.network_layout",
    "sheets.book_writer",
    "samples",
    "learning",
    "samples.training",
    "excel",
    "excel.binding",
    "training.classes",
    "training.from_cells",
    "samples.trained",
    "excel.training",
    "scripts",
)
_PACKAGES = {module.rpartition(".")[0] for module in MODULES}
#: The package's data files the embedded modules read (through
#: ``pkgutil.get_data``): the digits sample's trained network, the iris data.
DATA_FILES = ("data/digits_mlp.npz", "data/iris.csv")
#: The private package the pasted file loads them into.
PACKAGE = "_xlnn_lite"
#: Top-level modules the pasted file may import besides the standard library.
ALLOWED_IMPORTS = frozenset({"numpy", "xlwings"})


class LiteError(UserError):
    """The paste file cannot be made or written; the message says why."""


# --- the paste file -------------------------------------------------------------


def _xlnn_target(node: ast.AST) -> str | None:
    """The embedded module an import of ``xlnn`` names ('' for the package)."""
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        if node.module == "xlnn":
            return ""
        if node.module.startswith("xlnn."):
            return node.module.removeprefix("xlnn.")
    return None


def _check_import(node: ast.AST, name: str) -> None:
    """Refuse an import the pasted file could not satisfy with NumPy and xlwings."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            top = alias.name.partition(".")[0]
            if top == "xlnn" or not _allowed(top):
                raise LiteError(f"{name}.py: 'import {alias.name}' cannot be embedded")
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            raise LiteError(f"{name}.py: relative imports cannot be embedded")
        target = _xlnn_target(node)
        if target is None:
            if not _allowed(node.module.partition(".")[0]):
                message = f"'from {node.module}' is not NumPy or xlwings"
                raise LiteError(f"{name}.py: {message}")
            return
        prefix = f"{target}." if target else ""
        # Each name is a module (from xlnn.functions import cells) or a name
        # in the target's own module (from xlnn.functions.cells import read).
        wanted = [
            prefix + alias.name if _is_module(prefix + alias.name) else target
            for alias in node.names
        ]
        missing = [module for module in wanted if module not in MODULES]
        if missing:
            module = f"xlnn.{missing[0]}".rstrip(".")
            raise LiteError(f"{name}.py: imports {module}, not embedded")


def _module_file(name: str) -> str:
    """Module ``xlnn.<name>``'s file: ``sheets/layout.py``, ``excel/__init__.py``."""
    folder = name.replace(".", "/")
    if resources.files(xlnn).joinpath(folder, "__init__.py").is_file():
        return f"{folder}/__init__.py"
    return f"{folder}.py"


def _is_module(name: str) -> bool:
    """Whether ``xlnn.<name>`` is a module or package (not a name in one)."""
    return resources.files(xlnn).joinpath(*_module_file(name).split("/")).is_file()


def _allowed(top: str) -> bool:
    return top in sys.stdlib_module_names or top in ALLOWED_IMPORTS


def embeddable_source(name: str, source: str) -> str:
    """``source`` of module ``name`` with its xlnn imports naming :data:`PACKAGE`.

    Only ``from xlnn import m`` and ``from xlnn.m import x`` exist in the
    embedded modules, and only those are rewritten. Raises :class:`LiteError`
    for any import that NumPy, xlwings and the embedded modules cannot satisfy.
    """
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    for node in ast.walk(tree):
        _check_import(node, name)
        if _xlnn_target(node) is None:
            continue
        # Only the package's name changes, in place: the statement keeps its
        # layout and every line its number, so tracebacks match the package.
        line = lines[node.lineno - 1]
        head, statement = line[: node.col_offset], line[node.col_offset :]
        renamed = re.sub(r"^from(\s+)xlnn\b", rf"from\g<1>{PACKAGE}", statement)
        if renamed == statement:  # never expected: a line break after "from"
            raise LiteError(f"{name}.py, line {node.lineno}: cannot rename xlnn")
        lines[node.lineno - 1] = head + renamed
    return "".join(lines)


def string_literal(text: str) -> str:
    """A Python literal that reads back as exactly ``text``, readable if it can be.

    A raw triple-quoted string shows the source as it is; it cannot hold
    ``'''``, end in a backslash or a quote, or keep a carriage return or a
    NUL as written, so such text gets ``repr``.
    """
    raw = f"r'''{text}'''"
    unsafe = "'''" in text or "\r" in text or "\0" in text
    if not unsafe and not text.endswith(("\\", "'")) and _reads_back(raw, text):
        return raw
    if not _reads_back(repr(text), text):  # never expected; guards the file
        raise LiteError("an embedded source does not read back as itself")
    return repr(text)


def _reads_back(literal: str, text: str) -> bool:
    try:
        return ast.literal_eval(literal) == text
    except (SyntaxError, ValueError):
        return False


# Imports at the top of main.py: numpy among them, so that Pyodide, should it
# look for imports in main.py alone, loads NumPy.
_IMPORTS = """import base64
import importlib.machinery
import linecache
import sys
import types

import numpy  # noqa: F401  (used by the embedded modules)
import xlwings
"""

_LOADER = '''
def _xlwings_version():
    parts = []
    for part in xlwings.__version__.split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


if _xlwings_version() < _MIN_XLWINGS:
    raise ImportError(
        f"xlnn's functions need xlwings >= {'.'.join(map(str, _MIN_XLWINGS))} "
        f"(this is {xlwings.__version__}): set it in requirements.txt, then restart"
    )


class _DataFiles:
    """The package's loader for pkgutil.get_data: its data files, from main.py."""

    def __init__(self, files):
        self.files = files

    def get_data(self, path):
        name = path.partition("<xlnn>/")[2]  # pkgutil joins with "/" (Pyodide)
        if name not in self.files:
            raise OSError(f"main.py carries no data file {name!r}")
        return self.files[name]


def _load(package_name, sources, data_files):
    """Run each source in a module of a private package; return the package."""
    package = types.ModuleType(package_name, "xlnn's modules, from main.py")
    package.__path__ = []
    package.__file__ = "<xlnn>/__init__.py"  # data files are found next to it
    package.__spec__ = importlib.machinery.ModuleSpec(
        package_name, _DataFiles(data_files), is_package=True
    )
    sys.modules[package_name] = package
    for name, source in sources.items():
        parent = package
        *folders, leaf = name.split(".")
        for folder in folders:  # a subpackage, made empty the first time
            if not hasattr(parent, folder):
                child = types.ModuleType(f"{parent.__name__}.{folder}")
                child.__path__ = []
                sys.modules[child.__name__] = child
                setattr(parent, folder, child)
            parent = getattr(parent, folder)
        module = types.ModuleType(f"{package_name}.{name}")
        if any(other.startswith(f"{name}.") for other in sources):
            module.__path__ = []  # a package whose modules follow
        sys.modules[module.__name__] = module  # dataclasses look it up here
        filename = f"<xlnn/{name.replace('.', '/')}.py>"
        lines = source.splitlines(True)
        linecache.cache[filename] = (len(source), None, lines, filename)
        exec(compile(source, filename, "exec"), module.__dict__)
        setattr(parent, leaf, module)
    return package
'''


def _module_source(name: str) -> str:
    path = resources.files(xlnn).joinpath(*_module_file(name).split("/"))
    return path.read_text(encoding="utf-8")


_HEADER = """\
\"\"\"xlnn's Excel functions and scripts for xlwings Lite: paste this into main.py.

Generated by `xlnn lite` (xlnn {version}) from xlnn's own modules:
{modules}
and its data file{plural} {data}.
It needs NumPy and xlwings only. Do not edit it: generate it again for a new
version of xlnn.

requirements.txt must list numpy and xlwings >= {min_xlwings}; restart xlwings
Lite after changing it. Type a function into a cell, for example =SIGMOID(A1:C3):

{listing}

{scripts}
bind_formulas makes the cells of an xlnn workbook that show #NAME? compute.
\"\"\"
"""


def _wrapped(text: str) -> str:
    return textwrap.fill(text, width=79, break_on_hyphens=False)


def _embedded(name: str, source: str) -> str:
    path = name.replace(".", "/")
    return f"\n# --- xlnn/{path}.py ---\n_SOURCES[{name!r}] = {string_literal(source)}"


def _embedded_data(name: str) -> str:
    """A data file of the package as base64 lines, decoded when the file runs."""
    stored = resources.files(xlnn).joinpath(*name.split("/")).read_bytes()
    text = base64.encodebytes(stored).decode("ascii")
    literal = f'base64.b64decode("""\n{text}""")'
    return f"\n# --- xlnn/{name} ---\n_DATA[{name!r}] = {literal}"


def paste_file() -> str:
    """The self-contained ``main.py`` for xlwings Lite (see the module docstring)."""
    from xlnn import scripts, udfs

    functions = [getattr(udfs, name) for name in udfs.__all__]
    header = _HEADER.format(
        version=xlnn.__version__,
        modules=_wrapped(", ".join(_module_file(name) for name in MODULES) + ";"),
        plural="s" if len(DATA_FILES) > 1 else "",
        data=", ".join(DATA_FILES),
        min_xlwings=".".join(map(str, MIN_XLWINGS)),
        listing="\n".join(f"    ={udfs.excel_signature(f)}" for f in functions),
        scripts=_wrapped(
            f"Run a script from the xlwings Lite pane: {', '.join(scripts.__all__)}."
        ),
    )
    parts = [header, _IMPORTS, f"_MIN_XLWINGS = {MIN_XLWINGS!r}\n", _LOADER]
    parts.append("\n_SOURCES = {}")
    for name in MODULES:
        parts.append(_embedded(name, embeddable_source(name, _module_source(name))))
    parts.append("\n_DATA = {}")
    parts += [_embedded_data(name) for name in DATA_FILES]
    parts.append(f"\n_xlnn = _load({PACKAGE!r}, _SOURCES, _DATA)\n")
    parts.append(
        "# xlwings Lite finds functions and scripts in main.py by their Python names."
    )
    for f in functions:
        parts.append(
            f"{f.__name__} = _xlnn.udfs.{f.__name__}  # ={udfs.excel_signature(f)}"
        )
    for name in scripts.__all__:
        parts.append(f"{name} = _xlnn.scripts.{name}")
    return "\n".join(parts) + "\n"


# --- writing it -------------------------------------------------------------------


def write(path: Path, text: str, *, force: bool = False) -> None:
    """Write ``text`` as ``path``, whole or not at all, as ``xlnn build`` does.

    Missing folders are created. Without ``force`` an existing file is never
    replaced, not even one that appears meanwhile; with it, only a regular
    file is (:func:`xlnn.files.write_new`). Raises :class:`LiteError` naming
    the path and the problem.
    """
    from xlnn import files

    blocker = files.file_in_the_way(path.parent)
    if blocker is not None:
        raise LiteError(f"{path}: {blocker} is a file, not a folder")
    try:
        if path.parent.is_dir():  # else it is made, and the file cannot exist
            files.check_target(path, force=force)
        path.parent.mkdir(parents=True, exist_ok=True)
        files.write_new(path, text.encode("utf-8"), force=force)
    except files.FileRefused as error:
        raise LiteError(error) from None
    except OSError as error:
        raise LiteError(f"{path}: {files.problem(error)}") from None
