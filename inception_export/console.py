"""Where output goes: humans read stderr (rich), machines read stdout (JSON)."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

# Wide enough for the tables when stderr is a CI log rather than a terminal.
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def progress_steps(label: str, total: int) -> Iterator[Callable[[str], None]]:
    """A progress bar advanced one step per call of the yielded function (with a message)."""
    with progress() as bar:
        task = bar.add_task(label, total=total)

        def step(msg: str) -> None:
            bar.update(task, advance=1, description=f"{label}: {msg}")

        yield step
        bar.update(task, completed=total, description=f"{label}: done")


def progress() -> Progress:
    """A progress display on stderr; quiet when stderr is not a terminal-like stream."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )
