"""DeepStream: the nvinfer config, its labels and artifact, and the gate that feeds
the artifact through the config's own scaling."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import assert_one_line_error, edited_release

from inception_export.errors import ArtifactError, UsageError, WeightsError

# The keys nvinfer's [property] group reads: the CONFIG_GROUP_INFER_* defines of DeepStream's
# sources/gst-plugins/gst-nvinfer/gstnvinfer_property_parser.h (DeepStream 6.0, Copyright
# 2018-2021 NVIDIA; the same names appear in the 9.2 header under
# sources/libs/gst-nvdsinferbase/ and in the Gst-nvinfer page's "Gst-nvinfer Property Group
# Supported Keys" table, https://docs.nvidia.com/deepstream/text/DS_plugin_gst-nvinfer.md).
# A key nvinfer does not know is ignored with a warning at best: a typo would silently fall back
# to a default (net-scale-factor 1, offsets 0), so the generated file may use none but these.
NVINFER_PROPERTY_KEYS = frozenset(
    {
        # GStreamer element configuration
        "gie-unique-id",
        "process-mode",
        "interval",
        "labelfile-path",
        "gpu-id",
        "secondary-reinfer-interval",
        "output-tensor-meta",
        "enable-dla",
        "use-dla-core",
        # runtime engine parameters
        "batch-size",
        "tensor-meta-pool-size",
        "network-mode",
        "model-engine-file",
        "int8-calib-file",
        "workspace-size",
        # generic model parameters
        "output-blob-names",
        "is-classifier",
        "network-type",
        "force-implicit-batch-dim",
        "infer-dims",
        "output-io-formats",
        "layer-device-precision",
        # preprocessing
        "model-color-format",
        "net-scale-factor",
        "offsets",
        "mean-file",
        "maintain-aspect-ratio",
        "symmetric-padding",
        "scaling-filter",
        "scaling-compute-hw",
        "network-input-order",
        "input-tensor-from-meta",
        # custom implementations
        "custom-lib-path",
        "parse-bbox-func-name",
        "parse-bbox-instance-mask-func-name",
        "engine-create-func-name",
        "parse-classifier-func-name",
        "custom-network-config",
        # model files
        "model-file",
        "proto-file",
        "uff-file",
        "uff-input-order",
        "input-dims",
        "uff-input-dims",
        "uff-input-blob-name",
        "tlt-encoded-model",
        "tlt-model-key",
        "onnx-file",
        # detector / classifier / segmentation
        "num-detected-classes",
        "enable-dbscan",
        "cluster-mode",
        "classifier-type",
        "classifier-threshold",
        "classifier-async-mode",
        "segmentation-threshold",
        "segmentation-output-order",
        "output-instance-mask",
        # secondary-mode object filters
        "input-object-min-width",
        "input-object-min-height",
        "input-object-max-width",
        "input-object-max-height",
        "operate-on-gie-id",
        "operate-on-class-ids",
        "filter-out-class-ids",
        "parse-func",
    }
)
# What every generated classifier config must set (nvinfer's classifier keys).
REQUIRED_KEYS = (
    "network-type",
    "model-engine-file",
    "onnx-file",
    "infer-dims",
    "batch-size",
    "network-mode",
    "model-color-format",
    "net-scale-factor",
    "offsets",
    "output-blob-names",
    "classifier-threshold",
    "labelfile-path",
    "process-mode",
)


@pytest.fixture(scope="module")
def ds_dir(v1_release: tuple[Path, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``deploy deepstream`` of the shared v1 release (synthetic weights, dynamic batch, 224 px),
    through the CLI in this process (it calls ``write_deepstream`` into a staged directory)."""
    from conftest import run_cli_here

    release, _ = v1_release
    out = tmp_path_factory.mktemp("deepstream") / "ds"
    res = run_cli_here("deploy", "deepstream", "--release", str(release), "-o", str(out))
    assert res.code == 0, res.stderr
    # Its minute and more at 224 px is reported phase by phase, never silent.
    phases = [ln.split(": ", 1)[1].rsplit(" [", 1)[0] for ln in res.stderr.splitlines() if "[" in ln]
    assert [p.split()[0] for p in phases if "still running" not in p] == [
        "verify", "build", "check", "export", "gate"
    ], res.stderr  # fmt: skip
    written = {p.name for p in out.iterdir()}
    assert {"config_infer_googlenet.txt", "labels.txt", "googlenet-deepstream.onnx"} <= written
    assert {"googlenet-deepstream.onnx.json", "deepstream-parity.json"} <= written
    return out


def _config(ds: Path) -> Path:
    return ds / "config_infer_googlenet.txt"


