"""A stop signal that the work swallowed still stops the command before anything is published;
Ctrl-C inside torch's ONNX exporter is still exit 130. (A release's interrupts:
test_release_all_or_nothing.py; SIGTERM and SIGHUP: test_output_writes.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import default_signals

from inception_export import interrupts
from inception_export.atomic import check_output_dir, staged_directory, write_text_atomic
from inception_export.console import Steps


@pytest.fixture
def signalled() -> Iterator[None]:
    interrupts.record(2)
    try:
        yield
    finally:
        interrupts.reset()


def test_atomic_write_publishes_nothing_after_a_signal(tmp_path: Path, signalled: None) -> None:
    target = tmp_path / "m.onnx.json"
    with pytest.raises(KeyboardInterrupt):
        write_text_atomic(target, "{}")
    assert list(tmp_path.iterdir()) == []


def test_staged_release_is_not_swapped_in_after_a_signal(tmp_path: Path, signalled: None) -> None:
    out = tmp_path / "rel"
    check_output_dir(out, False, "manifest.json", ours=lambda _p: True)
    with pytest.raises(KeyboardInterrupt), staged_directory(out) as stage:
        (stage / "manifest.json").write_text("{}")
    assert list(tmp_path.iterdir()) == []


def test_next_progress_step_stops_after_a_signal(signalled: None) -> None:
    steps = Steps()
    with pytest.raises(KeyboardInterrupt):
        steps("export")
    assert steps.done == 0


def test_without_a_signal_everything_goes_through(tmp_path: Path) -> None:
    assert interrupts.pending() is None
    write_text_atomic(tmp_path / "a.json", "{}")
    Steps()("export")
    assert (tmp_path / "a.json").read_text() == "{}"


@pytest.mark.slow
def test_interrupt_during_export_exits_130(tmp_path: Path) -> None:
    """SIGINT while `onnx` traces the model: torch wraps the KeyboardInterrupt; still 130."""
    import signal
    import time

    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-c", _TRACE_PROBE, str(tmp_path / "m.onnx")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        preexec_fn=default_signals,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not (tmp_path / "tracing").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err == "error: interrupted\n" and "\x1b" not in err + out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tracing"]


# Runs the real CLI entry point, after marking the moment torch.onnx.export starts (so the
# signal lands inside the exporter rather than at a guessed time).
_TRACE_PROBE = """
import sys, pathlib, torch
real = torch.onnx.export
def export(*a, **k):
    pathlib.Path("tracing").touch()
    return real(*a, **k)
torch.onnx.export = export
from inception_export.cli import main
sys.argv = ["inception-export", "onnx", "-m", "v1", "-o", sys.argv[1]]
main()
"""
