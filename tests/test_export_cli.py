"""The real `onnx`/`torchscript` commands: JSON output, defaults, and bad inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_one_line_error, run_cli_here
from typer.testing import CliRunner

import inception_export.cli.commands  # noqa: F401  (registers the commands)
from inception_export.cli.app import app
from inception_export.full.export import read_metadata


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "inception_export", *args], capture_output=True, text=True, cwd=cwd, env=env
    )


@pytest.mark.slow
def test_onnx_json_with_default_name(tmp_path: Path) -> None:
    proc = run_cli("onnx", "--model", "v1", "--input-size", "96", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    out = json.loads(proc.stdout)  # stdout holds the JSON and nothing else
    assert out["path"] == "googlenet-fp32.onnx" and out["format"] == "onnx"
    assert (tmp_path / "googlenet-fp32.onnx").is_file() and (tmp_path / "googlenet-fp32.onnx.json").is_file()
    assert read_metadata(tmp_path / "googlenet-fp32.onnx").input_size == 96
    assert sorted(p.name for p in tmp_path.iterdir()) == ["googlenet-fp32.onnx", "googlenet-fp32.onnx.json"]


def test_bad_input_in_a_real_process(tmp_path: Path) -> None:
    proc = run_cli("onnx", "--model", "v3", "--input-size", "60", "-o", "x.onnx", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "minimum" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def _not_a_dir(tmp: Path) -> list[str]:
    (tmp / "file").write_text("x")
    return ["-o", str(tmp / "file" / "out.onnx")]


BAD = {
    "opset-low": (["onnx", "-m", "v1", "--opset", "13"], "opset 13 is out of range"),
    "opset-high": (["onnx", "-m", "v1", "--opset", "99"], "opset 99 is out of range"),
    "size-v3": (["onnx", "-m", "v3", "--input-size", "74"], "minimum"),
    "size-v2": (["onnx", "-m", "v2", "--input-size", "240"], "bn_inception cannot run"),
    "size-ts": (["torchscript", "-m", "v1", "--input-size", "8"], "minimum"),
    "precision": (["onnx", "-m", "v1", "--precision", "int8"], "precision"),
    "batch": (["onnx", "-m", "v1", "--batch", "zero"], "--batch"),
    "model": (["onnx", "-m", "v9"], "unknown model"),
    "ti-v2": (["torchscript", "-m", "v2", "--transform-input"], "transform_input"),
    # Counts are bounded (bounds.py): a fixed batch of 10**9 asked torch for 49 TB (exit 3),
    # release took any --max-batch without an engine and "fp32,,fp16" as "fp32,fp16", and
    # deploy wrote a max_batch_size beyond Triton's int32.
    "batch-huge": (["onnx", "-m", "v1", "--batch", "1000000000"], "--batch must be from 1 to 1,024"),
    "release-max-batch": (
        ["release", "-m", "v1", "--max-batch", "99999999999999999999", "-o", "rel"],
        "--max-batch must be from 1 to 1,024",
    ),
    "release-precision-gap": (
        ["release", "-m", "v1", "--precision", "fp32,,fp16", "-o", "rel"],
        "empty name",
    ),
    "deploy-max-batch": (
        ["deploy", "triton", "--release", "rel", "-o", "out", "--max-batch", "999999999999999"],
        "--max-batch must be from 1 to 1,024",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_arguments(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args, message = BAD[case]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output + result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cmd", ["onnx", "torchscript"])
def test_existing_output_and_unwritable_dir(cmd: str, tmp_path: Path) -> None:
    target = tmp_path / "model.out"
    target.write_bytes(b"keep")
    result = CliRunner().invoke(app, [cmd, "-m", "v1", "-o", str(target)])
    assert result.exit_code == 2 and "--force" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert target.read_bytes() == b"keep"

    result = CliRunner().invoke(app, [cmd, "-m", "v1", *_not_a_dir(tmp_path)])
    assert result.exit_code == 2 and "output directory" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "model.out"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to a read-only directory")
def test_read_only_directory(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        result = CliRunner().invoke(app, ["torchscript", "-m", "v1", "-o", str(ro / "m.pt")])
        assert result.exit_code == 2 and "not writable" in result.stderr
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o700)


def test_torchscript_force_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "m.pt"
    target.write_bytes(b"old")
    result = CliRunner().invoke(app, ["torchscript", "-m", "v1", "-o", str(target), "--force", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["sha256"]
    assert read_metadata(target).model == "googlenet"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt", "m.pt.json"]


def test_the_wrote_line_escapes_the_path(tmp_path: Path) -> None:
    # The "wrote ..." line printed the path raw (ESC, a newline), and rich read "[red]" as markup.
    from conftest import run_cli_here

    out = tmp_path / "a\x1b[31m\nwrote x [red]" / "v1.pt"
    out.parent.mkdir()
    res = run_cli_here("torchscript", "-m", "v1", "--input-size", "64", "-o", str(out))
    assert res.code == 0, res.stderr
    assert "\x1b" not in res.stderr and "a\\x1b[31m\\nwrote x [red]/v1.pt (torchscript" in res.stderr, (
        res.stderr
    )


def test_negative_seed_is_one_line(tmp_path: Path) -> None:
    res = run_cli_here("onnx", "--model", "v1", "--seed", "-1", "-o", str(tmp_path / "x.onnx"))
    assert_one_line_error(res, 2, "--seed")
    assert not list(tmp_path.iterdir())


def test_the_export_options_check_the_seed() -> None:
    """The Python API's exports refuse a seed with the rest of their options, before the model
    is built (a release's progress display had started by then)."""
    from inception_export.errors import UsageError
    from inception_export.full.export.options import ExportOptions

    with pytest.raises(UsageError, match="--seed must be a whole number"):
        ExportOptions.create("v1", seed=-1)
    assert ExportOptions.create("v1", seed=0).seed == 0
