"""What an output may replace: with --force only what this tool wrote (a release or deploy
directory holding nothing its record does not list), never an input of the same command (under
any name), never a live run's staging (in any PID namespace); a long valid name works, and a
FIFO or device output is reported as what it is.

Refusals run in this process (``run_cli_here``) and must come before any work; the staging
tests use real processes, one of them in its own PID namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_one_line_error, run_cli, run_cli_here

from inception_export.atomic import check_output_dir
from inception_export.full.release import MANIFEST, is_release

REPO = Path(__file__).resolve().parents[1]


def _copy(v1_release: tuple[Path, Any], where: Path) -> Path:
    release, res = v1_release
    assert res.code == 0, res.stderr
    shutil.copytree(release, where)
    return where


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- --force replaces only what this tool wrote ---------------------------------------------


def test_a_release_lists_every_file_it_wrote(v1_release: tuple[Path, Any]) -> None:
    from inception_export.atomic import unlisted_entries
    from inception_export.full.release import release_files

    release, _ = v1_release
    assert unlisted_entries(release, release_files(release)) == []
    manifest = json.loads((release / MANIFEST).read_text())
    assert all(a["sidecar"] == a["file"] + ".json" for a in manifest["artifacts"])


def test_release_force_keeps_a_file_the_user_added(v1_release: tuple[Path, Any], tmp_path: Path) -> None:
    rel = _copy(v1_release, tmp_path / "rel")
    (rel / "my-notes.txt").write_text("x\n")
    (rel / "extra" / "deep").mkdir(parents=True)
    before = _tree(rel)
    t0 = time.monotonic()
    res = run_cli_here("release", "-m", "v1", "-o", str(rel), "--force", "--precision", "fp32")
    assert_one_line_error(res, 2, str(rel), "my-notes.txt", "extra/", "--force replaces only")
    assert time.monotonic() - t0 < 30  # before any export
    assert _tree(rel) == before and (rel / "extra" / "deep").is_dir()


def test_deploy_force_replaces_its_own_output_only(v1_release: tuple[Path, Any], tmp_path: Path) -> None:
    release, _ = v1_release
    out = tmp_path / "triton"
    args = ("deploy", "triton", "--release", str(release), "-o", str(out), "--platform", "onnx")
    assert run_cli_here(*args).code == 0
    again = run_cli_here(*args)
    # Not "(an earlier release)": what is there is an earlier deploy output.
    assert_one_line_error(again, 2, "already exists", "deploy.json", "--force")
    assert "earlier release" not in again.stderr
    assert run_cli_here(*args, "--force").code == 0  # the normal rerun
    (out / "googlenet-onnx-fp32" / "my.cfg").write_text("mine")
    assert_one_line_error(run_cli_here(*args, "--force"), 2, "googlenet-onnx-fp32/my.cfg")
    assert (out / "googlenet-onnx-fp32" / "my.cfg").read_text() == "mine"


def test_deploy_force_keeps_a_symlink_the_user_put_in_place(
    v1_release: tuple[Path, Any], tmp_path: Path
) -> None:
    """The tool writes no symlinks: one where a listed model folder or file was is the user's,
    and --force used to delete it (a listed name was taken for the tool's own)."""
    release, _ = v1_release
    out = tmp_path / "triton"
    args = ("deploy", "triton", "--release", str(release), "-o", str(out), "--platform", "onnx")
    assert run_cli_here(*args).code == 0
    elsewhere = tmp_path / "elsewhere"
    shutil.move(out / "googlenet-onnx-fp32", elsewhere)
    (out / "googlenet-onnx-fp32").symlink_to(elsewhere, target_is_directory=True)
    res = run_cli_here(*args, "--force")
    assert_one_line_error(res, 2, "googlenet-onnx-fp32 (a symlink)", "--force replaces only")
    assert (out / "googlenet-onnx-fp32").is_symlink()
    (out / "googlenet-onnx-fp32").unlink()
    shutil.move(elsewhere, out / "googlenet-onnx-fp32")
    config = out / "googlenet-onnx-fp32" / "config.pbtxt"
    config.rename(tmp_path / "config.pbtxt")
    config.symlink_to(tmp_path / "config.pbtxt")
    assert_one_line_error(run_cli_here(*args, "--force"), 2, "googlenet-onnx-fp32/config.pbtxt (a symlink)")
    assert config.is_symlink()


def test_deploy_never_replaces_the_release_it_reads(v1_release: tuple[Path, Any], tmp_path: Path) -> None:
    parent = tmp_path / "parent"
    rel = _copy(v1_release, parent / "rel")
    (parent / "deploy.json").write_text(json.dumps({"format": "inception-export/deploy", "files": []}))
    before = _tree(parent)
    for out, how in ((parent, "holds this command's --release"), (rel, "is this command's --release")):
        res = run_cli_here("deploy", "triton", "--release", str(rel), "-o", str(out), "--force")
        assert_one_line_error(res, 2, how)
    res = run_cli_here("deploy", "triton", "--release", str(rel), "-o", str(rel / "triton"), "--force")
    assert_one_line_error(res, 2, "is inside this command's --release")
    assert _tree(parent) == before


# --- no output is an input ------------------------------------------------------------------


def test_junit_never_replaces_an_artifact_sidecar(v1_release: tuple[Path, Any], tmp_path: Path) -> None:
    rel = _copy(v1_release, tmp_path / "rel")
    before = _tree(rel)
    gate = ("parity", "--golden", str(rel / "golden.npz"), str(rel / "googlenet-fp32.onnx"), "--force")
    res = run_cli_here(*gate, "--junit", str(rel / "googlenet-fp32.onnx.json"))
    assert_one_line_error(res, 2, "--junit", "artifact's sidecar")
    # The release manifest beside the bundle is read too (the bundle's sha256 is checked in it).
    res = run_cli_here(*gate, "--junit", str(rel / "manifest.json"))
    assert_one_line_error(res, 2, "--junit", "--golden's release manifest")
    assert _tree(rel) == before


def test_outputs_are_never_inputs(v1_release: tuple[Path, Any], tmp_path: Path) -> None:
    release, _ = v1_release
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"a checkpoint the user keeps")
    linked = tmp_path / "hard-link.pth"
    os.link(weights, linked)
    onnx = tmp_path / "m.onnx"
    shutil.copy(release / "googlenet-fp32.onnx", onnx)
    shutil.copy(release / "googlenet-fp32.onnx.json", tmp_path / "m.onnx.json")
    cases = [
        (("onnx", "-m", "v1", "-w", str(weights), "-o", str(weights)), "-o"),
        (("onnx", "-m", "v1", "-w", str(weights), "-o", str(linked)), "-o"),  # a hard link
        (("onnx", "-m", "v1", "-w", str(tmp_path / "m.onnx.json"), "-o", str(onnx)), "-o's metadata sidecar"),
        (("torchscript", "-m", "v1", "-w", str(weights), "-o", str(weights)), "-o"),
        (("golden", "-m", "v1", "-w", str(weights), "-o", str(linked)), "-o"),
        (("trt", "--onnx", str(onnx), "-o", str(tmp_path / "m.onnx.json")), "-o"),
        (
            ("trt", "--onnx", str(onnx), "--timing-cache", str(onnx), "-o", str(tmp_path / "e")),
            "--timing-cache",
        ),
        (("trt", "-m", "v1", "-w", str(tmp_path / "x.onnx"), "-o", str(tmp_path / "x.engine")), "ONNX"),
        (("trt-manifest", str(onnx), "--onnx", str(onnx)), "manifest"),
        (("release", "-m", "v1", "-w", str(weights), "-o", str(tmp_path)), "-o"),
    ]
    (tmp_path / "x.onnx").write_bytes(b"weights under an odd name")
    for args, label in cases:
        before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
        res = run_cli_here(*args, "--force")
        assert_one_line_error(res, 2, label, "this command's")
        assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before, args


