"""The error boundary every command goes through.

Commands raise :class:`InceptionExportError`; this layer turns that into one stderr line
and the error's exit code (2 for usage/input, 1 for a gate failure), never a traceback.
Exit 3 is left for real bugs ("internal error"), 130 for Ctrl-C.

Command modules import this module, never ``app.py``: the app imports the commands (from the
table in ``commands.py``), so the arrow runs one way.
"""

from __future__ import annotations

import errno
import functools
import os
import signal
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, TypeVar

import typer
from rich.markup import escape

from .. import interrupts
from ..console import err
from ..errors import FULL_INSTALL, InceptionExportError
from ..text import first_line, printable

F = TypeVar("F", bound=Callable[..., Any])

EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 3
# A full disk or quota is the user's to fix (exit 2), not a bug; EFBIG is the same
# thing under a file-size limit (ulimit -f).
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


FULL_ROLE = {"torch", "onnxscript", "safetensors", "skimage", "matplotlib", "psutil"}


class _Interrupt:
    """Whether Ctrl-C was pressed: torch's exporters catch KeyboardInterrupt and re-raise it
    wrapped in their own error types, so the exception alone cannot tell an interrupt.

    SIGTERM (a CI timeout, ``kill``) and SIGHUP (a closed terminal) are handled the same way:
    staging and partial files are removed, one ``error:`` line, exit 128 + the signal."""

    reported = False

    @staticmethod
    def seen() -> bool:
        return interrupts.pending() is not None

    @staticmethod
    def signum() -> int:
        """The signal that arrived; SIGINT for a KeyboardInterrupt that came without one."""
        return interrupts.pending() or int(signal.SIGINT)

    @classmethod
    def handler(cls, signum: int, frame: FrameType | None) -> None:
        if cls.seen():
            return  # a second signal must not cut the clean-up of the first one short
        interrupts.record(signum)
        raise KeyboardInterrupt

    @classmethod
    def install(cls) -> None:
        cls.reported = False
        interrupts.reset()  # a command run in-process starts clean
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            # Respect an inherited "ignore" (a background job of a script, nohup).
            if signal.getsignal(sig) is not signal.SIG_IGN:
                signal.signal(sig, cls.handler)

    @classmethod
    def message(cls) -> str:
        if cls.signum() == signal.SIGINT:
            return "interrupted"
        return f"interrupted by {signal.Signals(cls.signum()).name}"

    @classmethod
    def exit_code(cls) -> int:
        return 128 + cls.signum()


def _chain(exc: BaseException, limit: int | None = 8) -> Iterator[BaseException]:
    """``exc`` and what caused it (``__cause__``, else ``__context__``): at most ``limit`` links,
    each once (a chain can loop)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen and (limit is None or len(seen) < limit):
        yield cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__


def _interrupted(exc: BaseException) -> bool:
    caught = (e for e in _chain(exc, None) if isinstance(e, KeyboardInterrupt | typer.Abort))
    return _Interrupt.seen() or any(True for _ in caught)


def _disk_full(exc: BaseException) -> OSError | None:
    return next((e for e in _chain(exc) if isinstance(e, OSError) and e.errno in DISK_FULL), None)


# A file the user named that cannot be opened, created or replaced as asked: the user's to fix.
ENVIRONMENT = frozenset(
    {
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.EISDIR,
        errno.ENOTDIR,
        errno.ENOENT,
        errno.ENAMETOOLONG,
        errno.ELOOP,
        errno.EBUSY,
        errno.EXDEV,
        errno.ETXTBSY,
        errno.ENXIO,
    }
)


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    return any(isinstance(e, kind) for e in _chain(exc))


def _environment_error(exc: BaseException) -> OSError | None:
    """An OSError about a named file (permissions, a directory where a file belongs, ...)."""
    return next(
        (e for e in _chain(exc) if isinstance(e, OSError) and e.errno in ENVIRONMENT and e.filename), None
    )


def fail(message: str, code: int = 2) -> None:
    _print_error(message)
    raise typer.Exit(code)


def error_line(exc: BaseException) -> tuple[str, int]:
    """The one line and exit code for any exception that reaches the boundary."""
    if _interrupted(exc):
        return _Interrupt.message(), _Interrupt.exit_code()
    if isinstance(exc, InceptionExportError):
        return str(exc), exc.exit_code
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in FULL_ROLE:
        # The device role installs no torch: say which install this command needs.
        return f"this command needs {exc.name}, which is not installed here; {FULL_INSTALL}", 2
    full = _disk_full(exc)
    if full is not None:
        where = f" writing {full.filename}" if full.filename else ""
        return f"{os.strerror(full.errno or errno.ENOSPC).lower()}{where}", 2
    if _caused_by(exc, MemoryError):
        return (
            "out of memory: the inputs or sizes asked for do not fit in this machine's memory "
            "(fewer --samples, a smaller --batch or fewer images)",
            2,
        )
    env = _environment_error(exc)
    if env is not None:
        what = f"{env.filename}: " if env.filename else ""
        return f"{what}{os.strerror(env.errno or 0)}", 2
    first = first_line(str(exc), 300)
    return (
        f"internal error: {type(exc).__name__}: {first} (set INCEPTION_EXPORT_DEBUG=1 for the traceback)",
        EXIT_INTERNAL,
    )


def command(name: str) -> Callable[[F], F]:
    """The error boundary around a command, which ``app.py`` registers as ``name`` in the order
    of ``commands.COMMANDS``."""

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*a: Any, **k: Any) -> Any:
            try:
                result = fn(*a, **k)
                # An interrupt that torch swallowed: the command must not report success.
                interrupts.check()
                return result
            except typer.Exit:
                if _Interrupt.seen() and not _Interrupt.reported:
                    fail(_Interrupt.message(), _Interrupt.exit_code())
                raise
            except BaseException as exc:
                if isinstance(exc, SystemExit):
                    raise
                if (
                    os.environ.get("INCEPTION_EXPORT_DEBUG")
                    and not isinstance(exc, InceptionExportError)
                    and not _interrupted(exc)
                ):
                    raise
                message, code = error_line(exc)
                fail(message, code)
            return None

        wrapper.command_name = name  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return deco


def command_name(fn: Callable[..., Any]) -> str:
    """The name a function decorated with :func:`command` is registered under."""
    name = getattr(fn, "command_name", None)
    if not isinstance(name, str):
        raise TypeError(f"{fn.__qualname__} is not declared with @command(name)")
    return name


def _show_warning(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
    err.print(f"[yellow]note:[/] {escape(printable(message))}", soft_wrap=True)


def _print_error(message: str) -> None:
    if message == _Interrupt.message():
        if _Interrupt.reported:
            return
        _Interrupt.reported = True
    # Messages quote file names and bundle text: escaped, so they cannot forge lines or colours.
    err.print(f"[bold red]error:[/] {escape(printable(message))}", soft_wrap=True)
