"""Where output goes: a command's result on stdout (``out``, or JSON with ``--json``);
progress, notes and warnings on stderr (``err``)."""

from __future__ import annotations

import contextlib
import datetime
import functools
import os
import select
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, Task, TextColumn
from rich.text import Text

from . import interrupts
from .text import printable

# Every table is laid out to read at 80 columns, so that is the width when the stream is
# not a terminal (a CI log, a pipe) and COLUMNS does not say otherwise.
DEFAULT_WIDTH = 80
# Below this a table cannot be laid out without cutting numbers (COLUMNS=20) or printing
# nothing at all (COLUMNS=0): the 80-column layout is printed and the terminal wraps it.
MIN_WIDTH = 60


def _ensure_std_fds() -> None:
    """Give a closed fd 0, 1 or 2 (``cmd >&-``) /dev/null, before anything opens a file.

    Otherwise the next file opened would get that number, and "stdout" would write into it;
    with fd 1 closed, Python also starts with ``sys.stdout = None``.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            _CLOSED_AT_START.add(fd)
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process


_CLOSED_AT_START: set[int] = set()
_ensure_std_fds()


def _width(stream: TextIO) -> int | None:
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        return int(columns) if int(columns) >= MIN_WIDTH else DEFAULT_WIDTH
    try:
        tty = stream.isatty()
    except (OSError, ValueError):
        tty = False
    if tty:
        size = shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
        return None if size >= MIN_WIDTH else DEFAULT_WIDTH  # None: rich follows resizes
    return DEFAULT_WIDTH


err = Console(stderr=True, highlight=False, width=_width(sys.stderr))
out = Console(highlight=False, width=_width(sys.stdout))
# Where /proc cannot say when the process started: the CLI imports this module first thing.
_IMPORTED = time.perf_counter()
# The moment progress counts from (time.perf_counter()'s clock); None: each display's own start.
_started: float | None = None


def process_age() -> float:
    """Seconds since this process started, interpreter start-up and imports (torch: seconds)
    included: the kernel's start time (/proc/self/stat), else since this module was imported."""
    try:
        with open("/proc/self/stat") as fh:
            # Fields after the command name, which may hold spaces and ')': starttime is the 22nd.
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _IMPORTED


def count_from_process_start() -> None:
    """Progress lines and bars count seconds from the process's start (the CLI's ``main``), so
    the first line shows what the user has waited, start-up included."""
    global _started
    _started = time.perf_counter() - process_age()


def count_from_display_start() -> None:
    """Each progress display counts from its own start (the CLI run in-process: a test, an API
    caller, whose process started long before)."""
    global _started
    _started = None


def _t0() -> float:
    return time.perf_counter() if _started is None else _started


# In a log (stderr not a terminal) a long step still says what it is doing at least this often.
HEARTBEAT_S = 10.0