# --- names up to NAME_MAX; FIFO and device outputs --------------------------------------------


def test_an_engine_into_a_device_is_refused() -> None:
    # Its manifest goes beside it (/dev/null.json), and the ONNX exported for it (/dev/null.onnx).
    res = run_cli_here("trt", "-m", "v1", "-o", os.devnull, "--force")
    assert_one_line_error(res, 2, "FIFO or device", "give a file name")
    assert not os.path.exists(os.devnull + ".json") and not os.path.exists(os.devnull + ".onnx")


def test_a_sidecar_name_past_name_max_is_refused_before_work(tmp_path: Path) -> None:
    out = tmp_path / ("m" * 250 + ".onnx")  # 255 bytes: valid; its sidecar's 260 are not
    t0 = time.monotonic()
    res = run_cli_here("onnx", "-m", "v1", "--input-size", "64", "-o", str(out))
    assert_one_line_error(res, 2, "metadata sidecar", "260 bytes", "255")
    assert time.monotonic() - t0 < 20 and list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_names_of_name_max_bytes_are_written(v1_release: tuple[Path, Any], tmp_path: Path) -> None:
    # The temporary names beside them (".NAME.…partial", ".NAME.staging-…") are longer still.
    release, _ = v1_release
    bundle = tmp_path / ("g" * 251 + ".npz")
    res = run_cli_here("golden", "-m", "v1", "--input-size", "64", "--samples", "1", "-o", str(bundle))
    assert res.code == 0, res.stderr
    deploy = tmp_path / ("d" * 255)
    args = ("deploy", "triton", "--release", str(release), "--platform", "onnx", "-o", str(deploy))
    assert run_cli_here(*args).code == 0
    assert run_cli_here(*args, "--force").code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([bundle.name, deploy.name])


