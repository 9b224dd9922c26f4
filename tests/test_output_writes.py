"""Writing outputs: the tool never destroys a file it did not create, and every
JSON it writes is strict.

Races are real (another thread or process changes the path while the command runs), the
full disk is a real file-size limit, signals are real signals sent to the real CLI. The tests that
read a release share the session's v1 release (conftest's ``v1_release``) and copy it where
they change it; the race and signal tests run their own (TorchScript + FP32, one sample).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import CliResult, assert_one_line_error, default_signals, run_cli, run_cli_here

from inception_export import atomic
from inception_export.atomic import atomic_path, check_output, check_output_dir, staged_directory
from inception_export.errors import UsageError
from inception_export.full.release import MANIFEST, is_release

# Full suite only (not `./dev test-fast`): real releases, races and signals through the CLI.
pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[1] / "README.md"
# TorchScript: the signal and race tests wait for its file in the staging directory.
FAST = ("--precision", "fp32", "--samples", "1", "--torchscript")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _junk(parent: Path) -> list[str]:
    return sorted(
        p.name for p in parent.iterdir() if any(k in p.name for k in (".staging-", ".replaced-", ".partial"))
    )


def _cli(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "inception_export", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=default_signals,
        **kwargs,
    )


@pytest.fixture(scope="module")
def release(v1_release: tuple[Path, CliResult]) -> Path:
    """The session's v1 release (FP32 and FP16 ONNX, two samples): read here, copied where a
    test changes it (conftest checks it is left as it was made)."""
    out, res = v1_release
    assert res.code == 0, res.stderr
    return out


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- a manifest this tool did not write is never replaced --------------------------------


def test_force_never_replaces_a_foreign_manifest(tmp_path: Path) -> None:
    app = tmp_path / "webapp"
    (app / "src").mkdir(parents=True)
    (app / "manifest.json").write_text(json.dumps({"manifest_version": 3, "name": "my extension"}))
    (app / "src" / "app.js").write_text("console.log('mine')\n")
    for manifest in ('{"manifest_version": 3}', "[1, 2]", "not json", '{"schema": 1, "versions": {}}'):
        (app / "manifest.json").write_text(manifest)
        t0 = time.monotonic()
        res = run_cli_here("release", "-m", "v1", "--out", str(app), "--force", *FAST)
        assert_one_line_error(res, 2, str(app), "not one of this tool's")
        assert time.monotonic() - t0 < 60  # refused before the exports
        assert (app / "src" / "app.js").read_text() == "console.log('mine')\n"
        assert (app / "manifest.json").read_text() == manifest
    assert _junk(tmp_path) == []


def test_release_manifest_is_recognised(release: Path) -> None:
    assert is_release(release)
    assert not is_release(release.parent)


# -- a path created while the command runs is never replaced -----------------------------


def _in_thread(fn: Any) -> None:
    t = threading.Thread(target=fn)
    t.start()
    t.join()


def test_file_created_meanwhile_is_never_replaced(tmp_path: Path) -> None:
    target = tmp_path / "report.xml"
    check_output(target, force=False)  # absent at the start
    refused = pytest.raises(UsageError, match="created by something else while this command ran")
    with refused, atomic_path(target) as tmp:
        tmp.write_text("<new/>")
        _in_thread(lambda: target.write_text("the user's"))
    assert target.read_text() == "the user's"
    assert _junk(tmp_path) == []
    # With --force the same race ends with the new file.
    check_output(target, force=True)
    with atomic_path(target) as tmp:
        tmp.write_text("<new/>")
    assert target.read_text() == "<new/>"


@pytest.mark.parametrize("force", [False, True])
def test_directory_created_meanwhile_is_never_replaced(tmp_path: Path, force: bool) -> None:
    out = tmp_path / "rel"
    check_output_dir(out, force, MANIFEST, ours=is_release)

    def user_makes_it() -> None:
        out.mkdir()
        (out / "notes.txt").write_text("the user's")

    refused = pytest.raises(UsageError, match="created or changed by something else")
    with refused, staged_directory(out, force=force, ours=is_release) as stage:
        (stage / MANIFEST).write_text("{}")
        _in_thread(user_makes_it)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "the user's"
    assert _junk(tmp_path) == []


def test_release_into_a_directory_created_meanwhile_keeps_it(tmp_path: Path) -> None:
    out = tmp_path / "rel"
    proc = _cli("release", "-m", "v1", "--out", str(out), *FAST)
    try:
        deadline = time.monotonic() + 300
        while not list(tmp_path.glob(".rel.staging-*/googlenet.pt")) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        out.mkdir()
        (out / "mine.txt").write_text("the user's")
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert_one_line_error(CliResult(proc.returncode, stdout, stderr), 2, str(out), "left as it is")
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]
    assert _junk(tmp_path) == []


# -- JUnit and release outputs: inputs, FIFOs and symlinks --------------------------------


def _parity(release: Path, *extra: str) -> CliResult:
    return run_cli(
        "parity", "--golden", str(release / "golden.npz"), str(release / "googlenet-fp32.onnx"), *extra
    )


def test_junit_never_overwrites_an_input_or_an_existing_file(release: Path, tmp_path: Path) -> None:
    onnx = release / "googlenet-fp32.onnx"
    before = {p.name: _sha(p) for p in release.iterdir()}
    for victim in (onnx, release / "golden.npz"):
        for force in ((), ("--force",)):
            res = _parity(release, "--junit", str(victim), *force)
            assert_one_line_error(res, 2, "--junit", "this command's")
    # Also through another name for the same file.
    link = tmp_path / "alias.onnx"
    link.symlink_to(onnx)
    assert_one_line_error(_parity(release, "--junit", str(link), "--force"), 2, "this command's")
    assert {p.name: _sha(p) for p in release.iterdir()} == before
    report = tmp_path / "report.xml"
    report.write_text("yesterday's report")
    assert_one_line_error(_parity(release, "--junit", str(report)), 2, "already exists", "--force")
    assert report.read_text() == "yesterday's report"
    assert _parity(release, "--junit", str(report), "--force").code == 0
    assert report.read_text().startswith("<?xml")


def test_junit_into_a_fifo_and_through_a_symlink(release: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "ci.pipe"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()), daemon=True)
    reader.start()
    res = _parity(release, "--junit", str(fifo))
    assert res.code == 0, res.stderr
    reader.join(timeout=10)
    assert got and "<testsuite" in got[0], "the FIFO's reader got nothing"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    # A symlink to a file: the file it names is rewritten, the link stays.
    (tmp_path / "reports").mkdir()
    real = tmp_path / "reports" / "latest.xml"
    real.write_text("old")
    link = tmp_path / "latest.xml"
    link.symlink_to(Path("reports") / "latest.xml")
    assert _parity(release, "--junit", str(link), "--force").code == 0
    assert link.is_symlink() and os.readlink(link) == str(Path("reports") / "latest.xml")
    assert real.read_text().startswith("<?xml")
    assert _junk(tmp_path) == [] and _junk(tmp_path / "reports") == []


def test_release_through_a_symlink_updates_its_target(release: Path, tmp_path: Path) -> None:
    releases = tmp_path / "releases"
    shutil.copytree(release, releases / "7")
    current = tmp_path / "current"
    current.symlink_to(Path("releases") / "7")
    # The staging of a killed run (nothing holds its lock) goes; a live run's stays.
    dead = releases / f".7.staging-{_dead_pid()}-abcdefgh"
    live = releases / f".7.staging-{os.getpid()}-abcdefgh"
    for d in (dead, live):
        d.mkdir()
        (d / "googlenet.pt").write_bytes(b"half")
    held = os.open(live, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(held, fcntl.LOCK_EX)  # what a live run's staged_directory holds
    inputs = json.loads((releases / "7" / MANIFEST).read_text())["golden"]["inputs"]["float"]
    res = run_cli(
        "release", "-m", "v1", "--out", str(current), "--force", "--precision", "fp32", "--samples", "3"
    )
    assert res.code == 0, res.stderr
    assert current.is_symlink() and os.readlink(current) == str(Path("releases") / "7")
    manifest = json.loads((releases / "7" / MANIFEST).read_text())
    assert manifest["golden"]["inputs"]["float"] == inputs + 1  # the new release, in the link's target
    assert not dead.exists() and live.exists()
    os.close(held)
    shutil.rmtree(live)
    assert _junk(tmp_path) == [] and _junk(releases) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current", "releases"]


# -- `trt` keeps the release's ONNX -------------------------------------------------------


def test_trt_keeps_a_release_onnx_and_reruns(release: Path, tmp_path: Path) -> None:
    from inception_export.tensorrt import missing_reason

    if missing_reason() is None:
        pytest.skip("a real TensorRT builds engines here (minutes); this case is about the ONNX beside it")
    rel = tmp_path / "rel"
    shutil.copytree(release, rel)
    onnx = rel / "googlenet-fp32.onnx"
    sha = _sha(onnx)
    artifacts = json.loads((rel / MANIFEST).read_text())["artifacts"]
    assert [a["sha256"] for a in artifacts if a["file"] == onnx.name] == [sha]
    # In this process: what is checked is the files and the error line, not start-up.
    res = run_cli_here(
        "trt",
        "-m",
        "v1",
        "--precision",
        "fp32",
        "--transform-input",
        "-o",
        str(rel / "googlenet-fp32.engine"),
    )
    assert_one_line_error(res, 2, str(onnx), "not this export", "--force")
    assert _sha(onnx) == sha
    assert _junk(rel) == []
    # The same command twice: the second finds its own identical ONNX and goes on.
    engine = tmp_path / "x" / "m.engine"
    for done in ("wrote", "kept the identical"):
        res = run_cli_here("trt", "-m", "v1", "--precision", "fp32", "-o", str(engine))
        assert_one_line_error(res, 2, "TensorRT")
        # (Without whitespace: this process's console wraps at 80 columns, inside long paths too.)
        expected = f"{done}{engine.with_suffix('.onnx')}".replace(" ", "")
        assert expected in "".join(res.stderr.split()), res.stderr
    assert _junk(engine.parent) == []
    # The engine's manifest of an earlier build is not replaced without --force either.
    stale = tmp_path / "y" / "m.engine.json"
    stale.parent.mkdir()
    stale.write_text('{"engine": "the user\'s"}')
    res = run_cli_here("trt", "-m", "v1", "--precision", "fp32", "-o", str(stale.with_suffix("")))
    assert_one_line_error(res, 2, str(stale), "already exists", "--force")
    assert stale.read_text() == '{"engine": "the user\'s"}'
    assert sorted(p.name for p in stale.parent.iterdir()) == ["m.engine.json"]  # refused before the export


# -- a full disk ---------------------------------------------------------------------------


def test_json_on_a_full_disk_is_exit_2_naming_the_path(release: Path, tmp_path: Path) -> None:
    out = tmp_path / "parity.json"

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))

    cmd = [sys.executable, "-m", "inception_export", "parity", "--golden", str(release / "golden.npz")]
    cmd += [str(release / "googlenet-fp32.onnx"), "--json"]
    with open(out, "w") as stdout:
        proc = subprocess.run(
            cmd, stdout=stdout, stderr=subprocess.PIPE, text=True, preexec_fn=limit, timeout=300
        )
    assert out.stat().st_size == 8192  # the report is longer: it was cut
    assert_one_line_error(CliResult(proc.returncode, "", proc.stderr), 2, "file too large", str(out))
    # Without the limit the same report is whole.
    res = _parity(release, "--json")
    assert res.code == 0 and len(res.stdout) > 8192
    json.loads(res.stdout)


# -- signals and concurrent swaps -----------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_clean_up_like_ctrl_c(tmp_path: Path, sig: signal.Signals) -> None:
    out = tmp_path / "rel"
    proc = _cli("release", "-m", "v1", "--out", str(out), *FAST)
    try:
        deadline = time.monotonic() + 300
        while not list(tmp_path.glob(".rel.staging-*/googlenet.pt")) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, (proc.returncode, stderr)
    # One error line, after the plain progress lines a log gets (stderr is a pipe here).
    lines = stderr.splitlines()
    assert lines[-1] == f"error: interrupted by {sig.name}", stderr
    assert all(ln.startswith("release: ") for ln in lines[:-1]), stderr
    assert stdout == ""
    assert list(tmp_path.iterdir()) == []
    assert "| 143, 129 | stopped by SIGTERM" in README.read_text()


# A killed run's staging goes, a live run's stays (by its lock): test_output_ownership.py.


def _write_release(stage: Path, tag: str) -> None:
    manifest = {"schema": 1, "versions": {"inception_export": "0"}, "artifacts": [], "tag": tag}
    (stage / MANIFEST).write_text(json.dumps(manifest))


def test_concurrent_force_swaps_never_fail(tmp_path: Path) -> None:
    out = tmp_path / "rel"
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def releaser(n: int) -> None:
        start.wait()
        for i in range(40):
            try:
                with staged_directory(out, force=True, ours=is_release) as stage:
                    _write_release(stage, f"{n}-{i}")
            except BaseException as exc:  # the test counts every failure
                errors.append(exc)

    threads = [threading.Thread(target=releaser, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [], errors[:3]
    assert is_release(out)
    assert _junk(tmp_path) == []


def test_swap_without_renameat2_is_still_safe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Where libc has no renameat2 (musl before 1.2.?, macOS) the fallback must keep the rules.
    monkeypatch.setattr(atomic, "_RENAMEAT2", None)
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
    test_directory_created_meanwhile_is_never_replaced(tmp_path / "a", force=True)
    test_file_created_meanwhile_is_never_replaced(tmp_path / "b")
    out = tmp_path / "c" / "rel"
    out.parent.mkdir()
    for tag in ("one", "two"):
        with staged_directory(out, force=True, ours=is_release) as stage:
            _write_release(stage, tag)
    assert json.loads((out / MANIFEST).read_text())["tag"] == "two"
    assert _junk(out.parent) == []


# -- strict JSON and mount points ---------------------------------------------------------


def _reject(constant: str) -> None:
    raise ValueError(f"bare {constant} in JSON")


def test_json_is_strict_when_an_artifact_gives_nan(release: Path, tmp_path: Path) -> None:
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(release / "googlenet-fp32.onnx"))
    fc = max(model.graph.initializer, key=lambda t: t.dims[0] if len(t.dims) == 2 else 0)
    nan = np.full(tuple(fc.dims), np.nan, dtype=np.float32)
    fc.CopyFrom(numpy_helper.from_array(nan, fc.name))
    broken = tmp_path / "broken.onnx"
    onnx.save(model, str(broken))
    junit = tmp_path / "j.xml"
    golden = str(release / "golden.npz")
    res = run_cli("parity", "--golden", golden, str(broken), "--json", "--junit", str(junit))
    assert res.code == 1, res.stderr
    report = json.loads(res.stdout, parse_constant=_reject)
    metrics = report["artifacts"][0]["metrics"]
    assert metrics["nonfinite"] > 0 and metrics["max_abs"] is None
    assert not re.search(r"[:\[,]\s*-?(NaN|Infinity)\b", res.stdout)  # (words in messages are fine)
    # Every JSON the release wrote is strict too.
    for path in [*release.glob("*.json")]:
        json.loads(path.read_text(), parse_constant=_reject)


def test_strict_json_writer() -> None:
    import numpy as np

    from inception_export import jsonout

    text = jsonout.dumps({"a": float("nan"), "b": [np.float32("inf"), -np.inf, np.int64(3)], "c": 1.5})
    assert json.loads(text, parse_constant=_reject) == {"a": None, "b": [None, None, 3], "c": 1.5}


def test_release_out_a_mount_point_is_refused_before_work(tmp_path: Path) -> None:
    # The final swap renames over the output directory, which a mount point refuses
    # (EBUSY); that used to surface as exit 3 after all the exports.
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    cmd = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)]
    mounted = subprocess.run(cmd, capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        assert os.path.ismount(mnt)
        with pytest.raises(UsageError, match="is a mount point"):
            check_output_dir(mnt, True, MANIFEST, is_release)
        res = run_cli_here("release", "-m", "v1", "--out", str(mnt), "--force")
        assert_one_line_error(res, 2, "is a mount point", "give a directory inside it")
        assert "release: build model" not in res.stderr  # refused before any export
        assert list(mnt.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)
