"""``deploy triton`` / ``release --deploy triton``: a Triton model repository whose every
``config.pbtxt`` parses with Triton's own schema (``model_config_pb2`` from tritonclient,
strict text format) and agrees with the artifact beside it, run where it can run here."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import assert_one_line_error, edited_release, run_cli_here, stand_in_engine
from google.protobuf import text_format
from helpers import LOGITS, add_artifact, derived_release, engine_release, nchw_input, sha256

# Triton's schema as tritonclient ships it (the dev extra): imported, not skipped when missing.
from tritonclient.grpc import model_config_pb2

from inception_export.deploy.labels import imagenet_names
from inception_export.deploy.triton import device_engine, plan_models, render_config
from inception_export.release_manifest import read_release
from inception_export.text import printable

NUMPY = {"TYPE_FP32": np.float32, "TYPE_UINT8": np.uint8, "TYPE_FP16": np.float16}


def parse_config(path: Path) -> Any:
    """Strict: an unknown field, a wrong enum or a malformed value is a ParseError."""
    config = model_config_pb2.ModelConfig()
    text_format.Parse(path.read_text(encoding="utf-8"), config)
    return config


def enum(field: str, config_msg: Any, value: int) -> str:
    return str(config_msg.DESCRIPTOR.fields_by_name[field].enum_type.values_by_number[value].name)


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".staging-" in p.name)


def run_config(config: Any, model_dir: Path, batch: int) -> np.ndarray:
    """Run the version-1 model file on a batch shaped by the config's own numbers."""
    inp, out = config.input[0], config.output[0]
    dims = list(inp.dims) if config.max_batch_size == 0 else [batch, *inp.dims]
    dtype = NUMPY[enum("data_type", inp, inp.data_type)]
    rng = np.random.default_rng(0)
    x = (
        rng.integers(0, 256, dims).astype(dtype)
        if dtype == np.uint8
        else rng.standard_normal(dims).astype(dtype)
    )
    if config.platform == "onnxruntime_onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(model_dir / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
        assert [i.name for i in sess.get_inputs()] == [inp.name]
        assert sess.get_outputs()[0].name == out.name
        (y,) = sess.run([out.name], {inp.name: x})
    else:
        assert config.platform == "pytorch_libtorch"
        import torch

        module = torch.jit.load(str(model_dir / "1" / "model.pt"))
        with torch.no_grad():
            y = module(torch.from_numpy(x)).numpy()
    expect = list(out.dims) if config.max_batch_size == 0 else [batch, *out.dims]
    assert list(y.shape) == expect
    assert y.dtype == NUMPY[enum("data_type", out, out.data_type)]
    return np.asarray(y)


def check_repository(repo: Path, release: Path) -> dict[str, Any]:
    """Every model: strict parse, the model file the release's bytes, labels one a class,
    dynamic batching within max_batch_size; returns the configs by name."""
    return check_repository_with(repo, release, {})


def check_repository_with(repo: Path, release: Path, extra: dict[str, str]) -> dict[str, Any]:
    """``check_repository``, with model files from outside the release (sha256 -> format)."""
    manifest = json.loads((release / "manifest.json").read_text())
    by_sha = {a["sha256"]: a for a in manifest["artifacts"]} | {k: {"format": v} for k, v in extra.items()}
    configs = {}
    for cfg_path in sorted(repo.glob("*/config.pbtxt")):
        config = parse_config(cfg_path)
        assert config.name == cfg_path.parent.name
        (model_file,) = list((cfg_path.parent / "1").iterdir())
        entry = by_sha[sha256(model_file)]  # byte for byte an artifact of the release
        assert (
            model_file.suffix == {"onnx": ".onnx", "torchscript": ".pt", "tensorrt": ".plan"}[entry["format"]]
        )
        labels = (cfg_path.parent / config.output[0].label_filename).read_text().splitlines()
        assert len(labels) == config.output[0].dims[-1] == manifest["num_classes"]
        if config.max_batch_size > 1:
            sizes = list(config.dynamic_batching.preferred_batch_size)
            assert sizes and all(1 <= s <= config.max_batch_size for s in sizes), sizes
        else:
            assert not config.HasField("dynamic_batching")
        configs[config.name] = config
    return configs


def test_labels_imagenet_vendored() -> None:
    names = imagenet_names()
    assert len(names) == 1000
    # torchvision's ImageNet order (its weights' meta["categories"]).
    assert (names[0], names[1], names[207], names[281], names[999]) == (
        "tench",
        "goldfish",
        "golden retriever",
        "tabby",
        "toilet tissue",
    )


def test_deploy_triton_onnx_from_release(v1_release: tuple[Path, Any], tmp_path: Path) -> None:
    release, _ = v1_release
    out = tmp_path / "repo"
    res = run_cli_here("deploy", "triton", "--release", str(release), "-o", str(out), "--json")
    assert res.code == 0, res.stderr
    record = json.loads(res.stdout)
    configs = check_repository(out, release)
    assert set(configs) == {"googlenet-onnx-fp32", "googlenet-onnx-fp16"}
    for name, config in configs.items():
        assert config.platform == "onnxruntime_onnx"
        assert config.max_batch_size == 8  # a release's engine batch range, for every model
        inp = config.input[0]
        assert (inp.name, list(inp.dims)) == ("input", [3, 224, 224])
        assert enum("data_type", inp, inp.data_type) == "TYPE_FP32"
        assert enum("format", inp, inp.format) == "FORMAT_NCHW"
        assert (config.output[0].name, list(config.output[0].dims)) == ("logits", [1000])
        assert list(config.dynamic_batching.preferred_batch_size) == [2, 4, 8]
        run_config(config, out / name, batch=2)
    assert (out / "googlenet-onnx-fp32" / "labels.txt").read_text().splitlines() == imagenet_names()
    # deploy.json lists every file with its hash.
    assert {f["file"] for f in record["files"]} == {
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != "deploy.json"
    }
    assert all(sha256(out / f["file"]) == f["sha256"] for f in record["files"])
    assert json.loads((out / "deploy.json").read_text()) == record


def test_deploy_triton_max_batch_and_force(v1_release: tuple[Path, Any], tmp_path: Path) -> None:
    release, _ = v1_release
    out = tmp_path / "repo"
    args = ["deploy", "triton", "--release", str(release), "-o", str(out), "--platform", "onnx"]
    assert run_cli_here(*args, "--max-batch", "3").code == 0
    config = parse_config(out / "googlenet-onnx-fp32" / "config.pbtxt")
    assert config.max_batch_size == 3
    assert list(config.dynamic_batching.preferred_batch_size) == [2, 3]
    run_config(config, out / "googlenet-onnx-fp32", batch=3)
    # An earlier deploy output is replaced only with --force; anything else never.
    assert_one_line_error(run_cli_here(*args), 2, "--force")
    assert run_cli_here(*args, "--max-batch", "1", "--force").code == 0
    config = parse_config(out / "googlenet-onnx-fp32" / "config.pbtxt")
    assert config.max_batch_size == 1 and not config.HasField("dynamic_batching")
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    res = run_cli_here("deploy", "triton", "--release", str(release), "-o", str(other), "--force")
    assert_one_line_error(res, 2, "not empty")
    assert (other / "keep.txt").read_text() == "mine"


@pytest.mark.slow
def test_deploy_triton_libtorch(v1_release: tuple[Path, Any], shared_exports: Any, tmp_path: Path) -> None:
    release, _ = v1_release
    rel = tmp_path / "rel"
    manifest = derived_release(release, rel, ["googlenet-fp32.onnx"])
    ts = shared_exports("v1", "torchscript").path
    entry = {"format": "torchscript", "precision": "fp32", "input": nchw_input(224), "output": LOGITS}
    add_artifact(rel, manifest, ts, entry)
    out = tmp_path / "repo"
    res = run_cli_here("deploy", "triton", "--release", str(rel), "-o", str(out), "--platform", "libtorch")
    assert res.code == 0, res.stderr
    configs = check_repository(out, rel)
    config = configs["googlenet-libtorch-fp32"]
    assert set(configs) == {"googlenet-libtorch-fp32"}  # --platform picks
    assert config.platform == "pytorch_libtorch"
    assert (config.input[0].name, config.output[0].name) == ("INPUT__0", "OUTPUT__0")
    assert list(config.input[0].dims) == [3, 224, 224] and config.max_batch_size == 8
    # The same logits as the ONNX FP32 of the same release: the config fed the model right.
    y = run_config(config, out / "googlenet-libtorch-fp32", batch=2)
    res = run_cli_here(
        "deploy", "triton", "--release", str(rel), "-o", str(tmp_path / "o2"), "--platform", "onnx"
    )
    assert res.code == 0, res.stderr
    y_onnx = run_config(
        parse_config(tmp_path / "o2/googlenet-onnx-fp32/config.pbtxt"), tmp_path / "o2/googlenet-onnx-fp32", 2
    )
    np.testing.assert_allclose(y, y_onnx, rtol=1e-3, atol=1e-3)


def test_deploy_triton_plan_from_engine_manifest(v1_release: tuple[Path, Any], tmp_path: Path) -> None:
    release, _ = v1_release
    rel = engine_release(release, tmp_path / "rel", 1, 4, 16)
    out = tmp_path / "repo"
    res = run_cli_here("deploy", "triton", "--release", str(rel), "-o", str(out))
    assert res.code == 0, res.stderr
    configs = check_repository(out, rel)
    assert set(configs) == {"googlenet-onnx-fp16", "googlenet-plan-fp16"}
    config = configs["googlenet-plan-fp16"]
    assert config.platform == "tensorrt_plan"
    assert config.max_batch_size == 16  # the profile's max
    assert list(config.dynamic_batching.preferred_batch_size) == [2, 4, 8, 16]  # opt 4 among them
    assert (config.input[0].name, list(config.input[0].dims)) == ("input", [3, 224, 224])
    assert enum("data_type", config.input[0], config.input[0].data_type) == "TYPE_FP32"
    assert (config.output[0].name, list(config.output[0].dims)) == ("logits", [1000])
    text = (out / "googlenet-plan-fp16" / "config.pbtxt").read_text()
    assert "# TensorRT 10.3.0.26 built this plan on NVIDIA A10 (compute capability 8.6)" in text
    assert "ships TensorRT 10.3" in text
    # The ONNX beside it serves what the engine does.
    assert configs["googlenet-onnx-fp16"].max_batch_size == 16
    # An engine built for one batch only: non-batching, the batch in the dims.
    rel1 = engine_release(release, tmp_path / "rel1", 4, 4, 4)
    assert (
        run_cli_here(
            "deploy", "triton", "--release", str(rel1), "-o", str(tmp_path / "r1"), "--platform", "plan"
        ).code
        == 0
    )
    fixed = parse_config(tmp_path / "r1/googlenet-plan-fp16/config.pbtxt")
    assert fixed.max_batch_size == 0 and list(fixed.input[0].dims) == [4, 3, 224, 224]
    assert list(fixed.output[0].dims) == [4, 1000] and not fixed.HasField("dynamic_batching")
    assert enum("format", fixed.input[0], fixed.input[0].format) == "FORMAT_NONE"  # 4 dims: no format


def test_deploy_triton_engine_from_the_device(v1_release: tuple[Path, Any], tmp_path: Path) -> None:
    """``--engine FILE``: an engine built on the device from the release's ONNX (its manifest
    beside it) becomes the repository's plan model; the ONNX models serve its batch range."""
    release, _ = v1_release
    engine = stand_in_engine(tmp_path / "v1.engine", release / "googlenet-fp16.onnx", 1, 1, 8)
    out = tmp_path / "repo"

    def deploy(*extra: str, target: str = "triton") -> Any:
        return run_cli_here("deploy", target, "--release", str(release), "-o", str(out), *extra)

    # What the repository will hold, planned from the files (everything but the gate).
    served, outside = device_engine(release, read_release(release).doc, engine)
    models, left_out = plan_models(release, served, exported=outside)
    configs = {}
    for model in models:
        (tmp_path / f"{model.name}.pbtxt").write_text(render_config(model))
        configs[model.name] = parse_config(tmp_path / f"{model.name}.pbtxt")
    assert set(configs) == {"googlenet-onnx-fp32", "googlenet-onnx-fp16", "googlenet-plan-fp16"}
    assert left_out == [] and {m.source for m in models if m.fmt == "tensorrt"} == {engine}
    plan = configs["googlenet-plan-fp16"]
    assert plan.max_batch_size == 8 and list(plan.dynamic_batching.preferred_batch_size) == [2, 4, 8]
    assert {c.max_batch_size for c in configs.values()} == {8}
    for m in models:
        (tmp_path / f"{m.name}.pbtxt").unlink()
    # The last step is the gate against the release's golden bundle, on the device's TensorRT:
    # here (no TensorRT) refused after every other check passed, nothing written.
    res = deploy("--engine", str(engine), "--json")
    assert_one_line_error(res, 2, "--engine", "golden bundle", "TensorRT is not installed")
    assert not out.exists()
    # Refused, nothing written: an engine changed after its build, one without its manifest,
    # one built from another ONNX, --engine for DeepStream.
    changed = stand_in_engine(tmp_path / "changed.engine", release / "googlenet-fp16.onnx", 1, 1, 8)
    changed.write_bytes(b"another plan")
    assert_one_line_error(deploy("--engine", str(changed)), 2, "changed.engine", "changed after it was built")
    bare = tmp_path / "bare.engine"
    bare.write_bytes(engine.read_bytes())
    assert_one_line_error(deploy("--engine", str(bare)), 2, "no manifest bare.engine.json")
    foreign = stand_in_engine(tmp_path / "foreign.engine", release / "manifest.json", 1, 1, 8)
    assert_one_line_error(deploy("--engine", str(foreign)), 2, "not one of --release")
    assert_one_line_error(deploy("--engine", str(tmp_path / "none.engine")), 2, "no such file")
    # The release's ONNX itself: its metadata sidecar was called a broken engine manifest.
    onnx_file = release / "googlenet-fp16.onnx"
    assert_one_line_error(deploy("--engine", str(onnx_file)), 2, "an ONNX file, not a TensorRT engine")
    odd = stand_in_engine(tmp_path / "odd.engine", release / "googlenet-fp16.onnx", 1, 1, 8)
    doc = json.loads((tmp_path / "odd.engine.json").read_text())
    (tmp_path / "odd.engine.json").write_text(json.dumps({**doc, "precision": "../x"}))
    assert_one_line_error(deploy("--engine", str(odd)), 2, "odd.engine.json", "is not an engine's")
    assert_one_line_error(deploy("--engine", str(engine), target="deepstream"), 2, "drop it for deepstream")
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("profile", "extra", "needle"),
    [
        ((2, 4, 8), [], "serves batches 2..8 only"),  # Triton sends batch 1 too
        ((1, 1, 8), ["--max-batch", "16"], "--max-batch 16: googlenet-fp16.engine"),
        ((4, 4, 4), ["--max-batch", "8"], "takes batch 4 only"),
    ],
)
def test_deploy_triton_refuses_engine_batch(
    v1_release: tuple[Path, Any], tmp_path: Path, profile: tuple[int, int, int], extra: list[str], needle: str
) -> None:
    release, _ = v1_release
    rel = engine_release(release, tmp_path / "rel", *profile)
    out = tmp_path / "out" / "repo"
    res = run_cli_here("deploy", "triton", "--release", str(rel), "-o", str(out), *extra)
    assert_one_line_error(res, 2, needle)
    assert not out.exists() and leftovers(out.parent) == []


@pytest.mark.parametrize(
    "char", ["\f", "\v", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\x1b", "\t"]
)
def test_class_names_with_a_line_breaking_or_control_character_are_refused(
    v1_release: tuple[Path, Any], tmp_path: Path, char: str
) -> None:
    # str.splitlines breaks at each of the first eight, so a reader of labels.txt would see
    # one class more and every later name shifted; they were written into the label files.
    names = tmp_path / "names.txt"
    names.write_text("".join(f"c{i}\n" for i in range(999)) + f"a{char}b\n", encoding="utf-8")
    out = tmp_path / "repo"
    res = run_cli_here(
        "deploy", "triton", "--release", str(v1_release[0]), "-o", str(out), "--class-names", str(names)
    )
    assert_one_line_error(res, 2, "class 999", "control character", printable(char))
    assert char not in res.stderr and not out.exists()


def _weights_text(m: dict[str, Any]) -> None:
    m["weights"] = "synthetic"


def _input_text(m: dict[str, Any]) -> None:
    m["artifacts"][0]["input"] = "NCHW"


def _switch_text(m: dict[str, Any]) -> None:
    m["preprocessing"]["transform_input"] = "yes"


def _size_text(m: dict[str, Any]) -> None:
    m["input_size"] = "224"


@pytest.mark.parametrize(
    ("target", "edit", "needle"),
    [
        ("triton", _weights_text, 'field weights is "synthetic", not a table'),
        ("triton", _input_text, 'artifact 0: field input is "NCHW", not a table'),
        ("triton", _switch_text, 'field preprocessing.transform_input is "yes", not true or false'),
        ("deepstream", _input_text, 'artifact 0: field input is "NCHW", not a table'),
        ("deepstream", _size_text, 'field input_size is "224", not a whole number'),
    ],
)
def test_manifest_fields_of_the_wrong_json_type_are_exit_2(
    v1_release: tuple[Path, Any], tmp_path: Path, target: str, edit: Any, needle: str
) -> None:
    # Each reader of manifest.json checks the types it reads: a string where a table belongs
    # was exit 3 (.get on a str), "yes" a transform_input switched on, "224" a size.
    release = v1_release[0]
    dest = tmp_path / "edited"
    manifest = derived_release(
        release, dest, [a["file"] for a in json.loads((release / "manifest.json").read_text())["artifacts"]]
    )
    edit(manifest)
    (dest / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "out"
    res = run_cli_here("deploy", target, "--release", str(dest), "-o", str(out))
    assert_one_line_error(res, 2, needle)
    assert not out.exists()


def test_deploy_triton_bad_input(v1_release: tuple[Path, Any], tmp_path: Path) -> None:
    release, _ = v1_release
    out = tmp_path / "repo"

    def deploy(*extra: str, rel: Path = release) -> Any:
        return run_cli_here("deploy", "triton", "--release", str(rel), "-o", str(out), *extra)

    # A release without the artifact a platform needs.
    assert_one_line_error(deploy("--platform", "plan"), 2, "no tensorrt artifact")
    # TorchScript can be exported for the deployment, but only from the release's own weights.
    made = tmp_path / "made-from-a-checkpoint"
    manifest = derived_release(release, made, ["googlenet-fp32.onnx"])
    manifest["weights"] = {"source": "w.pth", "sha256": "ab" * 32}
    (made / "manifest.json").write_text(json.dumps(manifest))
    assert_one_line_error(
        deploy("--platform", "libtorch", rel=made), 2, "no TorchScript artifact", "give --weights FILE"
    )
    assert_one_line_error(deploy("--platform", "onnx,tflite"), 2, "--platform")
    assert_one_line_error(deploy("--max-batch", "0"), 2, "--max-batch must be")
    assert_one_line_error(
        run_cli_here("deploy", "kserve", "--release", str(release), "-o", str(out)), 2, "kserve"
    )
    (tmp_path / "not-a-release").mkdir()
    assert_one_line_error(deploy(rel=tmp_path / "not-a-release"), 2, "no manifest.json")
    # Class names: the count must be the model's; a name must not break a label format.
    names = tmp_path / "names.txt"
    names.write_text("cat\ndog\n")
    assert_one_line_error(deploy("--class-names", str(names)), 2, "2 names, but the model has 1000 classes")
    names.write_text("".join(f"c{i}\n" for i in range(999)) + "a;b\n")
    assert_one_line_error(deploy("--class-names", str(names)), 2, "class 999", "';'")
    # Weights: the release's own only (this one was made from synthetic weights).
    ckpt = tmp_path / "w.pth"
    ckpt.write_bytes(b"not the release's")
    assert_one_line_error(deploy("--weights", str(ckpt)), 2, "synthetic weights")
    # An artifact changed after the release: refused, nothing half-written.
    rel = tmp_path / "rel"
    manifest = derived_release(release, rel, ["googlenet-fp32.onnx", "googlenet-fp16.onnx"])
    (rel / "manifest.json").write_text(json.dumps(manifest))
    with open(rel / "googlenet-fp16.onnx", "r+b") as fh:
        fh.seek(-1, 2)
        last = fh.read(1)
        fh.seek(-1, 2)
        fh.write(bytes([last[0] ^ 1]))
    assert_one_line_error(deploy(rel=rel), 2, "googlenet-fp16.onnx", "changed after the release")
    # A manifest naming a file outside the release.
    manifest["artifacts"][0]["file"] = "../googlenet-fp32.onnx"
    (rel / "manifest.json").write_text(json.dumps(manifest))
    assert_one_line_error(deploy(rel=rel), 2, "not a plain name")
    assert not out.exists() and leftovers(tmp_path) == []


def test_deploy_triton_class_names_file(v1_release: tuple[Path, Any], tmp_path: Path) -> None:
    release, _ = v1_release
    names = tmp_path / "names.txt"
    # CRLF endings and a byte-order mark, as an editor on Windows writes them.
    names.write_bytes(b"\xef\xbb\xbf" + "".join(f"klasse {i} é\r\n" for i in range(1000)).encode())
    out = tmp_path / "repo"
    res = run_cli_here(
        "deploy",
        "triton",
        "--release",
        str(release),
        "-o",
        str(out),
        "--class-names",
        str(names),
        "--platform",
        "onnx",
    )
    assert res.code == 0, res.stderr
    labels = (out / "googlenet-onnx-fp32" / "labels.txt").read_text(encoding="utf-8").splitlines()
    assert labels[0] == "klasse 0 é" and labels[999] == "klasse 999 é" and len(labels) == 1000


def test_deploy_triton_fixed_batch(v1_release: tuple[Path, Any], tmp_path: Path) -> None:
    """An ONNX with a fixed batch (``release --batch 2``) cannot batch in Triton: non-batching,
    its batch in the dims, run through onnxruntime with them."""
    import onnx

    release, _ = v1_release
    rel = tmp_path / "rel"
    manifest = derived_release(release, rel, [])
    model = onnx.load(str(release / "googlenet-fp32.onnx"))
    for value in (model.graph.input[0], model.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_value = 2
    onnx.save(model, str(rel / "googlenet-fp32.onnx"))
    entry = {"format": "onnx", "precision": "fp32", "input": nchw_input(224, 2), "output": LOGITS}
    add_artifact(rel, manifest, rel / "googlenet-fp32.onnx", entry)
    out = tmp_path / "repo"
    res = run_cli_here("deploy", "triton", "--release", str(rel), "-o", str(out))
    assert res.code == 0, res.stderr
    (config,) = check_repository(out, rel).values()
    assert config.max_batch_size == 0 and list(config.input[0].dims) == [2, 3, 224, 224]
    assert enum("format", config.input[0], config.input[0].format) == "FORMAT_NONE"  # 4 dims: no format
    assert list(config.output[0].dims) == [2, 1000] and not config.HasField("dynamic_batching")
    run_config(config, out / "googlenet-onnx-fp32", batch=2)
    res = run_cli_here(
        "deploy", "triton", "--release", str(rel), "-o", str(tmp_path / "x"), "--max-batch", "4"
    )
    assert_one_line_error(res, 2, "googlenet-fp32.onnx takes batch 2 only")
    assert not (tmp_path / "x").exists()


def test_release_deploy_refused_early(tmp_path: Path) -> None:
    out = tmp_path / "rel"

    def release(*extra: str) -> Any:
        return run_cli_here("release", "-m", "v1", "-o", str(out), *extra)

    assert_one_line_error(release("--deploy", "triton,k8s"), 2, "--deploy")
    names = tmp_path / "names.txt"
    names.write_text("cat\ndog\n")
    assert_one_line_error(release("--class-names", str(names)), 2, "add --deploy")
    assert_one_line_error(release("--deploy", "triton", "--class-names", str(names)), 2, "2 names")
    assert_one_line_error(
        release("--deploy", "triton", "--min-batch", "2", "--max-batch", "8"), 2, "serves batches 2..8 only"
    )
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.slow
def test_release_deploy_triton(tmp_path: Path) -> None:
    """A real ``release --deploy triton``: the repository is in the release and its manifest;
    with preprocessing in the graph, the model takes uint8 NHWC pixels."""
    out = tmp_path / "rel"
    res = run_cli_here(
        "release", "-m", "v1", "-o", str(out), "--samples", "1", "--precision", "fp32", "--no-trt",
        "--input-size", "64", "--embed-preprocessing", "--deploy", "triton", "--json",
    )  # fmt: skip
    assert res.code == 0, res.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert json.loads(res.stdout) == manifest
    files = manifest["deploy"]["triton"]["files"]
    assert {f["file"] for f in files} == {
        p.relative_to(out).as_posix() for p in (out / "triton").rglob("*") if p.is_file()
    }
    assert all(sha256(out / f["file"]) == f["sha256"] for f in files)
    configs = check_repository(out / "triton", out)
    config = configs["googlenet-onnx-fp32"]
    assert enum("data_type", config.input[0], config.input[0].data_type) == "TYPE_UINT8"
    assert enum("format", config.input[0], config.input[0].format) == "FORMAT_NHWC"
    assert list(config.input[0].dims) == [64, 64, 3] and config.max_batch_size == 8
    run_config(config, out / "triton" / "googlenet-onnx-fp32", batch=3)


@pytest.mark.slow
def test_deploy_triton_exports_torchscript_gated_against_golden(
    v1_release: tuple[Path, Any], tmp_path: Path
) -> None:
    """A release without TorchScript: ``--platform libtorch`` exports one from the release's
    facts (its golden bundle's seed, size, transform_input) and gates it against the release's
    golden.npz, not against itself: a bundle whose logits are not this model's fails it (exit
    1, nothing written); the config serves the ONNX's logits."""
    from inception_export.parity.bundle import encode_bundle, load_bundle
    from inception_export.parity.reference import ReferenceSet

    release, _ = v1_release
    rel = tmp_path / "rel"
    manifest = derived_release(release, rel, ["googlenet-fp32.onnx", "golden.npz"])
    (rel / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "repo"
    args = ["deploy", "triton", "--release", str(rel), "-o", str(out), "--platform", "libtorch,onnx"]
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"not the release's")
    assert_one_line_error(run_cli_here(*args, "--weights", str(weights)), 2, "synthetic weights")
    res = run_cli_here(*args, "--json")
    assert res.code == 0, res.stderr
    assert not (out / ".export").exists()
    configs = {c.name: c for c in (parse_config(p) for p in out.glob("*/config.pbtxt"))}
    assert set(configs) == {"googlenet-libtorch-fp32", "googlenet-onnx-fp32"}
    y = run_config(configs["googlenet-libtorch-fp32"], out / "googlenet-libtorch-fp32", batch=2)
    y_onnx = run_config(configs["googlenet-onnx-fp32"], out / "googlenet-onnx-fp32", batch=2)
    np.testing.assert_allclose(y, y_onnx, rtol=1e-3, atol=1e-3)
    # Another model's logits in the bundle (re-hashed into the manifest): the export fails the gate.
    bundle = load_bundle(rel / "golden.npz")
    s = bundle.sets["float"]
    other = ReferenceSet(s.names, s.kinds, s.feed, s.logits[::-1].copy(), s.inputs)
    (rel / "golden.npz").write_bytes(encode_bundle(dict(bundle.meta), {"float": other}))
    manifest["golden"]["sha256"] = sha256(rel / "golden.npz")
    (rel / "manifest.json").write_text(json.dumps(manifest))
    out2 = tmp_path / "repo2"
    res = run_cli_here("deploy", "triton", "--release", str(rel), "-o", str(out2), "--platform", "libtorch")
    assert_one_line_error(res, 1, "failed the gate against the release's golden.npz")
    assert not out2.exists()


def _entry(manifest: dict[str, Any], file: str) -> dict[str, Any]:
    return next(a for a in manifest["artifacts"] if a["file"] == file)


def _swap_precisions(m: dict[str, Any]) -> None:
    fp32, fp16 = _entry(m, "googlenet-fp32.onnx"), _entry(m, "googlenet-fp16.onnx")
    fp32["precision"], fp16["precision"] = "fp16", "fp32"


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (_swap_precisions, "says precision 'fp16' but the artifact is 'fp32'"),
        (
            lambda m: _entry(m, "googlenet-fp32.onnx").update(format="torchscript"),
            "says format 'torchscript' but the artifact is 'onnx'",
        ),
        (lambda m: m.update(model="resnet50"), "says model 'resnet50' but the artifact is 'googlenet'"),
        (
            lambda m: _entry(m, "googlenet-fp16.onnx").update(format="onnx-v2"),
            "says format 'onnx-v2' but the artifact is 'onnx'",
        ),
        (
            lambda m: _entry(m, "googlenet-fp16.onnx")["input"].update(layout="NHWC"),
            "says input layout 'NHWC' but the artifact is 'NCHW'",
        ),
        (lambda m: m.update(input_size=299), "says input_size 299 but the artifact is 224"),
        (
            lambda m: _entry(m, "googlenet-fp16.onnx").update(sha256=hashlib.sha256(b"x").hexdigest()),
            "is not the release manifest's",
        ),
        (lambda m: _entry(m, "googlenet-fp16.onnx").pop("gate"), "no gate verdict"),
    ],
    ids=[
        "precision-swapped",
        "format-torchscript",
        "model",
        "format-unknown",
        "layout",
        "size",
        "sha",
        "no-gate",
    ],
)
def test_deploy_triton_packages_what_the_files_are(
    v1_release: tuple[Path, Any], tmp_path: Path, edit: Any, needle: str
) -> None:
    """Every word of the release manifest a package rests on is checked against the file: one
    line naming both, exit 2, nothing written."""
    rel = edited_release(v1_release[0], tmp_path / "rel", edit)
    out = tmp_path / "repo"
    res = run_cli_here("deploy", "triton", "--release", str(rel), "-o", str(out))
    assert_one_line_error(res, 2, needle)
    assert not out.exists() and leftovers(tmp_path) == []


def test_deploy_triton_names_what_an_artifact_is_when_not_a_file(
    v1_release: tuple[Path, Any], tmp_path: Path
) -> None:
    """A FIFO where the release lists an artifact is named as one (not "missing"), without blocking."""
    import os

    rel = edited_release(v1_release[0], tmp_path / "rel", lambda m: None)
    (rel / "googlenet-fp16.onnx").unlink()
    os.mkfifo(rel / "googlenet-fp16.onnx")
    res = run_cli_here("deploy", "triton", "--release", str(rel), "-o", str(tmp_path / "repo"))
    assert_one_line_error(res, 2, "googlenet-fp16.onnx: listed in the release manifest, but a FIFO")


def test_deploy_triton_refuses_an_artifact_larger_than_memory_before_hashing(
    v1_release: tuple[Path, Any], tmp_path: Path
) -> None:
    """A sparse file past the memory this process may use (hashing 300 GB of holes ran for
    minutes before the sha256 refusal): refused at once, naming the file."""
    import time

    from inception_export.reading import memory_room

    room = memory_room()
    if room is None:
        pytest.skip("this system does not say how much memory a process may use")
    rel = edited_release(v1_release[0], tmp_path / "rel", lambda m: None)
    (rel / "googlenet-fp16.onnx").unlink()  # a link to the shared release's file
    with open(rel / "googlenet-fp16.onnx", "wb") as fh:
        fh.truncate(room + (1 << 30))
    t0 = time.monotonic()
    res = run_cli_here("deploy", "triton", "--release", str(rel), "-o", str(tmp_path / "repo"))
    assert_one_line_error(res, 2, "googlenet-fp16.onnx", "more than the", "it is not loaded")
    assert time.monotonic() - t0 < 10


def test_deploy_triton_engine_profile_from_its_hashed_manifest(
    v1_release: tuple[Path, Any], tmp_path: Path
) -> None:
    """An engine's batch range is read from its own manifest, which the release hashes: an edit
    of it (1..64 where the release says 1..8) is refused, re-hashed or not."""
    rel = engine_release(v1_release[0], tmp_path / "rel", 1, 1, 8)
    side = rel / "googlenet-fp16.engine.json"
    doc = json.loads(side.read_text())
    doc["profiles"][0]["max"][0] = 64
    side.write_text(json.dumps(doc))
    args = ["deploy", "triton", "--platform", "plan", "--release", str(rel)]
    assert_one_line_error(run_cli_here(*args, "-o", str(tmp_path / "a")), 2, "its engine manifest changed")
    manifest = json.loads((rel / "manifest.json").read_text())
    _entry(manifest, "googlenet-fp16.engine")["manifest"]["sha256"] = sha256(side)
    (rel / "manifest.json").write_text(json.dumps(manifest))
    res = run_cli_here(*args, "-o", str(tmp_path / "b"))
    assert_one_line_error(res, 2, "says input batch [1, 8] but the artifact is [1, 64]")
    # An engine manifest describing another engine is refused too.
    doc["profiles"][0]["max"][0] = 8
    doc["engine"]["sha256"] = "0" * 64
    side.write_text(json.dumps(doc))
    _entry(manifest, "googlenet-fp16.engine")["manifest"]["sha256"] = sha256(side)
    (rel / "manifest.json").write_text(json.dumps(manifest))
    assert_one_line_error(run_cli_here(*args, "-o", str(tmp_path / "c")), 2, "describes another engine")


def _fail_gate(file: str) -> Any:
    def edit(m: dict[str, Any]) -> None:
        _entry(m, file)["gate"] = {
            "passed": False,
            "metrics": {},
            "failed_checks": [{"name": "rel_l2", "passed": False}],
        }

    return edit


def test_deploy_triton_leaves_out_what_failed_the_gate(v1_release: tuple[Path, Any], tmp_path: Path) -> None:
    """An artifact the release's gate failed is never packaged: left out with a warning line,
    listed in deploy.json; asked for alone, refused (exit 2)."""
    rel = edited_release(v1_release[0], tmp_path / "rel", _fail_gate("googlenet-fp16.onnx"))
    out = tmp_path / "repo"
    res = run_cli_here("deploy", "triton", "--release", str(rel), "-o", str(out), "--json")
    assert res.code == 0, res.stderr
    assert (
        "warning: triton: googlenet-fp16.onnx left out: it failed the release's gate (rel_l2)" in res.stderr
    )
    record = json.loads(res.stdout)
    assert [(x["file"], x["precision"]) for x in record["left_out"]] == [("googlenet-fp16.onnx", "fp16")]
    assert sorted(p.name for p in out.iterdir()) == ["deploy.json", "googlenet-onnx-fp32"]
    both = edited_release(v1_release[0], tmp_path / "both", lambda m: [_fail_gate(f)(m) for f in (
        "googlenet-fp16.onnx", "googlenet-fp32.onnx")])  # fmt: skip
    res = run_cli_here(
        "deploy", "triton", "--release", str(both), "-o", str(tmp_path / "o2"), "--platform", "onnx"
    )
    assert_one_line_error(res, 2, "failed the release's gate; nothing to serve as Triton's onnx")
    # The gate's report saying failed is enough, whatever the manifest says.
    report = tmp_path / "report"
    edited_release(v1_release[0], report, lambda m: None)
    doc = json.loads((v1_release[0] / "parity.json").read_text())
    for a in doc["artifacts"]:
        a["passed"] = not a["path"].endswith("fp32.onnx")
    (report / "parity.json").unlink()
    (report / "parity.json").write_text(json.dumps(doc))
    res = run_cli_here("deploy", "triton", "--release", str(report), "-o", str(tmp_path / "o3"), "--json")
    assert res.code == 0, res.stderr
    assert [x["file"] for x in json.loads(res.stdout)["left_out"]] == ["googlenet-fp32.onnx"]


def test_release_deploy_packages_no_failed_artifact(v1_release: tuple[Path, Any], tmp_path: Path) -> None:
    """``release --deploy``'s step on a staged release whose gate failed an artifact: the
    manifest's deploy record lists it as left out, and the repository does not hold it."""
    from inception_export.deploy.package import deploy_into_release

    stage = edited_release(v1_release[0], tmp_path / "stage", _fail_gate("googlenet-fp16.onnx"))
    manifest = json.loads((stage / "manifest.json").read_text())
    written = deploy_into_release(stage, manifest, ("triton",), weights=None, class_names=None)
    left = written["deploy"]["triton"]["left_out"]
    assert [(x["file"], x["reason"]) for x in left] == [
        ("googlenet-fp16.onnx", "it failed the release's gate (rel_l2)")
    ]
    assert sorted(p.name for p in (stage / "triton").iterdir()) == ["googlenet-onnx-fp32"]
    assert json.loads((stage / "manifest.json").read_text())["deploy"]["triton"]["left_out"] == left
    # Every artifact failed: the release stands (its gate's exit 1 says why), with no package.
    both = edited_release(v1_release[0], tmp_path / "both", lambda m: None)
    manifest = json.loads((both / "manifest.json").read_text())
    for f in ("googlenet-fp16.onnx", "googlenet-fp32.onnx"):
        _fail_gate(f)(manifest)
    written = deploy_into_release(both, manifest, ("triton",), weights=None, class_names=None)
    assert written["deploy"]["triton"]["dir"] is None and not (both / "triton").exists()
    assert {x["file"] for x in written["deploy"]["triton"]["left_out"]} == {
        "googlenet-fp16.onnx",
        "googlenet-fp32.onnx",
    }


# --- The real consumer: a Triton 2.51 server serving what the tool writes ---------------------
#
# One server for the module, one repository holding every variant the tool writes (each model
# directory copied under a unique name: only the config's `name:` line changes). The server and
# its stand-in onnxruntime backend are tests/triton_server.py; onnxruntime_onnx models are served
# by onnxruntime under the config's graph optimization level, as Triton's own backend does.

TRITON_SIZE = 64
CALIBRATION_PHOTOS = ("rocket", "cat", "coins")
BIG_BIAS = 1e4  # docs/int8.md: a float16 bias onnxruntime's WeightBiasQuantization overflows on


@pytest.fixture(scope="session")
def triton_build() -> tuple[Path, Path]:
    """The server binary and backend directory, built once into .cache/triton/."""
    import os

    import triton_server

    start = time.monotonic()
    try:
        built = triton_server.build()
    except triton_server.Unavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the Triton server cannot be built, and CI must serve the repositories: {exc}")
        pytest.skip(f"no Triton server here: {exc}")
    print(f"triton setup: {time.monotonic() - start:.1f} s")
    return built


def _release_64(tmp: Path, *extra: str) -> Path:
    out = tmp / "release"
    res = run_cli_here(
        "release", "-m", "v1", "-o", str(out), "--samples", "1", "--no-trt", "--no-torchscript",
        "--input-size", str(TRITON_SIZE), *extra,
    )  # fmt: skip
    assert res.code == 0, res.stderr
    return out


def _with_big_bias(release: Path, dest: Path) -> None:
    """A copy of the INT8 release whose first Conv has a bias of 1e4 on channel 0."""
    import onnx
    from onnx import numpy_helper

    manifest = derived_release(release, dest, ["googlenet-fp32.onnx"])
    model = onnx.load(str(release / "googlenet-int8.onnx"))
    inits = {i.name: i for i in model.graph.initializer}
    conv = next(
        n for n in model.graph.node if n.op_type == "Conv" and len(n.input) > 2 and n.input[2] in inits
    )
    bias = numpy_helper.to_array(inits[conv.input[2]]).copy()
    bias[0] = BIG_BIAS
    inits[conv.input[2]].CopyFrom(numpy_helper.from_array(bias, conv.input[2]))
    onnx.save(model, str(dest / "googlenet-int8.onnx"))
    (entry,) = [
        a
        for a in json.loads((release / "manifest.json").read_text())["artifacts"]
        if a["file"] == "googlenet-int8.onnx"
    ]
    add_artifact(
        dest,
        manifest,
        dest / "googlenet-int8.onnx",
        {k: v for k, v in entry.items() if k not in ("file", "sha256")},
    )


def _fixed(release: Path, dest: Path, batch: int) -> None:
    """A copy of the 64 px FP32 release whose ONNX has a fixed batch (`release --batch N`)."""
    import onnx

    manifest = derived_release(release, dest, [])
    model = onnx.load(str(release / "googlenet-fp32.onnx"))
    for value in (model.graph.input[0], model.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_value = batch
    onnx.save(model, str(dest / "googlenet-fp32.onnx"))
    entry = {"format": "onnx", "precision": "fp32", "input": nchw_input(TRITON_SIZE, batch), "output": LOGITS}
    add_artifact(dest, manifest, dest / "googlenet-fp32.onnx", entry)


def _deploy(release: Path, out: Path, *extra: str) -> Path:
    res = run_cli_here("deploy", "triton", "--release", str(release), "-o", str(out), *extra)
    assert res.code == 0, res.stderr
    return out


def _serve_as(repo: Path, source: Path, name: str) -> None:
    """``source`` (a model directory the tool wrote) as model ``name`` of ``repo``."""
    shutil.copytree(source, repo / name)
    config = repo / name / "config.pbtxt"
    text = config.read_text()
    lines = text.splitlines()
    assert sum(line.startswith("name: ") for line in lines) == 1
    config.write_text(
        "\n".join(f'name: "{name}"' if line.startswith("name: ") else line for line in lines) + "\n"
    )


@dataclass
class Served:
    server: Any
    repo: Path
    models: dict[str, Path]  # served name -> the directory the tool wrote


@pytest.fixture(scope="module")
def triton(
    triton_build: tuple[Path, Path],
    v1_release: tuple[Path, Any],
    shared_exports: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    import skimage.data
    import triton_server
    from PIL import Image

    start = time.monotonic()
    tmp = tmp_path_factory.mktemp("triton")
    calibration = tmp / "calibration"
    calibration.mkdir()
    for photo in CALIBRATION_PHOTOS:
        Image.fromarray(getattr(skimage.data, photo)()).save(calibration / f"{photo}.png")
    names = tmp / "names.txt"
    names.write_text("".join(f"class {i}\n" for i in range(1000)))
    int8_release = _release_64(tmp / "int8", "--precision", "fp32,int8", "--calibration", str(calibration))
    embedded = _release_64(tmp / "u8", "--precision", "fp32", "--embed-preprocessing")
    _with_big_bias(int8_release, tmp / "bias")
    _fixed(int8_release, tmp / "fixed1", 1)
    _fixed(int8_release, tmp / "fixed2", 2)
    release224, _ = v1_release
    libtorch = derived_release(release224, tmp / "lt", [])
    entry = {"format": "torchscript", "precision": "fp32", "input": nchw_input(224), "output": LOGITS}
    add_artifact(tmp / "lt", libtorch, shared_exports("v1", "torchscript").path, entry)
    deployed = {
        "r224": _deploy(release224, tmp / "d224"),  # FP32, FP16 (dynamic, ImageNet labels)
        "lt": _deploy(tmp / "lt", tmp / "d-lt"),
        "i8": _deploy(tmp / "bias", tmp / "d-int8", "--class-names", str(names)),
        "u8": _deploy(embedded, tmp / "d-u8"),  # uint8 NHWC, preprocessing in the graph
        "fixed1": _deploy(tmp / "fixed1", tmp / "d-fixed1"),
        "fixed2": _deploy(tmp / "fixed2", tmp / "d-fixed2"),
        "plan": _deploy(
            engine_release(release224, tmp / "eng", 1, 4, 16), tmp / "d-plan", "--platform", "plan"
        ),
        "plan4": _deploy(
            engine_release(release224, tmp / "eng4", 4, 4, 4), tmp / "d-plan4", "--platform", "plan"
        ),
    }
    repo = tmp / "repository"
    repo.mkdir()
    models = {}
    for prefix, out in deployed.items():
        for config in sorted(out.glob("*/config.pbtxt")):
            name = f"{prefix}-{config.parent.name}"
            _serve_as(repo, config.parent, name)
            models[name] = config.parent
    # The INT8 config without its optimization level: what Triton serves when the tool omits it.
    unset = repo / "i8-googlenet-onnx-int8-default-level"
    _serve_as(repo, deployed["i8"] / "googlenet-onnx-int8", unset.name)
    text = (unset / "config.pbtxt").read_text()
    (unset / "config.pbtxt").write_text(text.split("optimization {")[0])
    made = time.monotonic()
    server = triton_server.start(*triton_build, repo, tmp / "tritonserver.log")
    try:
        print(f"triton repository: {made - start:.1f} s, server start: {time.monotonic() - made:.1f} s")
        yield Served(server, repo, models)
    finally:
        server.stop()


TRITON_TYPES = {"TYPE_FP32": ("FP32", np.float32), "TYPE_UINT8": ("UINT8", np.uint8)}


def _triton_input(config: Any, batch: int, seed: int) -> np.ndarray:
    inp = config.input[0]
    dims = list(inp.dims) if config.max_batch_size == 0 else [batch, *inp.dims]
    rng = np.random.default_rng(seed)
    if enum("data_type", inp, inp.data_type) == "TYPE_UINT8":
        return rng.integers(0, 256, dims).astype(np.uint8)
    return rng.standard_normal(dims).astype(np.float32)


def _infer(server: Any, name: str, config: Any, x: np.ndarray, classes: int = 0) -> Any:
    """KServe v2 over HTTP (JSON); with ``classes``, Triton's classification extension."""
    inp = config.input[0]
    wire, _ = TRITON_TYPES[enum("data_type", inp, inp.data_type)]
    output: dict[str, Any] = {"name": config.output[0].name}
    if classes:
        output["parameters"] = {"classification": classes}
    body = {
        "inputs": [{"name": inp.name, "shape": list(x.shape), "datatype": wire, "data": x.ravel().tolist()}],
        "outputs": [output],
    }
    (out,) = server.request("POST", f"/v2/models/{name}/infer", body)["outputs"]
    if classes:
        return np.array(out["data"], dtype=object).reshape(out["shape"])
    assert out["datatype"] == "FP32"
    return np.array(out["data"], dtype=np.float32).reshape(out["shape"])


def _onnxruntime(model_dir: Path, config: Any, x: np.ndarray) -> np.ndarray:
    """What onnxruntime computes on the artifact, under the level the config asks of Triton's
    onnxruntime backend (src/onnxruntime.cc: 2 disables all, none is ORT_ENABLE_ALL)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    level = config.optimization.graph.level if config.HasField("optimization") else 0
    options.graph_optimization_level = {2: ort.GraphOptimizationLevel.ORT_DISABLE_ALL}.get(
        level, ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    )
    session = ort.InferenceSession(
        str(model_dir / "1" / "model.onnx"), options, providers=["CPUExecutionProvider"]
    )
    (y,) = session.run([config.output[0].name], {config.input[0].name: x})
    return np.asarray(y)


@pytest.mark.slow
def test_triton_loads_every_repository_variant(triton: Served) -> None:
    """Every ONNX model READY, fixed batches included; plan and libtorch models fail only for
    their backend, which this server lacks, never for their config."""
    import triton_server

    assert triton.server.request("GET", "/v2")["version"] == triton_server.TRITON_VERSION
    index = triton.server.index()
    assert set(index) == {*triton.models, "i8-googlenet-onnx-int8-default-level"}
    for name, source in triton.models.items():
        config = parse_config(source / "config.pbtxt")
        state, reason = index[name]["state"], index[name].get("reason", "")
        if config.platform == "onnxruntime_onnx":
            assert state == "READY", (name, reason)
        else:
            backend = {"tensorrt_plan": "tensorrt", "pytorch_libtorch": "pytorch"}[config.platform]
            assert state == "UNAVAILABLE", (name, state)
            assert f"unable to find backend library for backend '{backend}'" in reason, (name, reason)
    assert {n for n in index if n.startswith("fixed")} == {
        "fixed1-googlenet-onnx-fp32",
        "fixed2-googlenet-onnx-fp32",
    }
    assert {"plan4-googlenet-plan-fp16", "lt-googlenet-libtorch-fp32"} <= set(index)


@pytest.mark.slow
def test_triton_serves_what_onnxruntime_computes(triton: Served) -> None:
    for name, source in sorted(triton.models.items()):
        config = parse_config(source / "config.pbtxt")
        if config.platform != "onnxruntime_onnx":
            continue
        x = _triton_input(config, batch=2 if name.startswith("r224") else 3, seed=len(name))
        y = _infer(triton.server, name, config, x)
        np.testing.assert_array_equal(y, _onnxruntime(source, config, x), err_msg=name)
        # The label file Triton reads: its classification extension names the top class of each
        # image; a non-batching model's output it reads as one vector (batch and classes
        # together), which names a class only for the first image (the config says so).
        top = _infer(triton.server, name, config, x, classes=1)
        labels = (source / "labels.txt").read_text().splitlines()
        best = y.reshape(-1, y.shape[-1] if config.max_batch_size else y.size).argmax(axis=1)
        expect = [[str(i), *labels[i : i + 1]] for i in best]
        assert [str(t).split(":", 2)[1:] for t in top.ravel()] == expect, name


@pytest.mark.slow
def test_triton_dynamic_batcher_batches_concurrent_requests(triton: Served) -> None:
    from concurrent.futures import ThreadPoolExecutor

    name = "i8-googlenet-onnx-fp32"
    source = triton.models[name]
    config = parse_config(source / "config.pbtxt")
    assert config.max_batch_size == 8
    inputs = [_triton_input(config, batch=1, seed=100 + i) for i in range(24)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        outputs = list(pool.map(lambda x: _infer(triton.server, name, config, x), inputs))
    for x, y in zip(inputs, outputs, strict=True):
        np.testing.assert_allclose(y, _onnxruntime(source, config, x), rtol=1e-5, atol=1e-5)
    (stats,) = triton.server.request("GET", f"/v2/models/{name}/stats")["model_stats"]
    batches = {int(b["batch_size"]): int(b["compute_infer"]["count"]) for b in stats["batch_stats"]}
    assert max(batches) > 1, batches  # Triton joined concurrent requests into one execution
    assert sum(size * count for size, count in batches.items()) >= len(inputs)


@pytest.mark.slow
def test_triton_int8_keeps_the_qdq_biases(triton: Served) -> None:
    """The INT8 config turns onnxruntime's graph optimizations off: Triton then serves the
    INT8 graph the gate checked; its default level overflows the 1e4 bias (docs/int8.md)."""
    from inception_export.runners.onnxruntime_runner import OnnxRuntimeRunner

    name = "i8-googlenet-onnx-int8"
    source = triton.models[name]
    config = parse_config(source / "config.pbtxt")
    assert config.optimization.graph.level == 2
    x = _triton_input(config, batch=2, seed=7)
    served = _infer(triton.server, name, config, x)
    with OnnxRuntimeRunner(source / "1" / "model.onnx", precision="int8") as runner:
        gated = runner.infer(x)  # what the release's gate computed on this graph
    np.testing.assert_allclose(served, gated, rtol=0, atol=1e-3)
    default = _infer(triton.server, f"{name}-default-level", config, x)
    assert np.abs(default - gated).max() > 1.0  # the mismatch the level prevents


def test_deploy_triton_engine_precision_as_the_gate_reads_it(
    v1_release: tuple[Path, Any], tmp_path: Path
) -> None:
    """An engine's precision is its manifest's only where the inspector's verified precision
    agrees (facts.engine_precision, what `parity` reads): an INT8 word over an FP16
    verification, re-hashed into the release, was packaged as googlenet-plan-int8."""
    rel = engine_release(v1_release[0], tmp_path / "rel", 1, 1, 8)
    side = rel / "googlenet-fp16.engine.json"
    doc = json.loads(side.read_text())
    doc["precision"], doc["precision_expectation"] = "int8", {"precision": "fp16"}
    side.write_text(json.dumps(doc))
    manifest = json.loads((rel / "manifest.json").read_text())
    entry = _entry(manifest, "googlenet-fp16.engine")
    entry["precision"], entry["manifest"]["sha256"] = "int8", sha256(side)
    (rel / "manifest.json").write_text(json.dumps(manifest))
    args = ["deploy", "triton", "--platform", "plan", "--release", str(rel), "-o", str(tmp_path / "repo")]
    assert_one_line_error(run_cli_here(*args), 2, "says precision 'int8' but the inspector verified 'fp16'")


def test_copy_of_an_artifact_swapped_for_a_fifo_does_not_block(tmp_path: Path) -> None:
    """The copy into a package opens its source without blocking: a FIFO put where a verified
    artifact was is refused at once (the old blocking open waited for a writer for ever)."""
    import os
    import subprocess
    import sys

    fifo = tmp_path / "googlenet-fp32.onnx"
    os.mkfifo(fifo)
    code = (
        "import sys; from pathlib import Path\n"
        "from inception_export.deploy.source import copy_verified\n"
        "from inception_export.errors import ArtifactError\n"
        "try:\n"
        f"    copy_verified(Path({str(fifo)!r}), Path({str(tmp_path / 'out.onnx')!r}), '0' * 64)\n"
        "except ArtifactError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "a FIFO" in done.stdout and "not a regular file" in done.stdout, done
    assert not (tmp_path / "out.onnx").exists()


def _release_copy(v1_release: tuple[Path, Any], tmp_path: Path) -> Path:
    release, _ = v1_release
    copy = tmp_path / "rel"
    shutil.copytree(release, copy)
    return copy


def test_deploy_refuses_a_device_or_fifo_as_its_manifest(
    v1_release: tuple[Path, Any], tmp_path: Path
) -> None:
    # /dev/zero as manifest.json was read without end until the kernel killed the process
    # (24 GB); a FIFO blocked the read forever.
    rel = _release_copy(v1_release, tmp_path)
    (rel / "manifest.json").unlink()
    (rel / "manifest.json").symlink_to("/dev/zero")
    res = run_cli_here("deploy", "triton", "--release", str(rel), "-o", str(tmp_path / "t1"))
    assert_one_line_error(res, 2, "character device, not a regular file")
    (rel / "manifest.json").unlink()
    os.mkfifo(rel / "manifest.json")
    res = run_cli_here("deploy", "triton", "--release", str(rel), "-o", str(tmp_path / "t2"))
    assert_one_line_error(res, 2, "FIFO")
    assert not (tmp_path / "t1").exists() and not (tmp_path / "t2").exists()


def test_class_names_from_a_device_is_refused(v1_release: tuple[Path, Any], tmp_path: Path) -> None:
    release, _ = v1_release
    zero = tmp_path / "names.txt"
    zero.symlink_to("/dev/zero")
    out = tmp_path / "t"
    res = run_cli_here(
        "deploy", "triton", "--release", str(release), "-o", str(out), "--class-names", str(zero)
    )
    assert_one_line_error(res, 2, "--class-names", "not a regular file")
    assert not out.exists()