@pytest.mark.slow
def test_an_export_into_dev_null_says_nothing_was_stored(tmp_path: Path) -> None:
    res = run_cli_here("onnx", "-m", "v1", "--input-size", "64", "-o", os.devnull, "--json")
    assert res.code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["stored"] is False and doc["sidecar"] is None
    res = run_cli_here("golden", "-m", "v1", "--input-size", "64", "--samples", "1", "-o", os.devnull)
    assert res.code == 0, res.stderr
    assert "wrote" not in res.stderr and "nothing was stored" in res.stderr, res.stderr


# --- a live run's staging is kept, a dead run's removed ---------------------------------------

HOLD = """
import sys, time
from pathlib import Path
from inception_export.atomic import staged_directory
with staged_directory(Path(sys.argv[1])) as stage:
    (stage / "googlenet.pt").write_bytes(b"half")
    print(stage, flush=True)
    time.sleep(120)
"""


def _holder(out: Path, *prefix: str) -> tuple[subprocess.Popen[str], Path]:
    proc = subprocess.Popen(
        [*prefix, sys.executable, "-c", HOLD, str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line:
        proc.kill()
        pytest.fail(f"the holder did not start: {proc.communicate(timeout=30)}")
    return proc, Path(line)


def test_staging_of_a_killed_run_goes_and_a_live_runs_stays(tmp_path: Path) -> None:
    out = tmp_path / "rel"
    live_proc, live = _holder(out)
    dead_proc, dead = _holder(out)
    try:
        dead_proc.send_signal(signal.SIGKILL)
        dead_proc.wait(timeout=30)
        other = tmp_path / ".other.staging-1-abcdefgh"  # another output's: not looked at
        mine = tmp_path / ".rel.staging-notes"  # not a name this tool makes
        for kept in (other, mine):
            kept.mkdir()
        check_output_dir(out, False, MANIFEST, ours=is_release)
        assert live.is_dir() and not dead.exists() and other.is_dir() and mine.is_dir()
    finally:
        live_proc.kill()
        live_proc.wait(timeout=30)


def test_staging_of_a_live_run_in_another_pid_namespace_stays(tmp_path: Path) -> None:
    # A PID test cannot see that run: its PID (set high here) is free in this namespace.
    unshare = shutil.which("unshare")
    probe = subprocess.run([unshare or "false", "-Urpf", "true"], capture_output=True)
    if unshare is None or probe.returncode != 0:
        pytest.skip("no user and PID namespaces here (unshare -Urpf)")
    out = tmp_path / "rel"
    proc, stage = _holder(
        out, unshare, "-Urpf", "--kill-child", "--mount-proc", "sh", "-c",
        'echo 30000 > /proc/sys/kernel/ns_last_pid; "$@"; exit $?', "sh",
    )  # fmt: skip
    try:
        check_output_dir(out, False, MANIFEST, ours=is_release)
        assert stage.is_dir() and (stage / "googlenet.pt").is_file()
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_dangling_symlink_outputs_are_refused(v1_release: tuple[Path, Any], tmp_path: Path) -> None:
    # Followed, they created files and folders wherever they pointed.
    missing = tmp_path / "nowhere" / "x"
    link = tmp_path / "out.onnx"
    link.symlink_to(missing)
    res = run_cli_here("onnx", "--model", "v1", "-o", str(link))
    assert_one_line_error(res, 2, "symlink", "does not exist")
    release, _ = v1_release
    dir_link = tmp_path / "deploy-out"
    dir_link.symlink_to(missing)
    res = run_cli_here("deploy", "triton", "--release", str(release), "-o", str(dir_link))
    assert_one_line_error(res, 2, "symlink", "does not exist")
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.slow
def test_output_fifo_with_no_reader_is_one_line(tmp_path: Path) -> None:
    # The write used to block forever waiting for a reader.
    fifo = tmp_path / "g.npz"
    os.mkfifo(fifo)
    res = run_cli(
        "golden", "--model", "v1", "--input-size", "64", "--samples", "1", "-o", str(fifo), timeout=300
    )
    assert_one_line_error(res, 2, "FIFO with nothing reading it")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.npz"]
