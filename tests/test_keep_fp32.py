"""``--keep-fp32`` keeps exactly the layers float16 cannot carry in float32."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from conftest import assert_one_line_error, rel_l2, run_cli, run_cli_here, v1_fast

from inception_export import build_model
from inception_export.full.eager import run_gate
from inception_export.full.export import export_onnx
from inception_export.full.export.fold import fold_batchnorm
from inception_export.full.export.keep_fp32 import auto_keep, describe_auto_plan
from inception_export.full.golden import golden_inputs
from inception_export.full.localize.core import localize
from inception_export.registry import get_spec

# A feeds only B (inside a Sequential branch), so scaling A up and B down is the same function.
A, B = "inception4a.branch2.0", "inception4a.branch2.1"


def overflow_model() -> torch.nn.Module:
    """v1 with A's BN scale and shift x1e6 and B's conv weights x1e-6.

    relu(1e6 * z) = 1e6 * relu(z) (ReLU is positively homogeneous) and B's conv is linear, so
    in exact arithmetic the network is unchanged; in float16, A's activations overflow and B's
    folded weights (~1e-8) underflow.
    """
    net = build_model("v1")
    with torch.no_grad():
        a, b = net.get_submodule(A), net.get_submodule(B)
        a.bn.weight.mul_(1e6)
        a.bn.bias.mul_(1e6)
        b.conv.weight.mul_(1e-6)
    return net


@pytest.fixture(scope="module")
def overflow(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("overflow")
    ckpt = d / "v1-overflow.pth"
    torch.save(overflow_model().state_dict(), ckpt)
    net = build_model("v1", ckpt)
    plain = export_onnx("v1", d / "plain.onnx", precision="fp16", model_obj=net).path
    auto = d / "auto.onnx"
    res = run_cli(
        "onnx", "--model", "v1", "--weights", str(ckpt), "--precision", "fp16",
        "--keep-fp32", "auto", "-o", str(auto), "--json",
    )  # fmt: skip
    assert res.code == 0, res.stderr
    (d / "auto.stderr").write_text(res.stderr)
    return {"ckpt": ckpt, "plain": plain, "auto": auto, "auto_stderr": d / "auto.stderr"}


def test_overflow_checkpoint_is_the_same_function() -> None:
    x = torch.from_numpy(golden_inputs(get_spec("v1"), 224, samples=1).batch[:2])
    with torch.inference_mode():
        assert rel_l2(overflow_model()(x).numpy(), build_model("v1")(x).numpy()) < 1e-5


@pytest.mark.slow
def test_plain_fp16_fails_the_gate_and_auto_passes(overflow: dict[str, Path]) -> None:
    net = build_model("v1", overflow["ckpt"])
    report = run_gate("v1", [overflow["plain"], overflow["auto"]], samples=1, reference_model=net)
    plain, auto = report.artifacts
    assert not plain.passed and {"finite", "rel_l2"} <= {c.name for c in plain.failures}
    assert auto.passed, [c.message for c in auto.failures]
    assert auto.precision == "fp16" and auto.metrics.rel_l2 < 2e-3


def _types(model: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    values = [*inferred.graph.value_info, *inferred.graph.output]
    return {v.name: v.type.tensor_type.elem_type for v in values}


def test_auto_keeps_just_the_two_layers_rest_float16(overflow: dict[str, Path]) -> None:
    model = onnx.load(str(overflow["auto"]))
    meta = json.loads({p.key: p.value for p in model.metadata_props}["inception_export"])
    assert meta["keep_fp32"] == [A, B]
    assert "activations reach" in meta["keep_fp32_reasons"][A]
    assert "below float16's normal range" in meta["keep_fp32_reasons"][B]
    # Consistent types at every node, as TensorRT's strongly typed parser needs.
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    types = _types(model)
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    fp32 = [n for n in convs if types[n.output[0]] == onnx.TensorProto.FLOAT]
    fp16 = [n for n in convs if types[n.output[0]] == onnx.TensorProto.FLOAT16]
    assert len(convs) == 57 and len(fp16) == 55
    assert sorted(n.input[1] for n in fp32) == [f"net.{A}.inner.conv.weight", f"net.{B}.inner.conv.weight"]
    # The TensorRT precision check's contract: exactly these convs are listed as float32.
    listed = {e.split(":", 1)[1] for e in meta["float32_nodes"] if e.startswith("Conv:")}
    assert listed == {n.name for n in fp32}
    # Between A and B the values stay float32 (they would overflow a float16 Cast).
    b_conv = next(n for n in fp32 if B in n.input[1])
    assert types[b_conv.input[0]] == onnx.TensorProto.FLOAT


@pytest.mark.slow
def test_plain_fp16_localizes_to_the_overflowing_layer(overflow: dict[str, Path]) -> None:
    net = build_model("v1", overflow["ckpt"])
    report = localize("v1", overflow["plain"], samples=1, reference_model=net)
    first = report.first_divergent
    assert first is not None and first.layer == A and first.nonfinite > 0
    assert first.max_activation > 65504


@pytest.mark.slow
def test_explicit_list_gives_the_same_graph(overflow: dict[str, Path], tmp_path: Path) -> None:
    net = build_model("v1", overflow["ckpt"])
    res = export_onnx("v1", tmp_path / "list.onnx", precision="fp16", model_obj=net, keep_fp32=f"{A},{B}")
    assert res.metadata["keep_fp32"] == [A, B]
    assert _graph(res.path) == _graph(overflow["auto"])


def _graph(path: Path) -> bytes:
    """The graph without metadata (which differs by reasons and the exporter's stack traces)."""
    model = onnx.load(str(path))
    del model.metadata_props[:]
    for node in model.graph.node:
        del node.metadata_props[:]
    return model.SerializeToString(deterministic=True)


@pytest.mark.parametrize("model", v1_fast(["googlenet", "bn_inception", "inception_v3"]))
def test_healthy_models_auto_keeps_nothing(model: str) -> None:
    # (tests/test_localize.py exports v1 FP16 with --keep-fp32 auto: an all-float16 graph.)
    net = build_model(model)
    folded, _ = fold_batchnorm(net, torch.float64)
    spec = get_spec(model)
    plan = auto_keep(net, folded, spec, spec.default_size, samples=1)
    assert plan.layers == []
    assert describe_auto_plan(plan).startswith("--keep-fp32 auto kept nothing in float32")


def test_keep_fp32_bad_input_one_line(tmp_path: Path) -> None:
    out = str(tmp_path / "x.onnx")
    typo = "inception4a.branch2.O"
    res = run_cli_here("onnx", "--model", "v1", "--precision", "fp16", "--keep-fp32", typo, "-o", out)
    assert_one_line_error(res, 2, f"no layer {typo!r}", "did you mean", "inception4a.branch2.0")
    res = run_cli_here("onnx", "--model", "v1", "--keep-fp32", "fc", "-o", out)
    assert_one_line_error(res, 2, "FP16")
    release = ("release", "--model", "v1", "--out", str(tmp_path / "r"), "--precision", "fp32")
    assert_one_line_error(run_cli_here(*release, "--keep-fp32", "auto"), 2, "--keep-fp32")
    trt = ("trt", "--model", "v1", "-o", str(tmp_path / "e.engine"), "--onnx", out)
    assert_one_line_error(run_cli_here(*trt, "--keep-fp32", "fc"), 2, "--keep-fp32")
    assert not list(tmp_path.iterdir())


def test_weight_findings_flag_subnormal_weights() -> None:
    from inception_export.full.export.keep_fp32 import weight_findings

    net = build_model("v1")
    folded, _ = fold_batchnorm(net, torch.float64)
    assert weight_findings(folded, ["conv1", "fc"]) == {}
    with torch.no_grad():
        folded.get_submodule("fc").weight.mul_(1e-3)  # |w| ~ 3e-5: mostly subnormal in float16
    found = weight_findings(folded, ["conv1", "fc"])
    assert list(found) == ["fc"] and np.isfinite(float(found["fc"].split("(rounding error ")[1][:-1]))


@pytest.mark.slow
def test_trt_passes_keep_fp32_to_the_onnx_it_exports(overflow: dict[str, Path], tmp_path: Path) -> None:
    # Without TensorRT, `trt` still writes the ONNX the engine would be built from (then exits 2).
    engine = tmp_path / "v1.engine"
    res = run_cli(
        "trt", "--model", "v1", "--weights", str(overflow["ckpt"]), "-o", str(engine),
        "--keep-fp32", f"{A},{B}",
    )  # fmt: skip
    written = engine.with_suffix(".onnx")
    assert written.is_file(), res.stderr
    meta = json.loads(written.with_name(written.name + ".json").read_text())
    assert meta["keep_fp32"] == [A, B]
    assert _graph(written) == _graph(overflow["auto"])
    if res.code != 0:  # no TensorRT here: one line naming what is missing
        assert_one_line_error(res, 2)


def test_auto_says_what_it_kept_and_why(overflow: dict[str, Path]) -> None:
    notes = [ln for ln in overflow["auto_stderr"].read_text().splitlines() if ln.startswith("note:")]
    said = [n for n in notes if "--keep-fp32 auto kept 2 layer(s) in float32" in n]
    assert len(said) == 1, notes
    assert f"{A} (" in said[0] and f"{B} (weights" in said[0] and "activations reach" in said[0]


def test_keep_fp32_maps_a_bn_to_its_unit_or_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import synthetic_model

    from inception_export.errors import UsageError
    from inception_export.full.export.layers import resolve_modules

    net = synthetic_model("googlenet")
    assert resolve_modules(net, ["conv1.bn", "conv2.conv"], "googlenet") == ["conv1", "conv2"]
    assert "kept as its unit conv1" in capsys.readouterr().err
    assert resolve_modules(net, ["inception3a"], "googlenet") == ["inception3a"]  # a block of units
    with pytest.raises(UsageError, match=r"holds no layer that can stay float32.*conv"):
        resolve_modules(net, ["maxpool1"], "googlenet")
