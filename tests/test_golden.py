"""The golden bundle from CI, and the gate on the device without PyTorch.

The artifacts and the bundle come from a real ``release`` (v1, synthetic weights); the
torch-free runs use a ``torch`` that refuses to import, first on PYTHONPATH, and the second
virtual environment ``./dev test`` creates without torch (``.venv-device``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from conftest import CliResult, assert_one_line_error, rel_l2, run_cli, run_cli_here, stand_in_engine
from helpers import engine_release
from onnx import numpy_helper

from inception_export.parity.bundle import encode_bundle, load_bundle
from inception_export.parity.tolerances import PROFILES
from inception_export.tensorrt.availability import tensorrt_available

# Left to the full suite (not in `-m "not slow"`): one whole v1 `release` (shared with
# tests/test_release.py) and the torch-free venv.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# The device role's installs that `./dev test` makes: with the CI's Python, and with 3.10
# (JetPack 6's Python, for which alone its TensorRT bindings exist).
DEVICE_VENVS = {".venv-device": None, ".venv-device310": (3, 10)}
# Imported by the full role only; none may load on the device path.
HEAVY = ("torch", "skimage", "onnxscript", "safetensors", "matplotlib")
MODEL_CODE = ("inception_export.full",)

# Runs the CLI in-process, then records what it imported (for the torch-free checks). main()
# with argv raises SystemExit; as the program (no argv) it ends the process without teardown.
PROBE = """
import json, os, sys
from inception_export.cli import main
sys.argv = ["inception-export", *sys.argv[1:]]
code = 0
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
with open(os.environ["PROBE_OUT"], "w") as fh:
    json.dump({"code": code, "modules": sorted(sys.modules)}, fh)
sys.exit(code)
"""


def probe(
    python: Path | str, *args: str, tmp: Path, env: dict[str, str] | None = None
) -> tuple[CliResult, list[str]]:
    out = tmp / f"probe-{len(list(tmp.glob('probe-*')))}.json"
    proc = subprocess.run(
        [str(python), "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, COLUMNS="200", NO_COLOR="1", PROBE_OUT=str(out), **(env or {})),
        timeout=600,
    )
    assert out.exists(), proc.stderr
    record = json.loads(out.read_text())
    assert record["code"] == proc.returncode
    return CliResult(proc.returncode, proc.stdout, proc.stderr), record["modules"]


def heavy_modules(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in HEAVY or m.startswith(MODEL_CODE)]


@pytest.fixture(scope="module")
def release(v1_release: tuple[Path, CliResult]) -> Path:
    # `release --model v1 --samples 2`, made once per session and shared (conftest.py): read
    # only; what the tests derive from it goes in their own directories.
    out, res = v1_release
    assert res.code == 0, res.stderr
    return out


@pytest.fixture(scope="module")
def scaled_conv(release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The FP32 ONNX with one conv's weights scaled by 3 % (metadata kept, as a real bug would)."""
    model = onnx.load(str(release / "googlenet-fp32.onnx"))
    inits = {i.name: i for i in model.graph.initializer}
    name = [n.input[1] for n in model.graph.node if n.op_type == "Conv"][10]
    inits[name].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(inits[name]) * np.float32(1.03), name))
    dst = tmp_path_factory.mktemp("scaled") / "scaled-conv.onnx"
    onnx.save(model, str(dst))
    return dst