@pytest.mark.slow
def test_config_parses_strictly_and_uses_only_documented_keys(ds_dir: Path) -> None:
    from inception_export.deploy.nvinfer import read_config

    cfg = read_config(_config(ds_dir))
    assert cfg.sections() == ["property"]
    keys = cfg.keys()
    assert len(keys) == len(set(keys))
    assert not set(keys) - NVINFER_PROPERTY_KEYS, set(keys) - NVINFER_PROPERTY_KEYS
    assert not set(REQUIRED_KEYS) - set(keys)
    assert cfg.integer("network-type") == 1
    assert cfg.integer("network-mode") == 0
    assert cfg.integer("process-mode") == 1


@pytest.mark.slow
def test_config_agrees_with_its_artifact_and_labels(ds_dir: Path) -> None:
    import onnx

    from inception_export.deploy.nvinfer import parse_labels, read_config

    cfg = read_config(_config(ds_dir))
    proto = onnx.load(str(cfg.resolve("onnx-file")))
    (inp,), (out,) = proto.graph.input, proto.graph.output
    dims = [d.dim_value or d.dim_param for d in inp.type.tensor_type.shape.dim]
    assert dims[1:] == [int(v) for v in cfg.get("infer-dims").split(";")] == [3, 224, 224]
    assert isinstance(dims[0], str)  # dynamic batch: any batch-size serves
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert cfg.get("output-blob-names") == out.name == "probabilities"
    assert out.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    classes = out.type.tensor_type.shape.dim[1].dim_value
    assert classes == 1000
    assert proto.graph.node[-1].op_type == "Softmax"
    assert cfg.integer("batch-size") == 1
    assert cfg.get("model-engine-file") == f"{cfg.get('onnx-file')}_b1_gpu0_fp32.engine"
    layers = parse_labels(cfg.resolve("labelfile-path").read_text(encoding="utf-8"))
    assert len(layers) == 1 and len(layers[0]) == classes
    assert layers[0][:2] == ["tench", "goldfish"]
    # ImageNet's std differs per channel: 1/std lives in the first convolution, and the
    # artifact says so; nvinfer's scalar is then 1/255.
    meta = json.loads((ds_dir / "googlenet-deepstream.onnx.json").read_text())
    folded = meta["deepstream"]["std_folded_into"]
    assert folded["layer"] == "conv1.conv"
    assert folded["input_channel_scale"] == pytest.approx([1 / 0.229, 1 / 0.224, 1 / 0.225])
    assert cfg.number("net-scale-factor") == pytest.approx(1 / 255, rel=1e-11)
    assert cfg.numbers("offsets", 3) == [123.675, 116.28, 103.53]
    assert cfg.integer("model-color-format") == 0


@pytest.mark.slow
def test_gate_passes_within_the_fp32_profile(ds_dir: Path) -> None:
    from inception_export.parity.tolerances import PROFILES

    report = json.loads((ds_dir / "deepstream-parity.json").read_text())
    assert report["passed"] is True
    assert report["nvinfer_input"]["read_from"] == "the config file"
    m, lim = report["metrics"], PROFILES["default"]["fp32"]
    assert m["samples"] == 8  # 2 random, black/grey/white, 3 photographs
    assert m["rel_l2"] <= lim.rel_l2 and m["max_abs_rel"] <= lim.max_abs_rel
    assert m["top1_agreement"] == 1.0
    assert {c["name"] for c in report["checks"]} >= {
        "rel_l2",
        "max_abs_rel",
        "min_cosine",
        "batch_consistency",
    }


def _tampered(ds: Path, old: str, new: str) -> Path:
    text = _config(ds).read_text()
    assert old in text
    bad = ds / f"tampered-{abs(hash(new))}.txt"  # beside the original: same relative paths
    bad.write_text(text.replace(old, new))
    return bad


