"""`release` exports everything, gates it, and writes a manifest a pipeline can trust."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import CliResult, assert_one_line_error, run_cli, run_cli_here

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
    # TorchScript is one flag away (--torchscript), not in the default release.
    kinds = {(a["format"], a["precision"]) for a in manifest["artifacts"]}
    assert kinds == {("onnx", "fp32"), ("onnx", "fp16")}
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
    assert report["passed"] and len(report["artifacts"]) == 2
    # The FP16 graph comes from the FP32 one, not from a second trace.
    meta = json.loads((out / "googlenet-fp16.onnx.json").read_text())
    assert meta["float16_from"].startswith("derived from the FP32 graph")
    assert ET.parse(out / "parity.junit.xml").getroot().get("failures") == "0"


def test_release_says_each_phase_in_a_log(released: tuple[Path, CliResult]) -> None:
    _, res = released
    # stderr is a pipe here, as in CI: a plain line per phase, not silence until the end.
    lines = res.stderr.splitlines()
    for phase in ("build model", "export googlenet-fp32.onnx and googlenet-fp16.onnx", "gate"):
        assert any(ln.startswith(f"release: {phase} [") for ln in lines), res.stderr
    assert any(ln.startswith("release: googlenet-fp16.onnx: batch ") for ln in lines), res.stderr
    assert any(ln.startswith("release: done in ") for ln in lines)
    assert "\x1b" not in res.stderr


def test_release_refuses_to_overwrite_before_work(released: tuple[Path, CliResult]) -> None:
    out, _ = released
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    res = run_cli_here("release", "-m", "v1", "--out", str(out))
    assert_one_line_error(res, 2, "already exists", "--force")
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_release_trt_required_without_tensorrt(tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert_one_line_error(run_cli_here("release", "-m", "v1", "--out", str(out), "--trt"), 2, "TensorRT")
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
        "--precision",
        "fp32",
        "--torchscript",
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


def test_release_takes_the_deployment_options(tmp_path: Path) -> None:
    import numpy as np
    import onnx
    import skimage.io

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(5)
    for name in ("shelf.png", "street.png"):
        skimage.io.imsave(
            str(photos / name), rng.integers(0, 256, (120, 150, 3), np.uint8), check_contrast=False
        )
    out = tmp_path / "r"
    res = run_cli(
        "release",
        *("-m", "v1", "--out", str(out), "--samples", "1", "--json", "--torchscript"),
        *("--input-size", "96", "--batch", "3", "--opset", "20", "--embed-preprocessing"),
        *("--images", str(photos)),
    )
    assert res.code == 0, res.stderr
    manifest = json.loads(res.stdout)
    assert manifest["input_size"] == 96 and manifest["gate"]["passed"]
    # No engine from a uint8 NHWC graph: said in the manifest, not silently.
    assert manifest["tensorrt"].startswith("skipped:") and manifest["engine_batch"] is None
    by_kind = {(a["format"], a["precision"]): a for a in manifest["artifacts"]}
    assert set(by_kind) == {("torchscript", "fp32"), ("onnx", "fp32"), ("onnx", "fp16")}
    assert by_kind["torchscript", "fp32"]["input"]["shape"] == ["batch", 3, 96, 96]
    for precision in ("fp32", "fp16"):
        entry = by_kind["onnx", precision]
        assert entry["input"]["shape"] == [3, 96, 96, 3] and entry["input"]["dtype"] == "uint8"
        assert entry["input"]["batch"] == [3, 3] and entry["opset"] == 20
        graph = onnx.load(str(out / entry["file"]))
        assert next(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")) == 20
        dims = [d.dim_value for d in graph.graph.input[0].type.tensor_type.shape.dim]
        assert dims == [3, 96, 96, 3]
    report = json.loads((out / "parity.json").read_text())
    names = [i["name"] for i in report["inputs"]]
    assert "shelf.png" in names and "street.png" in names and not any("skimage" in n for n in names)


def test_release_keep_fp32_traces_the_fp16_graph(tmp_path: Path) -> None:
    out = tmp_path / "r"
    res = run_cli(
        "release",
        *("-m", "v1", "--out", str(out), "--samples", "1", "--input-size", "96"),
        *("--keep-fp32", "inception5b.branch1"),
    )
    assert res.code == 0, res.stderr
    meta = json.loads((out / "googlenet-fp16.onnx.json").read_text())
    assert meta["keep_fp32"] == ["inception5b.branch1"] and meta["float16_from"] == "traced model.half()"


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--max-batch", "4", "--no-trt"], "--no-trt builds none"),
        (["--batch", "2", "--min-batch", "1"], "fixes the ONNX's batch"),
        (["--min-batch", "4", "--max-batch", "2"], "min <= opt <= max"),
        (["--batch", "0"], "--batch must be 'dynamic' or a positive integer"),
        (["--opset", "17"], "opset 17"),
        (["--input-size", "12"], "minimum"),
        (["--images", "no-such-dir"], "--images no-such-dir: not found"),
        # These three were refused only after the model was built and exported.
        (["--images", "empty"], "--images empty: no image files"),
        (["--samples", "501"], "--samples 501: at most 500"),
        (["--seed", "-1"], "--seed must be a whole number"),
    ],
)
def test_release_refuses_bad_deployment_options_before_work(
    extra: list[str], needle: str, tmp_path: Path
) -> None:
    out = tmp_path / "r"
    (tmp_path / "empty").mkdir()
    # In this process: a refusal before work, where a subprocess would pay a torch import per case.
    res = run_cli_here("release", "-m", "v1", "--out", str(out), *extra, cwd=tmp_path)
    assert_one_line_error(res, 2, needle)
    assert "release:" not in res.stderr  # no progress line: no phase started
    assert not out.exists()


def test_release_plan_takes_a_model_name(tmp_path: Path) -> None:
    """From the Python API a name is resolved as `onnx`'s options resolve it (it was an
    AttributeError), and the plan holds each fact once: FP16 and INT8 from their exports."""
    from inception_export.full.release import check_release_options

    plan = check_release_options("v1", tmp_path / "r", trt=False, fp16=False)
    assert plan.spec.name == "googlenet" and plan.export.precision == "fp32" and plan.int8 is None
    assert [a.kind for a in plan.artifacts(tmp_path)] == ["fp32"]
    assert not (tmp_path / "r").exists()


def test_release_progress_counts_each_golden_input_form(tmp_path: Path) -> None:
    """TorchScript takes float32 NCHW and the --embed-preprocessing ONNX uint8 pixels: the gate
    makes golden inputs of each form, a step each, and the total counts both (it counted one)."""
    from inception_export.console import Steps
    from inception_export.full.release import ReleaseOptions, check_release_options, run_release

    steps = Steps()
    options = ReleaseOptions(input_size=64, torchscript=True, embed_preprocessing=True)
    plan = check_release_options("v1", tmp_path / "r", trt=False, fp16=False, samples=1, options=options)
    assert run_release(plan, progress=steps).exit_code == 0
    # build, TorchScript, ONNX FP32, gate, reference, golden inputs twice, then 3 per artifact
    assert (steps.done, steps.total) == (13, 13)


def test_release_engine_batch_range_defaults() -> None:
    from inception_export.full.release import ReleaseOptions

    # Documented in the README: 1..8 tuned for 1 (trt alone: 1..1).
    assert ReleaseOptions().engine_batches() == (1, 1, 8)
    assert ReleaseOptions(batch=4).engine_batches() == (4, 4, 4)
    assert ReleaseOptions(min_batch=16).engine_batches() == (16, 16, 16)
    assert ReleaseOptions(opt_batch=4, max_batch=32).engine_batches() == (1, 4, 32)


def test_release_builds_the_engine_of_an_embedded_preprocessing_graph(tmp_path: Path) -> None:
    """`--trt --embed-preprocessing` is no longer refused: the engine takes the graph's uint8 NHWC
    input (the parser accepts it since the graph casts before it transposes: test_tensorrt_parser_rules)."""
    from inception_export.full.release import ReleaseOptions

    pixels = ReleaseOptions(embed_preprocessing=True).engine_config(96)
    assert (pixels.layout, pixels.shape(2)) == ("NHWC", (2, 96, 96, 3))
    assert ReleaseOptions().engine_config(96).layout == "NCHW"
    res = run_cli_here("release", "-m", "v1", "--out", "r", "--trt", "--embed-preprocessing", cwd=tmp_path)
    # Without TensorRT here the refusal names TensorRT alone; it named --embed-preprocessing before.
    assert_one_line_error(res, 2, "--trt")
    assert "embed" not in res.stderr and not (tmp_path / "r").exists()
