"""Atomic writes: a file or a whole directory is built under a temporary name beside its
target, then renamed into place.

An interrupted or failed write therefore leaves the old file (or release) or nothing,
never half of one, and no temporary names behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import UsageError

# A full disk or quota (or a file-size limit, EFBIG) is the user's to fix: exit 2.
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class DiskFullError(UsageError):
    """No space (or quota, or file-size limit) left while writing an output."""


def disk_full(exc: OSError, path: Path) -> DiskFullError:
    reason = os.strerror(exc.errno or errno.ENOSPC).lower()
    return DiskFullError(f"{reason} writing {path}; free some space or choose another output directory")


def check_output(path: Path, force: bool) -> None:
    """Refuse early (before any work) if ``path`` cannot or must not be written."""
    if path.is_dir():
        raise UsageError(f"{path} is a directory; give a file name for the output")
    if path.exists() and not force:
        raise UsageError(f"{path} already exists; pass --force to overwrite it")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise UsageError(f"output directory {parent} is a file, not a directory")
    if not parent.exists():
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create output directory {parent}: {exc.strerror}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"output directory {parent} is not writable")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success."""
    parent = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=parent)
    except OSError as exc:
        if exc.errno in DISK_FULL:
            raise disk_full(exc, path) from None
        raise UsageError(f"cannot write to {parent}: {exc.strerror}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            yield tmp
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except OSError as exc:
            if exc.errno in DISK_FULL:
                raise disk_full(exc, path) from None
            raise
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode())


STAGING = ".staging-"
RETIRED = ".replaced-"


def check_output_dir(path: Path, force: bool, marker: str) -> None:
    """Refuse early if directory ``path`` must not be (re)placed by a new one.

    ``path`` may be absent or empty; a directory holding ``marker`` (a complete earlier
    output) is replaced only with ``force``; anything else is never replaced, because the
    whole directory is swapped for the new one.
    """
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path} exists and is not a directory")
    resolved = path.resolve()
    if resolved == Path.cwd().resolve() or resolved in Path.cwd().resolve().parents:
        raise UsageError(f"{path} is the working directory or above it; give a new directory")
    if path.is_dir() and any(path.iterdir()):
        if not (path / marker).is_file():
            raise UsageError(
                f"{path} already exists and is not empty, and holds no earlier output ({marker}); "
                "give a new or empty directory"
            )
        if not force:
            raise UsageError(f"{path} already exists (an earlier release); pass --force to replace it")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise UsageError(f"cannot create {path}: {parent} is a file, not a directory")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create output directory {parent}: {exc.strerror}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{parent} is not writable")


@contextlib.contextmanager
def staged_directory(path: Path) -> Iterator[Path]:
    """Yield an empty staging directory beside ``path``; on success it becomes ``path``.

    An existing ``path`` is swapped out atomically (renamed aside, the new one renamed
    in, the old one deleted). On any exception, Ctrl-C included, the staging directory
    is removed and ``path`` is untouched. Call :func:`check_output_dir` first.
    """
    parent = path.parent if str(path.parent) else Path(".")
    try:
        stage = Path(tempfile.mkdtemp(prefix=f".{path.name}{STAGING}", dir=parent))
    except OSError as exc:
        if exc.errno in DISK_FULL:
            raise disk_full(exc, path) from None
        raise UsageError(f"cannot write to {parent}: {exc.strerror}") from None
    try:
        yield stage
        os.chmod(stage, 0o755)
        _swap_in(stage, path)
    except DiskFullError as exc:
        # Name the output the user asked for, not the staging directory's random name.
        raise DiskFullError(str(exc).replace(str(stage), str(path))) from None
    except OSError as exc:
        if exc.errno in DISK_FULL:
            raise disk_full(exc, Path(exc.filename) if exc.filename else path) from None
        raise
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)


def _swap_in(stage: Path, path: Path) -> None:
    if not path.exists():
        os.rename(stage, path)
        return
    if path.is_dir() and not any(path.iterdir()):
        path.rmdir()
        os.rename(stage, path)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}{RETIRED}", dir=stage.parent))
    old.rmdir()
    os.rename(path, old)
    try:
        os.rename(stage, path)
    except BaseException:
        os.rename(old, path)  # put the earlier output back
        raise
    shutil.rmtree(old, ignore_errors=True)
