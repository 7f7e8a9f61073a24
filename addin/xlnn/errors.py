"""The one error base class for everything a user can cause, and the line a
command ends with when a signal stops it.

A bad model file, a CSV that is not numbers, a file in the way, an option out
of range: each is a :class:`UserError` (or a subclass, such as
:class:`xlnn.export.sources.SourceError`) whose message is one line naming the
culprit. :func:`xlnn.cli.main` prints it and exits 2; a traceback is a bug.
"""

from __future__ import annotations

import signal
import sys


class UserError(Exception):
    """Something the user can fix; the message is one line saying what."""

    def __init__(self, message: object = ""):
        # One line, so the command line can print it as is.
        super().__init__(" ".join(str(message).split()))


def stopped_by(what: str, signum: int, consequence: str = "") -> int:
    """Say on stderr that ``what`` was stopped by signal ``signum``; return the
    exit code a shell gives a process the signal ended, 128 + ``signum``."""
    name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    print(f"{what}: stopped by {name}{consequence}", file=sys.stderr)
    return 128 + signum


def quoted(text: str, limit: int = 40) -> str:
    """``text`` in quotes for a message, cut to ``limit`` characters: a cell or a
    line of a file can be any length, and a message is one readable line.

    >>> quoted("cat"), quoted("x" * 50, limit=5)
    ("'cat'", "'xx...'")
    """
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def install_hint(extra: str) -> str:
    """How to add the optional dependencies ``extra`` (pyproject.toml's name).

    xlnn is not on a package index, so asking pip for xlnn by name finds
    nothing: the extra is installed from the clone xlnn came from. Every
    message and the README say it this way; once xlnn is published, this is
    the one place to add the index's form.
    """
    return f'pip install -e ".[{extra}]" (in xlnn\'s folder)'
