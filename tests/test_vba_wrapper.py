"""Classic xlwings (Windows): the VBA wrappers "Import Functions" writes.

Classic xlwings writes one VBA ``Function`` per decorated Python function,
named after it, with the Python parameter names (xlwings.udfs.
generate_vba_wrapper). A name that is a VBA keyword (``Step``, ``Date``, ...)
makes the whole module fail to compile. xlwings.udfs imports pythoncom,
pywintypes and win32com.client, which exist only on Windows, so a subprocess
gives it minimal stand-ins for those three, switches xlwings' decorators to the
classic ones, loads xlnn/udfs.py afresh under them and runs xlwings' real
generate_vba_wrapper. The VBA text it writes is checked here.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from xlnn import udfs

# VBA keywords and reserved words, case-insensitive. The union of:
# - Microsoft's VBA language reference, "Keywords (Visual Basic for
#   Applications)" (learn.microsoft.com/office/vba/language/reference/
#   keywords-visual-basic-for-applications), which lists e.g. Step, Time, Error;
# - [MS-VBAL] VBA Language Specification, section 3.3.5.2 "Reserved
#   Identifiers and IDENTIFIER": statement-keyword, marker-keyword,
#   operator-identifier, special-form, reserved-type-identifier,
#   reserved-name, literal-identifier, rem-keyword, future-reserved and
#   reserved-for-implementation-use;
# - words VBA treats as keywords in context (Option Explicit/Base/Compare,
#   Declare ... Lib/Alias, Open ... For Append/Binary/Input/Output/Random,
#   Access Read/Write, Line Input, Name ... As, Property, Step, Error, Object)
#   and statements and built-ins a VBA name must not shadow (Kill, Load, ...).
VBA_KEYWORDS = frozenset(
    word.lower()
    for word in """
    Abs Access AddressOf Alias And Any Append Array As Assert Attribute Base Beep
    Begin Binary Boolean ByRef Byte ByVal Call Case CBool CByte CCur CDate CDbl
    CDec CDecl Circle CInt Close CLng CLngLng CLngPtr Compare Const CSng CStr
    Currency CVar CVErr Database Date Debug Decimal Declare DefBool DefByte DefCur
    DefDate DefDbl DefDec DefInt DefLng DefLngLng DefLngPtr DefObj DefSng DefStr
    DefVar Dim Do DoEvents Double Each Else ElseIf Empty End EndIf Enum Eqv Erase
    Error Event Exit Explicit False Fix For Friend Function Get Global GoSub GoTo
    If Imp Implements In Input InputB Int Integer Is Kill LBound Len LenB Let Lib
    Like Line LineInput Load Lock Long LongLong LongPtr Loop LSet Me Mid Mod Module
    Name New Next Not Nothing Null Object On Open Option Optional Or Output
    ParamArray Preserve Print Private Property PSet PtrSafe Public Put RaiseEvent
    Random Randomize Read ReDim Rem Resume Return RSet Scale Seek Select Set Sgn
    Shared Single Spc Static Step Stop String Sub Tab Text Then Time To True Type
    TypeOf UBound Unload Unlock Until Variant VB_Base VB_Control VB_Creatable
    VB_Customizable VB_Description VB_Exposed VB_Ext_KEY VB_GlobalNameSpace
    VB_HelpID VB_Invoke_Func VB_Invoke_Property VB_Invoke_PropertyPut
    VB_Invoke_PropertyPutRef VB_MemberFlags VB_Name VB_PredeclaredId VB_ProcData
    VB_TemplateDerived VB_UserMemId VB_VarDescription VB_VarHelpID
    VB_VarMemberFlags VB_VarProcData VB_VarUserMemId Wend While Width With
    WithEvents Write Xor
    """.split()
)

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_DECLARATION = re.compile(
    r"^\s*(?:(?:Public|Private|Friend)\s+)?(?:Static\s+)?(Function|Sub)\s+"
    r"(?P<name>[^\s(]+)\s*\((?P<args>.*)\)",
    re.IGNORECASE,
)
_END = re.compile(r"^\s*End\s+(Function|Sub)\b", re.IGNORECASE)

# Run in a subprocess, so this process's sys.modules and xlwings stay clean.
_GENERATE = textwrap.dedent(
    """
    import importlib.util
    import io
    import json
    import sys
    import types

    # Minimal stand-ins for the Windows-only modules xlwings.udfs imports.
    pythoncom = types.ModuleType("pythoncom")
    pythoncom.CoInitialize = lambda: None
    pywintypes = types.ModuleType("pywintypes")
    win32com = types.ModuleType("win32com")
    win32com_client = types.ModuleType("win32com.client")
    win32com_client.Dispatch = lambda *args, **kwargs: None
    win32com.client = win32com_client
    sys.modules.update(
        {
            "pythoncom": pythoncom,
            "pywintypes": pywintypes,
            "win32com": win32com,
            "win32com.client": win32com_client,
        }
    )

    import xlwings
    import xlwings.udfs as classic

    # What `from xlwings import func, arg, ret` gives on Windows.
    xlwings.func = classic.xlfunc
    xlwings.arg = classic.xlarg
    xlwings.ret = classic.xlret

    class Workbook:
        Name = "xlnn.xlsm"

    texts = []
    for number, path in enumerate(sys.argv[1:]):
        spec = importlib.util.spec_from_file_location(f"xlnn_udfs_{number}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        decorated = [f for f in vars(module).values() if hasattr(f, "__xlfunc__")]
        assert decorated, "no decorated functions"
        assert all("call_in_wizard" in f.__xlfunc__ for f in decorated), "not classic"
        assert "xlnn.udfs" not in sys.modules

        out = io.StringIO()
        classic.generate_vba_wrapper("xlnn.udfs", module, out, Workbook())
        texts.append(out.getvalue())
    json.dump(texts, sys.stdout)
    """
)


def generate_vba(*paths) -> list[str]:
    """VBA text of classic xlwings' wrappers for each module file in ``paths``.

    One process for them all: the stand-ins and xlwings' import are its
    cost (0.3 s), not a module's wrappers.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("XLWINGS_ON_SERVER", "XLWINGS_LICENSE_KEY")
    }
    done = subprocess.run(
        [sys.executable, "-c", _GENERATE, *map(str, paths)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


#: A module whose names are VBA keywords: the function ``step``, the argument
#: ``date``. The pipeline (xlwings' generator, then the checker) must see both.
BAD_UDFS = (
    "from xlwings import arg, func\n\n\n"
    "@func\n"
    "@arg('date', doc='a date')\n"
    "def step(x, date=None):\n"
    "    return x\n"
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, str]:
    """The VBA of xlnn.udfs and of :data:`BAD_UDFS`, made in one process."""
    bad = tmp_path_factory.mktemp("vba") / "bad_udfs.py"
    bad.write_text(BAD_UDFS)
    ours = importlib.util.find_spec("xlnn.udfs").origin
    return dict(zip(("xlnn", "bad"), generate_vba(ours, bad), strict=True))


@pytest.fixture(scope="module")
def vba(generated) -> str:
    return generated["xlnn"]


def check_vba(text: str) -> tuple[list[tuple[str, list[str]]], list[str]]:
    """Return the declared procedures (name, argument names) and the problems."""
    problems = []
    procedures = []
    open_blocks = []
    for number, line in enumerate(text.splitlines(), start=1):
        declaration = _DECLARATION.match(line)
        if declaration:
            kind = declaration.group(1).lower()
            name = declaration.group("name")
            args = []
            for raw in filter(
                None, (a.strip() for a in declaration.group("args").split(","))
            ):
                raw = re.sub(r"\s+As\s+.*$", "", raw, flags=re.IGNORECASE)
                raw = re.sub(r"\s*=.*$", "", raw)
                words = raw.split()
                while words and words[0].lower() in (
                    "optional",
                    "paramarray",
                    "byval",
                    "byref",
                ):
                    words.pop(0)
                args.append(words[0].removesuffix("()") if words else "")
            procedures.append((name, args))
            for identifier in [name, *args]:
                if identifier.lower() in VBA_KEYWORDS:
                    problems.append(f"line {number}: {identifier!r} is a VBA keyword")
                if not _IDENTIFIER.match(identifier) or len(identifier) > 255:
                    problems.append(
                        f"line {number}: {identifier!r} is no VBA identifier"
                    )
            if open_blocks:
                problems.append(
                    f"line {number}: {name} starts inside {open_blocks[-1]}"
                )
            open_blocks.append(kind)
            continue
        end = _END.match(line)
        if end:
            kind = end.group(1).lower()
            if not open_blocks or open_blocks.pop() != kind:
                problems.append(f"line {number}: End {end.group(1)} without its start")
    problems.extend(f"{kind} without End {kind}" for kind in open_blocks)
    return procedures, problems


# --- The checker itself can fail ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Function Step(x)\nEnd Function\n", "'Step' is a VBA keyword"),
        ("Function STEP(x)\nEnd Function\n", "'STEP' is a VBA keyword"),
        ("Function f(x, Optional Date)\nEnd Function\n", "'Date' is a VBA keyword"),
        (
            "Function f(ByVal error As Variant)\nEnd Function\n",
            "'error' is a VBA keyword",
        ),
        (
            "Function f(ParamArray String())\nEnd Function\n",
            "'String' is a VBA keyword",
        ),
        ("Function _f(x)\nEnd Function\n", "'_f' is no VBA identifier"),
        ("Function f1(x.y)\nEnd Function\n", "'x.y' is no VBA identifier"),
        (f"Function {'a' * 256}(x)\nEnd Function\n", "is no VBA identifier"),
        ("Function f(x)\n    Exit Function\n", "function without End function"),
        ("Function f(x)\nEnd Sub\n", "End Sub without its start"),
        ("End Function\n", "End Function without its start"),
    ],
)
def test_checker_catches(text, expected):
    _, problems = check_vba(text)
    assert any(expected in problem for problem in problems), problems


