"""The recalculation engines: LibreOffice for plain formulas, ``formulas`` for ours.

Tests marked ``engine`` start LibreOffice or evaluate a workbook with
``formulas``; the others check the plumbing in milliseconds.
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pytest
import schedula
from formulas.tokens.operand import Error
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.formula import ArrayFormula

from xlnn import activations, udfs
from xlnn.engines import Engine, EngineError, formulas_engine, libreoffice
from xlnn.engines.formulas_engine import Formulas
from xlnn.engines.libreoffice import LibreOffice
from xlnn.functions.catalog import LOSS_TABLE

FUNCTIONS = {function.excel_name: function for function in udfs.FUNCTIONS}
# The functions of one range (the activations); DENSE (x, W, b) is tested in
# tests/test_dense.py, the losses (y, t) in tests/test_loss_functions.py.
ONE_RANGE = {
    name: f
    for name, f in FUNCTIONS.items()
    if name != "DENSE" and name not in {loss.excel_name for loss in LOSS_TABLE}
}

RNG = np.random.default_rng(20240531)
X = RNG.normal(size=(2, 3))
W = RNG.normal(size=(3, 2))


def approx(expected):
    """Equal to ``expected`` within a relative 1e-12."""
    return pytest.approx(expected, rel=1e-12)


def put_grid(sheet, top_left: str, grid) -> None:
    """Write a 2-D grid of values into ``sheet`` from cell ``top_left``."""
    first = sheet[top_left]
    for i, row in enumerate(np.asarray(grid, dtype=object).tolist()):
        for j, value in enumerate(row):
            sheet.cell(first.row + i, first.column + j, value)


def grid_at(values: dict, top_left: str, shape) -> np.ndarray:
    """Read a grid of ``shape`` from ``{"A1": value}`` cells as an object array."""
    first = openpyxl.utils.cell.coordinate_to_tuple(top_left)
    rows, columns = shape
    grid = np.empty(shape, dtype=object)
    for i in range(rows):
        for j in range(columns):
            column = openpyxl.utils.get_column_letter(first[1] + j)
            grid[i, j] = values.get(f"{column}{first[0] + i}")
    return grid


def plain_workbook(path):
    """A workbook of built-in formulas: SUM, MMULT, cross-sheet refs, a name."""
    book = openpyxl.Workbook()
    inputs = book.active
    inputs.title = "Inputs"
    put_grid(inputs, "A1", X)
    put_grid(inputs, "A4", W)
    inputs["E1"] = ArrayFormula("E1:F2", "=MMULT(A1:C2,A4:B6)")
    book.defined_names["weights"] = DefinedName("weights", attr_text="Inputs!$A$4:$B$6")
    other = book.create_sheet("Other sheet")
    other["A1"] = "=SUM(Inputs!A1:C2)"
    other["A2"] = "=SUM(weights)"
    other["A3"] = "=Inputs!F2*2"
    other["B1"] = ArrayFormula("B1:C2", "=MMULT(Inputs!A1:C2,weights)")
    book.save(path)
    return path


def check_plain_values(values: dict) -> None:
    """Check the computed cells of :func:`plain_workbook` against NumPy."""
    product = X @ W
    for grid in (
        grid_at(values["Inputs"], "E1", (2, 2)),
        grid_at(values["Other sheet"], "B1", (2, 2)),
    ):
        assert grid.astype(float) == approx(product)
    assert values["Other sheet"]["A1"] == approx(X.sum())
    assert values["Other sheet"]["A2"] == approx(W.sum())
    assert values["Other sheet"]["A3"] == approx(2 * product[1, 1])


def set_cached_value(path, sheet_xml: str, reference: str, value: str) -> None:
    """Overwrite the cached value of formula cell ``reference`` inside an xlsx."""
    with zipfile.ZipFile(path) as source:
        members = [(item, source.read(item.filename)) for item in source.infolist()]
    pattern = rf'(<c r="{reference}"[^>]*>(?:(?!</c>).)*?<v>)[^<]*(</v>)'
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for item, data in members:
            if item.filename == sheet_xml:
                text, count = re.subn(pattern, rf"\g<1>{value}\g<2>", data.decode())
                assert count == 1, f"no cached value for {reference}"
                data = text.encode()
            target.writestr(item, data)


# --- LibreOffice -------------------------------------------------------------


def recalculate_one(workbook, **options) -> dict:
    """The values of one workbook recalculated by LibreOffice."""
    return LibreOffice(**options).recalculate([workbook])[workbook]


@pytest.mark.engine
def test_libreoffice_recalculates_plain_formulas(soffice, tmp_path):
    workbook = plain_workbook(tmp_path / "plain.xlsx")
    check_plain_values(recalculate_one(workbook))


def scaled_workbook(path, factor: float):
    """One input cell and a formula that doubles it, different per file."""
    book = openpyxl.Workbook()
    book.active["A1"] = factor
    book.active["B1"] = "=A1*2"
    book.save(path)
    return path


@pytest.mark.engine
def test_libreoffice_recalculates_several_files_in_one_call(soffice, tmp_path):
    workbooks = [
        scaled_workbook(tmp_path / f"book{k}.xlsx", factor)
        for k, factor in enumerate([1.5, -4.0, 7.25])
    ]
    lines = []
    values = LibreOffice().recalculate(workbooks, progress=lines.append)
    assert list(values) == workbooks
    assert [values[w]["Sheet"]["B1"] for w in workbooks] == [3.0, -8.0, 14.5]
    # one run: one "recalculating" line naming every file
    started = [line for line in lines if "recalculating" in line]
    assert len(started) == 1
    assert all(w.name in started[0] for w in workbooks)


@pytest.mark.engine
def test_libreoffice_replaces_stale_cached_values(soffice, tmp_path):
    engine = LibreOffice()
    first = engine.convert(
        [plain_workbook(tmp_path / "plain.xlsx")], tmp_path / "first"
    )
    (converted,) = first.values()
    set_cached_value(converted, "xl/worksheets/sheet2.xml", "A1", "999")
    assert libreoffice.read_values(converted)["Other sheet"]["A1"] == 999
    assert recalculate_one(converted)["Other sheet"]["A1"] == approx(X.sum())


@pytest.mark.engine
def test_libreoffice_leaves_the_input_unchanged(soffice, tmp_path):
    workbook = plain_workbook(tmp_path / "plain.xlsx")
    before = workbook.read_bytes(), workbook.stat().st_mtime_ns
    recalculate_one(workbook)
    assert (workbook.read_bytes(), workbook.stat().st_mtime_ns) == before


@pytest.mark.engine
def test_libreoffice_and_formulas_agree_on_plain_formulas(soffice, tmp_path):
    workbook = plain_workbook(tmp_path / "plain.xlsx")
    by_libreoffice = recalculate_one(workbook)
    by_formulas = Formulas().recalculate([workbook])[workbook]
    for sheet, cells in by_formulas.items():
        for reference, value in cells.items():
            assert by_libreoffice[sheet][reference] == approx(value), reference


def soffice_bin_starts(trace: str) -> int:
    """How many times an strace log shows ``soffice.bin`` being started."""
    return len(re.findall(r'execve\("[^"]*soffice\.bin"', trace))


@pytest.mark.engine
@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_libreoffice_starts_soffice_bin_once_on_its_fresh_profile(
    soffice, tmp_path, monkeypatch
):
    """Without the seeded build id the first start exits 81 and a second follows."""
    log = tmp_path / "trace.log"
    wrapper = tmp_path / "traced-soffice"
    wrapper.write_text(
        f'#!/bin/sh\nexec strace -f -qq -e trace=execve -o "{log}" "{soffice}" "$@"\n'
    )
    wrapper.chmod(0o755)
    workbook = scaled_workbook(tmp_path / "book.xlsx", 2.0)
    build_id = libreoffice.build_id(soffice)
    # the wrapper is not beside versionrc: give it the real program's build id
    monkeypatch.setattr(libreoffice, "build_id", lambda program: build_id)
    assert LibreOffice(soffice=str(wrapper)).recalculate([workbook])
    seeded = soffice_bin_starts(log.read_text())
    # the same run on a profile without the build id, for comparison
    monkeypatch.setattr(libreoffice, "build_id", lambda program: None)
    assert LibreOffice(soffice=str(wrapper)).recalculate([workbook])
    unseeded = soffice_bin_starts(log.read_text())
    assert build_id and (seeded, unseeded) == (1, 2)


@pytest.mark.engine
def test_seeded_build_id_is_what_libreoffice_writes_itself(soffice, tmp_path):
    profile = tmp_path / "profile"
    profile.mkdir()
    workbook = scaled_workbook(tmp_path / "book.xlsx", 2.0)
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--convert-to",
            "csv",
            "--outdir",
            str(tmp_path / "out"),
            str(workbook),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    written = (profile / "user" / "extensions" / "buildid").read_bytes()
    seeded = tmp_path / "seeded"
    libreoffice.write_profile(seeded, soffice)
    assert (seeded / "user" / "extensions" / "buildid").read_bytes() == written


def test_build_id_is_read_from_versionrc_beside_the_program(tmp_path):
    program = tmp_path / "program"
    program.mkdir()
    (program / "soffice").write_text("")
    (program / "versionrc").write_text("[Version]\nbuildid=abc(Build:7)\nVendor=x\n")
    assert libreoffice.build_id(str(program / "soffice")) == "abc(Build:7)"
    (program / "versionrc").write_text("[Version]\nbuildid=${OTHER}\n")
    assert libreoffice.build_id(str(program / "soffice")) is None  # a macro
    (program / "versionrc").unlink()
    assert libreoffice.build_id(str(program / "soffice")) is None


def test_converting_into_the_input_folder_is_refused(tmp_path):
    workbook = plain_workbook(tmp_path / "plain.xlsx")
    with pytest.raises(EngineError, match="overwrite"):
        LibreOffice(soffice="unused").convert([workbook], tmp_path)


def test_missing_workbook_is_reported(tmp_path):
    with pytest.raises(EngineError, match="no such workbook"):
        LibreOffice(soffice="unused").recalculate([tmp_path / "missing.xlsx"])


def test_workbooks_of_the_same_name_are_refused(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    twins = [plain_workbook(tmp_path / side / "book.xlsx") for side in "ab"]
    with pytest.raises(EngineError, match="two workbooks named book"):
        LibreOffice(soffice="unused").recalculate(twins)


def test_missing_libreoffice_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(libreoffice, "find_soffice", lambda: None)
    engine = LibreOffice()
    assert "apt-get install libreoffice-calc-nogui" in engine.missing()
    with pytest.raises(EngineError, match="apt-get install libreoffice-calc-nogui"):
        engine.recalculate([plain_workbook(tmp_path / "plain.xlsx")])


def fake_soffice(tmp_path, script: str) -> str:
    """A shell script to stand in for LibreOffice; returns its path."""
    program = tmp_path / "fake-soffice"
    program.write_text(f"#!/bin/sh\n{script}\n")
    program.chmod(0o755)
    return str(program)


#: A stand-in that starts a child (as soffice starts soffice.bin), notes its
#: pid, and hangs.
HANGING = 'PATH=/bin:/usr/bin; sleep 60 & echo $! > "{pids}"; wait'


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a killed child not yet reaped by its new parent counts as gone
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[1].startswith("Z"))


def scratch_folders(folder: Path) -> list[Path]:
    return list(folder.glob(f"{libreoffice.SCRATCH_PREFIX}*"))


@pytest.fixture
def private_tmpdir(tmp_path, monkeypatch):
    """Make ``tempfile`` create its folders in a fresh folder of this test."""
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


posix_only = pytest.mark.skipif(os.name == "nt", reason="uses a POSIX shell script")


@posix_only
def test_libreoffice_failure_shows_its_stderr(tmp_path):
    program = fake_soffice(tmp_path, 'echo "Error: source file broken" >&2; exit 3')
    workbook = plain_workbook(tmp_path / "plain.xlsx")
    with pytest.raises(EngineError, match="source file broken") as failure:
        LibreOffice(soffice=program).recalculate([workbook])
    assert "exit code 3" in str(failure.value)
    assert "plain.xlsx" in str(failure.value)


@posix_only
def test_libreoffice_crash_names_the_signal(tmp_path):
    program = fake_soffice(tmp_path, "kill -SEGV $$")
    workbook = plain_workbook(tmp_path / "plain.xlsx")
    with pytest.raises(EngineError, match="SIGSEGV"):
        LibreOffice(soffice=program).recalculate([workbook])


@posix_only
def test_libreoffice_results_before_a_failure_are_kept(tmp_path):
    # converts only the first file it is given, as a crash halfway would
    program = fake_soffice(
        tmp_path,
        'while [ "$1" != "--outdir" ]; do shift; done; '
        'mkdir -p "$2"; cp "$3" "$2/"; exit 1',
    )
    first = scaled_workbook(tmp_path / "first.xlsx", 1.0)
    second = scaled_workbook(tmp_path / "second.xlsx", 2.0)
    with pytest.raises(EngineError, match="nothing for second.xlsx") as failure:
        LibreOffice(soffice=program).recalculate([first, second])
    assert list(failure.value.done) == [first]
    assert failure.value.done[first]["Sheet"]["A1"] == 1.0


@posix_only
def test_libreoffice_timeout_stops_it_and_what_it_started(tmp_path, private_tmpdir):
    pids = tmp_path / "pids"
    program = fake_soffice(tmp_path, HANGING.format(pids=pids))
    workbook = plain_workbook(tmp_path / "plain.xlsx")
    start = time.monotonic()
    with pytest.raises(EngineError, match="did not finish within 0.5 s"):
        LibreOffice(soffice=program, timeout=0.5).recalculate([workbook])
    assert time.monotonic() - start < 10
    assert not alive(int(pids.read_text()))
    assert scratch_folders(private_tmpdir) == []


@posix_only
def test_stop_from_another_thread_ends_the_run_and_removes_the_profile(
    tmp_path, private_tmpdir
):
    pids = tmp_path / "pids"
    engine = LibreOffice(soffice=fake_soffice(tmp_path, HANGING.format(pids=pids)))
    outcome = {}

    def run():
        try:
            engine.recalculate([plain_workbook(tmp_path / "plain.xlsx")])
        except EngineError as error:
            outcome["error"] = str(error)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 10
    while not (pids.exists() and pids.read_text().strip()):
        assert time.monotonic() < deadline, "the stand-in never started"
        time.sleep(0.02)
    assert scratch_folders(private_tmpdir)  # the profile exists while it runs
    engine.stop()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert "stopped" in outcome["error"]
    assert not alive(int(pids.read_text()))
    assert scratch_folders(private_tmpdir) == []
    with pytest.raises(EngineError, match="stopped"):  # and no new run starts
        engine.recalculate([tmp_path / "plain.xlsx"])


@posix_only
def test_ctrl_c_during_a_run_stops_it_and_removes_the_profile(
    tmp_path, private_tmpdir, monkeypatch
):
    pids = tmp_path / "pids"
    program = fake_soffice(tmp_path, HANGING.format(pids=pids))
    engine = LibreOffice(soffice=program, timeout=120)
    # Ctrl-C is pressed once the run waits for its soffice (in communicate) and
    # the stand-in has started its child, and again until Python has raised
    # it. On a loaded machine a single press, timed by the child alone, landed
    # while the run was still in Popen, before the code that stops soffice
    # (the test failed), or just before the wait blocked, where Python saw it
    # only when the wait ended, 60 s later.
    waiting, raised, stop = threading.Event(), threading.Event(), threading.Event()
    real_communicate = subprocess.Popen.communicate

    def communicate(process, *args, **kwargs):
        waiting.set()
        return real_communicate(process, *args, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "communicate", communicate)

    def ctrl_c(signum, frame):
        # Python's own handler, except that pressing again raises nothing more
        if not raised.is_set():
            raised.set()
            raise KeyboardInterrupt

    def press_ctrl_c():
        while not (stop.is_set() or raised.is_set()):
            if waiting.is_set() and pids.exists() and pids.read_text().strip():
                os.kill(os.getpid(), signal.SIGINT)
            stop.wait(0.02)

    previous = signal.signal(signal.SIGINT, ctrl_c)
    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            engine.recalculate([plain_workbook(tmp_path / "plain.xlsx")])
    finally:
        stop.set()
        presser.join()  # before the handler goes: no press may reach pytest
        signal.signal(signal.SIGINT, previous)
    assert not alive(int(pids.read_text()))
    assert scratch_folders(private_tmpdir) == []


@posix_only
def test_ctrl_c_as_popen_returns_still_stops_the_new_soffice(
    tmp_path, private_tmpdir, monkeypatch
):
    """A Ctrl-C pressed as Popen returns, before the run has noted its soffice,
    is raised once it has: the soffice is ended, not left running."""
    pids = tmp_path / "pids"
    program = fake_soffice(tmp_path, HANGING.format(pids=pids))
    engine = LibreOffice(soffice=program, timeout=120)
    real_popen, started = subprocess.Popen, []

    def popen_then_ctrl_c(*args, **kwargs):
        process = real_popen(*args, **kwargs)
        started.append(process)
        os.kill(os.getpid(), signal.SIGINT)
        # Python runs a handler between bytecodes: unheld, it raises in here
        deadline = time.monotonic() + 60  # ends as soon as the stand-in starts
        while time.monotonic() < deadline and not (
            pids.exists() and pids.read_text().strip()
        ):
            time.sleep(0.01)
        return process

    monkeypatch.setattr(libreoffice.subprocess, "Popen", popen_then_ctrl_c)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            engine.recalculate([plain_workbook(tmp_path / "plain.xlsx")])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert started and started[0].poll() is not None  # soffice itself was ended
    assert not alive(int(pids.read_text()))  # and what it started
    assert scratch_folders(private_tmpdir) == []


def test_a_timeout_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        LibreOffice(timeout=0)


# --- formulas ----------------------------------------------------------------


def evaluate_one(workbook, functions=None) -> dict:
    """The values of one workbook evaluated by ``formulas``."""
    return Formulas(functions).recalculate([workbook])[workbook]


@pytest.mark.engine
def test_formulas_evaluates_plain_formulas(tmp_path):
    check_plain_values(evaluate_one(plain_workbook(tmp_path / "p.xlsx")))


@pytest.mark.engine
def test_formulas_goes_on_after_a_broken_file_and_names_it(tmp_path):
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip file")
    good = scaled_workbook(tmp_path / "good.xlsx", 3.0)
    lines = []
    with pytest.raises(EngineError, match="formulas failed on broken.xlsx") as failure:
        Formulas().recalculate([broken, good], progress=lines.append)
    assert list(failure.value.done) == [good]
    assert failure.value.done[good]["Sheet"]["B1"] == 6.0
    assert any("good.xlsx in" in line and line.endswith(" s") for line in lines)


def test_missing_formulas_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "formulas", None)  # import formulas fails
    engine = Formulas()
    assert 'pip install -e ".[verify]" (in xlnn\'s folder)' in engine.missing()
    with pytest.raises(EngineError, match=r'pip install -e "\.\[verify\]"'):
        engine.recalculate([tmp_path / "any.xlsx"])


# --- the common interface -----------------------------------------------------


@pytest.mark.parametrize(
    "engine", [LibreOffice(), Formulas()], ids=["libreoffice", "formulas"]
)
def test_engines_share_one_interface(engine):
    assert isinstance(engine, Engine)  # the Protocol's attributes and methods
    assert engine.name in ("LibreOffice", "formulas")
    assert isinstance(engine.in_process, bool)
    parameters = inspect.signature(engine.recalculate).parameters
    assert list(parameters) == ["paths", "progress", "only"]
    assert parameters["progress"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["only"].kind is inspect.Parameter.KEYWORD_ONLY
    engine.stop()  # always callable


def sigmoid_workbook(path):
    """SIGMOID over numbers, text, a blank and an error, as array formulas."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Layer"
    put_grid(sheet, "A1", [[0.5, "text", None], [-1.5, 2.0, "=NA()"]])
    sheet["D1"] = ArrayFormula("D1:F1", "=SIGMOID(A1:C1)")
    sheet["D2"] = ArrayFormula("D2:F2", "=SIGMOID(A2:C2)")
    sheet["A4"] = "=SIGMOID(A2)"
    sheet["B4"] = "=SUM(D2:E2)"
    book.save(path)
    return path


