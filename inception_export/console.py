"""Where output goes: a command's result on stdout (``out``, or JSON with ``--json``);
progress, notes and warnings on stderr (``err``)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

# Every table is laid out to read at 80 columns, so that is the width when the stream is
# not a terminal (a CI log, a pipe) and COLUMNS does not say otherwise.
DEFAULT_WIDTH = 80


def _width(stream: TextIO) -> int | None:
    if stream.isatty() or os.environ.get("COLUMNS", "").isdigit():
        return None  # rich asks the terminal, or reads COLUMNS
    return DEFAULT_WIDTH


err = Console(stderr=True, highlight=False, width=_width(sys.stderr))
out = Console(highlight=False, width=_width(sys.stdout))


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def _flush_c_stdio() -> None:
    # C++ code (TorchScript's print) writes through C stdio, fully buffered on a pipe: flush it
    # while fd 1 still points where the text belongs.
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # no C library to ask (not glibc/musl/macOS)
        pass


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to stdout (``sys.stdout``, and file descriptor 1 for C and
    C++) to stderr meanwhile.

    For code the tool does not control (a TorchScript archive's ``print``, which torch routes
    to ``sys.stdout``), so that stdout carries only the command's result.
    """
    with contextlib.redirect_stdout(sys.stderr), _fd1_to_fd2():
        yield


@contextlib.contextmanager
def _fd1_to_fd2() -> Iterator[None]:
    for stream in (sys.stdout, sys.__stdout__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    try:
        saved = os.dup(1)
    except OSError:  # stdout closed: nothing to protect
        yield
        return
    try:
        os.dup2(2, 1)
    except OSError:  # stderr closed: keep stdout as it is rather than lose it
        os.close(saved)
        yield
        return
    try:
        yield
    finally:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        _flush_c_stdio()
        os.dup2(saved, 1)
        os.close(saved)


@contextlib.contextmanager
def progress_steps(label: str, total: int) -> Iterator[Callable[[str], None]]:
    """A progress bar advanced one step per call of the yielded function (with a message)."""
    t0 = time.perf_counter()
    with progress() as bar:
        task = bar.add_task(label, total=total)

        def step(msg: str) -> None:
            bar.update(task, advance=1, description=f"{label}: {msg}")

        yield step
        bar.update(task, completed=total, description=f"{label}: done")
    if bar.disable:
        # No live display in a log: one line once the work is done, nothing before an error.
        err.print(f"{label}: done in {time.perf_counter() - t0:.1f}s")


@contextlib.contextmanager
def progress() -> Iterator[Progress]:
    """A progress display on stderr, stopped cleanly whatever happens inside.

    Live only on a terminal (in a log or pipe it would print stray frames). On an error
    or Ctrl-C the display is erased, so the one ``error:`` line that follows stands alone.
    """
    bar = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )
    bar.start()
    try:
        yield bar
    except BaseException:
        bar.live.transient = True
        raise
    finally:
        bar.stop()