def test_checker_accepts_a_good_wrapper():
    text = (
        "Function step_function(x, Optional alpha)\n    Exit Function\nEnd Function\n"
    )
    procedures, problems = check_vba(text)
    assert problems == []
    assert procedures == [("step_function", ["x", "alpha"])]


def test_pipeline_catches_a_python_function_named_step(generated):
    text = generated["bad"]
    assert "Function step(x, Optional date)" in text
    _, problems = check_vba(text)
    assert any("'step' is a VBA keyword" in problem for problem in problems)
    assert any("'date' is a VBA keyword" in problem for problem in problems)


def test_keyword_list_has_the_words_that_bite():
    # the examples of xlnn's own notes, and a few more
    for word in (
        "Step",
        "Date",
        "Error",
        "String",
        "Input",
        "To",
        "Next",
        "End",
        "Time",
    ):
        assert word.lower() in VBA_KEYWORDS


# --- The real wrappers ---------------------------------------------------------


def test_vba_wrappers_have_legal_names_and_matching_ends(vba):
    procedures, problems = check_vba(vba)
    assert problems == []
    assert len(procedures) == len(udfs.FUNCTIONS)
    assert vba.count("End Function") == len(udfs.FUNCTIONS)


def test_one_wrapper_per_function_with_its_parameters(vba):
    procedures, _ = check_vba(vba)
    declared = {name.upper(): args for name, args in procedures}
    by_python_name = {f.__name__.upper(): f for f in udfs.FUNCTIONS}
    assert set(declared) == set(by_python_name)
    for name, args in declared.items():
        assert args == list(inspect.signature(by_python_name[name]).parameters)