@pytest.mark.engine
def test_formulas_evaluates_sigmoid_through_the_udfs(tmp_path):
    values = formulas_engine.evaluate(sigmoid_workbook(tmp_path / "s.xlsx"), FUNCTIONS)
    layer = values["Layer"]
    expected = activations.sigmoid([0.5, -1.5, 2.0])
    assert [layer["D1"], layer["D2"], layer["E2"]] == approx(expected.tolist())
    assert layer["E1"] == "#VALUE!"  # text
    assert layer["F1"] == ""  # blank stays blank
    assert layer["F2"] == "#N/A"  # errors pass through
    assert layer["A4"] == approx(expected[1])  # a single cell
    assert layer["B4"] == approx(expected[1:].sum())  # used by a built-in


def every_function_workbook(path):
    """Each registered function applied to the same 2x3 range, one per block."""
    book = openpyxl.Workbook()
    sheet = book.active
    put_grid(sheet, "A1", [[0.5, -3.0, None], [2.0, 0.0, -0.25]])
    for index, name in enumerate(ONE_RANGE):
        row = 4 + 3 * index
        sheet[f"A{row}"] = ArrayFormula(f"A{row}:C{row + 1}", f"={name}($A$1:$C$2)")
    book.save(path)
    return path


@pytest.fixture(scope="module")
def every_function_values(tmp_path_factory):
    workbook = every_function_workbook(tmp_path_factory.mktemp("all") / "all.xlsx")
    return next(iter(formulas_engine.evaluate(workbook, FUNCTIONS).values()))