@pytest.mark.slow
def test_wrong_offset_fails_with_exit_1_and_the_metric_named(
    ds_dir: Path, v1_release: tuple[Path, Any]
) -> None:
    """One grey level off on the red channel's offset: ``deepstream-check`` (the release's model
    rebuilt, the config read back) exits 1 with the metric, its value and limit on one line."""
    from conftest import run_cli_here

    bad = _tampered(ds_dir, "offsets=123.675;", "offsets=124.675;")
    try:
        res = run_cli_here("deepstream-check", str(bad), "--release", str(v1_release[0]), "--json")
    finally:
        bad.unlink()
    assert res.code == 1, res.stderr
    # Its phases, then one error line.
    progress = [ln for ln in res.stderr.splitlines() if ln.startswith("deepstream-check: ")]
    assert [ln.split(": ", 1)[1].split()[0] for ln in progress if "still running" not in ln] == [
        "verify", "build", "check", "gate", "done"
    ], res.stderr  # fmt: skip
    lines = [ln for ln in res.stderr.strip().splitlines() if ln not in progress]
    assert len(lines) == 1 and lines[0].startswith("error:") and "DeepStream gate failed" in lines[0]
    assert "rel_l2 = " in lines[0] and "exceeds limit 1e-05" in lines[0]
    report = json.loads(res.stdout)  # --json: the result on stdout, failed or not
    assert report["passed"] is False and report["nvinfer_input"]["offsets"] == [124.675, 116.28, 103.53]
    assert report["metrics"]["rel_l2"] > 1e-3


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ("network-mode=0", "network-mode=2", "network-mode=2: nvinfer would build a fp16 engine"),
        ("model-engine-file=", "model-engine-file=other.engine\n# ", "nvinfer runs that engine"),
        ("gpu-id=0", "gpu-id=1", "builds googlenet-deepstream.onnx_b1_gpu1_fp32.engine"),
        ("labelfile-path=labels.txt", "labelfile-path=swapped.txt", "names or their order changed"),
        # Appended, indented: configparser folds it into classifier-threshold, nvinfer reads offsets 0.
        ("classifier-threshold=0.2", "classifier-threshold=0.2\n  offsets=0;0;0", "reads '0;0;0'"),
    ],
    ids=["fp16-mode", "foreign-engine", "gpu-id", "label-order", "indented-line"],
)
@pytest.mark.slow
def test_deepstream_check_refuses_what_nvinfer_would_run_differently(
    ds_dir: Path, v1_release: tuple[Path, Any], old: str, new: str, needle: str
) -> None:
    """What nvinfer runs is what was gated, or the check refuses (exit 2, one line): its engine
    precision, the engine file it loads, the labels' order, the values GLib reads."""
    from conftest import run_cli_here

    names = (ds_dir / "labels.txt").read_text().rstrip("\n").split(";")
    (ds_dir / "swapped.txt").write_text(";".join([names[1], names[0], *names[2:]]) + "\n")
    bad = _tampered(ds_dir, old, new)
    try:
        res = run_cli_here("deepstream-check", str(bad), "--release", str(v1_release[0]))
    finally:
        bad.unlink()
        (ds_dir / "swapped.txt").unlink()
    assert_one_line_error(res, 2, needle)


@pytest.mark.slow
def test_wrong_colour_order_fails_and_the_written_config_passes(ds_dir: Path) -> None:
    """BGR where the model was trained on RGB fails; the file as written passes (the same
    reference: the shared v1 model with the release's synthetic weights)."""
    from conftest import synthetic_model

    from inception_export.full.deploy.deepstream_gate import gate_deepstream
    from inception_export.full.eager import EagerReference
    from inception_export.parity.tolerances import load_profile

    net = synthetic_model("v1")
    reference = EagerReference("v1", samples=2, reference_model=net)
    reference.load(lambda _msg: None)
    limits = load_profile("default")
    good = gate_deepstream(_config(ds_dir), reference, net.spec.preprocessing, limits)
    assert good.passed and good.batch_sizes == [1]
    bad = _tampered(ds_dir, "model-color-format=0", "model-color-format=1")
    try:
        result = gate_deepstream(bad, reference, net.spec.preprocessing, limits)
    finally:
        bad.unlink()
    assert not result.passed
    failed = {c.name for c in result.failures}
    assert {"rel_l2", "max_abs_rel", "min_cosine"} <= failed
    assert result.metrics.rel_l2 > 1e-2  # a thousand times the FP32 limit
    assert "rel_l2 = " in result.summary()


# --- the scaling: exact for every recipe, without exporting anything -------------------------


def _all_specs() -> list[Any]:
    from inception_export.registry import list_specs

    return list_specs()