@pytest.fixture(scope="module")
def pixel_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A uint8-in (--embed-preprocessing) ONNX and a bundle holding pixels for it, from the CLI."""
    d = tmp_path_factory.mktemp("pixels")
    u8 = d / "googlenet-u8.onnx"
    assert run_cli("onnx", "-m", "v1", "--embed-preprocessing", "-o", str(u8)).code == 0
    bundle = d / "pixels.npz"
    res = run_cli(
        "golden", "-m", "v1", "--embed-preprocessing", "--samples", "2", "-o", str(bundle), "--json"
    )
    assert res.code == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["sets"]["pixels"]["inputs"] == 2 + 3 + 3 and info["sets"]["float"]["inputs"] == 2 + 4 + 3
    return u8, bundle


@pytest.fixture(scope="module")
def v1_torchscript(shared_exports: Any) -> Path:
    # The default release carries no TorchScript (`--torchscript` adds it): the same reference
    # weights' TorchScript export, shared per session, is gated against the release's bundle.
    return Path(shared_exports("v1", "torchscript").path)


def gate_artifacts(release: Path, torchscript: Path) -> list[str]:
    return [str(torchscript), *(str(release / f) for f in ("googlenet-fp32.onnx", "googlenet-fp16.onnx"))]


def test_release_writes_the_bundle_and_its_hash(release: Path) -> None:
    manifest = json.loads((release / "manifest.json").read_text())
    data = (release / "golden.npz").read_bytes()
    assert manifest["golden"] == {
        "file": "golden.npz",
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "inputs": {"float": 9},
    }
    b = load_bundle(release / "golden.npz")
    assert (b.model, b.aliases, b.num_classes, b.input_size, b.transform_input) == (
        "googlenet",
        ["v1", "inception_v1"],
        1000,
        224,
        False,
    )
    assert b.meta["weights"] == {"source": "synthetic:seed=20261123", "sha256": "synthetic-20261123"}
    assert b.meta["preprocessing"]["mean"] == [0.485, 0.456, 0.406]
    assert b.profile == "default" and b.limits == PROFILES["default"]
    assert b.meta["tool"] == "inception-export 0.1.0" and b.meta["versions"]["torch"].startswith("2.")
    # The eager gate and the bundle describe the same inputs, content hashes included.
    assert b.sets["float"].inputs == json.loads((release / "parity.json").read_text())["inputs"]


def test_bundle_round_trip(release: Path) -> None:
    import torch

    from inception_export import build_model
    from inception_export.full.golden import golden_inputs
    from inception_export.registry import get_spec

    path = release / "golden.npz"
    b = load_bundle(path)
    s = b.sets["float"]
    gold = golden_inputs(get_spec("v1"), 224, samples=2)
    assert s.feed.dtype == np.float32 and s.feed.shape == (9, 3, 224, 224)
    np.testing.assert_array_equal(s.feed, gold.batch)
    assert s.names == gold.names and s.kinds == gold.kinds
    # The logits are eager PyTorch's on those inputs.
    with torch.inference_mode():
        eager = build_model("v1")(torch.from_numpy(s.feed)).numpy()
    assert s.logits.shape == (9, 1000) and rel_l2(s.logits, eager) < 1e-6
    # Written back, the same content gives the same bytes: reproducible, nothing of the machine.
    meta = {k: v for k, v in b.meta.items() if k not in ("sets", "arrays")}
    assert encode_bundle(meta, b.sets) == path.read_bytes()
    # Well under the 50 MB budget: v1 here, v3 measured in benchmarks/golden_speed.py.
    assert path.stat().st_size < 5e6


def test_golden_gate_equals_the_eager_gate(release: Path, v1_torchscript: Path, tmp_path: Path) -> None:
    junit = tmp_path / "device.xml"
    res = run_cli(
        "parity",
        "--golden",
        str(release / "golden.npz"),
        *gate_artifacts(release, v1_torchscript),
        "--json",
        "--junit",
        str(junit),
    )
    assert res.code == 0, res.stderr
    golden = json.loads(res.stdout)
    eager = json.loads((release / "parity.json").read_text())
    assert golden["passed"] and golden["exit_code"] == 0
    assert golden["reference"].startswith("golden bundle golden.npz") and golden["golden_bundle"][
        "forms"
    ] == ["float"]
    assert golden["inputs"] == eager["inputs"] and golden["limits"] == eager["limits"]
    # The release's own gate covered its two ONNX; the shared TorchScript only has to pass here.
    onnx = [g for g in golden["artifacts"] if g["format"] == "onnx"]
    assert all(g["passed"] for g in golden["artifacts"]) and len(onnx) == 2
    for g, e in zip(onnx, eager["artifacts"], strict=True):
        assert [c["name"] for c in g["checks"]] == [c["name"] for c in e["checks"]]
        assert g["batch_sizes"] == e["batch_sizes"] == [1, 9]
        # Same reference logits, same artifact: the same numbers.
        for metric in ("rel_l2", "max_abs", "min_cosine", "top1_agreement", "max_kl"):
            assert g["metrics"][metric] == pytest.approx(e["metrics"][metric], rel=1e-6, abs=1e-12), metric
        assert g["metrics_by_input_kind"].keys() == {"random", "edge", "photo"}
    suites = ET.parse(junit).getroot()
    assert suites.get("failures") == "0" and suites.get("tests") == str(3 * 9)


def test_golden_gate_fails_a_scaled_conv(release: Path, scaled_conv: Path, tmp_path: Path) -> None:
    junit = tmp_path / "j.xml"
    res = run_cli(
        "parity", "--golden", str(release / "golden.npz"), str(scaled_conv), "--junit", str(junit), "--json"
    )
    assert res.code == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert "scaled-conv.onnx: rel_l2 = " in res.stderr and "exceeds limit 1e-05" in res.stderr
    report = json.loads(res.stdout)
    failed = {c["name"]: c for c in report["artifacts"][0]["checks"] if not c["passed"]}
    assert "rel_l2" in failed and failed["rel_l2"]["value"] > 1e-3
    assert any(f.get("type") == "rel_l2" for f in ET.parse(junit).getroot().iter("failure"))


def test_golden_gate_with_pixels(release: Path, pixel_bundle: tuple[Path, Path]) -> None:
    # A uint8-in artifact is fed the bundle's pixels, a float one its tensors, in one run.
    u8, bundle = pixel_bundle
    res = run_cli("parity", "--golden", str(bundle), str(u8), str(release / "googlenet-fp16.onnx"), "--json")
    assert res.code == 0, res.stderr
    report = json.loads(res.stdout)
    assert [a["metadata"].get("embedded_preprocessing") for a in report["artifacts"]] == [True, False]
    assert report["artifacts"][0]["metrics"]["rel_l2"] < 2e-6
    assert report["golden_bundle"]["forms"] == ["float", "pixels"]
    # Without pixels in the bundle, the uint8 artifact cannot be compared: exit 2, one line.
    assert_one_line_error(
        run_cli("parity", "--golden", str(release / "golden.npz"), str(u8)),
        2,
        "holds none",
        "--embed-preprocessing",
    )


def _cuda_provider_loads() -> bool:
    """Whether onnxruntime's CUDA provider really loads here (listed is not enough)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return False
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CUDAExecutionProvider"])
    return "CUDAExecutionProvider" in sess.get_providers()


