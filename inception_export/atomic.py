"""Atomic writes: a file or a whole directory is built under a temporary name beside its
target, then renamed into place.

An interrupted or failed write therefore leaves the old file (or release) or nothing,
never half of one, and no temporary names behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from . import interrupts
from .errors import UsageError
from .text import describe_kind, printable

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


def name_max(directory: Path) -> int:
    """The longest file name (in bytes) ``directory``'s file system takes (255 on most)."""
    try:
        return int(os.pathconf(directory if str(directory) else ".", "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def check_name_length(path: Path, what: str | None = None) -> None:
    """Refuse a name the file system cannot hold, before any work: it would otherwise fail
    only when the file is written, after the export."""
    parent = path.parent if str(path.parent) else Path(".")
    size, limit = len(os.fsencode(path.name)), name_max(parent if parent.is_dir() else Path("."))
    if size > limit:
        named = f"{what} {printable(path.name)}" if what else f"{printable(path)}"
        raise UsageError(
            f"{named}: a name of {size} bytes, more than the {limit} this file system allows; "
            "give a shorter name"
        )


def temp_stem(name: str) -> str:
    """``name`` as the stem of a temporary name beside it: a long name (up to NAME_MAX is
    valid) is cut and tagged with its hash, so ``.NAME.staging-…`` still fits."""
    if len(os.fsencode(name)) <= 64:
        return name
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:16]
    head = os.fsencode(name)[:40].decode("utf-8", "ignore")
    return f"{head}~{digest}"


def same_file(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # a hard link, a bind mount: another name, the same file
    except OSError:
        return False


def _within(inner: str, outer: str) -> bool:
    return inner == outer or inner.startswith(outer.rstrip(os.sep) + os.sep)


Named = Iterable[tuple[str, "Path | str | None"]]


def check_apart(
    inputs: Named,
    files: Mapping[str, Path | None] | None = None,
    dirs: Mapping[str, Path | None] | None = None,
) -> None:
    """Refuse, before any work and with or without --force, an output that is one of the
    command's inputs: an output file (``files``, sidecars included) that is an input under
    any name (symlink, hard link), or an output directory (``dirs``, replaced whole) that is
    an input, holds one, or lies inside an input directory. Labels are how the user named each
    (the option)."""
    given = [(label, Path(p)) for label, p in inputs if p is not None and str(p)]
    for out_label, out in (files or {}).items():
        for in_label, src in given:
            if out is not None and same_file(out, src):
                raise UsageError(
                    f"{out_label} {printable(out)} is this command's {in_label} ({printable(src)}); an "
                    f"output never replaces an input (not even with --force): give another {out_label}"
                )
    for out_label, out in (dirs or {}).items():
        if out is None:
            continue
        target = os.path.realpath(out)
        for in_label, src in given:
            source = os.path.realpath(src)
            if _within(source, target):
                how = "is" if source == target else "holds"
            elif os.path.isdir(src) and _within(target, source):
                how = "is inside"
            else:
                continue
            raise UsageError(
                f"{out_label} {printable(out)} {how} this command's {in_label} ({printable(src)}); the "
                "output directory is replaced whole, so it must be apart from every input: give "
                "another directory"
            )


def with_sidecars(label: str, paths: Iterable[Path | None]) -> list[tuple[str, Path | None]]:
    """Each artifact and the ``<artifact>.json`` beside it (its metadata sidecar or engine
    manifest, which the command reads too), as inputs for :func:`check_apart`."""
    named: list[tuple[str, Path | None]] = []
    for path in paths:
        if path is not None:
            named += [(label, path), (f"{label}'s sidecar", path.with_name(path.name + ".json"))]
    return named


def check_output(path: Path, force: bool) -> None:
    """Refuse early (before any work) if ``path`` cannot or must not be written.

    Without ``force`` the final rename will not replace anything either: a file created
    at ``path`` while the command runs is kept and the write fails (exit 2).
    """
    _MAY_REPLACE[os.path.abspath(path)] = force
    check_name_length(path)
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


def not_stored(path: Path) -> str | None:
    """Where the bytes written to ``path`` went when it is a FIFO or device rather than a file
    (None for a file): the report must not say a file was written."""
    if not writes_into(path):
        return None
    if os.path.realpath(path) == os.devnull:
        return f"discarded into {printable(path)}: nothing was stored"
    return f"sent into {printable(path)} ({describe_kind(path)}, not a file): kept only by what reads it"


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
        fd, tmp_name = tempfile.mkstemp(prefix=f".{temp_stem(target.name)}.", suffix=".partial", dir=parent)
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


_MADE_HERE = re.compile(r"[0-9]+-[a-z0-9_]{8}")
STAGING = ".staging-"
RETIRED = ".replaced-"
PENDING = ".pending-"

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


def _open_dir(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None


def _remove_if_unowned(directory: Path) -> None:
    # The run that made a staging directory holds an flock on it while it lives; the kernel
    # drops it when that process ends however it ends, in any PID namespace (a PID in the
    # name could not say that: another namespace's live run has a PID that is free here).
    fd = _open_dir(directory)
    if fd is None:
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return  # a live run holds it
        shutil.rmtree(directory, ignore_errors=True)
    finally:
        os.close(fd)


def remove_dead_staging(path: Path) -> None:
    """Remove the staging (and retired) directories of ``path`` that no live run holds
    (their run was killed with SIGKILL, or the machine stopped)."""
    parent = path.parent if str(path.parent) else Path(".")
    try:
        names = os.listdir(parent)
    except OSError:
        return
    stem = temp_stem(path.name)
    for name in names:
        for kind in (STAGING, RETIRED):
            # Only the names this module makes (PID, then mkdtemp's 8 characters).
            rest = name[len(f".{stem}{kind}") :] if name.startswith(f".{stem}{kind}") else ""
            if _MADE_HERE.fullmatch(rest):
                _remove_if_unowned(parent / name)


def unlisted_entries(root: Path, listed: Iterable[str]) -> list[str]:
    """The entries under ``root`` (relative POSIX paths) that ``listed`` (relative file
    paths) does not account for: a listed file's folders count as listed. A folder that
    holds nothing listed is named once, not walked."""
    files = {Path(name).as_posix() for name in listed if name and not Path(name).is_absolute()}
    folders = {parent.as_posix() for name in files for parent in Path(name).parents} - {"."}
    extra: list[str] = []

    def unreadable(exc: OSError) -> None:
        extra.append(f"{Path(os.path.relpath(exc.filename or root, root)).as_posix()} (unreadable)")

    # This tool writes only regular files and folders: a symlink in their place (to a file or a
    # folder, listed name or not) is the user's, and --force would delete it.
    for top, dirs, names in os.walk(root, onerror=unreadable):
        here = Path(top).relative_to(root)
        for name in names:
            rel = (here / name).as_posix()
            if os.path.islink(Path(top) / name):
                extra.append(f"{rel} (a symlink)")
            elif rel not in files:
                extra.append(rel)
        for name in list(dirs):
            rel = (here / name).as_posix()
            if os.path.islink(Path(top) / name):
                extra.append(f"{rel} (a symlink)")
                dirs.remove(name)
            elif rel not in folders:
                extra.append(rel + "/")
                dirs.remove(name)
    return sorted(extra)


def _named(paths: list[str], limit: int = 5) -> str:
    shown = ", ".join(printable(p) for p in paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def check_output_dir(
    path: Path,
    force: bool,
    marker: str,
    ours: Callable[[Path], bool] | None = None,
    listed: Callable[[Path], Iterable[str]] | None = None,
) -> None:
    """Refuse early if directory ``path`` must not be (re)placed by a new one.

    ``path`` may be absent or empty; a directory holding ``marker`` (a complete earlier
    output, for which ``ours(path)`` holds) is replaced only with ``force``, and only when
    every entry in it is one ``listed(path)`` names (what the earlier run wrote); anything
    else is never replaced, because the whole directory is swapped for the new one. A
    symlink is followed: the directory it names is the one replaced.
    """
    refuse_dangling_link(path)
    check_name_length(_final_target(path))
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
        _check_earlier_output(path, force, marker, ours, listed)
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


def _check_earlier_output(
    path: Path,
    force: bool,
    marker: str,
    ours: Callable[[Path], bool] | None,
    listed: Callable[[Path], Iterable[str]] | None,
) -> None:
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
    extra = unlisted_entries(path, listed(path)) if listed is not None else []
    if extra:
        raise UsageError(
            f"{path} holds what its {marker} does not list ({_named(extra)}); --force replaces only "
            "what this tool wrote: move those out, or give a new directory"
        )
    if not force:
        raise UsageError(f"{path} already exists (an earlier output, {marker}); pass --force to replace it")


@contextlib.contextmanager
def staged_directory(
    path: Path,
    force: bool = False,
    ours: Callable[[Path], bool] | None = None,
    listed: Callable[[Path], Iterable[str]] | None = None,
) -> Iterator[Path]:
    """Yield an empty staging directory beside ``path``; on success it becomes ``path``.

    An existing ``path`` is replaced only with ``force`` and only if ``ours(path)`` still holds
    at the swap and everything in it is ``listed(path)`` (exchanged atomically with the new
    one, then deleted); anything created there meanwhile is kept and the command fails. On any
    exception, Ctrl-C included, the staging directory is removed and ``path`` is untouched.
    Call :func:`check_output_dir` first.
    """
    path = _final_target(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        stage, lock = _locked_stage(parent, temp_stem(path.name))
    except OSError as exc:
        if exc.errno in DISK_FULL:
            raise disk_full(exc, path) from None
        raise UsageError(f"cannot write to {parent}: {exc.strerror}") from None
    claim = ours or (lambda _p: True)
    try:
        yield stage
        interrupts.check()  # a signal that the work swallowed: publish nothing
        os.chmod(stage, 0o755)
        _swap_in(stage, path, force, lambda p: claim(p) and not (listed and unlisted_entries(p, listed(p))))
    except DiskFullError as exc:
        # Name the output the user asked for, not the staging directory's random name.
        raise DiskFullError(str(exc).replace(str(stage), str(path))) from None
    except OSError as exc:
        if exc.errno in DISK_FULL:
            raise disk_full(exc, Path(exc.filename) if exc.filename else path) from None
        raise
    finally:
        os.close(lock)
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)


# A file system without flock (some network ones): no run can lock there, so no cleaner can
# take a staging directory for dead either; nothing is removed but by its own run.
_NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL})


def _lock(fd: int, blocking: bool = True) -> bool:
    """flock ``fd``; False where the file system has no locks."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in _NO_LOCKS:
            return False
        raise
    return True


def _locked_stage(parent: Path, stem: str) -> tuple[Path, int]:
    """A new staging directory and the descriptor whose flock marks it as this live run's.

    It is made under a name no cleaner looks at, locked, then renamed (the lock follows the
    directory), so no other run can see it unlocked. The PID in the name is for people."""
    pending = Path(tempfile.mkdtemp(prefix=f".{stem}{PENDING}{os.getpid()}-", dir=parent))
    fd = _open_dir(pending)
    try:
        if fd is None:
            raise OSError(errno.EACCES, os.strerror(errno.EACCES), str(pending))
        _lock(fd)
        stage = parent / f".{stem}{STAGING}{pending.name[len(f'.{stem}{PENDING}') :]}"
        rename_noreplace(pending, stage)
    except BaseException:
        if fd is not None:
            os.close(fd)
        shutil.rmtree(pending, ignore_errors=True)
        raise
    return stage, fd


def _replaceable(path: Path, ours: Callable[[Path], bool]) -> bool:
    return path.is_dir() and not path.is_symlink() and ours(path)


@contextlib.contextmanager
def _held(path: Path) -> Iterator[None]:
    """An flock on directory ``path`` while it is moved aside, so that no other run's cleanup
    takes it for a dead run's staging in that moment (a run that has just swapped ``path``
    in holds it a moment longer: wait for it)."""
    fd = _open_dir(path)
    try:
        if fd is not None:
            _lock_within(fd, path, seconds=30.0)
        yield
    finally:
        if fd is not None:
            os.close(fd)


def _lock_within(fd: int, path: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            _lock(fd, blocking=False)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise UsageError(f"{path} is held by another process; it is left as it is") from None
            time.sleep(0.05)


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
        with _held(path):
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
        "it is and nothing was written" + ("" if force else " (pass --force to replace an earlier output)")
    )


def _swap_by_renames(stage: Path, path: Path, ours: Callable[[Path], bool]) -> bool:
    """The swap where renameat2 is missing: ``path`` aside, ``stage`` in, the old one deleted."""
    old = Path(tempfile.mkdtemp(prefix=f".{temp_stem(path.name)}{RETIRED}{os.getpid()}-", dir=stage.parent))
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
