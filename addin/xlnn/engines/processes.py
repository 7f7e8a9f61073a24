"""Child processes: dying with their parent, how one ended, and forked workers.

:class:`ForkedWorkers` runs jobs side by side in worker processes, each job's
result and progress lines coming back through a pipe. ``xlnn build`` gives it
the add-in files, which ``formulas`` evaluates in Python, one core per file.

Forked, not spawned. A worker is a copy of this process: it inherits the jobs
(engines, checks, NumPy arrays) and every module already imported, so nothing
is pickled but what comes back, and no worker imports anything. ``fork``
copies only the thread that calls it, and a lock another thread holds stays
held in the copy: the workers are forked when the ``with`` block starts, so
start it before any thread. Workers are forked on Linux only (Windows has no
fork; on macOS, where system libraries may crash in a forked child, Python
itself stopped forking by default); elsewhere the jobs run one after the
other in this thread, as before.

Stopping. A worker ignores Ctrl-C, dies on SIGTERM, and on Linux dies with
this process. Leaving the ``with`` block for any reason (a job's exception
raised again here, Ctrl-C, SIGTERM raised as an exception) ends every worker,
so that none outlives it.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import wait

from xlnn.engines import EngineError, Progress

__all__ = [
    "ForkedWorkers",
    "HeldInterrupts",
    "WorkerEnded",
    "describe_exit",
    "die_with_parent_hook",
]

#: Where forked workers are safe (see the module docstring).
FORKING = sys.platform.startswith("linux")

# prctl's option that sends a signal to the caller when its parent dies.
_PR_SET_PDEATHSIG = 1


def _prctl():
    """libc's ``prctl``, on Linux; else ``None``.

    Looked up here, in the parent: the child between fork and exec should do
    as little as possible (no dlopen while another thread may hold its lock).
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def die_with_parent_hook():
    """A hook for a child to call first: die when the Python that started it dies.

    Linux only (``None`` elsewhere): a ``preexec_fn`` for a program, or the
    first call of a forked worker. The signal is SIGTERM, not SIGKILL:
    SIGTERM ends ``oosplash`` and the ``soffice.bin`` it started (measured),
    while a SIGKILL of ``oosplash`` leaves ``soffice.bin`` running. Linux
    sends it when the *thread* that started the child ends: LibreOffice's
    thread waits for its ``soffice`` to end, and the workers are started by
    the thread that waits for them, so that is the process ending.
    """
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl ran
            os.kill(os.getpid(), signal.SIGTERM)

    return hook


#: The signals a user stops xlnn with, which Python raises as exceptions.
_INTERRUPTS = (signal.SIGINT, signal.SIGTERM)


class HeldInterrupts:
    """Ctrl-C and SIGTERM held back until :meth:`release`, for starting a child.

    Between ``Popen`` returning and the caller noting the new process, a
    Ctrl-C raised as KeyboardInterrupt would leave the child running with no
    one to end it. Held, the signal is only noted; :meth:`release`, called
    inside the caller's ``try``, hands it to the handler it was meant for,
    which raises there, where the child is known. Python runs signal
    handlers in the main thread only, so only the main thread holds (and
    can): a signal never interrupts another thread's code.
    """

    def __init__(self):
        self._previous, self._caught = {}, None
        if threading.current_thread() is threading.main_thread():
            for signum in _INTERRUPTS:
                handler = signal.getsignal(signum)
                if handler is not None:  # None: set outside Python, left alone
                    self._previous[signum] = signal.signal(signum, self._note)

    def _note(self, signum, frame) -> None:
        if self._caught is None:
            self._caught = (signum, frame)

    def release(self) -> None:
        """The handlers as they were; a signal that came meanwhile goes to its
        handler now (KeyboardInterrupt is raised here). Again, a no-op."""
        previous, self._previous = self._previous, {}
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        caught, self._caught = self._caught, None
        if caught is not None:
            handler = previous[caught[0]]
            if callable(handler):
                handler(*caught)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(caught[0])


def describe_exit(returncode: int) -> str:
    """``exit code 1``, or ``killed by SIGKILL`` for a negative return code."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


class WorkerEnded(EngineError):
    """A worker process ended before its job did (killed, out of memory)."""


class WorkerTraceback(Exception):
    """Where in the worker a job's exception was raised (its ``__cause__``)."""