@pytest.mark.skipif(_cuda_provider_loads(), reason="onnxruntime's CUDA provider works here")
def test_device_cuda_without_a_usable_cuda_provider_is_refused(release: Path) -> None:
    # onnxruntime-gpu lists CUDAExecutionProvider on a machine where it cannot load (no GPU or no
    # CUDA libraries) and silently runs on the CPU: that must not pass as a CUDA result.
    res = run_cli(
        "parity", "--golden", str(release / "golden.npz"), str(release / "googlenet-fp32.onnx"),
        "--device", "cuda", "--json",
    )  # fmt: skip
    assert_one_line_error(res, 2, "CUDAExecutionProvider", "--device cuda", "CPUExecutionProvider")
    # onnxruntime's own banners (C++ log, Python "EP Error") reach neither stream's output.
    assert res.stdout == "", res.stdout
    assert "onnxruntime:" not in res.stderr and "EP Error" not in res.stderr, res.stderr


def test_every_report_names_the_provider_that_ran(release: Path) -> None:
    fp32 = str(release / "googlenet-fp32.onnx")
    res = run_cli("parity", "--golden", str(release / "golden.npz"), fp32, "--json")
    assert res.code == 0, res.stderr
    runner = json.loads(res.stdout)["artifacts"][0]["runner"]
    assert runner["device"] == "cpu" and runner["detail"].endswith("on CPUExecutionProvider"), runner


