"""The Typer app and the error boundary every command goes through.

Commands raise :class:`InceptionExportError`; this layer turns that into one stderr line
and the error's exit code (2 for usage/input, 1 for a gate failure), never a traceback.
"""

from __future__ import annotations

import functools
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.markup import escape

from ..console import err
from ..errors import InceptionExportError

F = TypeVar("F", bound=Callable[..., Any])

# What the full (export/CI) role adds to the device role's dependencies.
FULL_ROLE = {"torch", "onnxscript", "safetensors", "skimage", "matplotlib", "psutil"}
FULL_INSTALL = "pip install 'inception-export[full]' (after torch itself; see the README's install section)"

app = typer.Typer(
    name="inception-export",
    help="Export Inception classifiers to TorchScript/ONNX/TensorRT and gate them on parity with PyTorch.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def command(*args: Any, **kwargs: Any) -> Callable[[F], F]:
    """``app.command`` plus the error boundary."""

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*a: Any, **k: Any) -> Any:
            try:
                return fn(*a, **k)
            except InceptionExportError as exc:
                fail(str(exc), exc.exit_code)
            except KeyboardInterrupt:
                fail("interrupted", 130)
            except typer.Exit:
                raise
            except Exception as exc:
                if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in FULL_ROLE:
                    # The device role installs no torch: say which install this command needs.
                    fail(f"this command needs {exc.name}, which is not installed here: {FULL_INSTALL}", 2)
                if os.environ.get("INCEPTION_EXPORT_DEBUG"):
                    raise
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                fail(
                    f"internal error: {type(exc).__name__}: {first[:300]} "
                    "(set INCEPTION_EXPORT_DEBUG=1 for the traceback)",
                    3,
                )
            return None

        app.command(*args, **kwargs)(wrapper)
        return fn

    return deco


def _show_warning(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
    err.print(f"[yellow]note:[/] {escape(str(message))}", soft_wrap=True)


def main() -> None:
    # Library warnings (dropped aux keys, ...) become one readable stderr line each.
    warnings.showwarning = _show_warning
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    # Register every command module before dispatch.
    from . import commands  # noqa: F401

    app(prog_name="inception-export")
    sys.exit(0)


@app.callback()
def _root() -> None:
    """Export Inception classifiers and gate every artifact on parity with PyTorch."""