@pytest.mark.parametrize("transform_input", [False, True])
def test_nvinfer_scaling_reproduces_every_recipe(transform_input: bool) -> None:
    """nvinfer's input as the gate computes it (RGB frames, reordered by model-color-format),
    times the folded 1/std, is the recipe's normalised tensor for every registered model."""
    from inception_export.deploy.nvinfer import scaling_for
    from inception_export.full.deploy.deepstream_gate import nvinfer_input
    from inception_export.images import normalise

    pixels = np.random.default_rng(0).integers(0, 256, (2, 5, 5, 3), dtype=np.uint8)
    checked = 0
    for spec in _all_specs():
        pre = spec.preprocessing
        if transform_input and not spec.supports_transform_input:
            continue
        s = scaling_for(pre.mean, pre.std, pre.value_range, pre.colour_order, transform_input)
        assert s.color_format == (1 if pre.colour_order == "BGR" else 0)
        # ``pixels`` are in the checkpoint's order; a camera's frames are RGB.
        frames = pixels if pre.colour_order == "RGB" else pixels[..., ::-1]
        y = nvinfer_input(frames, s.net_scale_factor, list(s.offsets), s.color_format).astype(np.float64)
        if s.first_conv_scale is not None:
            y = y * np.reshape(s.first_conv_scale, (1, 3, 1, 1))
        want = normalise(pixels, pre).astype(np.float64)
        if transform_input:  # what TorchvisionTransformInput then makes of it
            mean, std = (
                np.reshape((0.485, 0.456, 0.406), (1, 3, 1, 1)),
                np.reshape((0.229, 0.224, 0.225), (1, 3, 1, 1)),
            )
            want = want * std / 0.5 + (mean - 0.5) / 0.5
            assert s.drops_transform_input and s.first_conv_scale is None
        np.testing.assert_allclose(y, want, rtol=2e-6, atol=2e-6)  # float32 rounding, both sides
        checked += 1
    assert checked >= (2 if transform_input else 8)


def test_scaling_numbers_per_recipe_family() -> None:
    from inception_export.deploy.nvinfer import scaling_for
    from inception_export.registry import get_spec

    def of(name: str, ti: bool = False) -> Any:
        pre = get_spec(name).preprocessing
        return scaling_for(pre.mean, pre.std, pre.value_range, pre.colour_order, ti)

    bn = of("v2")  # Caffe: BGR 0..255 minus the mean, std 1
    assert (bn.net_scale_factor, bn.offsets, bn.color_format, bn.first_conv_scale) == (
        1.0,
        (104.0, 117.0, 128.0),
        1,
        None,
    )
    for name in ("v4", "irv2"):  # timm: mean = std = 0.5
        s = of(name)
        assert s.net_scale_factor == pytest.approx(2 / 255, rel=1e-11)
        assert s.offsets == (127.5, 127.5, 127.5) and s.first_conv_scale is None
    ti = of("v1", True)
    assert ti.drops_transform_input and ti.offsets == (127.5, 127.5, 127.5)
    folded = of("resnet50")
    assert folded.first_conv_scale is not None and folded.net_scale_factor == pytest.approx(
        1 / 255, rel=1e-11
    )
    with pytest.raises(UsageError, match="transform_input"):
        scaling_for((0.5,) * 3, (0.5,) * 3, (0.0, 1.0), "RGB", True)


@pytest.mark.parametrize("transform_input", [False, True], ids=["std-folded", "transform-input"])
def test_deepstream_module_matches_eager_softmax_on_nvinfer_input(transform_input: bool) -> None:
    """The artifact's module (before ONNX) on nvinfer's float32 input equals softmax of the model
    on the recipe's input: v1 at 32 px, both ways the scalar form is made exact."""
    import copy

    import torch
    from conftest import synthetic_model

    from inception_export.deploy.nvinfer import scaling_for
    from inception_export.full.deploy.deepstream_gate import nvinfer_input
    from inception_export.full.deploy.deepstream_onnx import deepstream_module
    from inception_export.full.models.layers import TorchvisionTransformInput
    from inception_export.images import normalise

    net = synthetic_model("v1")
    if transform_input:  # what build_model("v1", transform_input=True) makes: the module is not a weight
        net = copy.deepcopy(net)
        net.transform = TorchvisionTransformInput()
    pre = net.spec.preprocessing
    s = scaling_for(pre.mean, pre.std, pre.value_range, pre.colour_order, transform_input)
    module, facts = deepstream_module(net, 32, s)
    pixels = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    with torch.no_grad():
        want = torch.softmax(net(torch.from_numpy(normalise(pixels, pre))).double(), 1).numpy()
        got = module(
            torch.from_numpy(nvinfer_input(pixels, s.net_scale_factor, list(s.offsets), s.color_format))
        )
    assert ("std_folded_into" in facts) is not transform_input
    rel = np.linalg.norm(got.numpy() - want) / np.linalg.norm(want)
    assert rel < 1e-5, rel
    # A wrong colour order is far outside that.
    with torch.no_grad():
        swapped = module(torch.from_numpy(nvinfer_input(pixels, s.net_scale_factor, list(s.offsets), 1)))
    assert np.linalg.norm(swapped.numpy() - want) / np.linalg.norm(want) > 1e-3


