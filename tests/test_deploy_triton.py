"""``deploy triton`` / ``release --deploy triton``: a Triton model repository whose every
``config.pbtxt`` parses with Triton's own schema (``model_config_pb2`` from tritonclient,
strict text format) and agrees with the artifact beside it, run where it can run here."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli_here
from google.protobuf import text_format

# Triton's schema as tritonclient ships it (the dev extra): imported, not skipped when missing.
from tritonclient.grpc import model_config_pb2

from inception_export.deploy.labels import imagenet_names
from inception_export.text import printable

NUMPY = {"TYPE_FP32": np.float32, "TYPE_UINT8": np.uint8, "TYPE_FP16": np.float16}


def parse_config(path: Path) -> Any:
    """Strict: an unknown field, a wrong enum or a malformed value is a ParseError."""
    config = model_config_pb2.ModelConfig()
    text_format.Parse(path.read_text(encoding="utf-8"), config)
    return config


def enum(field: str, config_msg: Any, value: int) -> str:
    return str(config_msg.DESCRIPTOR.fields_by_name[field].enum_type.values_by_number[value].name)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
    manifest = json.loads((release / "manifest.json").read_text())
    by_sha = {a["sha256"]: a for a in manifest["artifacts"]}
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


def _derived_release(release: Path, dest: Path, keep: list[str]) -> dict[str, Any]:
    """A copy of ``release`` with only the artifacts ``keep`` (file names), to add to."""
    dest.mkdir()
    manifest = json.loads((release / "manifest.json").read_text())
    manifest["artifacts"] = [a for a in manifest["artifacts"] if a["file"] in keep]
    for name in keep:
        shutil.copyfile(release / name, dest / name)
    return manifest


def _add(dest: Path, manifest: dict[str, Any], path: Path, entry: dict[str, Any]) -> None:
    if path.parent != dest:
        shutil.copyfile(path, dest / path.name)
    manifest["artifacts"].append({"file": path.name, "sha256": sha256(dest / path.name), **entry})
    (dest / "manifest.json").write_text(json.dumps(manifest))


def _nchw(size: int, batch: Any = "batch") -> dict[str, Any]:
    return {
        "name": "input",
        "shape": [batch, 3, size, size],
        "layout": "NCHW",
        "batch": "dynamic",
        "dtype": "float32",
    }


LOGITS = {"name": "logits", "shape": ["batch", 1000], "dtype": "float32"}


@pytest.mark.slow
def test_deploy_triton_libtorch(v1_release: tuple[Path, Any], shared_exports: Any, tmp_path: Path) -> None:
    release, _ = v1_release
    rel = tmp_path / "rel"
    manifest = _derived_release(release, rel, ["googlenet-fp32.onnx"])
    ts = shared_exports("v1", "torchscript").path
    entry = {"format": "torchscript", "precision": "fp32", "input": _nchw(224), "output": LOGITS}
    _add(rel, manifest, ts, entry)
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


def _engine_release(release: Path, dest: Path, lo: int, opt: int, hi: int) -> Path:
    """A release holding a stand-in engine: TensorRT cannot run here, so the plan's config is
    checked against the engine's manifest (profile, I/O names, TensorRT version) only."""
    manifest = _derived_release(release, dest, ["googlenet-fp16.onnx"])
    engine = dest / "googlenet-fp16.engine"
    engine.write_bytes(b"stand-in plan bytes")
    (dest / "googlenet-fp16.engine.json").write_text(
        json.dumps(
            {
                "format": "inception-export/tensorrt-engine",
                "format_version": 1,
                "model": "googlenet",
                "engine": {"file": engine.name, "sha256": sha256(engine)},
                "tensorrt_version": "10.3.0.26",
                "gpu": {"name": "NVIDIA A10", "compute_capability": "8.6", "integrated": False},
                "precision": "fp16",
                "input_name": "input",
                "output_names": ["logits"],
                "input_size": 224,
                "input_layout": "NCHW",
                "input_dtype": "float32",
                "profiles": [
                    {
                        "input": "input",
                        "min": [lo, 3, 224, 224],
                        "opt": [opt, 3, 224, 224],
                        "max": [hi, 3, 224, 224],
                    }
                ],
                "num_classes": 1000,
            }
        )
    )
    entry = {"format": "tensorrt", "precision": "fp16", "input": _nchw(224), "output": LOGITS}
    _add(dest, manifest, engine, {**entry, "batch": [lo, hi]})
    return dest


