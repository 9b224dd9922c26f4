"""Atomic writes: a file or a whole directory is built under a temporary name beside its
target, then renamed into place.

An interrupted or failed write therefore leaves the old file (or release) or nothing,
never half of one, and no temporary names behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from . import interrupts
from .errors import UsageError
from .text import printable

# A full disk or quota (or a file-size limit, EFBIG) is the user's to fix: exit 2.
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class DiskFullError(UsageError):
    """No space (or quota, or file-size limit) left while writing an output."""


def disk_full(exc: OSError, path: Path) -> DiskFullError:
    reason = os.strerror(exc.errno or errno.ENOSPC).lower()
    return DiskFullError(f"{reason} writing {path}; free some space or choose another output directory")


# What check_output decided for each output of this run: may the final step replace what is
# at that path (--force), or must it refuse anything that appeared meanwhile.
_MAY_REPLACE: dict[str, bool] = {}


def refuse_dangling_link(path: Path) -> None:
    """A symlink whose target is missing is refused: following it would create files (and
    folders) wherever it points, outside anything the user named."""
    if os.path.islink(path) and not os.path.exists(path):
        raise UsageError(
            f"{path} is a symlink to {printable(os.readlink(path))}, which does not exist; "
            "remove the link or give another output"
        )


def check_output(path: Path, force: bool) -> None:
    """Refuse early (before any work) if ``path`` cannot or must not be written.

    Without ``force`` the final rename will not replace anything either: a file created
    at ``path`` while the command runs is kept and the write fails (exit 2).
    """
    _MAY_REPLACE[os.path.abspath(path)] = force
    refuse_dangling_link(path)
    if path.is_dir():
        raise UsageError(f"{path} is a directory; give a file name for the output")
    # A FIFO or device (-o /dev/null) is written into, which destroys no file.
    if path.exists() and not force and not writes_into(path):
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


def _device_path(path: Path) -> bool:
    # /dev/stdout and /proc/self/fd/N resolve to whatever the descriptor is (often a regular
    # file the shell opened): renaming over that would cut the shell's file off.
    name = os.path.abspath(path)
    return name in ("/dev/stdout", "/dev/stderr") or name.startswith(("/dev/fd/", "/proc/"))


def writes_into(path: Path) -> bool:
    """Whether ``path`` is a FIFO, device or socket (or one through /dev): written into, never
    replaced by a regular file."""
    if _device_path(path):
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _final_target(path: Path) -> Path:
    """A symlink is followed, not replaced: the file it names is the one rewritten."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else path


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    Replaces what is at ``path`` only where :func:`check_output` was told ``force`` (or, for a
    path it never saw, only what was already there at the start); anything that appears at
    ``path`` meanwhile is kept and the write fails. A FIFO or device is written into.
    """
    into = writes_into(path)
    target = path if into else _final_target(path)
    replace = _MAY_REPLACE.get(os.path.abspath(path))
    if replace is None:
        replace = os.path.lexists(target)
    parent = None if into else (target.parent if str(target.parent) else Path("."))
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=parent)
    except OSError as exc:
        if exc.errno in DISK_FULL:
            raise disk_full(exc, path) from None
        raise UsageError(f"cannot write to {parent}: {exc.strerror}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            yield tmp
            interrupts.check()  # a signal that the work swallowed: publish nothing
            if into:
                _copy_into(tmp, path)
            else:
                os.chmod(tmp, 0o644)
                if replace:
                    os.replace(tmp, target)
                else:
                    rename_noreplace(tmp, target)
        except FileExistsError:
            raise UsageError(
                f"{path} was created by something else while this command ran; it is left as it is "
                "(pass --force to overwrite it)"
            ) from None
        except IsADirectoryError:
            raise UsageError(
                f"{path} became a directory while this command ran; it is left as it is"
            ) from None
        except OSError as exc:
            if exc.errno in DISK_FULL:
                raise disk_full(exc, path) from None
            raise
    finally:
        if tmp.exists():
            tmp.unlink()


def _open_into(path: Path) -> int:
    """A descriptor writing into the FIFO or device ``path`` (truncated, as ``open(path, "wb")``
    would, where ``/dev/stdout`` is a file). A FIFO is opened without blocking first: with no
    reader, a plain open would wait forever (ENXIO says there is none)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise UsageError(f"{path} is a FIFO with nothing reading it; nothing was written") from None
        raise
    os.set_blocking(fd, True)
    return fd


def _copy_into(tmp: Path, path: Path) -> None:
    try:
        with open(tmp, "rb") as src, os.fdopen(_open_into(path), "wb") as dst:
            shutil.copyfileobj(src, dst)
    except OSError as exc:
        if exc.errno in DISK_FULL:
            raise
        raise UsageError(f"cannot write to {path}: {exc.strerror}") from None


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode())


STAGING = ".staging-"
RETIRED = ".replaced-"

# renameat2(2) flags (Linux >= 3.15, glibc >= 2.28).
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2


def _libc_renameat2() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn: Callable[..., int] = libc.renameat2
    except (OSError, AttributeError):
        return None
    return fn


_RENAMEAT2 = _libc_renameat2()


def _renameat2(src: Path, dst: Path, flags: int) -> bool:
    """``renameat2(src, dst, flags)``; False where the system or file system lacks it."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(src), None, str(dst))


def rename_noreplace(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst`` unless something is at ``dst`` (then FileExistsError)."""
    if _renameat2(src, dst, _RENAME_NOREPLACE):
        return
    if not os.path.isdir(src):
        try:
            os.link(src, dst)  # atomic: fails if anything is at dst
        except FileExistsError:
            raise
        except OSError:
            pass  # no hard links on this file system: check, then rename
        else:
            os.unlink(src)
            return
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst))
    os.rename(src, dst)


