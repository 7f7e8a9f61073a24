"""``xlnn serve``: the real xlwings Server, serving xlnn's functions and scripts.

xlwings Server (PyPI ``xlwings-server``, Python 3.11+) is a FastAPI app that
Excel's Office.js add-in calls over HTTP: one shared, managed installation for
a whole team. xlnn's ``server`` extra installs it; ``xlnn serve`` runs
it with uvicorn: in this process, or in ``--workers N`` processes.

Why workers, not threads
------------------------
xlwings Server's route is ``async`` and calls xlnn's (synchronous) functions
on its event loop; FastAPI then encodes the result (``jsonable_encoder``) and
``json.dumps`` it on that loop too. For a 1500 x 1500 SIGMOID, measured on a
shared 2-core Linux machine: parsing the request 0.7 s, the call itself
(xlwings' conversion and xlnn) 0.4 s, encoding 3.5 s and ``json.dumps`` 3.0 s.
Running the function in a thread would free the loop for a tenth of that, so
each worker is a process of its own: while one is busy with a large call,
the others accept and answer new connections. The cost is memory (about
90 MB per idle worker) and a large call still holds its own worker (and any
keep-alive connection to it) for its duration; :data:`xlnn.functions.cells.MAX_CELLS`
bounds that duration and the memory of one call.

How xlwings Server finds xlnn
-----------------------------
xlwings Server serves the packages ``custom_functions`` and ``custom_scripts``
of a *project folder*: the folder named by ``XLWINGS_PROJECT_DIR``, which it
puts first on ``sys.path``. ``xlnn serve`` writes one into a new temporary
folder (removed when the server stops), with one star import in each
package::

    custom_functions/__init__.py    from xlnn.udfs import *
                                    from xlnn.udfs import (
                                        function_named as __getattr__)
    custom_scripts/__init__.py      from xlnn.scripts import *
                                    from xlnn.scripts import (
                                        no_such_script as __getattr__)

The star imports take ``__all__``: the functions, and the scripts only, since
xlwings Server calls whatever attribute of ``custom_scripts`` a request names.
The module ``__getattr__`` (PEP 562) answers any other name: a function's
name in Excel (``SIGMOID``) is that function (:func:`xlnn.udfs.function_named`),
and anything else is :class:`xlnn.udfs.NoSuchFunction` or
:class:`xlnn.scripts.NoSuchScript`, which xlwings Server sends back as HTTP 400
with its message (the endpoints: docs/serve.md). Nothing else goes in the
folder: no ``.env``, ``pyproject.toml`` or ``config.py``, so every setting
comes from an ``XLWINGS_*`` environment variable or is xlwings Server's
default. Should either import fail, the package raises a
``RuntimeError``: xlwings Server takes a ``ModuleNotFoundError`` to mean "no
such package" and would quietly serve its own example functions instead.

Settings
--------
``XLWINGS_LICENSE_KEY`` (required): ``noncommercial`` for noncommercial use
(PolyForm Noncommercial License 1.0.0), else an xlwings PRO key. It is never
set here. ``XLWINGS_FUNCTIONS_NAMESPACE`` (default ``XLWINGS``, xlwings
Server's) and ``XLWINGS_ENVIRONMENT`` (default ``prod``) are put in the
environment explicitly, so that the namespace xlwings Server writes into its
manifest is the one :func:`xlnn.scripts.function_namespace` reads: ``XLWINGS``
(``=XLWINGS.SIGMOID(A1:C3)``), and outside ``prod`` the environment's name
appended (``XLWINGS_DEV``). ``XLWINGS_PROJECT_NAME`` (the add-in's name in
Excel) defaults to ``xlnn`` and each environment's manifest id to xlnn's own
(:data:`MANIFEST_IDS`), so that xlnn's add-in never takes the place of
another xlwings Server add-in that kept xlwings Server's default ids. Any of
these set by the user wins.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path

from xlnn.errors import install_hint, stopped_by

#: Exit codes: 2 when the server could not start (nothing was served).
EXIT_OK, EXIT_NOT_STARTED = 0, 2

SERVER_PACKAGE = "xlwings_server"
INSTALL_HINT = install_hint("server")
ENVIRONMENTS = ("dev", "qa", "uat", "staging", "prod")  # xlwings Server 1.20's
DEFAULT_NAMESPACE = "XLWINGS"  # xlwings Server 1.20's default (its config.py)

#: xlnn's add-in id in each environment's manifest (generated once, uuid4).
MANIFEST_IDS = {
    "dev": "75775d51-df6d-47c9-a1df-372b75458929",
    "qa": "4b49b830-c4e2-4d26-b3f1-eda97f33fbc1",
    "uat": "0e69e502-5830-491b-8e95-67e7c1ca50b3",
    "staging": "15426e10-a9b1-4c6c-87ef-0db7944c243a",
    "prod": "b76b6bc5-0e25-4a4b-bb87-09842cb49b98",
}

LICENSE_HELP = """\
  noncommercial use (PolyForm Noncommercial License 1.0.0):
      export XLWINGS_LICENSE_KEY=noncommercial
  commercial use, which includes internal tools in a company: an xlwings PRO
  key, https://www.xlwings.org/pricing (trial keys: https://www.xlwings.org/trial)"""