def _with_meta(src: Path, dst: Path, **changes: Any) -> Path:
    model = onnx.load(str(src))
    for prop in model.metadata_props:
        if prop.key == "inception_export":
            prop.value = json.dumps(dict(json.loads(prop.value), **changes))
        elif prop.key in changes:
            value = changes[prop.key]
            prop.value = value if isinstance(value, str) else json.dumps(value)
    onnx.save(model, str(dst))
    return dst


def test_golden_gate_refuses_mismatches_with_exit_2(release: Path, tmp_path: Path) -> None:
    bundle = str(release / "golden.npz")
    fp32 = release / "googlenet-fp32.onnx"
    other = _with_meta(fp32, tmp_path / "v2.onnx", model="bn_inception")
    assert_one_line_error(
        run_cli_here("parity", "--golden", bundle, str(other)), 2, "artifact is for model bn_inception"
    )
    classes = _with_meta(fp32, tmp_path / "ten.onnx", num_classes=10)
    assert_one_line_error(run_cli_here("parity", "--golden", bundle, str(classes)), 2, "10 classes", "1000")
    size = _with_meta(fp32, tmp_path / "s256.onnx", input_size=256)
    assert_one_line_error(run_cli_here("parity", "--golden", bundle, str(size)), 2, "256x256", "224x224")
    # What the eager gate needs has no place here, and the eager gate needs a model.
    assert_one_line_error(
        run_cli_here("parity", "--golden", bundle, str(fp32), "--samples", "3"), 2, "--samples"
    )
    assert_one_line_error(
        run_cli_here("parity", "--golden", bundle, str(fp32), "-m", "v3"), 2, "is for googlenet"
    )
    assert_one_line_error(run_cli_here("parity", str(fp32)), 2, "--model is required")


def test_corrupt_or_replaced_bundles_exit_2(release: Path, tmp_path: Path) -> None:
    fp32 = str(release / "googlenet-fp32.onnx")
    data = (release / "golden.npz").read_bytes()
    assert_one_line_error(
        run_cli_here("parity", "--golden", str(tmp_path / "none.npz"), fp32), 2, "not found"
    )
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    assert_one_line_error(run_cli_here("parity", "--golden", str(truncated), fp32), 2, "corrupt or truncated")
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0xFF
    (tmp_path / "flipped.npz").write_bytes(bytes(flipped))
    assert_one_line_error(
        run_cli_here("parity", "--golden", str(tmp_path / "flipped.npz"), fp32), 2, "corrupt"
    )
    # A pickle is refused unread (allow_pickle=False), not executed.
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, meta=np.array([{"format": "x"}], dtype=object))
    assert_one_line_error(run_cli_here("parity", "--golden", str(pickled), fp32), 2, "corrupt")
    # A bundle that is not the one its release recorded: replaced or damaged after CI.
    moved = tmp_path / "rel"
    moved.mkdir()
    (moved / "golden.npz").write_bytes(data)
    manifest = json.loads((release / "manifest.json").read_text())
    manifest["golden"]["sha256"] = hashlib.sha256(b"another bundle").hexdigest()
    (moved / "manifest.json").write_text(json.dumps(manifest))
    assert_one_line_error(
        run_cli_here("parity", "--golden", str(moved / "golden.npz"), fp32),
        2,
        "differs from",
        "manifest.json",
    )


def test_golden_gate_without_torch_on_the_path(release: Path, v1_torchscript: Path, tmp_path: Path) -> None:
    # A torch that refuses to import, first on the path, and records that anybody tried.
    fake = tmp_path / "site" / "torch"
    fake.mkdir(parents=True)
    tried = tmp_path / "torch-was-imported"
    (fake / "__init__.py").write_text(
        f"open({str(tried)!r}, 'w').close()\nraise ImportError('torch is not installed (stand-in)')\n"
    )
    env = {"PYTHONPATH": str(fake.parent)}
    onnx_files = [str(release / "googlenet-fp32.onnx"), str(release / "googlenet-fp16.onnx")]
    res, modules = probe(
        sys.executable, "parity", "--golden", str(release / "golden.npz"), *onnx_files, tmp=tmp_path, env=env
    )
    assert res.code == 0, res.stderr
    assert not tried.exists() and heavy_modules(modules) == []
    # A TorchScript file needs torch to run: a clear refusal, not a crash.
    res, _ = probe(
        sys.executable,
        "parity",
        "--golden",
        str(release / "golden.npz"),
        str(v1_torchscript),
        tmp=tmp_path,
        env=env,
    )
    assert_one_line_error(res, 2, "TorchScript needs PyTorch")


