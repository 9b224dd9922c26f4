"""TensorRT: pure logic (inspector report, manifest, trtexec line, validation), the no-TensorRT
CLI path, and (marked ``tensorrt``) real build + run where TensorRT and a GPU exist."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from typer.testing import CliRunner

import inception_export
from inception_export.cli.app import app
from inception_export.errors import ArtifactError, GateFailure
from inception_export.tensorrt import looks_like_engine, tensorrt_available
from inception_export.tensorrt.availability import gpu_available, missing_reason
from inception_export.tensorrt.config import EngineConfig
from inception_export.tensorrt.inspect_precision import datatype_of, parse_layers, verify_fp16_convolutions
from inception_export.tensorrt.manifest import FORMAT, RuntimeEnv, check_manifest, manifest_path
from inception_export.tensorrt.trtexec import trtexec_argv, trtexec_command

PKG = Path(inception_export.__file__).parent
HAVE_TRT = tensorrt_available() and gpu_available()
TRT_REASON = (
    "TensorRT builder and a CUDA GPU not present (pip install tensorrt from NVIDIA's index); "
    "these build and run real engines"
)
requires_trt = pytest.mark.skipif(not HAVE_TRT, reason=TRT_REASON)
without_trt = pytest.mark.skipif(
    HAVE_TRT, reason="TensorRT and a GPU are present: the missing-backend path does not apply"
)
CH8 = "Channel major FP16 format where channel % 8 == 0"

# ---------------------------------------------------------------- removed (weak-typing) API


REMOVED_IN_TRT11 = [
    "BuilderFlag.FP16",
    "BuilderFlag.INT8",
    "BuilderFlag.BF16",
    "OBEY_PRECISION_CONSTRAINTS",
    "PREFER_PRECISION_CONSTRAINTS",
    "platform_has_fast_fp16",
    "EXPLICIT_BATCH",
    "set_output_type",
    ".precision = trt.",
]


def test_package_uses_no_weak_typing_api() -> None:
    hits = []
    for path in PKG.rglob("*.py"):
        text = path.read_text()
        hits += [f"{path.relative_to(PKG)}: {name}" for name in REMOVED_IN_TRT11 if name in text]
    assert not hits, hits


# ---------------------------------------------------------------- inspector report


def _tensor(name: str, dims: list[int], fmt: str) -> dict[str, object]:
    return {"Name": name, "Location": "Device", "Dimensions": dims, "Format/Datatype": fmt}


def _conv(name: str, fmt_in: str, fmt_out: str, wtype: str) -> dict[str, object]:
    return {
        "Name": name,
        "LayerType": "CaskConvolution",
        "Inputs": [_tensor(f"{name}_in", [1, 64, 73, 73], fmt_in)],
        "Outputs": [_tensor(f"{name}_out", [1, 80, 73, 73], fmt_out)],
        "ParameterType": "Convolution",
        "Kernel": [1, 1],
        "PaddingMode": "kEXPLICIT_ROUND_DOWN",
        "PrePadding": [0, 0],
        "PostPadding": [0, 0],
        "Stride": [1, 1],
        "Dilation": [1, 1],
        "OutMaps": 80,
        "Groups": 1,
        "Weights": {"Type": wtype, "Count": 5120},
        "Bias": {"Type": wtype, "Count": 80},
        "HasBias": 1,
        "HasReLU": 1,
        "Activation": "RELU",
        "TacticName": "sm80_xmma_fprop_implicit_gemm_f16f16_f16f16_f16_nhwckrsc_nhwc_tilesize64x64x64",
        "TacticValue": "0x5f0f1a9cd4b9d0b1",
        "Metadata": f"[ONNX Layer: {name}]",
    }


def _report(*convs: dict[str, object]) -> str:
    layers: list[dict[str, object]] = [
        {
            "Name": "Reformatting CopyNode for Input Tensor 0 to /Conv2d_1a_7x7/conv/Conv",
            "LayerType": "Reformat",
            "Inputs": [_tensor("input", [1, 3, 224, 224], "Row major linear FP32")],
            "Outputs": [_tensor("input_h", [1, 3, 224, 224], CH8)],
            "ParameterType": "Reformat",
            "Origin": "REFORMAT",
            "TacticValue": "0x0000000000000000",
        },
        *convs,
        {
            "Name": "/maxpool1/MaxPool",
            "LayerType": "CaskPooling",
            "Inputs": [_tensor("p_in", [1, 64, 112, 112], CH8)],
            "Outputs": [_tensor("p_out", [1, 64, 56, 56], CH8)],
            "ParameterType": "Pooling",
            "PoolingType": "MAX",
        },
        {
            "Name": "/fc/Gemm",
            "LayerType": "Myelin",
            "Inputs": [_tensor("g_in", [1, 1024], "Half")],
            "Outputs": [_tensor("logits", [1, 1000], "Float")],
            "TacticValue": "0x0000000000000000",
        },
    ]
    return json.dumps({"Layers": layers, "Bindings": ["input", "logits"]})


FP16_IN = FP16_OUT = CH8


def test_datatype_tokens() -> None:
    assert datatype_of("Row major linear FP32") == "fp32"
    assert datatype_of(CH8) == "fp16"
    assert datatype_of("Thirty-two wide channel vectorized row major FP16 format") == "fp16"
    assert datatype_of("Half") == "fp16" and datatype_of("Float") == "fp32"
    assert datatype_of("Row major linear BFloat16 format") == "bf16"
    assert datatype_of("Four wide channel vectorized row major Int8 format") == "int8"
    assert datatype_of("Unknown format") is None


def test_all_fp16_report_passes() -> None:
    report = _report(
        _conv("/Conv2d_1a_7x7/conv/Conv + /Conv2d_1a_7x7/Relu", FP16_IN, FP16_OUT, "Half"),
        _conv("/inception3a/branch1/conv/Conv + /inception3a/branch1/Relu", FP16_IN, FP16_OUT, "Half"),
    )
    summary = verify_fp16_convolutions(report)
    assert (summary.layers, summary.convolutions, summary.fp16_convolutions) == (5, 2, 2)
    assert summary.non_fp16 == ()


def test_fp32_conv_fails_naming_the_layer() -> None:
    bad = "/inception3a/branch2/branch2.1/conv/Conv + /inception3a/branch2/Relu"
    report = _report(
        _conv("/Conv2d_1a_7x7/conv/Conv", FP16_IN, FP16_OUT, "Half"),
        _conv(bad, "Row major linear FP32", "Row major linear FP32", "Float"),
    )
    with pytest.raises(GateFailure, match=re.escape(bad)) as info:
        verify_fp16_convolutions(report)
    assert "fp32" in str(info.value) and "1/2 convolutions" in str(info.value)
    assert info.value.exit_code == 1


def test_report_without_detail_or_convs_is_refused() -> None:
    with pytest.raises(ArtifactError, match="DETAILED"):
        parse_layers(json.dumps({"Layers": ["conv1", "pool1"], "Bindings": []}))
    with pytest.raises(ArtifactError, match="not JSON"):
        parse_layers("Layers: conv1")
    with pytest.raises(GateFailure, match="no convolution"):
        verify_fp16_convolutions(json.dumps({"Layers": [], "Bindings": []}))


# ---------------------------------------------------------------- manifest


def _manifest(cc: str = "8.7", compat: str = "none", trt: str = "10.3.0.30") -> dict[str, object]:
    return {
        "format": FORMAT,
        "engine": {"file": "v3.engine", "sha256": "ab" * 32, "bytes": 1},
        "tensorrt_version": trt,
        "gpu": {"name": "Orin", "compute_capability": cc},
        "hardware_compatibility": compat,
    }


def _env(cc: tuple[int, int] = (8, 7), trt: str = "10.3.0.30", sha: str = "ab" * 32) -> RuntimeEnv:
    return RuntimeEnv(tensorrt_version=trt, gpu_name="GPU here", compute_capability=cc, engine_sha256=sha)


def test_manifest_matches() -> None:
    check_manifest(_manifest(), _env())
    check_manifest(_manifest(trt="10.3.0.26"), _env())  # build number differences are fine


def test_manifest_version_mismatch() -> None:
    with pytest.raises(ArtifactError, match=r"TensorRT 10\.3\.0\.30 but this is TensorRT 10\.13\.0\.35"):
        check_manifest(_manifest(), _env(trt="10.13.0.35"))


def test_manifest_compute_capability() -> None:
    with pytest.raises(ArtifactError, match=r"compute capability 8\.7.*is 8\.6"):
        check_manifest(_manifest(), _env(cc=(8, 6)))
    check_manifest(_manifest(compat="ampere+"), _env(cc=(8, 6)))
    check_manifest(_manifest(compat="ampere+"), _env(cc=(9, 0)))
    with pytest.raises(ArtifactError, match="Ampere"):
        check_manifest(_manifest(compat="ampere+"), _env(cc=(7, 5)))


def test_manifest_engine_sha_mismatch() -> None:
    with pytest.raises(ArtifactError, match="does not match its manifest"):
        check_manifest(_manifest(), _env(sha="cd" * 32))


# ---------------------------------------------------------------- trtexec line and validation


def test_trtexec_command_line() -> None:
    cfg = EngineConfig(
        precision="fp16",
        min_batch=1,
        opt_batch=4,
        max_batch=8,
        input_size=299,
        workspace_gib=1.5,
        opt_level=4,
        timing_cache=Path("cache/v3.timing"),
        hardware_compat="ampere+",
    )
    argv = trtexec_argv(Path("out/v3.onnx"), Path("out/v3.engine"), cfg, "input")
    assert argv == [
        "trtexec",
        "--onnx=out/v3.onnx",
        "--saveEngine=out/v3.engine",
        "--stronglyTyped",
        "--minShapes=input:1x3x299x299",
        "--optShapes=input:4x3x299x299",
        "--maxShapes=input:8x3x299x299",
        "--memPoolSize=workspace:1536M",
        "--builderOptimizationLevel=4",
        "--profilingVerbosity=detailed",
        "--timingCacheFile=cache/v3.timing",
        "--hardwareCompatibilityLevel=ampere+",
    ]
    plain = trtexec_command(Path("a b.onnx"), Path("x.engine"), EngineConfig(input_size=224), "x")
    assert plain.startswith("trtexec '--onnx=a b.onnx' --saveEngine=x.engine --stronglyTyped ")
    assert "--fp16" not in plain and "timingCache" not in plain and "hardwareCompat" not in plain


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min-batch", "4", "--opt-batch", "2", "--max-batch", "8"], "min <= opt <= max"),
        (["--opt-batch", "8", "--max-batch", "4"], "min <= opt <= max"),
        (["--min-batch", "0"], "at least 1"),
        (["--opt-level", "6"], "between 0 and 5"),
        (["--opt-level", "-1"], "between 0 and 5"),
        (["--workspace", "0"], "positive number of GiB"),
        (["--hardware-compat", "turing+"], "none, ampere+"),
    ],
)
def test_argument_validation(tmp_path: Path, args: list[str], message: str) -> None:
    from inception_export.cli import commands  # noqa: F401  (registers the commands)

    out = tmp_path / "x.engine"
    result = CliRunner().invoke(app, ["trt", "--model", "v1", "-o", str(out), *args])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- engine detection


def test_looks_like_engine(tmp_path: Path) -> None:
    plan = tmp_path / "a.engine"
    plan.write_bytes(b"ftrt" + bytes(60))
    assert looks_like_engine(plan)
    other = tmp_path / "b.onnx"
    other.write_bytes(b"\x08\x07\x12\x07pytorch")
    assert not looks_like_engine(other) and not looks_like_engine(tmp_path / "missing.engine")
    odd = tmp_path / "c.plan"
    odd.write_bytes(b"\x00\x01\x02\x03")
    assert not looks_like_engine(odd)
    manifest_path(odd).write_text(json.dumps({"format": FORMAT}, indent=2))
    assert looks_like_engine(odd)


# ---------------------------------------------------------------- the CLI without TensorRT


def _run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "400"}
    env.pop("INCEPTION_EXPORT_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "inception_export", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def _assert_unavailable(proc: subprocess.CompletedProcess[str], onnx_path: str, engine: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "TensorRT" in errors[0] and "pypi.nvidia.com" in errors[0], proc.stderr
    trtexec = [ln for ln in proc.stderr.splitlines() if ln.startswith("trtexec ")]
    assert len(trtexec) == 1, proc.stderr
    assert f"--onnx={onnx_path}" in trtexec[0] and f"--saveEngine={engine}" in trtexec[0]
    assert "--stronglyTyped" in trtexec[0] and "--minShapes=" in trtexec[0]


@without_trt
def test_cli_without_tensorrt_exports_onnx_and_prints_trtexec(tmp_path: Path) -> None:
    proc = _run_cli("trt", "--model", "v1", "-o", "tmp/x.engine", cwd=tmp_path)
    _assert_unavailable(proc, "tmp/x.onnx", "tmp/x.engine")
    assert ":1x3x224x224 --optShapes=" in proc.stderr  # v1's default size, batch 1..1
    files = sorted(p.name for p in (tmp_path / "tmp").iterdir())
    assert "x.onnx" in files and "x.engine" not in files, files
    assert not [f for f in files if f.endswith(".partial") or f.startswith(".")], files
    model = onnx.load(str(tmp_path / "tmp" / "x.onnx"))
    assert any(i.data_type == TensorProto.FLOAT16 for i in model.graph.initializer)


def _tiny_onnx(path: Path) -> None:
    """A real (tiny) conv ONNX with a dynamic batch, standing in for a user's --onnx file."""
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], np.full(108, 0.1, np.float32))
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w"], ["logits"], pads=[1, 1, 1, 1])],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4, 224, 224])],
        [w],
    )
    onnx.save(helper.make_model(graph), str(path))