DESCRIPTION = f"""\
Start xlwings Server (the PyPI package xlwings-server) with xlnn's functions
(xlnn.udfs) and scripts (xlnn.scripts), for a team's Excel to call.
Needs Python 3.11+, xlwings Server ({INSTALL_HINT}),
and a license key in XLWINGS_LICENSE_KEY: "noncommercial" for noncommercial
use (PolyForm Noncommercial), an xlwings PRO key otherwise.

In Excel the functions are XLWINGS.SIGMOID(...) and so on
(XLWINGS_FUNCTIONS_NAMESPACE; outside XLWINGS_ENVIRONMENT=prod the
environment is appended: XLWINGS_DEV.SIGMOID). Load the add-in from the
manifest at /manifest. Office.js add-ins need HTTPS: give a certificate
(--ssl-certfile, --ssl-keyfile) or put a TLS reverse proxy in front.
Stop with Ctrl-C or SIGTERM.

exit codes:
  2    not started: xlwings Server missing, no license key, a bad setting,
       or the address is taken
  130  stopped by Ctrl-C, 143 by SIGTERM (after a clean shutdown)"""

EXAMPLES = """\
examples:
  XLWINGS_LICENSE_KEY=noncommercial xlnn serve
  xlnn serve --port 8443 --ssl-certfile localhost+2.pem \\
             --ssl-keyfile localhost+2-key.pem
  XLWINGS_ENVIRONMENT=dev xlnn serve      functions become XLWINGS_DEV.SIGMOID"""


class NotStarted(Exception):
    """The server cannot start; the message says why and what to do."""


def _port(text: str) -> int:
    """A TCP port number, for ``--port``."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (1-65535): {text!r}")
    return int(text)


def _workers(text: str) -> int:
    """A number of worker processes, for ``--workers``."""
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"not a number of workers (1-64): {text!r}")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``xlnn serve``'s options."""
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only)",
    )
    parser.add_argument(
        "--port", type=_port, default=8000, help="port to listen on (default: 8000)"
    )
    parser.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="worker processes (default: 1); with 2 or more, a large call "
        "holds up only its own worker",
    )
    parser.add_argument(
        "--ssl-certfile", type=Path, metavar="FILE", help="TLS certificate (PEM)"
    )
    parser.add_argument(
        "--ssl-keyfile", type=Path, metavar="FILE", help="TLS private key (PEM)"
    )


def check_installed() -> None:
    """Raise :class:`NotStarted` unless xlwings Server can be imported."""
    if sys.version_info < (3, 11):
        version = ".".join(map(str, sys.version_info[:3]))
        raise NotStarted(
            f"xlnn serve: xlwings Server needs Python 3.11 or later; this is {version}"
        )
    if importlib.util.find_spec(SERVER_PACKAGE) is None:
        raise NotStarted(
            f"xlnn serve: xlwings Server is not installed; run: {INSTALL_HINT}"
        )


