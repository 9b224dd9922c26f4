"""The Typer app: every command of ``commands.COMMANDS`` registered in that order, and ``main``.

The error boundary itself is ``boundary.py``, which the command modules import (never this
module: it imports them).
"""

from __future__ import annotations

import inspect
import os
import sys
import warnings

import typer
from typer.core import TyperArgument, TyperCommand, TyperOption

try:  # typer >= 0.24 vendors click
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover - older typer on real click
    from click import exceptions as click_exc  # type: ignore[no-redef,unused-ignore]

from .. import __version__
from ..console import count_from_display_start, count_from_process_start, guard_streams, stdout_lost
from ..text import clip
from .boundary import EXIT_INTERRUPTED, _Interrupt, _interrupted, _print_error, _show_warning, error_line
from .commands import COMMANDS

__all__ = ["_Interrupt", "app", "main"]

app = typer.Typer(
    name="inception-export",
    help="Export Inception classifiers to TorchScript/ONNX/TensorRT and gate them on parity with PyTorch.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: reads at 80 columns, and flags show no "<bool>" value.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class _Argument(TyperArgument):
    """An argument shown by its name, as usage lines conventionally are (``ARTIFACT...``),
    not typer's ``{artifacts}...`` and ``<list[Path]>``."""

    def _rich_display_name(self) -> str:
        name = (self.metavar or self.name or "").upper()
        return f"{name}..." if self.nargs != 1 else name

    def _usage_display_name(self) -> str:
        name = self._rich_display_name()
        return name if self.required else f"[{name}]"

    def display_type_rich(self, ctx: typer.Context) -> str | None:  # type: ignore[override]
        return None


class _Command(TyperCommand):
    """Help that names values: an option's value is its metavar (``--input-size S``) or its
    name in capitals where none is declared (the vocabulary test refuses that), never a Python
    type (``<float>``)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        for param in self.params:
            if isinstance(param, TyperArgument):
                param.__class__ = _Argument
            elif isinstance(param, TyperOption) and param.metavar is None and not param.is_flag:
                param.metavar = (param.name or "value").upper()

    def get_short_help_str(self, limit: int = 45) -> str:
        """The command's whole summary (its docstring's first paragraph) for the command list,
        which wraps it: click would cut it at ``limit`` characters with "..."."""
        if self.short_help:
            return self.short_help
        first = inspect.cleandoc(self.help or "").split("\n\n")[0]
        return " ".join(first.split())


# Typer lists commands in the order they were added: the table's, the order a user meets them.
for _name, _fn in COMMANDS:
    app.command(_name, cls=_Command)(_fn)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI. ``main(argv)`` raises SystemExit with the exit code, for callers that run it
    in-process; ``main()``, the program itself, ends the process after flushing its streams."""
    # The program counts progress from its own start (imports included); a run in-process, whose
    # process started long before, from each display's.
    if argv is None:
        count_from_process_start()
    else:
        count_from_display_start()
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
    if _Interrupt.seen() or code == EXIT_INTERRUPTED:
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