# --- the key file parser ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("[property]\nbatch-size=1\nbatch-size=2\n", "key 'batch-size' in \\[property\\] is given twice"),
        ("[property]\nbatch-size=1\n[property]\n", "group \\[property\\] is given twice"),
        ("batch-size=1\n[property]\n", "not a key file"),
        ("[class-attrs-all]\nthreshold=0.2\n", "no \\[property\\] group"),
        ("[property]\nbatch-size 1\n", "not a key file"),
        # configparser folds the indented line into output-blob-names; GLib reads a second offsets
        # (the later one wins): nvinfer would compute with offsets 0.
        (
            "[property]\noffsets=1;2;3\noutput-blob-names=p\n  offsets=0;0;0\n",
            "offsets: nvinfer's parser \\(GLib\\) reads '0;0;0', a plain key-file reader '1;2;3'",
        ),
        ("[property]\noutput-blob-names=p\n  offsets=0;0;0\n", "output-blob-names: .* reads 'p'"),
        # GLib unescapes \s: nvinfer would load "m x.onnx".
        (
            "[property]\nonnx-file=m\\sx.onnx\n",
            "onnx-file: .* reads 'm x.onnx', a plain key-file reader 'm\\\\\\\\sx.onnx'",
        ),
        ("[property]\nx=1\n[other]\ny=2 \\\n", "y: nvinfer's parser \\(GLib\\) reads '2 '"),
    ],
    ids=[
        "duplicate-key",
        "duplicate-group",
        "key-outside-group",
        "no-property",
        "no-equals",
        "indented-key",
        "indented-new-key",
        "escaped-space",
        "trailing-backslash",
    ],
)
def test_read_config_is_strict(tmp_path: Path, text: str, why: str) -> None:
    from inception_export.deploy.nvinfer import read_config

    path = tmp_path / "c.txt"
    path.write_text(text)
    with pytest.raises(ArtifactError, match=why):
        read_config(path)


def test_config_values_are_checked(tmp_path: Path) -> None:
    from inception_export.deploy.nvinfer import read_config

    path = tmp_path / "c.txt"
    path.write_text("# comment\n[property]\noffsets=1;2\nnet-scale-factor=nan\nbatch-size=x\n")
    cfg = read_config(path)
    with pytest.raises(ArtifactError, match="offsets holds 2 values, expected 3"):
        cfg.numbers("offsets", 3)
    with pytest.raises(ArtifactError, match="not a finite number"):
        cfg.number("net-scale-factor")
    with pytest.raises(ArtifactError, match="not an integer"):
        cfg.integer("batch-size")
    with pytest.raises(ArtifactError, match="has no onnx-file"):
        cfg.get("onnx-file")


# --- bad input: one line, exit 2, nothing written ------------------------------------------------


def _manifest(tmp_path: Path, **changes: Any) -> Path:
    release = tmp_path / "release"
    release.mkdir()
    manifest = {
        "schema": 1,
        "model": "googlenet",
        "input_size": 32,
        "num_classes": 1000,
        "preprocessing": {"transform_input": False},
        "weights": {"source": "synthetic:seed=20261123", "sha256": "synthetic-20261123"},
        "versions": {"inception_export": "0"},
        "artifacts": [
            {
                "file": "googlenet-fp32.onnx",
                "format": "onnx",
                "precision": "fp32",
                "opset": 18,
                "input": {"shape": ["batch", 3, 32, 32]},
            },
        ],
    }
    manifest.update(changes)
    (release / "manifest.json").write_text(json.dumps(manifest))
    return release


@pytest.mark.parametrize(
    ("changes", "kind", "message"),
    [
        ({"artifacts": []}, ArtifactError, "no FP32 ONNX artifact"),
        ({"schema": 2}, ArtifactError, "not a release manifest"),
        ({"model": 7}, ArtifactError, "field model is 7, not a string"),
        ({"weights": {"source": "inception.pth", "sha256": "ab" * 32}}, WeightsError, "give --weights FILE"),
        ({"num_classes": 10}, UsageError, "--class-names"),
    ],
    ids=["no-fp32-onnx", "schema", "model", "checkpoint-without-weights", "classes"],
)
def test_bad_release_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, changes: dict[str, Any], kind: type, message: str
) -> None:
    from inception_export.cli.app import error_line
    from inception_export.full.deploy.deepstream import write_deepstream

    release = _manifest(tmp_path, **changes)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(kind, match=message) as info:
        write_deepstream(release, out, weights=None, class_names=None, batch_size=2)
    line, code = error_line(info.value)
    assert code == 2 and "\n" not in line
    assert list(out.iterdir()) == []


