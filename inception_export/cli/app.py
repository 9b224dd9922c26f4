"""The Typer app and the error boundary every command goes through.

Commands raise :class:`InceptionExportError`; this layer turns that into one stderr line
and the error's exit code (2 for usage/input, 1 for a gate failure), never a traceback.
Exit 3 is left for real bugs ("internal error"), 130 for Ctrl-C.
"""

from __future__ import annotations

import errno
import functools
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, TypeVar

import typer
from rich.markup import escape
from typer.core import TyperGroup

try:  # typer >= 0.24 vendors click
    from typer._click import Context as ClickContext
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover - older typer on real click
    from click import Context as ClickContext  # type: ignore[no-redef,assignment,unused-ignore]
    from click import exceptions as click_exc  # type: ignore[no-redef,unused-ignore]

from .. import __version__
from ..console import err, guard_streams, stdout_lost
from ..errors import InceptionExportError
from ..text import clip, first_line, printable

F = TypeVar("F", bound=Callable[..., Any])

EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 3
# A full disk or quota is the user's to fix (exit 2), not a bug; EFBIG is the same
# thing under a file-size limit (ulimit -f).
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class _OrderedGroup(TyperGroup):
    """Lists commands in the order a user meets them (``commands.ORDER``), not by name."""

    def list_commands(self, ctx: ClickContext) -> list[str]:
        from .commands import ORDER

        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(ORDER)}
        return sorted(names, key=lambda n: (rank.get(n, len(rank)), names.index(n)))

# What the full (export/CI) role adds to the device role's dependencies.
FULL_ROLE = {"torch", "onnxscript", "safetensors", "skimage", "matplotlib", "psutil"}
FULL_INSTALL = "pip install 'inception-export[full]' (after torch itself; see the README's install section)"

app = typer.Typer(
    name="inception-export",
    help="Export Inception classifiers to TorchScript/ONNX/TensorRT and gate them on parity with PyTorch.",
    cls=_OrderedGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: reads at 80 columns, and flags show no "<bool>" value.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class _Interrupt:
    """Whether Ctrl-C was pressed: torch's exporters catch KeyboardInterrupt and re-raise it
    wrapped in their own error types, so the exception alone cannot tell an interrupt.

    SIGTERM (a CI timeout, ``kill``) and SIGHUP (a closed terminal) are handled the same way:
    staging and partial files are removed, one ``error:`` line, exit 128 + the signal."""

    seen = False
    reported = False
    signum = int(signal.SIGINT)

    @classmethod
    def handler(cls, signum: int, frame: FrameType | None) -> None:
        if cls.seen:
            return  # a second signal must not cut the clean-up of the first one short
        cls.seen = True
        cls.signum = signum
        raise KeyboardInterrupt

    @classmethod
    def install(cls) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            # Respect an inherited "ignore" (a background job of a script, nohup).
            if signal.getsignal(sig) is not signal.SIG_IGN:
                signal.signal(sig, cls.handler)

    @classmethod
    def message(cls) -> str:
        if cls.signum == signal.SIGINT:
            return "interrupted"
        return f"interrupted by {signal.Signals(cls.signum).name}"

    @classmethod
    def exit_code(cls) -> int:
        return 128 + cls.signum


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
    interrupts = (e for e in _chain(exc, None) if isinstance(e, KeyboardInterrupt | typer.Abort))
    return bool(_Interrupt.seen) or any(True for _ in interrupts)


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
        return f"this command needs {exc.name}, which is not installed here: {FULL_INSTALL}", 2
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


def command(*args: Any, **kwargs: Any) -> Callable[[F], F]:
    """``app.command`` plus the error boundary."""

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*a: Any, **k: Any) -> Any:
            try:
                return fn(*a, **k)
            except typer.Exit:
                if _Interrupt.seen and not _Interrupt.reported:
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

        app.command(*args, **kwargs)(wrapper)
        return fn

    return deco


def _show_warning(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
    err.print(f"[yellow]note:[/] {escape(printable(message))}", soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI. ``main(argv)`` raises SystemExit with the exit code, for callers that run it
    in-process; ``main()``, the program itself, ends the process after flushing its streams."""
    _Interrupt.install()
    # A reader that went away (`| head`, `| true`, `>&-`) costs the text, not the exit code.
    guard_streams()
    args = sys.argv[1:] if argv is None else argv
    code = 0
    try:
        # Library warnings (dropped aux keys, ...) become one readable stderr line each.
        warnings.showwarning = _show_warning
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        # Register every command module before dispatch.
        from . import commands  # noqa: F401

        result = app(args=argv, prog_name="inception-export", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except typer.Exit as exc:
        code = exc.exit_code
    except click_exc.NoArgsIsHelpError as exc:
        sys.stdout.write(exc.format_message() + "\n")
        code = 0
    except click_exc.UsageError as exc:
        # A misspelt option or command: the one line the README promises, not a usage panel.
        hint = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
        _print_error(clip(exc.format_message(), 300) + hint)
        code = 2
    except click_exc.ClickException as exc:
        _print_error(clip(exc.format_message(), 300))
        code = exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        code = EXIT_INTERRUPTED
    except BaseException as exc:
        if isinstance(exc, SystemExit):
            raise
        message, code = error_line(exc)
        if not _interrupted(exc):
            _print_error(message)
    if _Interrupt.seen or code == EXIT_INTERRUPTED:
        code = _Interrupt.exit_code()
        if not _Interrupt.reported:
            _print_error(_Interrupt.message())
    elif code in (0, 1) and "--json" in args and stdout_lost():
        # With --json the result is the JSON itself: a caller that got none (or half of it)
        # must not read the verdict as delivered.
        _print_error(
            "stdout was closed before the JSON result was written (broken pipe or closed descriptor)"
        )
        code = 2
    if argv is None:  # the program itself, not a caller that expects SystemExit
        _exit_now(code)
    sys.exit(code)


def _exit_now(code: int) -> None:
    """End the process with ``code`` without the interpreter's teardown.

    Freeing torch's and onnxruntime's modules at exit costs a release about 1.7 s on two cores.
    Nothing is left to clean up by then: every output was renamed into place or removed by
    its context manager before the command returned, so only the stream buffers need flushing.
    """
    if sys.getprofile() is not None or sys.gettrace() is not None or "coverage" in sys.modules:
        return  # a profiler or coverage tool writes its results at the normal exit
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # e.g. a closed pipe: the normal exit reports it, as it always did
        return
    os._exit(code)


def _print_error(message: str) -> None:
    if message == _Interrupt.message():
        if _Interrupt.reported:
            return
        _Interrupt.reported = True
    # Messages quote file names and bundle text: escaped, so they cannot forge lines or colours.
    err.print(f"[bold red]error:[/] {escape(printable(message))}", soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"inception-export {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Export Inception classifiers and gate every artifact on parity with PyTorch."""