def _owner_pid(name: str, prefix: str) -> int | None:
    if not name.startswith(prefix):
        return None
    pid, sep, _ = name[len(prefix) :].partition("-")
    return int(pid) if sep and pid.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process: alive
    return True


def remove_dead_staging(path: Path) -> None:
    """Remove the staging (and retired) directories of ``path`` whose owner process is gone
    (killed with SIGKILL, or the machine stopped); never one a live process still owns."""
    parent = path.parent if str(path.parent) else Path(".")
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        for kind in (STAGING, RETIRED):
            pid = _owner_pid(name, f".{path.name}{kind}")
            if pid is not None and pid != os.getpid() and not _alive(pid):
                shutil.rmtree(parent / name, ignore_errors=True)


def check_output_dir(
    path: Path, force: bool, marker: str, ours: Callable[[Path], bool] | None = None
) -> None:
    """Refuse early if directory ``path`` must not be (re)placed by a new one.

    ``path`` may be absent or empty; a directory holding ``marker`` (a complete earlier
    output, for which ``ours(path)`` holds) is replaced only with ``force``; anything else is
    never replaced, because the whole directory is swapped for the new one. A symlink is
    followed: the directory it names is the one replaced.
    """
    refuse_dangling_link(path)
    path = _final_target(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path} exists and is not a directory")
    resolved = path.resolve()
    if resolved == Path.cwd().resolve() or resolved in Path.cwd().resolve().parents:
        raise UsageError(f"{path} is the working directory or above it; give a new directory")
    if path.is_dir() and os.path.ismount(path):
        # The new directory is built beside it and renamed over it: a mount point cannot be
        # renamed (EBUSY), and that would surface only after minutes of exports.
        raise UsageError(
            f"{path} is a mount point: the output is built beside it and swapped in, which a mount "
            "point cannot be; give a directory inside it"
        )
    if path.is_dir() and any(path.iterdir()):
        if not (path / marker).is_file():
            raise UsageError(
                f"{path} already exists and is not empty, and holds no earlier output ({marker}); "
                "give a new or empty directory"
            )
        if ours is not None and not ours(path):
            raise UsageError(
                f"{path} holds a {marker} that is not one of this tool's; it is never replaced: "
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
    remove_dead_staging(path)


@contextlib.contextmanager
def staged_directory(
    path: Path, force: bool = False, ours: Callable[[Path], bool] | None = None
) -> Iterator[Path]:
    """Yield an empty staging directory beside ``path``; on success it becomes ``path``.

    An existing ``path`` is replaced only with ``force`` and only if ``ours(path)`` still holds
    at the swap (exchanged atomically with the new one, then deleted); anything created there
    meanwhile is kept and the command fails. On any exception, Ctrl-C included, the staging
    directory is removed and ``path`` is untouched. Call :func:`check_output_dir` first.
    """
    path = _final_target(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        # The owner's pid in the name: a later run removes it if this process is killed.
        stage = Path(tempfile.mkdtemp(prefix=f".{path.name}{STAGING}{os.getpid()}-", dir=parent))
    except OSError as exc:
        if exc.errno in DISK_FULL:
            raise disk_full(exc, path) from None
        raise UsageError(f"cannot write to {parent}: {exc.strerror}") from None
    try:
        yield stage
        interrupts.check()  # a signal that the work swallowed: publish nothing
        os.chmod(stage, 0o755)
        _swap_in(stage, path, force, ours or (lambda _p: True))
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


def _replaceable(path: Path, ours: Callable[[Path], bool]) -> bool:
    return path.is_dir() and not path.is_symlink() and ours(path)


def _swap_in(stage: Path, path: Path, force: bool, ours: Callable[[Path], bool]) -> None:
    # Each step is a no-clobber or exchanging rename, and what it would replace is looked at
    # again: another process (a concurrent release, a user) may change ``path`` at any time.
    for _ in range(20):
        if not os.path.lexists(path):
            with contextlib.suppress(FileExistsError):
                rename_noreplace(stage, path)
                return
            continue
        if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
            try:
                path.rmdir()
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST):
                    # A mount point (EBUSY), a directory we may not remove: say so.
                    raise UsageError(f"cannot replace the empty directory {path}: {exc.strerror}") from None
            continue
        if not (force and _replaceable(path, ours)):
            break
        try:
            exchanged = _renameat2(stage, path, _RENAME_EXCHANGE)
        except FileNotFoundError:
            continue
        if exchanged:
            # ``stage`` now holds what was at ``path``: put it back if it changed meanwhile.
            if not _replaceable(stage, ours):
                _renameat2(stage, path, _RENAME_EXCHANGE)
                break
            return  # the caller removes ``stage``, the earlier output
        if _swap_by_renames(stage, path, ours):
            return
    raise UsageError(
        f"{path} was created or changed by something else while this command ran; it is left as "
        "it is and nothing was written" + ("" if force else " (pass --force to replace an earlier release)")
    )


def _swap_by_renames(stage: Path, path: Path, ours: Callable[[Path], bool]) -> bool:
    """The swap where renameat2 is missing: ``path`` aside, ``stage`` in, the old one deleted."""
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}{RETIRED}{os.getpid()}-", dir=stage.parent))
    old.rmdir()
    try:
        os.rename(path, old)
    except FileNotFoundError:
        return False
    if not _replaceable(old, ours):
        with contextlib.suppress(OSError):
            rename_noreplace(old, path)
        return False
    try:
        rename_noreplace(stage, path)
    except BaseException:
        with contextlib.suppress(OSError):
            rename_noreplace(old, path)  # put the earlier output back
        raise
    shutil.rmtree(old, ignore_errors=True)
    return True