@pytest.mark.slow
def test_deepstream_onnx_has_a_dynamic_batch_from_a_fixed_batch_release(tmp_path: Path) -> None:
    """nvinfer builds its engine for batches 1..batch-size: the DeepStream ONNX of a release
    fixed at batch 4 still takes any batch (a graph traced at 4 bakes 4 into its Reshape)."""
    import onnxruntime as ort
    from conftest import run_cli_here

    from inception_export.full.deploy.deepstream import write_deepstream

    release = tmp_path / "release"
    made = run_cli_here(
        "release", "-m", "v1", "-o", str(release), "--batch", "4", "--input-size", "64",
        "--precision", "fp32", "--no-trt", "--samples", "1",
    )  # fmt: skip
    assert made.code == 0, made.stderr
    out = tmp_path / "out"
    out.mkdir()
    write_deepstream(release, out, weights=None, class_names=None, batch_size=2, gie_unique_id=7)
    onnx_path = out / "googlenet-deepstream.onnx"
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert isinstance(session.get_inputs()[0].shape[0], str)
    for n in (1, 3):
        (probs,) = session.run(None, {"input": np.zeros((n, 3, 64, 64), np.float32)})
        assert probs.shape == (n, 1000)
    text = (out / "config_infer_googlenet.txt").read_text()
    assert "batch-size=2" in text and "gie-unique-id=7" in text
    assert "TF32 on Ampere and later GPUs (Orin too)" in text
    # The spatial mean as GlobalAveragePool: opset 18's ReduceMean takes its axes as an input,
    # which TensorRT 8.6 (DeepStream 6.3/7.0) does not read.
    import onnx

    ops = {n.op_type for n in onnx.load(str(onnx_path)).graph.node}
    assert "GlobalAveragePool" in ops and "ReduceMean" not in ops


@pytest.mark.parametrize("gie", [0, 1 << 32])
def test_gie_unique_id_is_checked_before_work(tmp_path: Path, gie: int) -> None:
    from inception_export.full.deploy.deepstream import write_deepstream

    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UsageError, match=f"--gie-unique-id {gie}: must be 1"):
        write_deepstream(_manifest(tmp_path), out, weights=None, class_names=None, gie_unique_id=gie)
    assert list(out.iterdir()) == []
    # The same through the CLI: 0 is nvinfer's "unset", never quietly taken for the default 1.
    from conftest import run_cli_here

    cli_out = tmp_path / "cli-out"
    res = run_cli_here(
        "deploy", "deepstream", "--release", str(tmp_path / "release"), "-o", str(cli_out),
        "--gie-unique-id", str(gie),
    )  # fmt: skip
    assert_one_line_error(res, 2, f"--gie-unique-id {gie}: must be 1")
    assert not cli_out.exists()


def test_missing_release_and_wrong_weights(tmp_path: Path) -> None:
    from inception_export.full.deploy.deepstream import write_deepstream

    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ArtifactError, match=r"no manifest\.json"):
        write_deepstream(out, out, weights=None, class_names=None)
    release = _manifest(tmp_path)
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"x")
    with pytest.raises(WeightsError, match="synthetic weights"):
        write_deepstream(release, out, weights=weights, class_names=None)
    with pytest.raises(UsageError, match="3 class names"):
        write_deepstream(release, out, weights=None, class_names=["a", "b", "c"])
    with pytest.raises(UsageError, match="';'"):
        write_deepstream(release, out, weights=None, class_names=["a;b"] * 1000)
    assert list(out.iterdir()) == []
    shutil.rmtree(release)


def test_deploy_deepstream_cli_refuses_a_release_without_an_fp32_onnx(tmp_path: Path) -> None:
    """Through the command: one ``error:`` line, exit 2, and no output directory left behind."""
    from conftest import run_cli_here

    release = _manifest(tmp_path, artifacts=[])
    out = tmp_path / "ds"
    res = run_cli_here("deploy", "deepstream", "--release", str(release), "-o", str(out))
    assert res.code == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "no FP32 ONNX artifact" in lines[0]
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release"]  # no staging left either


REFUSED = {
    "missing": "no such config file",
    "fifo-labels": "is not a label file",
    # Zero made every frame the same input; it was gated (and failed, exit 1) as if it were
    # the artifact's fault. A batch of 10**9 asked for the memory of 10**9 frames.
    "scale-zero": "net-scale-factor=0; it must be positive",
    "batch-huge": "batch-size=1000000000; nvinfer batches from 1 to 1024",
    # splitlines read "a\fb" as two label lines; nvinfer reads one, and shows the \f raw.
    "label-control": "label 'a\\x0cb' holds a control character",
}
EDITS = {"scale-zero": "net-scale-factor=0\n", "batch-huge": "batch-size=1000000000\n"}