def check_license() -> None:
    """Raise :class:`NotStarted` unless the user gave a license key."""
    if not os.environ.get("XLWINGS_LICENSE_KEY", "").strip():
        raise NotStarted(
            "xlnn serve: xlwings Server needs a license key in XLWINGS_LICENSE_KEY.\n"
            + LICENSE_HELP
        )


def configure(environ=os.environ) -> None:
    """Put xlwings Server's settings in ``environ``, explicitly (see the module)."""
    environment = environ.setdefault("XLWINGS_ENVIRONMENT", "prod")
    if environment not in ENVIRONMENTS:
        raise NotStarted(
            f"xlnn serve: XLWINGS_ENVIRONMENT={environment!r} is not one of "
            f"{', '.join(ENVIRONMENTS)}"
        )
    environ.setdefault("XLWINGS_FUNCTIONS_NAMESPACE", DEFAULT_NAMESPACE)
    environ.setdefault("XLWINGS_PROJECT_NAME", "xlnn")
    for name, manifest_id in MANIFEST_IDS.items():
        environ.setdefault(f"XLWINGS_MANIFEST_ID_{name.upper()}", manifest_id)
    # xlwings reads this once, when first imported: its decorators are then
    # xlwings.server's, which xlnn.udfs and xlnn.scripts must be made with.
    environ["XLWINGS_ON_SERVER"] = "true"


_PACKAGE_CODE = '''\
"""Written by xlnn serve: xlwings Server serves {module}'s {kind}."""

try:
    from {module} import *  # noqa: F403{extra}
except ImportError as error:
    # A ModuleNotFoundError from here would make xlwings Server fall back to
    # its example {kind}: fail loudly instead.
    raise RuntimeError(f"{module} could not be imported: {{error}}") from error
'''


def write_project(folder: Path) -> Path:
    """Write xlwings Server's project folder for xlnn into ``folder``; return it."""
    for package, module, kind, other_names in (
        ("custom_functions", "xlnn.udfs", "functions", "function_named"),
        ("custom_scripts", "xlnn.scripts", "scripts", "no_such_script"),
    ):
        (folder / package).mkdir(parents=True)
        extra = f"\n    from {module} import {other_names} as __getattr__"
        code = _PACKAGE_CODE.format(module=module, kind=kind, extra=extra)
        (folder / package / "__init__.py").write_text(code, encoding="utf-8")
    return folder


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, or :class:`NotStarted` saying why not."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as error:
        raise NotStarted(f"xlnn serve: cannot listen on {host}: {error}") from None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        reason = error.strerror or error
        raise NotStarted(
            f"xlnn serve: cannot listen on {host} port {port}: {reason}"
        ) from None
    return sock


def load_app(project: Path):
    """xlwings Server's ASGI app, serving ``project``'s packages."""
    os.environ["XLWINGS_PROJECT_DIR"] = str(project)
    try:
        import xlwings
    except Exception as error:  # xlwings.LicenseError, of a half-imported xlwings
        if type(error).__name__ != "LicenseError":
            raise
        raise NotStarted(f"xlnn serve: {error}\n{LICENSE_HELP}") from None

    if not xlwings.on_server:  # imported before configure(): decorators are no-ops
        raise NotStarted("xlnn serve: xlwings was imported before XLWINGS_ON_SERVER")
    from xlwings_server.main import main_app
    from xlwings_server.routers import xlwings as routes

    for module in (routes.custom_functions, routes.custom_scripts):
        if Path(module.__file__).parent.parent != project:
            raise NotStarted(f"xlnn serve: xlwings Server loaded {module.__file__}")
    return main_app


def _banner(args, namespace: str) -> str:
    scheme = "https" if args.ssl_certfile else "http"
    host = f"[{args.host}]" if ":" in args.host else args.host
    base = f"{scheme}://{host}:{args.port}"
    lines = [
        f"xlnn serve: xlnn's functions as {namespace + '.' if namespace else ''}"
        f"SIGMOID and so on, at {base}",
        f"  add-in manifest: {base}/manifest",
    ]
    if scheme == "http":
        lines.append(
            "  plain HTTP: Excel's Office.js add-ins need HTTPS "
            "(--ssl-certfile/--ssl-keyfile, or a TLS reverse proxy)"
        )
    return "\n".join(lines)


