"""A release is all or nothing, Ctrl-C and a full disk included.

Every test drives the real CLI in a subprocess: interrupts are real SIGINTs sent at a
moment chosen by watching the staging directory fill up, the full disk is a real tmpfs
(or, where mounting is not allowed, a real file-size limit).
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CliResult, assert_one_line_error, default_signals, run_cli, run_cli_here

# Left to the full suite (not in `-m "not slow"`): each test runs real releases in subprocesses.
pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[1] / "README.md"
FAST = ("--precision", "fp32", "--samples", "1")


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".staging-" in p.name or ".replaced-" in p.name)


def _interrupt_when(
    args: list[str], parent: Path, ready: str, delay: float, timeout: float = 300
) -> CliResult:
    """Start the CLI, wait until a staging directory beside the output holds ``ready``,
    wait ``delay`` seconds more, send SIGINT, and collect the result."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "inception_export", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=default_signals,
    )
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if any((d / ready).exists() for d in parent.glob(".*.staging-*")):
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"finished before {ready} appeared: {proc.communicate()}"
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return CliResult(proc.returncode, out, err)


def _assert_interrupted(res: CliResult) -> None:
    assert res.code == 130, (res.code, res.stderr)
    # In a log, the progress lines of the phases that ran, then the one error line.
    *progress, last = res.stderr.splitlines()
    assert last == "error: interrupted" and all(ln.startswith("release: ") for ln in progress), res.stderr
    assert "\x1b" not in res.stderr + res.stdout
    assert res.stdout == ""


def test_bad_options_refused_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "rel"
    nan = tmp_path / "nan.json"
    nan.write_text(json.dumps({"fp16": {"rel_l2": float("nan")}}))
    loose = tmp_path / "loose.json"
    loose.write_text(json.dumps({"fp32": {"top1_agreement": 0.9}}))
    # (Malformed, negative and out-of-range limits: tests/test_parity.py.)
    cases = [
        (["--samples", "0"], "--samples"),
        (["--tolerance-profile", str(nan)], "finite"),
        (["--tolerance-profile", str(loose)], "[fp32] top1_agreement = 0.9 (bound 1)"),
        (["--weights", str(tmp_path)], "is a directory"),
    ]
    for extra, needle in cases:
        res = run_cli_here("release", "-m", "v1", "--out", str(out), *extra)
        # One line and nothing else: no progress frame, no export ran, nothing written.
        assert_one_line_error(res, 2, needle)
        assert len(res.stderr.splitlines()) == 1, res.stderr
        assert not out.exists() and _leftovers(tmp_path) == []


def test_interrupt_during_tracing_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "rel"
    # The TorchScript file is in place: the ONNX exporter is tracing now (torch wraps a
    # KeyboardInterrupt raised there in its own error type; it used to exit 3).
    res = _interrupt_when(
        ["release", "-m", "v1", "--out", str(out), *FAST, "--torchscript"],
        tmp_path,
        "googlenet.pt",
        delay=1.0,
    )
    _assert_interrupted(res)
    assert not out.exists()
    assert _leftovers(tmp_path) == []


def test_interrupt_during_gate_keeps_earlier_release(tmp_path: Path) -> None:
    out = tmp_path / "rel"
    out.mkdir()
    # An earlier release's manifest (only one of this tool's is ever replaced: test_output_writes.py).
    pt = {"file": "googlenet.pt"}  # listed: --force replaces only what the manifest lists
    earlier = {"schema": 1, "versions": {"inception_export": "0.1.0"}, "artifacts": [pt]}
    (out / "manifest.json").write_text(json.dumps(earlier))
    (out / "googlenet.pt").write_bytes(b"earlier release")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # The ONNX sidecar is the last file the exports write: the gate runs now. With one
    # input the gate is over in well under a second, so this run gates 48 (several
    # seconds) and the signal comes one second in.
    res = _interrupt_when(
        ["release", "-m", "v1", "--out", str(out), "--force", "--precision", "fp32", "--samples", "48"],
        tmp_path,
        "googlenet-fp32.onnx",
        delay=1.0,
    )
    _assert_interrupted(res)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert _leftovers(tmp_path) == []


def _readme_first_command() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", README.read_text(), re.S)
    assert block is not None
    line = block.group(1).splitlines()[0].split("#")[0].split()
    assert line[:2] == ["./dev", "inception-export"], line
    return line[2:]


def test_readme_first_command_runs_twice(tmp_path: Path) -> None:
    args = _readme_first_command()
    assert args[:1] == ["release"] and "--force" in args, args
    # The README's command, on v1 with one random input so that it runs in seconds.
    args = [("v1" if a == "v3" else a) for a in args] + list(FAST)
    # The first run in this process (a fresh interpreter costs seconds of imports); the second,
    # whose streams are checked, as a user runs it.
    first = run_cli_here(*args, cwd=tmp_path)
    assert first.code == 0, first.stderr
    first_manifest = json.loads((tmp_path / "release" / "manifest.json").read_text())
    second = run_cli(*args, cwd=tmp_path)
    assert second.code == 0, second.stderr
    manifest = json.loads((tmp_path / "release" / "manifest.json").read_text())
    # Replaced atomically by an identical release (the exports are reproducible).
    assert [a["sha256"] for a in manifest["artifacts"]] == [a["sha256"] for a in first_manifest["artifacts"]]
    assert _leftovers(tmp_path) == []
    # The result (the gate's table, the manifest's path) is on stdout; progress on stderr.
    assert "parity gate" in second.stdout and "manifest.json" in second.stdout
    assert "parity gate" not in second.stderr
    # (Without --force an earlier release is refused: tests/test_release.py.)


def _mount_tmpfs(where: Path, size: str) -> bool:
    if shutil.which("mount") is None or os.geteuid() != 0:
        return False
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
    )
    return proc.returncode == 0


def test_full_disk_is_exit_2_naming_the_path(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = _mount_tmpfs(disk, "8m")  # v1's TorchScript file alone is 26 MB
    try:
        out = disk / "rel"
        cmd = [sys.executable, "-m", "inception_export", "release", "-m", "v1", "--out", str(out), *FAST]
        cmd.append("--torchscript")  # the first file written, and the one too large here
        if mounted:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            reason = "no space left on device"
        else:
            # No mount here: a real file-size limit gives EFBIG at the same write.
            def limit() -> None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (8 << 20, 8 << 20))

            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, preexec_fn=limit)
            reason = "file too large"
        res = CliResult(proc.returncode, proc.stdout, proc.stderr)
        assert_one_line_error(res, 2, reason, str(out / "googlenet.pt"))
        assert not out.exists()
        assert _leftovers(disk) == []
        assert [p.name for p in disk.iterdir()] == []
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=False)