@pytest.mark.parametrize("what", sorted(REFUSED))
def test_deepstream_check_refuses_what_is_not_a_config_in_one_line(tmp_path: Path, what: str) -> None:
    import os

    from conftest import run_cli_here

    release = _manifest(tmp_path)
    config = tmp_path / "config.txt"
    if what != "missing":
        # Everything else in order up to the labels, which are a FIFO: refused, never read.
        meta = {"input": {"shape": ["batch", 3, 32, 32]}, "output": {"name": "probabilities"}}
        import onnx
        from onnx import TensorProto, helper

        # A real (tiny) ONNX: the metadata reader parses the graph before trusting a sidecar.
        graph = helper.make_graph(
            [helper.make_node("Identity", ["x"], ["probabilities"])],
            "m",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 32, 32])],
            [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3, 32, 32])],
        )
        onnx.save(helper.make_model(graph), tmp_path / "m.onnx")
        (tmp_path / "m.onnx.json").write_text(json.dumps(meta))
        if what == "label-control":
            (tmp_path / "labels.txt").write_text("a\fb;c;d\n")
        else:
            os.mkfifo(tmp_path / "labels.txt")
        text = (
            "[property]\nnetwork-type=1\nonnx-file=m.onnx\ninfer-dims=3;32;32\nbatch-size=1\n"
            "output-blob-names=probabilities\nlabelfile-path=labels.txt\nnet-scale-factor=0.0039\n"
        )
        key = EDITS.get(what, "=").split("=")[0]
        config.write_text(
            "".join(ln + "\n" for ln in text.splitlines() if not ln.startswith(key + "="))
            + EDITS.get(what, "")
        )
    res = run_cli_here("deepstream-check", str(config), "--release", str(release))
    assert res.code == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert REFUSED[what] in lines[0]


def _fp32_says_fp16(m: dict[str, Any]) -> None:
    for a in m["artifacts"]:
        a["precision"] = {"fp32": "fp16", "fp16": "fp32"}[a["precision"]]


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (
            lambda m: m["preprocessing"].update(transform_input=True),
            "says transform_input true but the artifact is false \\(the golden bundle's\\)",
        ),
        (lambda m: m.update(input_size=299), "says input_size 299 but the artifact is 224"),
        (
            lambda m: m["weights"].update(sha256="synthetic-7"),
            "says weights sha256 'synthetic-7' but the artifact is 'synthetic-",
        ),
        (lambda m: m.update(model="resnet50"), "says model 'resnet50' but the artifact is 'googlenet'"),
        (_fp32_says_fp16, "says precision 'fp16' but the artifact is 'fp32'"),
        (lambda m: m["golden"].update(sha256="0" * 64), "the golden bundle changed after the release"),
    ],
    ids=["transform_input", "size", "seed", "model", "precision", "golden"],
)
def test_deploy_deepstream_builds_from_the_release_files(
    v1_release: tuple[Path, Any], tmp_path: Path, edit: Any, needle: str
) -> None:
    """DeepStream's export is built from the release's hashed files (its golden bundle and FP32
    ONNX), never the manifest's editable words: each edit is refused before the export."""
    from inception_export.full.deploy.deepstream import release_model_facts

    rel = edited_release(v1_release[0], tmp_path / "rel", edit)
    with pytest.raises(ArtifactError, match=needle):
        release_model_facts(rel)


@pytest.mark.slow
def test_deepstream_model_is_checked_against_the_golden_bundle(
    v1_release: tuple[Path, Any], tmp_path: Path
) -> None:
    """The model rebuilt for the DeepStream export must compute the release's golden logits:
    another seed's fails (exit 1) before anything is exported; an edited manifest is refused
    by ``deploy deepstream`` in one line before any work."""
    from conftest import assert_one_line_error, run_cli_here

    from inception_export.errors import GateFailure
    from inception_export.full.build import build_model
    from inception_export.full.deploy.deepstream import check_rebuilt, release_model_facts

    facts = release_model_facts(v1_release[0])
    assert (facts.model, facts.input_size, facts.transform_input, facts.opset) == (
        "googlenet",
        224,
        False,
        18,
    )
    assert facts.source.file == "googlenet-fp32.onnx" and facts.seed is not None
    check_rebuilt(build_model("googlenet", None, seed=facts.seed), facts.bundle)
    with pytest.raises(GateFailure, match=r"does not compute its golden\.npz"):
        check_rebuilt(build_model("googlenet", None, seed=facts.seed + 1), facts.bundle)
    edit = lambda m: m["preprocessing"].update(transform_input=True)  # noqa: E731
    rel = edited_release(v1_release[0], tmp_path / "rel", edit)
    out = tmp_path / "ds"
    res = run_cli_here("deploy", "deepstream", "--release", str(rel), "-o", str(out))
    assert_one_line_error(res, 2, "says transform_input true")
    assert not out.exists()


@pytest.mark.slow
def test_deepstream_check_takes_loose_limits_only_when_asked(
    ds_dir: Path, v1_release: tuple[Path, Any], tmp_path: Path
) -> None:
    """Its refusal of a profile past the built-in bound names --allow-loose-limits: the option
    exists here as on every gate, and the result then says which limits were loosened."""
    from conftest import run_cli_here

    loose = tmp_path / "loose.toml"
    loose.write_text("[fp32]\nrel_l2 = 1e-3\n")
    args = ["deepstream-check", str(_config(ds_dir)), "--release", str(v1_release[0])]
    args += ["--tolerance-profile", str(loose)]
    beyond = "[fp32] rel_l2 = 0.001 (bound 0.0001)"
    assert_one_line_error(run_cli_here(*args), 2, beyond, "--allow-loose-limits")
    res = run_cli_here(*args, "--allow-loose-limits", "--json")
    assert res.code == 0, res.stderr
    assert json.loads(res.stdout)["limits_beyond_bound"] == [beyond]
    assert "limits beyond the built-in bound" in res.stderr


def test_a_release_made_with_loose_limits_still_deploys(v1_release: tuple[Path, Any], tmp_path: Path) -> None:
    """`release --allow-loose-limits` writes a bundle whose limits are past the bound; DeepStream's
    export reads only the model's identity from it (and rebuilds the model against its logits
    under the built-in FP32 limits), so `release --allow-loose-limits --deploy deepstream` and
    `deploy deepstream` on such a release are not refused for an option they do not have."""
    import hashlib

    from inception_export.full.deploy.deepstream import check_rebuilt, release_model_facts
    from inception_export.parity.bundle import load_bundle, write_bundle

    golden = load_bundle(v1_release[0] / "golden.npz")
    meta = json.loads(json.dumps(golden.meta))
    meta["tolerance_profile"]["limits"]["fp16"]["rel_l2"] = 0.06  # bound 0.05
    rel = tmp_path / "rel"

    def loose(manifest: dict[str, Any]) -> None:
        manifest["golden"]["sha256"] = hashlib.sha256((rel / "golden.npz").read_bytes()).hexdigest()

    rel.mkdir()
    write_bundle(rel / "golden.npz", meta, golden.sets)
    for p in v1_release[0].iterdir():
        if p.name not in ("manifest.json", "golden.npz"):
            (rel / p.name).symlink_to(p)
    manifest = json.loads((v1_release[0] / "manifest.json").read_text())
    loose(manifest)
    (rel / "manifest.json").write_text(json.dumps(manifest))
    facts = release_model_facts(rel)
    assert facts.model == "googlenet" and facts.seed is not None
    from inception_export.full.build import build_model

    check_rebuilt(build_model("googlenet", None, seed=facts.seed), facts.bundle)


def test_deepstream_check_warns_of_an_engine_nvinfer_would_run_instead(
    ds_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The engine nvinfer builds from onnx-file, once there, is what it runs: the check (which
    gates onnx-file, not that engine) says so instead of passing in silence."""
    from inception_export.deploy.nvinfer import read_config
    from inception_export.full.deploy.deepstream_gate import check_config_agrees

    ds = tmp_path / "ds"
    shutil.copytree(ds_dir, ds)
    config = _config(ds)
    check_config_agrees(read_config(config), 1000)
    assert "warning:" not in capsys.readouterr().err
    (ds / "googlenet-deepstream.onnx_b1_gpu0_fp32.engine").write_bytes(b"junk")
    check_config_agrees(read_config(config), 1000)
    err = capsys.readouterr().err
    assert "warning:" in err and "googlenet-deepstream.onnx_b1_gpu0_fp32.engine exists" in err
    assert "gates onnx-file, not the engine" in err


def test_deepstream_release_reader_refuses_a_fifo_or_device_manifest(tmp_path: Path) -> None:
    from inception_export.errors import ArtifactError
    from inception_export.release_manifest import read_release

    os.mkfifo(tmp_path / "manifest.json")  # read_text blocked on it until a writer came
    with pytest.raises(ArtifactError, match="FIFO"):
        read_release(tmp_path)
    (tmp_path / "manifest.json").unlink()
    (tmp_path / "manifest.json").symlink_to("/dev/zero")
    with pytest.raises(ArtifactError, match="character device"):
        read_release(tmp_path)