@pytest.mark.engine
@pytest.mark.parametrize("excel_name", list(ONE_RANGE))
def test_formulas_result_equals_the_adapter_called_directly(
    excel_name, every_function_values
):
    index = list(ONE_RANGE).index(excel_name)
    expected = ONE_RANGE[excel_name]([[0.5, -3.0, None], [2.0, 0.0, -0.25]])
    computed = grid_at(every_function_values, f"A{4 + 3 * index}", (2, 3))
    expected = np.asarray(expected, dtype=object).ravel().tolist()
    for got, want in zip(computed.ravel().tolist(), expected, strict=True):
        assert got == (want if isinstance(want, str) else approx(want))


# --- the bridge between formulas and Excel-style adapters --------------------


def test_excel_argument_converts_what_formulas_passes():
    na = Error.errors["#N/A"]
    grid = np.array([[1, schedula.EMPTY, na], ["x", True, np.float64(2.5)]], object)
    converted = formulas_engine.excel_argument(grid)
    assert converted == [[1.0, None, "#N/A"], ["x", True, 2.5]]
    assert [type(cell) for cell in converted[0]] == [float, type(None), str]


def test_excel_argument_gives_a_single_value_for_one_cell():
    assert formulas_engine.excel_argument(np.array([[3]], object)) == 3.0
    assert formulas_engine.excel_argument(np.array([[schedula.EMPTY]], object)) is None
    assert formulas_engine.excel_argument("rows") == "rows"


def test_formulas_result_converts_what_an_adapter_returns():
    result = formulas_engine.formulas_result(
        [[1.5, "", "#NUM!", "#N/A"], [None, float("nan"), "x", 2]]
    )
    assert result.shape == (2, 4)
    assert result[0, 0] == 1.5 and result[0, 1] == ""
    assert result[0, 2] is Error.errors["#NUM!"]
    assert result[0, 3] is Error.errors["#N/A"]
    assert result[1, 0] is schedula.EMPTY
    assert result[1, 1] is Error.errors["#NUM!"]
    assert result[1, 2] == "x" and result[1, 3] == 2.0


def test_formulas_result_wraps_a_single_value_and_a_row():
    assert formulas_engine.formulas_result(0.25).tolist() == [[0.25]]
    assert formulas_engine.formulas_result([1.0, 2.0]).tolist() == [[1.0, 2.0]]


def test_an_adapter_exception_gives_value_error():
    def broken(x):
        raise ValueError("no")

    result = formulas_engine.formulas_function(broken)(np.array([[1.0]], object))
    assert result[0, 0] is Error.errors["#VALUE!"]