def _device_python(venv: str) -> Path:
    python = ROOT / venv / "bin" / "python"
    if python.exists():
        return python
    if os.environ.get("CI"):
        pytest.fail(f"{python} is missing: `./dev test` creates the torch-free venv, CI must check it")
    pytest.skip(f"no {venv} (created by `./dev test`): the torch-free install is not checked here")


@pytest.mark.parametrize("venv", list(DEVICE_VENVS))
def test_device_venv_without_torch(release: Path, scaled_conv: Path, tmp_path: Path, venv: str) -> None:
    python = _device_python(venv)
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.util, sys, inception_export; print(inception_export.__file__); "
            "print(importlib.util.find_spec('torch')); print('%d.%d' % sys.version_info[:2])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert Path(where[0]).is_relative_to(ROOT / "inception_export")  # this checkout, not a stale copy
    assert where[1] == "None"  # torch is not installed there at all
    want = DEVICE_VENVS[venv]
    assert want is None or where[2] == f"{want[0]}.{want[1]}", where
    bundle = str(release / "golden.npz")
    fp32, fp16 = str(release / "googlenet-fp32.onnx"), str(release / "googlenet-fp16.onnx")
    res, modules = probe(python, "parity", "--golden", bundle, fp32, fp16, "--json", tmp=tmp_path)
    assert res.code == 0, res.stderr
    assert heavy_modules(modules) == []
    report = json.loads(res.stdout)
    assert [a["precision"] for a in report["artifacts"]] == ["fp32", "fp16"]
    assert (
        report["artifacts"][0]["metrics"]["rel_l2"] < 2e-6
        and report["artifacts"][1]["metrics"]["rel_l2"] < 5e-3
    )
    res, modules = probe(python, "parity", "--golden", bundle, str(scaled_conv), tmp=tmp_path)
    assert res.code == 1 and "rel_l2 = " in res.stderr and heavy_modules(modules) == []
    # trt --onnx goes as far as it can without TensorRT: the trtexec line, then a one-line refusal.
    engine = tmp_path / "v1.engine"
    res, modules = probe(python, "trt", "--onnx", fp16, "-o", str(engine), tmp=tmp_path)
    assert_one_line_error(res, 2, "TensorRT")
    assert "trtexec --onnx=" in res.stderr and not engine.exists()
    assert heavy_modules(modules) == []
    # The full role's commands say what to install instead of failing inside an import.
    res, _ = probe(python, "onnx", "-m", "v1", "-o", str(tmp_path / "v1.onnx"), tmp=tmp_path)
    assert_one_line_error(res, 2, "needs torch", "`pip install '.[full]'` in a clone of inception-export")
    # `deploy triton` on the device: from the release's ONNX, and from an engine's manifest.
    repo = tmp_path / "r"
    res, modules = probe(python, "deploy", "triton", "--release", str(release), "-o", str(repo), tmp=tmp_path)
    assert res.code == 0, res.stderr
    assert (repo / "googlenet-onnx-fp32" / "config.pbtxt").is_file() and heavy_modules(modules) == []
    rel = engine_release(release, tmp_path / "rel", 1, 4, 16)
    res, _ = probe(python, "deploy", "triton", "--release", str(rel), "-o", str(tmp_path / "p"), tmp=tmp_path)
    assert res.code == 0, res.stderr
    assert "max_batch_size: 16" in (tmp_path / "p" / "googlenet-plan-fp16" / "config.pbtxt").read_text()


