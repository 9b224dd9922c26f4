"""Progress a user sees: plain lines and a heartbeat in a log, a bar that never freezes or
shows ``0/None`` on a terminal."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console
from rich.progress import Progress

from inception_export.console import Count, Elapsed, LogLines


def test_log_lines_name_each_phase_and_beat_while_one_lasts() -> None:
    buf = io.StringIO()
    log = LogLines("release", interval=0.3, console=Console(file=buf, width=200))
    try:
        log.phase("build model")
        log.phase("build model")  # the same phase again: no second line
        log.phase("export v1.onnx", "3/9 runs")
        time.sleep(1.6)
    finally:
        log.close()
    lines = buf.getvalue().splitlines()
    assert lines[0] == "release: build model [0s]"
    assert lines[1] == "release: export v1.onnx [0s]"
    beats = lines[2:]
    # A silent phase still writes a line every interval (here 0.3 s; 10 s in the CLI).
    assert len(beats) >= 2, lines
    beat = re.compile(r"release: export v1\.onnx: still running \(3/9 runs\) \[\d+s\]")
    assert all(beat.fullmatch(b) for b in beats), beats
    count = len(lines)
    time.sleep(0.5)
    assert len(buf.getvalue().splitlines()) == count  # closed: no more lines


def test_progress_columns_keep_time_moving_and_never_show_none() -> None:
    bar = Progress(console=Console(file=io.StringIO()), disable=True)
    task_id = bar.add_task("v1: building", total=None)
    task = bar.tasks[0]
    count, elapsed = Count(), Elapsed()
    assert str(count.render(task)) == ""  # the total is unknown: no "0/None"
    bar.update(task_id, total=4, completed=4)  # the first batch size is done
    assert str(count.render(task)) == "4/4"
    first = str(elapsed.render(task))
    time.sleep(1.1)
    # What bench does between batch sizes: no count while the next one is prepared.
    bar.update(task_id, description="v1 b8: preparing torch", completed=0, count=False)
    # The task completed once; the elapsed time still moves on.
    assert str(elapsed.render(task)) != first and str(count.render(task)) == ""


def test_process_age_counts_from_the_process_start() -> None:
    # A fresh interpreter times itself from its first line; the age also holds the interpreter's
    # own start-up before that line (a fraction of a second), never less than what was timed.
    code = (
        "import time; t = time.perf_counter(); time.sleep(1)\n"
        "from inception_export.console import process_age\n"
        "print(process_age() - (time.perf_counter() - t))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert -0.02 <= float(proc.stdout) < 1.5, proc.stdout  # /proc counts in 10 ms ticks


@pytest.mark.slow  # a fresh interpreter's torch import, and a small golden bundle
def test_progress_counts_from_the_process_start(tmp_path: Path) -> None:
    """The seconds on the first line include start-up (interpreter, imports, here 2 s of sleep
    before the CLI's main), which the user waited for too."""
    start = "import time; time.sleep(2); from inception_export.cli import main; main()"
    argv = ["golden", "-m", "v1", "--input-size", "64", "--samples", "1", "-o", str(tmp_path / "g.npz")]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", start, *argv], capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    seconds = [int(s) for s in re.findall(r"^golden: .* \[(\d+)s\]$", proc.stderr, re.M)]
    assert seconds and 2 <= seconds[0] <= seconds[-1] <= wall + 1, proc.stderr