class LogLines:
    """Progress for a log: a plain line as each phase starts (``announce``) and, while one
    runs, another every ``interval`` seconds, so a CI log never sits silent.

    A live display prints stray frames into a file, so this replaces it wherever stderr is
    not a terminal. Each line carries the seconds since the start (the process's, in the CLI).
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
        self.t0 = _t0()
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
        # Progress messages carry file and node names: escaped here, once, for every command.
        shown = printable(text)
        self.console.print(f"{shown} [{now - self.t0:.0f}s]", markup=False, highlight=False, soft_wrap=True)

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
        with err.status(escape(printable(msg))):
            yield
        return
    log = LogLines(msg, announce=False)
    try:
        yield
    finally:
        log.close()


class GuardedStream:
    """``sys.stdout``/``sys.stderr`` for the CLI: a closed pipe (``| head``, ``| true``) or a
    closed descriptor loses the text, never the command's exit code.

    On the first failed write the descriptor is pointed at /dev/null, so the interpreter's
    final flush and C code writing to it succeed quietly; ``lost`` records that it happened.
    Characters the stream's encoding cannot hold are written as escapes.
    """

    def __init__(self, inner: TextIO, fd: int) -> None:
        self._inner = inner
        self._fd = fd
        self.lost = fd in _CLOSED_AT_START
        with contextlib.suppress(AttributeError, ValueError, OSError):
            inner.reconfigure(errors="backslashreplace")  # type: ignore[attr-defined]

    def write(self, text: str) -> int:
        if not self.lost:
            try:
                return self._inner.write(text)
            except UnicodeEncodeError:
                enc = getattr(self._inner, "encoding", None) or "ascii"
                return self._inner.write(text.encode(enc, "backslashreplace").decode(enc))
            except (OSError, ValueError):
                self._lose()
        return len(text)

    def flush(self) -> None:
        if not self.lost:
            try:
                self._inner.flush()
            except (OSError, ValueError):
                self._lose()

    def _lose(self) -> None:
        self.lost = True
        with contextlib.suppress(OSError):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._fd)
            os.close(null)
        with contextlib.suppress(OSError, ValueError):
            self._inner.flush()  # what the failed write left buffered now goes to /dev/null

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def guard_streams() -> None:
    """Wrap ``sys.stdout`` and ``sys.stderr`` in :class:`GuardedStream` (the CLI's ``main``)."""
    if not isinstance(sys.stdout, GuardedStream):
        sys.stdout = GuardedStream(sys.stdout, 1)
    if not isinstance(sys.stderr, GuardedStream):
        sys.stderr = GuardedStream(sys.stderr, 2)


def stdout_lost() -> bool:
    """Whether something written to stdout did not reach it (closed, or a broken pipe)."""
    sys.stdout.flush()
    return bool(getattr(sys.stdout, "lost", False))


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
    except BrokenPipeError:
        # The reader left: the text is lost, not the exit code (main() then reports that the
        # JSON result never arrived).
        lose = getattr(sys.stdout, "_lose", None)
        if lose is not None:
            lose()
    except OSError as exc:
        if exc.errno in DISK_FULL:
            raise disk_full(exc, _stdout_name()) from None
        raise


def _stdout_name() -> Path:
    try:
        return Path(os.readlink("/proc/self/fd/1"))
    except OSError:
        return Path("stdout")


@functools.cache
def _libc() -> Any:
    import ctypes

    try:
        return ctypes.CDLL(None)
    except OSError:  # no C library to ask (not glibc/musl/macOS)
        return None


def _flush_c_stdio() -> None:
    # C++ code (TorchScript's print) writes through C stdio, fully buffered on a pipe: flush it
    # while fd 1 still points where the text belongs.
    libc = _libc()
    with contextlib.suppress(AttributeError, OSError):
        if libc is not None:
            libc.fflush(None)


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
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        _flush_c_stdio()
        os.dup2(saved, 1)
        os.close(saved)


class Steps:
    """The step function a command hands its core: call it once per step with a message.

    The core, which knows how much work it was given (how many inputs, which artifacts), says
    how many steps there will be with :func:`expect_steps`; the command does not guess.
    ``done`` and ``total`` are kept for a test to compare.
    """

    def __init__(
        self,
        on_step: Callable[[str], None] = lambda _msg: None,
        on_total: Callable[[int], None] = lambda _n: None,
    ) -> None:
        self._on_step, self._on_total = on_step, on_total
        self.done = 0
        self.total: int | None = None

    def __call__(self, msg: str) -> None:
        interrupts.check()  # a signal that the last phase swallowed: stop before the next
        self.done += 1
        self._on_step(msg)

    def expect(self, total: int) -> None:
        self.total = total
        self._on_total(total)


def expect_steps(progress: Callable[[str], None] | None, remaining: int) -> None:
    """Tell a :class:`Steps` how many more steps the work takes (its total: those made so far
    plus ``remaining``), so each phase of a core counts its own; a plain callable (an API
    caller's) has no use for it."""
    if isinstance(progress, Steps):
        progress.expect(progress.done + remaining)


@contextlib.contextmanager
def progress_steps(label: str, total: int | None = None) -> Iterator[Steps]:
    """A progress bar advanced one step per call of the yielded :class:`Steps` (with a message);
    its total comes from the core (:func:`expect_steps`), or ``total`` where the command knows it."""
    t0 = time.perf_counter()
    if not err.is_terminal:
        # A log gets a plain line per step (and a heartbeat), then one when the work is done.
        log = LogLines(label)
        try:
            steps = Steps(log.phase)
            if total is not None:
                steps.expect(total)
            yield steps
        finally:
            log.close()
        err.print(f"{label}: done in {time.perf_counter() - t0:.1f}s")
        return
    with progress() as bar:
        task = bar.add_task(label, total=total)

        def step(msg: str) -> None:
            # The description is rich markup: a file name's "[red]" or ESC must show as written.
            bar.update(task, advance=1, description=escape(printable(f"{label}: {msg}")))

        steps = Steps(step, lambda n: bar.update(task, total=n))
        if total is not None:
            steps.expect(total)
        yield steps
        bar.update(task, completed=steps.total or steps.done, description=f"{label}: done")


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
    """Time since the start (the process's, in the CLI). rich's TimeElapsedColumn stops at a
    task's first completion, so a bar reused for several phases (bench's batch sizes) would freeze."""

    def __init__(self) -> None:
        super().__init__()
        self.t0 = _t0()

    def render(self, task: Task) -> Text:
        seconds = int(time.perf_counter() - self.t0)
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