def test_device_engine_to_triton(release: Path, tmp_path: Path) -> None:
    """The device's half of a Triton deployment, torch-free: `trt --onnx` plans the batch range
    the release's Triton configs serve (1..8); the engine it builds (a stand-in here: no
    TensorRT) and its manifest go into `deploy triton --engine`, sha256 checked."""
    python = _device_python(".venv-device")
    fp16 = release / "googlenet-fp16.onnx"
    engine = tmp_path / "googlenet-fp16.engine"
    res, modules = probe(python, "trt", "--onnx", str(fp16), "-o", str(engine), "--json", tmp=tmp_path)
    assert_one_line_error(res, 2, "TensorRT")
    assert heavy_modules(modules) == [] and not engine.exists()
    planned = json.loads(res.stdout)
    assert (planned["config"]["min_batch"], planned["config"]["max_batch"]) == (1, 8)
    assert "--maxShapes=input:8x3x224x224" in planned["trtexec"]
    stand_in_engine(engine, fp16, planned["config"]["min_batch"], planned["config"]["opt_batch"], 8)
    out = tmp_path / "triton"
    args = ["deploy", "triton", "--release", str(release), "--engine", str(engine), "-o", str(out), "--json"]
    res, modules = probe(python, *args, tmp=tmp_path)
    assert heavy_modules(modules) == []
    if not tensorrt_available():
        # Every check of the engine and its manifest passed; what is left is the gate against the
        # release's golden bundle, which only the device's TensorRT can run: refused, not skipped.
        assert_one_line_error(res, 2, "--engine", "TensorRT")
        assert not out.exists()
        return
    assert res.code == 0, res.stderr
    assert (out / "googlenet-plan-fp16" / "1" / "model.plan").read_bytes() == engine.read_bytes()
    for name in ("googlenet-plan-fp16", "googlenet-onnx-fp16", "googlenet-onnx-fp32"):
        assert "max_batch_size: 8\n" in (out / name / "config.pbtxt").read_text()
    assert {f["file"] for f in json.loads(res.stdout)["files"]} >= {"googlenet-plan-fp16/1/model.plan"}


def test_golden_refuses_to_write_limits_past_the_bound(tmp_path: Path) -> None:
    """The device would refuse such a bundle; `golden` refuses to write it (exit 2 naming the
    limit, before any work) unless --allow-loose-limits, and the bundle's record is checked too."""
    from inception_export.errors import UsageError
    from inception_export.parity.bundle import bundle_metadata
    from inception_export.parity.tolerances import load_profile

    loose = tmp_path / "loose.toml"
    loose.write_text("[fp16]\nrel_l2 = 0.06\n")
    out = tmp_path / "golden.npz"
    res = run_cli_here("golden", "-m", "v1", "-o", str(out), "--tolerance-profile", str(loose))
    assert_one_line_error(res, 2, "[fp16] rel_l2 = 0.06 (bound 0.05)", "--allow-loose-limits")
    assert not out.exists()
    limits = load_profile(str(loose), allow_loose=True)
    with pytest.raises(UsageError, match=r"\[fp16\] rel_l2 = 0.06"):
        bundle_metadata(_NoReference(), input_size=8, aliases=[], preprocessing={}, profile="x",
                        limits=limits, versions={})  # fmt: skip


class _NoReference:
    """bundle_metadata refuses the limits before it reads anything of the reference."""


def test_golden_refuses_weights_whose_bundle_the_device_would_refuse(tmp_path: Path) -> None:
    # `golden` wrote a bundle of 100,001 classes that `parity --golden` then refused (the
    # bundle reader's bound); now the writer refuses it, before any input is computed. The
    # reference's class count is set directly: a real 100,001-class fc would be 400 MB.
    from inception_export.errors import UsageError
    from inception_export.full.eager import EagerReference, bundle_from_reference
    from inception_export.parity.bundle import MAX_CLASSES

    reference = EagerReference("v1")
    reference.num_classes = MAX_CLASSES + 1
    out = tmp_path / "big.npz"
    with pytest.raises(UsageError, match="100,001 classes; a golden bundle holds at most 100,000"):
        bundle_from_reference(
            reference, out, input_size=64, pixels=False, profile="default", limits=dict(PROFILES["default"])
        )
    assert not out.exists()
