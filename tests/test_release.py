"""Issue 4: `release` exports everything, gates it, and writes a manifest a pipeline can trust."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import CliResult, assert_one_line_error, run_cli

from inception_export.hashing import file_sha256

# Left to the full suite (not in `-m "not slow"`): whole `release` runs through the CLI.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def released(v1_release: tuple[Path, CliResult]) -> tuple[Path, CliResult]:
    # `release --model v1 --samples 2 --json`, made once per session (conftest.py).
    return v1_release


def test_release_writes_artifacts_manifest_and_reports(released: tuple[Path, CliResult]) -> None:
    out, res = released
    assert res.code == 0, res.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert json.loads(res.stdout) == manifest
    assert manifest["model"] == "googlenet" and manifest["num_classes"] == 1000
    assert manifest["weights"]["sha256"] == "synthetic-20261123"
    assert set(manifest["versions"]) >= {"inception_export", "torch", "onnx", "onnxruntime"}
    assert manifest["tensorrt"].startswith("skipped: TensorRT")
    kinds = {(a["format"], a["precision"]) for a in manifest["artifacts"]}
    assert kinds == {("torchscript", "fp32"), ("onnx", "fp32"), ("onnx", "fp16")}
    for entry in manifest["artifacts"]:
        assert entry["sha256"] == file_sha256(out / entry["file"])
        assert entry["input"]["shape"] == ["batch", 3, 224, 224] and entry["input"]["batch"] == "dynamic"
        assert entry["gate"]["passed"] and entry["gate"]["metrics"]["nonfinite"] == 0
    fp16 = next(a for a in manifest["artifacts"] if a["precision"] == "fp16")
    assert 1e-5 < fp16["gate"]["metrics"]["rel_l2"] < 5e-3
    assert manifest["gate"] == {
        "passed": True,
        "exit_code": 0,
        "profile": "default",
        "report": "parity.json",
        "junit": "parity.junit.xml",
    }
    report = json.loads((out / "parity.json").read_text())
    assert report["passed"] and len(report["artifacts"]) == 3
    assert ET.parse(out / "parity.junit.xml").getroot().get("failures") == "0"


def test_release_refuses_to_overwrite_before_work(released: tuple[Path, CliResult]) -> None:
    out, _ = released
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert_one_line_error(run_cli("release", "-m", "v1", "--out", str(out)), 2, "already exists", "--force")
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_release_trt_required_without_tensorrt(tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert_one_line_error(run_cli("release", "-m", "v1", "--out", str(out), "--trt"), 2, "TensorRT")
    assert not out.exists() or not any(out.iterdir())


def test_release_failing_gate_exits_1(tmp_path: Path) -> None:
    # A tolerance nobody can meet stands in for a drifted artifact: the release's exit code
    # is the gate's, and the manifest records the failed checks.
    impossible = tmp_path / "impossible.json"
    impossible.write_text(json.dumps({"fp32": {"rel_l2": 1e-12}}))
    out = tmp_path / "r"
    res = run_cli(
        "release",
        "-m",
        "v1",
        "--out",
        str(out),
        "--no-fp16",
        "--samples",
        "1",
        "--tolerance-profile",
        str(impossible),
    )
    assert res.code == 1, res.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert [a["format"] for a in manifest["artifacts"]] == ["torchscript", "onnx"]
    assert not manifest["gate"]["passed"]
    failed = {c["name"] for a in manifest["artifacts"] for c in a["gate"]["failed_checks"]}
    assert failed == {"rel_l2"}
