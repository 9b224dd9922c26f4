"""Inception v4, Inception-ResNet-v2 and the baselines through every export and the gate.

Sized for CI on 2 cores: each model is exported where it adds something the others do not
(ResNet-50 through the whole `release` CLI at its default size, IRv2's FP16 residual blocks on
the full golden set at 299, and every format and precision of the other four at a small input).
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
import torch
from conftest import CliResult, assert_one_line_error, run_cli, synthetic_model
from helpers import EVERY_FORMAT

from inception_export.full.eager import run_gate
from inception_export.full.export import export_onnx, export_onnx_pair, export_torchscript

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


@pytest.mark.slow
def test_resnet50_release_all_artifacts_pass(resnet_release: tuple[Path, CliResult]) -> None:
    out, res = resnet_release
    assert res.code == 0, res.stderr
    manifest = json.loads(res.stdout)
    assert manifest["model"] == "resnet50" and manifest["gate"]["passed"]
    kinds = {(a["format"], a["precision"]): a for a in manifest["artifacts"]}
    assert set(kinds) == {("onnx", "fp32"), ("onnx", "fp16")}
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EVERY_FORMAT))
def test_every_format_and_precision(name: str, tmp_path: Path) -> None:
    size, folded, precisions = EVERY_FORMAT[name]
    model = synthetic_model(name)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == folded
    paths = [export_torchscript(name, tmp_path / f"{name}.pt", input_size=size, model_obj=model).path]
    onnx_paths = {p: tmp_path / f"{name}-{p}.onnx" for p in precisions}
    if len(precisions) == 2:
        # As `release` makes them: one trace, the FP16 graph derived from the FP32 one (or traced
        # again where torch's half export differs); traced FP16 alone: VGG-16 below, and
        # tests/test_export_onnx.py for v1-v3.
        results = export_onnx_pair(
            name, onnx_paths["fp32"], onnx_paths["fp16"], input_size=size, model_obj=model
        )
    else:
        results = tuple(
            export_onnx(name, onnx_paths[p], precision=p, input_size=size, model_obj=model)
            for p in precisions
        )
    for precision, res in zip(precisions, results, strict=True):
        assert res.precision == precision
        assert res.metadata["batch"] == "dynamic" and res.metadata["bn_folded"] == folded
        # Only data movement may stay in float32: at sizes other than 224 torch decomposes
        # AlexNet's and VGG's adaptive pool into gathers and a mean that it computes in
        # float32 (listed in the metadata, as any float32 node must be); the arithmetic that
        # carries the weights runs in float16.
        kept = {n.split(":")[0] for n in res.metadata["float32_nodes"]}
        assert not kept & {"Conv", "Gemm", "MatMul", "Relu", "MaxPool", "AveragePool"}, kept
        if name.startswith("inception"):
            assert kept == set()
        ops = {n.op_type for n in onnx.load(str(res.path), load_external_data=False).graph.node}
        assert "Dropout" not in ops and not ops & {"BatchNormalization"}
        paths.append(res.path)
    report = run_gate(name, paths, samples=1, reference_model=model)
    assert report.passed, [c.message for a in report.artifacts for c in a.checks if not c.passed]
    ts, *onnx_reports = report.artifacts
    assert [a.metadata.input_size for a in report.artifacts] == [size] * len(paths)
    assert ts.metrics.rel_l2 < 5e-6
    for precision, art in zip(precisions, onnx_reports, strict=True):
        # Dynamic batch: each artifact ran at batch 1 and with every input at once.
        assert art.batch_sizes == [1, 8] and art.metrics.top1_agreement == 1.0
        if precision == "fp32":
            assert art.metrics.rel_l2 < 5e-6
        else:
            assert 1e-5 < art.metrics.rel_l2 < 5e-3