#: Seconds a worker may take to answer uvicorn's health check: longer than
#: any call of at most MAX_CELLS cells (2000 x 2000 SIGMOID: 33 s on a busy
#: shared 2-core machine).
HEALTHCHECK_TIMEOUT = 120

#: xlwings Server's ASGI app, as each worker process imports it.
APP_IMPORT = "xlwings_server.main:main_app"


def _supervisor(config, sockets: list[socket.socket], received: list[int]):
    """uvicorn's worker supervisor, noting the signal that stopped it.

    It handles SIGINT and SIGTERM itself (it stops its workers, each shutting
    down gracefully, and returns), so the signal is noted in ``received``.
    """
    from uvicorn.supervisors import Multiprocess

    class Workers(Multiprocess):
        def handle_int(self) -> None:
            received.append(signal.SIGINT)
            super().handle_int()

        def handle_term(self) -> None:
            received.append(signal.SIGTERM)
            super().handle_term()

    return Workers(config, sockets)


def _serve(app, sock: socket.socket, args) -> int:
    """Serve until Ctrl-C or SIGTERM; then 128 + the signal's number."""
    import uvicorn

    received: list[int] = []

    def remember(signum, frame):
        received.append(signum)

    # uvicorn shuts down gracefully on these signals, then raises the signal
    # again for the handler it found: this one, so that cleanup still runs.
    watched = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, remember) for signum in watched}
    try:
        workers = getattr(args, "workers", 1)
        config = uvicorn.Config(
            # Each worker process imports the app afresh, from the environment
            # (XLWINGS_PROJECT_DIR and the settings) this process set up.
            APP_IMPORT if workers > 1 else app,
            workers=workers,
            ssl_certfile=args.ssl_certfile and str(args.ssl_certfile),
            ssl_keyfile=args.ssl_keyfile and str(args.ssl_keyfile),
            timeout_graceful_shutdown=10,
            # uvicorn kills a worker that misses its health check (5 s by
            # default); json.dumps of a large result holds the GIL that long
            # on a busy machine, so a worker in the middle of a call was killed.
            timeout_worker_healthcheck=HEALTHCHECK_TIMEOUT,
        )
        if workers > 1:
            _supervisor(config, [sock], received).run()
        else:
            uvicorn.Server(config).run(sockets=[sock])
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return stopped_by("xlnn serve", received[0]) if received else EXIT_OK


def check_tls(certfile: Path | None, keyfile: Path | None) -> None:
    """Both TLS files or neither, and a certificate and key that load.

    Checked before anything starts: uvicorn loads them only when it serves,
    and a missing or wrong file was a traceback there.
    """
    if bool(certfile) != bool(keyfile):
        raise NotStarted("xlnn serve: give both --ssl-certfile and --ssl-keyfile")
    if certfile:
        import ssl

        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(certfile, keyfile)
        except ssl.SSLError as error:
            reason = f"not a PEM certificate and its private key ({error.reason})"
        except OSError as error:
            reason = error.strerror or error
        else:
            return
        raise NotStarted(
            f"xlnn serve: --ssl-certfile {certfile} with --ssl-keyfile {keyfile}: "
            f"{reason}"
        )


def run(args) -> int:
    """``xlnn serve``: check, configure, write the project folder, serve."""
    sock = project = None
    try:
        check_tls(args.ssl_certfile, args.ssl_keyfile)
        check_installed()
        check_license()
        configure()
        sock = listen(args.host, args.port)
        project = write_project(Path(tempfile.mkdtemp(prefix="xlnn-serve-")))
        app = load_app(project)
        from xlnn.scripts import function_namespace

        print(_banner(args, function_namespace()), file=sys.stderr)
        print(f"  project folder: {project}", file=sys.stderr, flush=True)
        return _serve(app, sock, args)
    except NotStarted as error:
        print(error, file=sys.stderr)
        return EXIT_NOT_STARTED
    finally:
        if sock is not None:
            sock.close()
        if project is not None:
            shutil.rmtree(project, ignore_errors=True)
