"""``xlnn serve``: the real xlwings Server, started as a user starts it, over HTTP.

The ``engine`` tests run ``xlnn serve`` as a subprocess on a free loopback
port and talk to it as Excel's add-in does: the function metadata, function
calls, the manifest and a script, through xlwings Server's own routes. They
need the ``server`` extra (in the ``test`` extra): without it they are
skipped, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import datetime
import http.client
import importlib.util
import ipaddress
import json
import os
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import xlwings

from xlnn import activations, scripts, udfs
from xlnn.cli import main
from xlnn.excel import serve

START_TIMEOUT = 60  # seconds for the server to answer; generous for slow CI
STOP_TIMEOUT = 30
SIGTERM_EXIT = 128 + signal.SIGTERM

# What the README documents: XLWINGS.SIGMOID(...), xlwings Server's default
# namespace (XLWINGS_FUNCTIONS_NAMESPACE="XLWINGS" in its config.py and .env).
DOCUMENTED_NAMESPACE = "XLWINGS"

# The book's payload as the Office.js add-in sends it to a script.
EMPTY_BOOK = {
    "client": "Office.js",
    "version": xlwings.__version__,
    "book": {"name": "Book1.xlsx", "active_sheet_index": 0, "selection": "A1"},
    "names": [],
    "sheets": [{"name": "Sheet1", "values": [[""]], "pictures": [], "tables": []}],
}
# An Office.js error cell as Excel sends it (see tests/test_udfs_officejs.py).
NA_IN = {"type": "Error", "basicValue": "#N/A", "errorType": "NotAvailable"}


def _call_body(function_name: str, *args) -> dict:
    """A function call as the add-in sends it (runtime 1.4: typed error cells)."""
    return {
        "client": "Office.js",
        "func_name": function_name,
        "args": list(args),
        "caller_address": "[Book1.xlsx]Sheet1!A1",
        "version": xlwings.__version__,
        "runtime": "1.4",
    }


def _command() -> list[str]:
    """The ``xlnn`` console script next to this Python, else ``-m xlnn``."""
    script = Path(sys.executable).parent / "xlnn"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "xlnn"]


def _user_environment(**changes: str) -> dict[str, str]:
    """A user's shell: no xlwings settings from the test process but the key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XLWINGS_")}
    # xlwings' offline key for noncommercial use; set for the child only.
    env["XLWINGS_LICENSE_KEY"] = "noncommercial"
    env.update(changes)
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _require_server_package() -> None:
    if sys.version_info < (3, 11):
        pytest.skip("xlwings Server needs Python 3.11+")
    if importlib.util.find_spec("xlwings_server") is None:
        message = 'xlwings Server is not installed (pip install -e ".[server]")'
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}, and CI=true requires it")
        pytest.skip(message)


