"""Writing files without losing any: the one place for xlnn's file rules.

``xlnn build``, ``xlnn export`` and ``xlnn lite`` all write through
:func:`write_new`:

- A file is complete or absent. It is written to a temporary file in its
  folder (``.NAME.HOST-PID-RANDOM.xlnn-tmp``), then given its name with a hard
  link, which fails if the name is taken, so the no-overwrite rule holds at
  the moment of writing, also against a file that appeared meanwhile.
- ``force`` renames over an existing file, but only over a regular file (not
  a device, a pipe or a folder) and never over a file named in ``protect``
  (the model being exported), also when reached through a symlink.
- A killed process leaves its temporaries behind; they carry its host and
  process id, so the next run removes those whose process is gone
  (:func:`remove_stale_temporaries`), never those of a run still going.

Scratch folders (:func:`scratch_folder`) follow the same rule in the system's
temporary folder: ``PREFIXHOST-PID-RANDOM``, removed on exit, and a killed
run's removed by the next one (:func:`remove_stale_scratch`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import socket
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from xlnn.errors import UserError

TEMPORARY_SUFFIX = ".xlnn-tmp"

# errno values with which os.link says the filesystem has no hard links.
_NO_HARD_LINKS = {
    errno.EPERM,
    errno.EINVAL,
    errno.ENOSYS,
    errno.EOPNOTSUPP,
    getattr(errno, "ENOTSUP", errno.EOPNOTSUPP),
}
_TEMPORARY = re.compile(
    r"\.(?P<name>.+)\.(?P<host>\w*)-(?P<pid>\d+)-[0-9a-f]{8}"
    + re.escape(TEMPORARY_SUFFIX)
)


class FileRefused(UserError):
    """``force`` may not replace this path; the message names it and why."""


def problem(error: OSError) -> str:
    """What went wrong, in words, without the path (the caller names it)."""
    if isinstance(error, FileExistsError):
        return "already exists (it appeared meanwhile); it was not replaced"
    if isinstance(error, IsADirectoryError):
        return "is a folder, not a workbook; move it away"
    return error.strerror or str(error)


def check_target(
    path: Path, *, force: bool, protect: Iterable = (), kind: str = "file"
) -> None:
    """Refuse, before any work, an output ``path`` that cannot be written.

    Its folder must exist; it must not be a folder; an existing file needs
    ``force``, and then may be replaced only as :func:`check_replaceable`
    allows. ``kind`` names what is written (a folder is "not a workbook").
    Raises :class:`FileRefused` naming the path and why.
    """
    if not path.parent.is_dir():
        raise FileRefused(f"{path.parent}: no such folder")
    if path.is_dir():
        raise FileRefused(f"{path}: is a folder, not a {kind}; move it away")
    if os.path.lexists(path) and not force:
        raise FileRefused(f"{path}: already exists; pass --force to overwrite it")
    if force:
        check_replaceable(path, protect=protect)


def file_in_the_way(path: Path) -> Path | None:
    """The nearest of ``path`` and its parents that exists and is not a folder."""
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return None if candidate.is_dir() else candidate
    return None


def host() -> str:
    """This machine's name, as temporary names carry it."""
    return re.sub(r"\W", "_", socket.gethostname())


def temporary_name(path: Path) -> str:
    """``.NAME.HOST-PID-RANDOM.xlnn-tmp``: whose it is, so that others leave it."""
    token = secrets.token_hex(4)
    return f".{path.name}.{host()}-{os.getpid()}-{token}{TEMPORARY_SUFFIX}"


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs; on Windows, always assumed (no safe probe)."""
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files of killed runs on this host; return them."""
    removed = []
    here = host()
    for entry in Path(folder).iterdir():
        match = _TEMPORARY.fullmatch(entry.name)
        if not match or match["host"] != here or alive(int(match["pid"])):
            continue
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            removed.append(entry)
    return removed


def check_replaceable(path: Path, *, protect: Iterable = ()) -> None:
    """Refuse, with :class:`FileRefused`, to replace what ``force`` must not.

    An absent ``path`` is fine. One that exists must be a regular file (after
    symlinks: a link to ``/dev/null`` is refused too) and must not be any of
    ``protect`` (compared with :func:`os.path.samefile`, so a symlink or a
    hard link to the model is the model).
    """
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as error:
        raise FileRefused(f"{path}: {problem(error)}") from None
    if stat.S_ISDIR(status.st_mode):
        raise FileRefused(f"{path}: is a folder, not a workbook; move it away")
    if not stat.S_ISREG(status.st_mode):
        raise FileRefused(f"{path}: is not a regular file; --force replaces only files")
    for kept in protect:
        with contextlib.suppress(OSError):
            if os.path.samefile(path, kept):
                raise FileRefused(
                    f"{path}: is the input {kept}; --force never replaces it"
                )


def _link_new(temporary: Path, path: Path) -> None:
    """Give ``temporary`` the name ``path``, failing if ``path`` exists."""
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise
    except OSError as error:
        if error.errno not in _NO_HARD_LINKS:
            raise
        # No hard links here (FAT, some network shares): claim the name with an
        # empty file, which fails if it exists, then rename over that claim.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        os.replace(temporary, path)


def write_new(
    path: Path, data: bytes, *, force: bool = False, protect: Iterable = ()
) -> None:
    """Write ``data`` as ``path``, complete or not at all.

    Without ``force`` an existing ``path`` is never replaced, even one that
    appeared a moment ago (:class:`FileExistsError`). With ``force`` only a
    regular file that is none of ``protect`` is replaced
    (:func:`check_replaceable`). The temporary file is removed whatever
    happens, short of the process being killed.

    Raises
    ------
    FileRefused
        ``force`` may not replace ``path``.
    OSError
        The disk said no (the caller names the path, see :func:`problem`).
    """
    write_new_with(path, lambda handle: handle.write(data), force=force,
                   protect=protect)  # fmt: skip


def write_new_with(
    path: Path,
    write: Callable[[BinaryIO], object],
    *,
    force: bool = False,
    protect: Iterable = (),
) -> None:
    """Have ``write`` write the file ``path`` into a binary handle, as
    :func:`write_new` writes its bytes: complete or not at all.

    The file never has to be in memory whole. Whatever ``write`` raises
    leaves no ``path`` (nor a temporary file) and is raised again.
    """
    path = Path(path)
    if force:
        check_replaceable(path, protect=protect)
    temporary = path.with_name(temporary_name(path))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    descriptor = os.open(temporary, flags, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if force:
            os.replace(temporary, path)
        else:
            _link_new(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


# --- scratch folders --------------------------------------------------------------


def _scratch_pattern(prefix: str) -> re.Pattern:
    return re.compile(re.escape(f"{prefix}{host()}-") + r"(?P<pid>\d+)-.+")


def remove_stale_scratch(prefix: str, folder=None) -> list[Path]:
    """Remove this host's ``PREFIXHOST-PID-*`` folders whose process is gone."""
    folder = Path(folder or tempfile.gettempdir())
    pattern = _scratch_pattern(prefix)
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed  # not ours to fix: the scratch folder itself still works
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if not match or alive(int(match["pid"])) or not entry.is_dir():
            continue
        shutil.rmtree(entry, ignore_errors=True)
        if not entry.exists():
            removed.append(entry)
    return removed


@contextlib.contextmanager
def scratch_folder(prefix: str) -> Iterator[Path]:
    """A temporary folder ``PREFIXHOST-PID-RANDOM``, removed on exit.

    ``prefix`` ends with ``-``, e.g. ``"xlnn-export-"``. Folders a killed run
    left under the same prefix are removed first.
    """
    remove_stale_scratch(prefix)
    with tempfile.TemporaryDirectory(
        prefix=f"{prefix}{host()}-{os.getpid()}-"
    ) as scratch:
        yield Path(scratch)
