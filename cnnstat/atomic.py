"""Writing files so that a crash, a kill or Ctrl-C never leaves half of one behind.

Every file cnnstat writes goes through :func:`atomic_path`: a temporary file beside the target,
flushed to disk, then renamed over it (and the folder's entry flushed too), so a reader sees the
old file or the new one, never a mixture.
"""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError


def _why(error: OSError) -> str:
    return error.strerror or type(error).__name__


def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and prove a file can be written there, before any work starts.

    A real write, not the permission bits: they do not stop root, and say nothing of a read-only disk.
    """
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder} is a file, not a folder to write into")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".cnnstat-write-test-")
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise OutputError(f"cannot write into {folder}: {_why(error)}") from None


def check_file_writable(path: Path) -> None:
    """``path`` can be written as a file: it is no folder, and its folder (created if missing) takes a file."""
    if path.is_dir():
        raise OutputError(f"{path} is a folder: name a file to write")
    check_writable(path.parent)


def _fsync(path: Path, directory: bool = False) -> None:
    try:
        handle = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:  # folders cannot be opened for syncing on every platform
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``: flushed and renamed into place when the block succeeds, removed if it fails."""
    if path.is_dir():
        raise OutputError(f"{path} is a folder: name a file to write")
    temporary = path.parent / f".{path.name}.{secrets.token_hex(6)}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # not mkstemp, whose files are 0600: os.open with 0666 gives what an ordinary open() gives, the umask applied
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as error:
        raise OutputError(f"cannot write {path}: {_why(error)}") from None
    try:
        yield temporary
        _keep_mode(path, temporary)
        _fsync(temporary)
        os.replace(temporary, path)
        _fsync(path.parent, directory=True)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _keep_mode(path: Path, temporary: Path) -> None:
    """Give the new file the mode of the one it replaces, as rewriting it in place would; set last, so 0444 is no obstacle."""
    try:
        os.chmod(temporary, stat.S_IMODE(path.stat().st_mode))
    except OSError:  # a new file keeps the mode os.open gave it; some file systems (FAT) have no modes to keep
        pass


def write_atomically(path: Path, content: str | bytes) -> None:
    """Write ``content`` (text as UTF-8, or bytes) to ``path`` through a temporary file and a rename."""
    with atomic_path(path) as temporary:
        try:
            if isinstance(content, bytes):
                temporary.write_bytes(content)
            else:
                temporary.write_text(content, encoding="utf-8")
        except OSError as error:
            raise OutputError(f"cannot write {path}: {_why(error)}") from None