def test_step_wrapper_is_step_function(vba):
    procedures, _ = check_vba(vba)
    names = {name.upper() for name, _ in procedures}
    assert "STEP_FUNCTION" in names
    assert "STEP" not in names
    assert udfs.step_function.excel_name == "STEP"  # Office.js keeps STEP


def test_optional_parameters_are_optional_in_vba(vba):
    assert re.search(r"^Function leaky_relu\(x, Optional alpha\)$", vba, re.MULTILINE)
    assert re.search(r"^Function elu\(x, Optional alpha\)$", vba, re.MULTILINE)
    assert re.search(r"^Function softmax\(x, Optional direction\)$", vba, re.MULTILINE)
    assert re.search(
        r"^Function log_softmax\(x, Optional direction\)$", vba, re.MULTILINE
    )
    assert re.search(
        r"^Function dense\(x, W, b, Optional activation, Optional parameter\)$",
        vba,
        re.MULTILINE,
    )


def test_wrappers_call_the_python_functions_of_xlnn_udfs(vba):
    called = re.findall(r'XLPy\.CallUDF\("xlnn\.udfs", "(\w+)"', vba)
    assert called  # two calls per wrapper (#If App / #Else)
    assert sorted(set(called)) == sorted(f.__name__ for f in udfs.FUNCTIONS)
    for name in called:
        assert getattr(udfs, name) in udfs.FUNCTIONS
