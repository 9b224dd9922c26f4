"""Where output goes: a command's result on stdout (``out``, or JSON with ``--json``);
progress, notes and warnings on stderr (``err``)."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, Task, TextColumn
from rich.text import Text

# Every table is laid out to read at 80 columns, so that is the width when the stream is
# not a terminal (a CI log, a pipe) and COLUMNS does not say otherwise.
DEFAULT_WIDTH = 80


def _width(stream: TextIO) -> int | None:
    if stream.isatty() or os.environ.get("COLUMNS", "").isdigit():
        return None  # rich asks the terminal, or reads COLUMNS
    return DEFAULT_WIDTH


err = Console(stderr=True, highlight=False, width=_width(sys.stderr))
out = Console(highlight=False, width=_width(sys.stdout))
# In a log (stderr not a terminal) a long step still says what it is doing at least this often.
HEARTBEAT_S = 10.0


class LogLines:
    """Progress for a log: a plain line as each phase starts (``announce``) and, while one
    runs, another every ``interval`` seconds, so a CI log never sits silent.

    A live display prints stray frames into a file, so this replaces it wherever stderr is
    not a terminal. Each line carries the seconds since the start.
    """

    def __init__(
        self,
        label: str,
        *,
        announce: bool = True,
        interval: float = HEARTBEAT_S,
        console: Console | None = None,
    ) -> None:
        self.label = label
        self.announce = announce
        self.interval = interval
        self.console = console or err
        self.t0 = time.perf_counter()
        self.phase_msg = ""
        self.detail = ""
        self._last = self.t0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._run, name=f"{label} heartbeat", daemon=True)
        self._beat.start()

    def _line(self, text: str) -> None:
        now = time.perf_counter()
        self._last = now
        self.console.print(f"{text} [{now - self.t0:.0f}s]", markup=False, highlight=False, soft_wrap=True)

    def phase(self, msg: str, detail: str = "") -> None:
        """Enter phase ``msg`` (a line, if announcing); ``detail`` only updates the heartbeat."""
        with self._lock:
            self.detail = detail
            if msg != self.phase_msg:
                self.phase_msg = msg
                if self.announce:
                    self._line(f"{self.label}: {msg}")

    def _run(self) -> None:
        while not self._stop.wait(min(1.0, self.interval)):
            with self._lock:
                if time.perf_counter() - self._last >= self.interval:
                    what = f"{self.label}: {self.phase_msg}" if self.phase_msg else self.label
                    self._line(f"{what}: still running" + (f" ({self.detail})" if self.detail else ""))

    def close(self) -> None:
        self._stop.set()
        self._beat.join()


@contextlib.contextmanager
def status(msg: str) -> Iterator[None]:
    """A spinner with ``msg`` on a terminal; in a log, a line every HEARTBEAT_S while it lasts."""
    if err.is_terminal:
        with err.status(msg):
            yield
        return
    log = LogLines(msg, announce=False)
    try:
        yield
    finally:
        log.close()


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def progress_steps(label: str, total: int) -> Iterator[Callable[[str], None]]:
    """A progress bar advanced one step per call of the yielded function (with a message)."""
    t0 = time.perf_counter()
    if not err.is_terminal:
        # A log gets a plain line per step (and a heartbeat), then one when the work is done.
        log = LogLines(label)
        try:
            yield log.phase
        finally:
            log.close()
        err.print(f"{label}: done in {time.perf_counter() - t0:.1f}s")
        return
    with progress() as bar:
        task = bar.add_task(label, total=total)

        def step(msg: str) -> None:
            bar.update(task, advance=1, description=f"{label}: {msg}")

        yield step
        bar.update(task, completed=total, description=f"{label}: done")


class Count(ProgressColumn):
    """``done/total``, or nothing while the total is unknown (not ``0/None``).

    rich cannot set a total back to unknown, so a task between counted phases says so with
    the field ``count=False``.
    """

    def render(self, task: Task) -> Text:
        if task.total is None or not task.fields.get("count", True):
            return Text("")
        return Text(f"{int(task.completed)}/{int(task.total)}")


class Elapsed(ProgressColumn):
    """Time since the display started. rich's TimeElapsedColumn stops at a task's first
    completion, so a bar reused for several phases (bench's batch sizes) would freeze."""

    def __init__(self) -> None:
        super().__init__()
        self.t0 = time.monotonic()

    def render(self, task: Task) -> Text:
        seconds = int(time.monotonic() - self.t0)
        return Text(str(datetime.timedelta(seconds=seconds)), style="progress.elapsed")


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
        Count(),
        Elapsed(),
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
