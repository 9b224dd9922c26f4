"""Where output goes: a command's result on stdout (``out``, or JSON with ``--json``);
progress, notes and warnings on stderr (``err``)."""

from __future__ import annotations

import contextlib
import os
import select
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
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
    from . import jsonout
    from .atomic import DISK_FULL, disk_full

    text = jsonout.dumps(obj, indent=2, sort_keys=False) + "\n"
    try:
        sys.stdout.flush()
        try:
            fd = sys.stdout.fileno()
        except (AttributeError, OSError, ValueError):
            sys.stdout.write(text)  # not a real stream (a test's capture)
            return
        # Not sys.stdout.write: on a nearly full disk its buffer drops what one short write
        # left over and reports success (exit 0 with the JSON cut at 8,192 bytes).
        data = memoryview(text.encode("ascii"))
        while data:
            try:
                data = data[os.write(fd, data) :]
            except BlockingIOError:  # a non-blocking pipe that is full: wait for the reader
                select.select([], [fd], [])
    except OSError as exc:
        if exc.errno in DISK_FULL:
            raise disk_full(exc, _stdout_name()) from None
        raise


def _stdout_name() -> Path:
    try:
        return Path(os.readlink("/proc/self/fd/1"))
    except OSError:
        return Path("stdout")


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