#: A job: called in a worker with a :data:`Progress`, returns a picklable value.
Job = Callable[[Progress], object]


class ForkedWorkers:
    """Up to ``count`` forked workers that run ``jobs`` (see the module docstring).

    ``with ForkedWorkers(jobs, count) as workers:`` forks them; then
    :meth:`outcomes` hands out the jobs and yields their results.
    """

    def __init__(self, jobs: Sequence[Job], count: int):
        self.jobs = list(jobs)
        self.count = max(1, min(count, len(self.jobs)))
        self._workers: dict = {}  # the parent's end of each pipe -> its process

    def __enter__(self) -> ForkedWorkers:
        if not (FORKING and self.jobs):
            return self
        context = multiprocessing.get_context("fork")
        hook = die_with_parent_hook()
        # Python's own advice for fork without exec: a worker's garbage
        # collections then leave the inherited objects' pages shared (20 MB
        # less in all for xlnn build's two workers, measured).
        gc.freeze()
        try:
            for _ in range(self.count):
                ours, theirs = context.Pipe()
                process = context.Process(
                    target=_serve, args=(theirs, self.jobs, hook), daemon=True
                )
                process.start()
                theirs.close()
                self._workers[ours] = process
        except BaseException:  # no fork (out of processes), or Ctrl-C
            self.__exit__()
            raise
        finally:
            gc.unfreeze()
        return self

    def __exit__(self, *exception) -> None:
        """End every worker, at a job or not: a worker holds nothing to clean up."""
        for connection, process in self._workers.items():
            process.terminate()
            connection.close()
        for process in self._workers.values():
            process.join()
        self._workers.clear()

    def outcomes(self, progress: Progress) -> Iterator[tuple[int, object]]:
        """Run every job; yield ``(index, result)`` as each one finishes.

        A job's progress lines go to ``progress`` here, as they come. A job's
        exception is raised here, with the worker's traceback as its cause.
        A job whose worker ended without answering gives a
        :class:`WorkerEnded` as its result.
        """
        if not self._workers:
            for index, job in enumerate(self.jobs):
                yield index, job(progress)
            return
        waiting = list(range(len(self.jobs)))
        idle, running = list(self._workers), {}
        while waiting or running:
            while waiting and idle:
                connection = idle.pop(0)
                try:
                    connection.send(waiting[0])
                except OSError:  # the worker ended while idle: not given a job
                    continue
                running[connection] = waiting.pop(0)
            if not running:  # every worker has ended
                for index in waiting:
                    yield index, WorkerEnded("no worker process was left to run it")
                return
            for connection in wait(list(running)):
                try:
                    kind, *payload = connection.recv()
                except EOFError:
                    yield running.pop(connection), self._ended(connection)
                    continue
                if kind == "progress":
                    progress(*payload)
                    continue
                index = running.pop(connection)
                idle.append(connection)
                if kind == "raised":
                    error, text = payload
                    raise error from WorkerTraceback(text)
                yield index, payload[0]

    def _ended(self, connection) -> WorkerEnded:
        process = self._workers[connection]
        process.join()
        return WorkerEnded(
            f"its worker process ended ({describe_exit(process.exitcode)})"
        )


def _serve(connection, jobs: Sequence[Job], die_with_parent) -> None:
    """A worker: run each job whose index arrives, send back what it gave."""
    # The parent ends its workers itself, on Ctrl-C too; a worker that took
    # the parent's handlers would raise the parent's exceptions instead.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if die_with_parent is not None:
        die_with_parent()

    def progress(line: str) -> None:
        connection.send(("progress", line))

    while True:
        try:
            index = connection.recv()
        except EOFError:  # the parent is done with this worker
            return
        try:
            connection.send(("done", jobs[index](progress)))
        except BaseException as error:  # any: the parent decides what it means
            connection.send(("raised", _picklable(error), traceback.format_exc()))


def _picklable(error: BaseException) -> BaseException:
    """``error``, or a RuntimeError with its text if it cannot be pickled."""
    try:
        pickle.dumps(error)
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error