@without_trt
def test_cli_without_tensorrt_given_onnx_json(tmp_path: Path) -> None:
    _tiny_onnx(tmp_path / "given.onnx")
    proc = _run_cli(
        "trt",
        "--model",
        "v1",
        "--onnx",
        "given.onnx",
        "-o",
        "out/m.engine",
        "--max-batch",
        "8",
        "--hardware-compat",
        "ampere+",
        "--json",
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["status"] == "tensorrt-unavailable" and doc["engine"] is None
    assert doc["error"] == missing_reason()
    assert doc["trtexec"].startswith("trtexec --onnx=given.onnx --saveEngine=out/m.engine --stronglyTyped")
    assert "--maxShapes=input:8x3x224x224" in doc["trtexec"] and "ampere+" in doc["trtexec"]
    assert not (tmp_path / "out" / "m.engine").exists() and not (tmp_path / "out" / "m.onnx").exists()
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "TensorRT" in errors[0]


# ---------------------------------------------------------------- real TensorRT (skipped here)


@pytest.fixture(scope="module")
def v1_engine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trt") / "v1.engine"
    proc = _run_cli("trt", "--model", "v1", "-o", str(out), "--max-batch", "2", "--json", cwd=out.parent)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["precision_check"]["convolutions"] > 0
    assert doc["precision_check"]["fp16_convolutions"] == doc["precision_check"]["convolutions"]
    return out


@pytest.mark.tensorrt
@requires_trt
def test_build_writes_engine_and_manifest(v1_engine: Path) -> None:
    from inception_export.hashing import file_sha256
    from inception_export.tensorrt.manifest import read_manifest

    assert looks_like_engine(v1_engine)
    manifest = read_manifest(v1_engine)
    assert manifest is not None and manifest["engine"]["sha256"] == file_sha256(v1_engine)
    assert manifest["precision"] == "fp16" and manifest["profiles"][0]["max"][0] == 2


@pytest.mark.tensorrt
@requires_trt
def test_engine_inspector_verifies_fp16(v1_engine: Path) -> None:
    import tensorrt as trt

    runtime = trt.Runtime(trt.Logger(trt.Logger.ERROR))
    engine = runtime.deserialize_cuda_engine(v1_engine.read_bytes())
    report = engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON)
    summary = verify_fp16_convolutions(report)
    assert summary.convolutions > 10 and not summary.non_fp16


@pytest.mark.tensorrt
@requires_trt
def test_runner_matches_torch(v1_engine: Path) -> None:
    import torch

    from inception_export.build import build_model, example_input
    from inception_export.errors import UsageError
    from inception_export.tensorrt.runner import TensorRTRunner

    model = build_model("v1")
    x = example_input(model.spec, batch=2).numpy()
    with torch.inference_mode():
        ref = model(torch.from_numpy(x)).numpy()
    with TensorRTRunner(v1_engine) as runner:
        assert (runner.info.min_batch, runner.info.max_batch) == (1, 2)
        got = runner.infer(x)
        with pytest.raises(UsageError, match="batch"):
            runner.infer(np.concatenate([x, x]))
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= 0.05 * np.abs(ref).max() + 1e-2
    assert (got.argmax(1) == ref.argmax(1)).all()