class Server:
    """A running ``xlnn serve`` and how to talk to it."""

    def __init__(self, tmp: Path, *args: str, scheme="http", context=None, **env):
        self.port = _free_port()
        self.base = f"{scheme}://127.0.0.1:{self.port}"
        self.context = context
        self.log = tmp / f"serve-{self.port}.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [*_command(), "serve", "--port", str(self.port), *args],
                env=_user_environment(**env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_answering()

    def output(self) -> str:
        return self.log.read_text()

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"xlnn serve ended early:\n{self.output()}")
            try:
                self.get("/xlwings/custom-functions-meta")
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        self.stop()
        pytest.fail(f"xlnn serve did not answer in {START_TIMEOUT} s:\n{self.output()}")

    def _open(self, request):
        with urllib.request.urlopen(request, timeout=30, context=self.context) as r:
            return r.read().decode()

    def get(self, path: str) -> str:
        return self._open(self.base + path)

    def post(self, path: str, body: dict):
        request = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        return json.loads(self._open(request))

    def call(self, function_name: str, *args):
        """Call a function as the add-in does (runtime 1.4: typed error cells)."""
        body = _call_body(function_name, *args)
        return self.post("/xlwings/custom-functions-call", body)["result"]

    def refused(self, path: str, body: dict) -> tuple[int, str]:
        """The HTTP status and text of a request the server must refuse."""
        try:
            reply = self.post(path, body)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        raise AssertionError(f"{path} was not refused: {reply!r}"[:500])

    def manifest_namespace(self) -> str:
        """The custom functions' namespace the add-in manifest gives Excel."""
        root = ET.fromstring(self.get("/manifest"))
        strings = root.iter(
            "{http://schemas.microsoft.com/office/officeappbasictypes/1.0}String"
        )
        by_id = {s.get("id"): s.get("DefaultValue") for s in strings}
        return by_id["Functions.Namespace"]

    def project_folder(self) -> Path:
        for line in self.output().splitlines():
            if "project folder:" in line:
                return Path(line.split("project folder:", 1)[1].strip())
        raise AssertionError(f"no project folder in:\n{self.output()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def assert_stopped_cleanly(server: Server) -> None:
    project = server.project_folder()
    assert server.stop() == SIGTERM_EXIT, server.output()
    assert "stopped by SIGTERM" in server.output()
    assert "Application shutdown complete" in server.output()
    assert not project.exists()


def _formulas(actions) -> list[str]:
    return [
        cell
        for action in actions
        if action["func"].startswith("setFormula")
        for row in action["values"]
        for cell in row
    ]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``xlnn serve`` with every setting at its default."""
    _require_server_package()
    running = Server(tmp_path_factory.mktemp("serve"))
    yield running
    assert_stopped_cleanly(running)


# --- the running server ------------------------------------------------------


@pytest.mark.engine
def test_meta_lists_every_xlnn_function(server):
    meta = json.loads(server.get("/xlwings/custom-functions-meta"))
    names = sorted(function["name"] for function in meta["functions"])
    assert names == sorted(f.excel_name for f in udfs.FUNCTIONS)
    assert "SIGMOID" in names and "SOFTMAX" in names


@pytest.mark.engine
def test_sigmoid_over_http(server):
    grid = [[-750.0, -2.0, 0.0], [0.5, 3.25, 40.0]]
    result = server.call("sigmoid", grid)
    np.testing.assert_allclose(result, activations.sigmoid(np.array(grid)), rtol=1e-15)


@pytest.mark.engine
def test_a_function_called_by_the_name_the_metadata_lists(server):
    # The add-in sends the Python name (sigmoid); a client reading the
    # metadata sends its "name" or "id": SIGMOID, STEP, STEP_FUNCTION.
    meta = json.loads(server.get("/xlwings/custom-functions-meta"))
    listed = {f["name"] for f in meta["functions"]} | {
        f["id"] for f in meta["functions"]
    }
    assert {"SIGMOID", "STEP", "STEP_FUNCTION"} <= listed
    assert server.call("SIGMOID", [[0.0, 2.0]]) == server.call("sigmoid", [[0.0, 2.0]])
    assert server.call("SIGMOID", [[0.0]]) == [[0.5]]
    assert server.call("STEP", [[-1.0, 2.0]]) == [[0.0, 1.0]]
    assert server.call("STEP_FUNCTION", [[-1.0, 2.0]]) == [[0.0, 1.0]]
    assert server.call("Leaky_Relu", [[-2.0]], [[0.5]]) == [[-1.0]]


@pytest.mark.engine
@pytest.mark.parametrize("name", ["NO_SUCH_FUNCTION", "ShownCells", "catalog"])
def test_a_name_that_is_no_function_is_refused_with_the_names(server, name):
    status, text = server.refused(
        "/xlwings/custom-functions-call", _call_body(name, [[1.0]])
    )
    assert status == 400, text
    assert f"xlnn has no function {name!r}" in text
    assert "SIGMOID" in text and "SOFTMAX" in text  # the functions are listed


@pytest.mark.engine
def test_softmax_over_http_groups_a_range_by_rows(server):
    grid = [[1.0, 2.0, 3.0], [1000.0, 1000.0, -1000.0]]
    result = server.call("softmax", grid)
    expected = activations.softmax(np.array(grid), axis=1)
    np.testing.assert_allclose(result, expected, rtol=1e-15)
    np.testing.assert_allclose(np.sum(result, axis=1), [1.0, 1.0])


@pytest.mark.engine
def test_text_and_error_cells_come_back_as_excel_errors(server):
    result = server.call("sigmoid", [[1.0, "text", NA_IN, ""]])
    assert result == [
        [
            pytest.approx(float(activations.sigmoid(1.0)), rel=1e-15),
            {"type": "Error", "errorType": "Value"},  # text gives #VALUE!
            {"type": "Error", "errorType": "NotAvailable"},  # #N/A passes through
            "",  # a blank stays blank
        ]
    ]
    # In a SOFTMAX group, one error cell makes the whole group that error.
    assert server.call("softmax", [[1.0, NA_IN, 2.0]]) == [
        [{"type": "Error", "errorType": "NotAvailable"}] * 3
    ]


@pytest.mark.engine
def test_manifest_names_the_documented_namespace(server):
    assert server.manifest_namespace() == DOCUMENTED_NAMESPACE
    root = ET.fromstring(server.get("/manifest"))
    office = "{http://schemas.microsoft.com/office/appforoffice/1.1}"
    assert root.find(f"{office}Id").text == serve.MANIFEST_IDS["prod"]
    assert root.find(f"{office}DisplayName").get("DefaultValue") == "xlnn"


@pytest.mark.engine
def test_scripts_are_served(server):
    meta = json.loads(server.get("/xlwings/custom-scripts-meta"))
    names = {entry["function_name"] for entry in meta}
    expected = {"insert_activations", "insert_three_layer_network", "insert_digits"}
    assert expected <= names


@pytest.mark.engine
def test_script_over_http_writes_formulas_in_the_manifest_namespace(server):
    reply = server.post(
        "/xlwings/custom-scripts-call/insert_three_layer_network", EMPTY_BOOK
    )
    actions = reply["actions"]
    assert any(action["func"] == "addSheet" for action in actions)
    formulas = _formulas(actions)
    calls = [f for f in formulas if "SIGMOID(" in f]
    assert calls, formulas
    namespace = server.manifest_namespace()
    assert all(f"={namespace}.SIGMOID(" in f for f in calls), calls


def _data_book() -> tuple[dict, np.ndarray, np.ndarray]:
    """A book with two separable classes selected, and the data as arrays."""
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.normal(0.0, 0.5, (10, 2)), rng.normal(2.0, 0.5, (10, 2))])
    t = np.repeat([0, 1], 10)
    labels = np.array(["no", "yes"])[t]
    values = [
        [*map(float, row), str(label)] for row, label in zip(x, labels, strict=True)
    ]
    book = {**EMPTY_BOOK, "book": {**EMPTY_BOOK["book"], "selection": "A1:C20"}}
    book["sheets"] = [{**EMPTY_BOOK["sheets"][0], "values": values}]
    return book, x, t


@pytest.mark.engine
def test_train_network_over_http_writes_numpys_weights_and_dense(server):
    from officejs_replay import Replay

    from xlnn import learning

    body, x, t = _data_book()
    reply = server.post("/xlwings/custom-scripts-call/train_network", body)
    namespace = server.manifest_namespace()
    dense = [f for f in _formulas(reply["actions"]) if "DENSE(" in f]
    assert len(dense) == 2 and all(f"={namespace}.DENSE(" in f for f in dense)
    weight_seed, order_seed = np.random.SeedSequence(0).spawn(2)
    net = learning.TwoLayerNet(2, 10, 2, "sigmoid", seed=weight_seed)
    learning.train(net, x, t, epochs=100, batch_size=10, learning_rate=0.1,
                   seed=order_seed)  # fmt: skip
    replay = Replay.of(reply["actions"])
    written = {
        (row, col): value
        for (sheet, row, col), value in replay.constants.items()
        if sheet == "trained" and isinstance(value, float)
    }
    # W1 is the first block of numbers on the sheet, under its caption.
    (w1_row, w1_col) = min(written)
    w1 = [[written[(w1_row + i, w1_col + j)] for j in range(10)] for i in range(2)]
    np.testing.assert_array_equal(w1, net.params["W1"])


@pytest.mark.engine
def test_train_network_refusals_reach_the_add_in_as_400_with_the_message(server):
    status, text = server.refused(
        "/xlwings/custom-scripts-call/train_network", EMPTY_BOOK
    )
    assert status == 400, text
    assert text.startswith("train_network: the selection Sheet1!A1 is empty; select")
    assert "An error occurred" not in text


# --- under abuse: argument errors, too many cells, other names -----------------

ARGUMENT_ERRORS = {
    "direction": (
        ("softmax", [[1.0, 2.0]], [["sideways"]]),
        '"rows" (or "row"), "columns"',
    ),
    "activation": (("dense", [[1.0]], [[1.0]], [[0.0]], [["swish"]]), "sigmoid, relu"),
    "shapes": (("dense", [[1.0, 2.0]], [[1.0]], [[0.0]]), "x has 2 columns but W"),
    "cells": (("sigmoid", [[0.0] * 2000] * 2001), "at most 4,000,000 cells"),
    "dense result": (
        ("dense", [[1.0]] * 10_000, [[1.0] * 10_000], [[0.0] * 10_000]),
        "the result, 10000 x 10000: 100,000,000 cells",
    ),
}


@pytest.mark.engine
@pytest.mark.parametrize("case", ARGUMENT_ERRORS)
def test_argument_errors_reach_excel_with_their_message(server, case):
    (function_name, *args), words = ARGUMENT_ERRORS[case]
    status, text = server.refused(
        "/xlwings/custom-functions-call", _call_body(function_name, *args)
    )
    # 400: the add-in shows the text in the cell and does not retry (its retry
    # codes are 500, 502, 503 and 504, xlwings Server's config.py).
    assert status == 400, text
    assert words in text
    assert "An error occurred" not in text


@pytest.mark.engine
def test_the_server_still_answers_after_refusing(server):
    server.refused(
        "/xlwings/custom-functions-call", _call_body("sigmoid", [[0.0] * 2000] * 2001)
    )
    assert server.call("sigmoid", [[0.0]]) == [[0.5]]


@pytest.mark.engine
def test_only_the_scripts_are_served(server):
    meta = json.loads(server.get("/xlwings/custom-scripts-meta"))
    assert sorted(entry["function_name"] for entry in meta) == sorted(scripts.__all__)


# Attributes of xlnn.scripts that are not scripts: a helper function, a class,
# imported modules and functions.
NOT_SCRIPTS = [
    "insert",
    "insert_into_active_book",
    "train_in_active_book",
    "active_book",
    "os",
    "udfs",
    "script",
]


@pytest.mark.engine
@pytest.mark.parametrize("name", NOT_SCRIPTS)
def test_other_names_of_xlnn_scripts_are_refused(server, name):
    assert hasattr(scripts, name)  # there to be called, without __all__
    status, text = server.refused(f"/xlwings/custom-scripts-call/{name}", EMPTY_BOOK)
    assert status == 400, text
    assert f"xlnn has no script {name!r}" in text
    assert "insert_activations" in text  # the scripts are listed


def test_scripts_all_names_every_script_and_nothing_else():
    marked = {
        name for name, value in vars(scripts).items() if hasattr(value, "__xlscript__")
    }
    assert set(scripts.__all__) == marked


def test_function_named_finds_each_function_by_its_excel_name_or_id():
    for function in udfs.FUNCTIONS:
        assert udfs.function_named(function.excel_name) is function
        assert udfs.function_named(function.excel_name.lower()) is function
        assert udfs.function_named(function.__name__.upper()) is function
    with pytest.raises(AttributeError) as info:
        udfs.function_named("SIGMOIDAL")
    assert isinstance(info.value, xlwings.XlwingsError)  # HTTP 400, not 500
    # hasattr and getattr with a default, which xlwings uses, still work
    with pytest.raises(AttributeError):
        udfs.function_named("__xlwings_func_namespace__")


def test_no_such_script_is_an_attribute_error_and_an_xlwings_error():
    with pytest.raises(AttributeError) as info:
        scripts.no_such_script("insert")
    assert isinstance(info.value, xlwings.XlwingsError)


@pytest.mark.engine
def test_with_workers_a_small_call_completes_while_a_large_one_runs(tmp_path):
    """Order, not speed: with two workers, SIGMOID of one cell is answered
    while a 1500 x 1500 SIGMOID (seconds of work on one event loop, mostly
    FastAPI encoding the result) has not been answered yet."""
    _require_server_package()
    workers = Server(tmp_path, "--workers", "2")
    side = 1500
    large = http.client.HTTPConnection("127.0.0.1", workers.port, timeout=120)
    try:
        body = json.dumps(_call_body("sigmoid", [[0.25] * side] * side))
        large.request(
            "POST",
            "/xlwings/custom-functions-call",
            body=body,
            headers={"Content-Type": "application/json"},
        )
        # The request is sent; its worker is now reading and computing it.
        # A short wait makes sure that worker is busy, not accepting.
        time.sleep(0.5)
        assert workers.call("sigmoid", [[0.0]]) == [[0.5]]
        readable, _, _ = select.select([large.sock], [], [], 0)
        assert not readable, "the large call was answered first"
        reply = large.getresponse()
        assert reply.status == 200
        result = json.loads(reply.read())["result"]
        assert len(result) == side and len(result[0]) == side
        assert result[-1][-1] == pytest.approx(float(activations.sigmoid(0.25)))
    finally:
        large.close()
        assert_stopped_cleanly(workers)


@pytest.mark.parametrize("workers", ["0", "65", "two"])
def test_a_bad_number_of_workers_is_a_usage_error(workers, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--workers", workers])
    assert exit_.value.code == 2
    assert "not a number of workers" in capsys.readouterr().err


# --- other settings, each its own server ----------------------------------------


@pytest.mark.engine
def test_dev_environment_appends_its_name_to_the_namespace(tmp_path):
    _require_server_package()
    dev = Server(tmp_path, XLWINGS_FUNCTIONS_NAMESPACE="nn", XLWINGS_ENVIRONMENT="dev")
    try:
        # xlwings Server's rule: NAMESPACE_ENV outside prod (templates/manifest.xml)
        assert dev.manifest_namespace() == "NN_DEV"
        reply = dev.post("/xlwings/custom-scripts-call/insert_activations", EMPTY_BOOK)
        calls = [f for f in _formulas(reply["actions"]) if "SIGMOID(" in f]
        assert calls and all("=NN_DEV.SIGMOID(" in f for f in calls), calls
    finally:
        assert_stopped_cleanly(dev)


def _self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (cryptography comes with xlwings Server)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


@pytest.mark.engine
def test_https_with_a_certificate(tmp_path):
    _require_server_package()
    certfile, keyfile = _self_signed_certificate(tmp_path)
    trusting = ssl.create_default_context(cafile=str(certfile))
    secure = Server(
        tmp_path,
        *("--ssl-certfile", str(certfile), "--ssl-keyfile", str(keyfile)),
        scheme="https",
        context=trusting,
    )
    try:
        assert secure.call("sigmoid", [[0.0]]) == [[0.5]]
        # The manifest points Excel at https addresses.
        assert f"https://127.0.0.1:{secure.port}/taskpane.html" in secure.get(
            "/manifest"
        )
        with pytest.raises(
            (urllib.error.URLError, ConnectionError)
        ):  # plain HTTP is not served
            urllib.request.urlopen(
                f"http://127.0.0.1:{secure.port}/manifest", timeout=5
            )
    finally:
        assert_stopped_cleanly(secure)


# --- refusing to start -------------------------------------------------------------


def test_without_the_extra_exits_2_with_the_pip_command(in_process, monkeypatch):
    # sys.modules[name] = None is how the import system spells "not installed".
    monkeypatch.setitem(sys.modules, "xlwings_server", None)
    done = in_process("serve")
    assert done.returncode == 2
    expected = (
        'pip install -e ".[server]" (in xlnn\'s folder)'
        if sys.version_info >= (3, 11)
        else "needs Python 3.11"
    )
    assert expected in done.stderr


def test_without_a_license_key_exits_2_saying_how_to_get_one(monkeypatch, capsys):
    monkeypatch.delenv("XLWINGS_LICENSE_KEY", raising=False)
    monkeypatch.setattr(serve, "check_installed", lambda: None)
    assert main(["serve", "--port", str(_free_port())]) == 2
    message = capsys.readouterr().err
    assert "XLWINGS_LICENSE_KEY" in message
    assert "XLWINGS_LICENSE_KEY=noncommercial" in message  # noncommercial use
    assert "https://www.xlwings.org/pricing" in message  # PRO, for commercial use


def test_a_taken_port_exits_2_naming_it(monkeypatch, capsys):
    monkeypatch.setattr(serve, "check_installed", lambda: None)
    monkeypatch.setattr(serve, "configure", lambda: None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1 port {port}" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_a_bad_port_is_a_usage_error(port, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--port", port])
    assert exit_.value.code == 2
    assert "not a port number" in capsys.readouterr().err


def test_a_certificate_without_its_key_exits_2(capsys):
    assert main(["serve", "--ssl-certfile", "cert.pem"]) == 2
    assert "--ssl-keyfile" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["missing", "not PEM"])
def test_tls_files_that_do_not_load_exit_2_before_anything_starts(
    kind, tmp_path, capsys
):
    # uvicorn loads them only when it serves: this was a traceback there
    certfile = tmp_path / "cert.pem"
    if kind == "not PEM":
        certfile.write_text("not a certificate")
    args = ["serve", "--ssl-certfile", str(certfile), "--ssl-keyfile", str(certfile)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"xlnn serve: --ssl-certfile {certfile} with")
    assert len(err.splitlines()) == 1
    assert ("No such file" if kind == "missing" else "not a PEM certificate") in err


# --- settings -----------------------------------------------------------------------


def test_configure_sets_the_namespace_and_environment_explicitly():
    environ: dict[str, str] = {}
    serve.configure(environ)
    assert environ["XLWINGS_FUNCTIONS_NAMESPACE"] == "XLWINGS"  # xlwings Server's
    assert environ["XLWINGS_ENVIRONMENT"] == "prod"  # xlwings Server's default
    assert environ["XLWINGS_ON_SERVER"] == "true"
    assert environ["XLWINGS_MANIFEST_ID_DEV"] == serve.MANIFEST_IDS["dev"]
    assert "XLWINGS_LICENSE_KEY" not in environ  # never set by xlnn


def test_configure_keeps_the_users_settings():
    environ = {
        "XLWINGS_FUNCTIONS_NAMESPACE": "",
        "XLWINGS_ENVIRONMENT": "qa",
        "XLWINGS_PROJECT_NAME": "Team NN",
    }
    serve.configure(environ)
    assert environ["XLWINGS_FUNCTIONS_NAMESPACE"] == ""
    assert environ["XLWINGS_ENVIRONMENT"] == "qa"
    assert environ["XLWINGS_PROJECT_NAME"] == "Team NN"


def test_configure_rejects_an_unknown_environment():
    with pytest.raises(serve.NotStarted, match="one of dev, qa, uat, staging, prod"):
        serve.configure({"XLWINGS_ENVIRONMENT": "production"})


# (namespace setting, environment) -> the manifest's namespace; xlwings Server
# 1.20, templates/manifest.xml: NAMESPACE, then _ENV outside prod.
NAMESPACE_RULE = {
    ("XLWINGS", "prod"): "XLWINGS",
    ("xlwings", "dev"): "XLWINGS_DEV",
    ("NN", "staging"): "NN_STAGING",
    ("", "prod"): "",
    ("", "qa"): "QA",
}


@pytest.mark.parametrize(("setting", "environment"), NAMESPACE_RULE)
def test_function_namespace_follows_xlwings_servers_rule(
    monkeypatch, setting, environment
):
    monkeypatch.setenv("XLWINGS_FUNCTIONS_NAMESPACE", setting)
    monkeypatch.setenv("XLWINGS_ENVIRONMENT", environment)
    assert scripts.function_namespace() == NAMESPACE_RULE[setting, environment]


@pytest.mark.parametrize(("setting", "environment"), NAMESPACE_RULE)
def test_namespace_rule_matches_xlwings_servers_manifest_template(setting, environment):
    """Render xlwings Server's own manifest template: the same namespace."""
    _require_server_package()
    import jinja2

    spec = importlib.util.find_spec("xlwings_server")
    template_file = Path(spec.origin).parent / "templates" / "manifest.xml"
    settings = {
        "functions_namespace": setting,
        "environment": environment,
        "project_name": "xlnn",
        "static_url_path": "/static",
    }
    manifest = jinja2.Template(template_file.read_text()).render(
        settings=settings, base_url="https://x", base_url_with_app_path="https://x"
    )
    root = ET.fromstring(manifest)
    strings = root.iter(
        "{http://schemas.microsoft.com/office/officeappbasictypes/1.0}String"
    )
    rendered = {s.get("id"): s.get("DefaultValue") for s in strings}
    expected = NAMESPACE_RULE[setting, environment]
    assert rendered.get("Functions.Namespace", "") == expected


def test_no_namespace_outside_xlwings_server(monkeypatch):
    monkeypatch.delenv("XLWINGS_FUNCTIONS_NAMESPACE", raising=False)
    monkeypatch.setenv("XLWINGS_ENVIRONMENT", "dev")  # xlwings Lite ignores it
    assert scripts.function_namespace() == ""


# --- the documented endpoints ---------------------------------------------------------

ROUTES = """
import json, sys, tempfile, warnings
from pathlib import Path
from xlnn.excel import serve

warnings.simplefilter("ignore")
serve.configure()
serve.load_app(serve.write_project(Path(tempfile.mkdtemp())))
from xlwings_server.main import app

routes = [
    f"{method.upper()} {path}"
    for path, operations in app.openapi()["paths"].items()
    for method in operations
]
print(json.dumps(routes))
"""


@pytest.mark.engine
def test_docs_serve_lists_every_route_xlwings_server_has():
    _require_server_package()
    done = subprocess.run(
        [sys.executable, "-c", ROUTES],
        env=_user_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    served = set(json.loads(done.stdout.splitlines()[-1]))
    assert "POST /xlwings/custom-functions-call" in served
    docs = (Path(__file__).resolve().parents[1] / "docs" / "serve.md").read_text()
    documented = set(re.findall(r"`((?:GET|HEAD|POST) /[^`]*)`", docs))
    assert documented == served


# --- the project folder ---------------------------------------------------------------


def test_project_folder_imports_xlnn(tmp_path):
    serve.write_project(tmp_path)
    functions = (tmp_path / "custom_functions" / "__init__.py").read_text()
    assert "from xlnn.udfs import *" in functions
    script_code = (tmp_path / "custom_scripts" / "__init__.py").read_text()
    assert "from xlnn.scripts import *" in script_code
    assert "from xlnn.scripts import no_such_script as __getattr__" in script_code
    assert "from xlnn.udfs import function_named as __getattr__" in functions


def test_project_folder_fails_loudly_when_xlnn_cannot_be_imported(tmp_path):
    """Never a ModuleNotFoundError, on which xlwings Server serves its examples."""
    serve.write_project(tmp_path)
    code = (
        "import sys; sys.modules['xlnn.udfs'] = None\n"
        "try:\n"
        "    import custom_functions\n"
        "except ModuleNotFoundError:\n"
        "    sys.exit('ModuleNotFoundError')\n"
        "except RuntimeError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=_user_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "xlnn.udfs could not be imported" in done.stdout
