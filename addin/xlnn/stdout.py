"""Standard output that may fail: closed, on a full disk, or a pipe with no reader.

``xlnn lite > /dev/full``, ``xlnn functions >&-`` or ``xlnn functions | head -1``
must not end in a traceback. :func:`checked` stands in for ``sys.stdout``
while a command runs and turns any failure to write or flush it into
:class:`StdoutError`; :func:`discard` then points the file descriptor at the
null device, so that Python's own flush at exit finds nothing to fail on.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys


class StdoutError(Exception):
    """Standard output cannot take what a command writes; the message says why.

    Not a :class:`~xlnn.errors.UserError`: nothing in the command's input is
    wrong, and the output that is still buffered must be discarded first.
    """

    def __init__(self, reason: str, *, reader_gone: bool = False):
        super().__init__(f"cannot write to standard output: {reason}")
        #: A pipe whose reader exited (``| head -1``): it asked for no more.
        self.reader_gone = reader_gone


class _Checked:
    """A text stream whose write and flush failures are :class:`StdoutError`."""

    def __init__(self, stream):
        self._stream = stream

    def _guarded(self, name: str, *args):
        if self._stream is None:  # started with file descriptor 1 closed
            raise StdoutError("closed")
        try:
            return getattr(self._stream, name)(*args)
        except BrokenPipeError:
            raise StdoutError("the reader has gone", reader_gone=True) from None
        except (OSError, ValueError) as error:  # ValueError: a closed file object
            reason = getattr(error, "strerror", None) or str(error)
            if getattr(error, "errno", None) == errno.EBADF:
                reason = "closed"
            raise StdoutError(reason) from None

    def write(self, text: str) -> int:
        return self._guarded("write", text)

    def flush(self) -> None:
        self._guarded("flush")

    def __getattr__(self, name: str):
        if self._stream is None:
            raise StdoutError("closed")
        return getattr(self._stream, name)


@contextlib.contextmanager
def checked():
    """Make ``sys.stdout`` a checked stream inside the block; flush it at the end.

    The flush is inside, so that a full disk shows here rather than when
    Python exits; it runs also when the block raises ``SystemExit`` (argparse
    after ``--help`` or ``--version``).
    """
    real = sys.stdout
    sys.stdout = _Checked(real)
    try:
        try:
            yield
        finally:
            sys.stdout.flush()
    finally:
        sys.stdout = real


def discard() -> None:
    """Drop whatever ``sys.stdout`` still holds: point its descriptor at devnull.

    Python flushes ``sys.stdout`` on exit; on a stdout that already failed,
    that flush would fail again and print "Exception ignored". What is
    buffered goes to the null device instead (the way Python's documentation
    advises for a broken pipe).
    """
    if sys.stdout is None:
        return
    try:
        descriptor = sys.stdout.fileno()
    except (OSError, ValueError, AttributeError):  # no descriptor (tests' capture)
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, descriptor)
    finally:
        os.close(null)
