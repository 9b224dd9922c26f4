"""Issue 9: Inception v4, Inception-ResNet-v2 and the baselines through every export and the gate.

Sized for CI on 2 cores: each model is exported where it adds something the others do not
(ResNet-50 through the whole `release` CLI, IRv2's FP16 residual blocks on the full golden
set, v4's ONNX at dynamic batch, AlexNet's FP16 Gemm head, VGG-16 as TorchScript at a small
input); VGG-16's 528 MB FP32 ONNX is measured in benchmarks/gate_figures.py, not here.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
from conftest import CliResult, assert_one_line_error, run_cli, synthetic_model

from inception_export.export import export_onnx, export_torchscript
from inception_export.parity import run_gate

NEW = ["inception_v4", "inception_resnet_v2", "alexnet", "vgg16", "resnet50"]


def test_models_command_lists_the_family() -> None:
    res = run_cli("models", "--json")
    assert res.code == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert set(NEW) <= set(rows)
    assert rows["inception_v4"]["aliases"] == ["v4"]
    assert rows["inception_resnet_v2"]["aliases"] == ["irv2", "inception_resnet"]
    assert rows["inception_resnet_v2"]["preprocessing"]["resize"] == 333
    assert (rows["vgg16"]["params"], rows["vgg16"]["gmacs"]) == (138_357_544, 15.47)
    assert rows["resnet50"]["classifier_key"] == "fc.weight"


@pytest.fixture(scope="module")
def resnet_release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CliResult]:
    out = tmp_path_factory.mktemp("rel") / "resnet50"
    return out, run_cli("release", "--model", "resnet50", "--out", str(out), "--samples", "2", "--json")


def test_resnet50_release_all_artifacts_pass(resnet_release: tuple[Path, CliResult]) -> None:
    out, res = resnet_release
    assert res.code == 0, res.stderr
    manifest = json.loads(res.stdout)
    assert manifest["model"] == "resnet50" and manifest["gate"]["passed"]
    kinds = {(a["format"], a["precision"]): a for a in manifest["artifacts"]}
    assert set(kinds) == {("torchscript", "fp32"), ("onnx", "fp32"), ("onnx", "fp16")}
    for entry in kinds.values():
        assert entry["input"]["shape"] == ["batch", 3, 224, 224] and entry["input"]["batch"] == "dynamic"
        assert entry["gate"]["passed"] and entry["gate"]["metrics"]["nonfinite"] == 0
    # Residual sums reach ~1e4 with these weights: still inside float16, and the FP16 graph
    # passes the FP16 profile with nothing kept in float32.
    fp16 = kinds["onnx", "fp16"]
    assert 1e-5 < fp16["gate"]["metrics"]["rel_l2"] < 5e-3
    meta = json.loads((out / "resnet50-fp16.onnx.json").read_text())
    assert meta["float32_nodes"] == [] and meta["bn_folded"] == 53
    assert manifest["preprocessing"]["mean"] == [0.485, 0.456, 0.406]


def test_trt_refuses_honestly_without_tensorrt(resnet_release: tuple[Path, CliResult]) -> None:
    out, _ = resnet_release
    engine = out / "resnet50.engine"
    res = run_cli("trt", "--model", "resnet50", "--onnx", str(out / "resnet50-fp16.onnx"), "-o", str(engine))
    assert_one_line_error(res, 2, "TensorRT")
    assert "trtexec" in res.stderr and not engine.exists()


@pytest.fixture(scope="module")
def irv2_fp16(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("irv2")
    return export_onnx(
        "irv2", out / "irv2-fp16.onnx", precision="fp16", model_obj=synthetic_model("irv2")
    ).path


def test_inception_resnet_v2_fp16_passes_on_the_golden_inputs(irv2_fp16: Path) -> None:
    # The full default golden set (6 random, 4 edge, 3 photographs) at 299, batch 1 and 13.
    report = run_gate("irv2", [irv2_fp16], reference_model=synthetic_model("irv2"))
    assert report.passed, [c.message for a in report.artifacts for c in a.checks if not c.passed]
    fp16 = report.artifacts[0]
    assert fp16.batch_sizes == [1, 13] and fp16.metrics.top1_agreement == 1.0
    assert 1e-5 < fp16.metrics.rel_l2 < 5e-3
    proto = onnx.load(str(irv2_fp16))
    # Every residual scale-and-add runs in float16: no layer was kept in float32.
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["float32_nodes"]) == []
    assert sum(n.op_type == "Add" for n in proto.graph.node) >= 40


def test_inception_v4_onnx_dynamic_batch(tmp_path: Path) -> None:
    res = export_onnx("v4", tmp_path / "v4.onnx", input_size=107, model_obj=synthetic_model("v4"))
    assert res.metadata["batch"] == "dynamic" and res.metadata["bn_folded"] == 149
    report = run_gate("v4", [res.path], samples=1, reference_model=synthetic_model("v4"))
    assert report.passed and report.artifacts[0].batch_sizes == [1, 8]
    assert report.artifacts[0].metrics.rel_l2 < 2e-6


def test_alexnet_fp16_onnx_has_no_dropout_and_passes(tmp_path: Path) -> None:
    res = export_onnx(
        "alexnet", tmp_path / "alexnet-fp16.onnx", precision="fp16", model_obj=synthetic_model("alexnet")
    )
    ops = {n.op_type for n in onnx.load(str(res.path)).graph.node}
    assert "Dropout" not in ops and ops & {"Gemm", "MatMul"} and res.metadata["bn_folded"] == 0
    report = run_gate("alexnet", [res.path], samples=1, reference_model=synthetic_model("alexnet"))
    assert report.passed and 1e-5 < report.artifacts[0].metrics.rel_l2 < 5e-3


def test_vgg16_torchscript_at_a_small_input(tmp_path: Path) -> None:
    # 64 px: the adaptive 7x7 pool then upsamples a 2x2 map, a path 224 never takes.
    res = export_torchscript(
        "vgg16", tmp_path / "vgg16.pt", input_size=64, model_obj=synthetic_model("vgg16")
    )
    report = run_gate("vgg16", [res.path], samples=1, reference_model=synthetic_model("vgg16"))
    assert report.passed and report.artifacts[0].metadata["input_size"] == 64