def test_deploy_triton_plan_from_engine_manifest(v1_release: tuple[Path, Any], tmp_path: Path) -> None:
    release, _ = v1_release
    rel = _engine_release(release, tmp_path / "rel", 1, 4, 16)
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
    rel1 = _engine_release(release, tmp_path / "rel1", 4, 4, 4)
    assert (
        run_cli_here(
            "deploy", "triton", "--release", str(rel1), "-o", str(tmp_path / "r1"), "--platform", "plan"
        ).code
        == 0
    )
    fixed = parse_config(tmp_path / "r1/googlenet-plan-fp16/config.pbtxt")
    assert fixed.max_batch_size == 0 and list(fixed.input[0].dims) == [4, 3, 224, 224]
    assert list(fixed.output[0].dims) == [4, 1000] and not fixed.HasField("dynamic_batching")


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
    rel = _engine_release(release, tmp_path / "rel", *profile)
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
    manifest = _derived_release(
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
    manifest = _derived_release(release, made, ["googlenet-fp32.onnx"])
    manifest["weights"] = {"source": "w.pth", "sha256": "ab" * 32}
    (made / "manifest.json").write_text(json.dumps(manifest))
    assert_one_line_error(
        deploy("--platform", "libtorch", rel=made), 2, "no TorchScript artifact", "--weights W"
    )
    assert_one_line_error(deploy("--platform", "onnx,tflite"), 2, "--platform")
    assert_one_line_error(deploy("--max-batch", "0"), 2, "--max-batch must be")
    assert_one_line_error(
        run_cli_here("deploy", "kserve", "--release", str(release), "-o", str(out)), 2, "kserve"
    )
    assert_one_line_error(deploy(rel=tmp_path), 2, "no manifest.json")
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
    manifest = _derived_release(release, rel, ["googlenet-fp32.onnx", "googlenet-fp16.onnx"])
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
    manifest = _derived_release(release, rel, [])
    model = onnx.load(str(release / "googlenet-fp32.onnx"))
    for value in (model.graph.input[0], model.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_value = 2
    onnx.save(model, str(rel / "googlenet-fp32.onnx"))
    entry = {"format": "onnx", "precision": "fp32", "input": _nchw(224, 2), "output": LOGITS}
    _add(rel, manifest, rel / "googlenet-fp32.onnx", entry)
    out = tmp_path / "repo"
    res = run_cli_here("deploy", "triton", "--release", str(rel), "-o", str(out))
    assert res.code == 0, res.stderr
    (config,) = check_repository(out, rel).values()
    assert config.max_batch_size == 0 and list(config.input[0].dims) == [2, 3, 224, 224]
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
def test_deploy_triton_exports_torchscript_from_weights(v1_release: tuple[Path, Any], tmp_path: Path) -> None:
    """A release without TorchScript: ``--platform libtorch --weights W`` exports and gates one
    from the release's own weights (sha256 checked), and its config serves the ONNX's logits."""
    import torch
    from conftest import synthetic_model

    release, _ = v1_release
    weights = tmp_path / "w.pth"
    torch.save(synthetic_model("googlenet").state_dict(), weights)  # the weights the release's artifacts have
    rel = tmp_path / "rel"
    manifest = _derived_release(release, rel, ["googlenet-fp32.onnx"])
    manifest["weights"] = {"source": "w.pth", "sha256": sha256(weights)}
    (rel / "manifest.json").write_text(json.dumps(manifest))
    other = tmp_path / "other.pth"
    other.write_bytes(weights.read_bytes()[:-1] + b"x")
    out = tmp_path / "repo"
    args = ["deploy", "triton", "--release", str(rel), "-o", str(out), "--platform", "libtorch,onnx"]
    assert_one_line_error(run_cli_here(*args, "--weights", str(other)), 2, "is not the release's weights")
    assert not out.exists()
    res = run_cli_here(*args, "--weights", str(weights), "--json")
    assert res.code == 0, res.stderr
    assert not (out / ".export").exists()
    configs = {c.name: c for c in (parse_config(p) for p in out.glob("*/config.pbtxt"))}
    assert set(configs) == {"googlenet-libtorch-fp32", "googlenet-onnx-fp32"}
    y = run_config(configs["googlenet-libtorch-fp32"], out / "googlenet-libtorch-fp32", batch=2)
    y_onnx = run_config(configs["googlenet-onnx-fp32"], out / "googlenet-onnx-fp32", batch=2)
    np.testing.assert_allclose(y, y_onnx, rtol=1e-3, atol=1e-3)
