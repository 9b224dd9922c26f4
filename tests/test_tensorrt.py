"""TensorRT: the trtexec line and argument validation, engine detection, the no-TensorRT CLI
path, NHWC input, trt-manifest, the timing cache, and (marked ``tensorrt``) real build + run
where TensorRT and a GPU exist. The inspector report: test_tensorrt_report.py; the engine
manifest: test_tensorrt_manifest.py."""

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
from inception_export.tensorrt.manifest import (
    FORMAT,
    manifest_path,
    verify_engine_report,
)
from inception_export.tensorrt.onnx_input import read_onnx_input
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
        "--noTF32",
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


def test_trtexec_line_for_a_static_batch_has_no_shapes() -> None:
    # trtexec (10.3 and 11.x, sampleEngines.cpp) refuses shapes for a static model:
    # "Static model does not take explicit shapes since the shape of inference tensors will be
    # determined by the model itself".
    cfg = EngineConfig(precision="fp32", min_batch=2, opt_batch=2, max_batch=2, input_size=224)
    argv = trtexec_argv(Path("b2.onnx"), Path("b2.engine"), cfg, "input", dynamic_batch=False)
    assert argv == [
        "trtexec",
        "--onnx=b2.onnx",
        "--saveEngine=b2.engine",
        "--stronglyTyped",
        "--noTF32",
        "--memPoolSize=workspace:2048M",
        "--builderOptimizationLevel=3",
        "--profilingVerbosity=detailed",
    ]
    # Flags both trtexec 10.3 and 11.x parse; none that 11 dropped (--fp16, --int8, --best...).
    dynamic = trtexec_argv(Path("a.onnx"), Path("a.engine"), cfg, "input")
    flags = {a.split("=")[0] for a in dynamic[1:]}
    assert flags == {
        "--onnx",
        "--saveEngine",
        "--stronglyTyped",
        "--noTF32",
        "--minShapes",
        "--optShapes",
        "--maxShapes",
        "--memPoolSize",
        "--builderOptimizationLevel",
        "--profilingVerbosity",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min-batch", "4", "--opt-batch", "2", "--max-batch", "8"], "min <= opt <= max"),
        (["--opt-batch", "8", "--max-batch", "4"], "min <= opt <= max"),
        (["--min-batch", "0"], "at least 1"),
        (["--opt-level", "6"], "between 0 and 5"),
        (["--opt-level", "-1"], "between 0 and 5"),
        (["--workspace", "0"], "positive number of GiB"),
        (["--workspace", "inf"], "positive number of GiB up to 1024"),  # was OverflowError, exit 3
        (["--max-batch", "5000"], "--max-batch must be from 1 to 1,024"),
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


def _run_here(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """:func:`_run_cli` in this process (conftest's ``run_cli_here``), where start-up is not
    what a test is about: a fresh interpreter costs seconds of imports per command."""
    from conftest import run_cli_here

    res = run_cli_here(*args, cwd=cwd, env={"COLUMNS": "400"})
    return subprocess.CompletedProcess(list(args), res.code, res.stdout, res.stderr)


def _assert_unavailable(proc: subprocess.CompletedProcess[str], onnx_path: str, engine: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "TensorRT" in errors[0] and "pypi.nvidia.com" in errors[0], proc.stderr
    trtexec = [ln for ln in proc.stderr.splitlines() if ln.startswith("trtexec ")]
    assert len(trtexec) == 1, proc.stderr
    assert f"--onnx={onnx_path}" in trtexec[0] and f"--saveEngine={engine}" in trtexec[0]
    assert "--stronglyTyped" in trtexec[0] and "--minShapes=" in trtexec[0]


@pytest.mark.slow
@without_trt
def test_cli_without_tensorrt_exports_onnx_and_prints_trtexec(tmp_path: Path) -> None:
    proc = _run_here("trt", "--model", "v1", "-o", "tmp/x.engine", cwd=tmp_path)
    _assert_unavailable(proc, "tmp/x.onnx", "tmp/x.engine")
    assert ":1x3x224x224 --optShapes=" in proc.stderr  # v1's default size, batch 1..1
    files = sorted(p.name for p in (tmp_path / "tmp").iterdir())
    assert "x.onnx" in files and "x.engine" not in files, files
    assert not [f for f in files if f.endswith(".partial") or f.startswith(".")], files
    model = onnx.load(str(tmp_path / "tmp" / "x.onnx"))
    assert any(i.data_type == TensorProto.FLOAT16 for i in model.graph.initializer)
    # The same command again: the FP16 ONNX it wrote is its own intermediate, not a conflict.
    again = _run_here("trt", "--model", "v1", "-o", "tmp/x.engine", cwd=tmp_path)
    _assert_unavailable(again, "tmp/x.onnx", "tmp/x.engine")
    # A file of the user's at that path is not overwritten without --force.
    (tmp_path / "tmp" / "y.onnx").write_bytes(b"not ours")
    mine = _run_here("trt", "--model", "v1", "-o", "tmp/y.engine", cwd=tmp_path)
    assert mine.returncode == 2 and "tmp/y.onnx already exists; pass --force" in mine.stderr, mine.stderr
    assert (tmp_path / "tmp" / "y.onnx").read_bytes() == b"not ours"


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
    assert doc["manifest_command"] == "inception-export trt-manifest out/m.engine --onnx given.onnx"
    assert not (tmp_path / "out" / "m.engine").exists() and not (tmp_path / "out" / "m.onnx").exists()
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "TensorRT" in errors[0]


# ---------------------------------------------------------------- real TensorRT (skipped here)


@pytest.fixture(scope="module")
def v1_engine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trt") / "v1.engine"
    proc = _run_cli("trt", "--model", "v1", "-o", str(out), "--max-batch", "2", "--json", cwd=out.parent)
    assert proc.returncode == 0, proc.stderr
    # The build says what it is doing: TensorRT's progress monitor, phase by phase, on stderr.
    assert re.search(r"^TensorRT: .+ done in \d+s$", proc.stderr, re.M), proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["platform"]["arch"] and doc["gpu"]["integrated"] in (True, False)
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

    from inception_export.tensorrt.manifest import read_manifest

    manifest = read_manifest(v1_engine)
    assert manifest is not None and manifest["builder"]["tf32"] is False
    runtime = trt.Runtime(trt.Logger(trt.Logger.ERROR))
    engine = runtime.deserialize_cuda_engine(v1_engine.read_bytes())
    inspector = engine.create_engine_inspector()
    # Without a context, a dynamic-batch engine's types read "N/A due to dynamic shapes": refused.
    with pytest.raises(GateFailure, match="no readable input/output type"):
        verify_engine_report(inspector.get_engine_information(trt.LayerInformationFormat.JSON), manifest)
    context = engine.create_execution_context()
    assert context.set_input_shape("input", tuple(manifest["profiles"][0]["opt"]))
    inspector.execution_context = context
    report = inspector.get_engine_information(trt.LayerInformationFormat.JSON)
    summary = verify_engine_report(report, manifest)
    assert summary.convolutions > 10 and summary.fp16_convolutions == summary.convolutions
    assert summary.convolutions == manifest["precision_check"]["convolutions"]


@pytest.mark.tensorrt
@requires_trt
def test_runner_matches_torch(v1_engine: Path) -> None:
    import torch

    from inception_export.errors import UsageError
    from inception_export.full.build import build_model, example_input
    from inception_export.runners.tensorrt_runner import TensorRTRunner

    model = build_model("v1")
    x = example_input(model.spec, batch=2).numpy()
    with torch.inference_mode():
        ref = model(torch.from_numpy(x)).numpy()
    with TensorRTRunner(v1_engine) as runner:
        assert (runner.info.min_batch, runner.info.max_batch) == (1, 2)
        got = runner.infer(x)
        profile = r"^v1\.engine accepts batch 1-2 \(its optimisation profile\), got 4$"
        with pytest.raises(UsageError, match=profile):
            runner.infer(np.concatenate([x, x]))
        # Checked by the base class for every backend: float64 is refused, not cast.
        with pytest.raises(UsageError, match=r"^v1\.engine takes float32 NCHW input, got float64$"):
            runner.infer(x.astype(np.float64))
        with pytest.raises(UsageError, match=r"shape \(N, 3, 224, 224\), got \(2, 3, 225, 225\)$"):
            runner.infer(np.zeros((2, 3, 225, 225), np.float32))
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= 0.05 * np.abs(ref).max() + 1e-2
    assert (got.argmax(1) == ref.argmax(1)).all()


@pytest.mark.tensorrt
@requires_trt
@pytest.mark.parametrize("io", ["cuda-python", "torch"])
def test_runner_device_memory_paths_agree(v1_engine: Path, io: str) -> None:
    """The torch-free path (cuda-python) and torch's allocator give the same logits."""
    from inception_export.full.build import build_model, example_input
    from inception_export.runners import tensorrt_runner as trt_runner
    from inception_export.tensorrt.cuda import cudart

    if io == "cuda-python" and cudart() is None:
        pytest.skip("cuda-python is not installed (pip install cuda-python)")
    x = example_input(build_model("v1").spec, batch=2).numpy()
    with trt_runner.TensorRTRunner(v1_engine) as runner:
        default = runner.infer(x)
        runner._io.close()
        runner._io = trt_runner._CudaPythonIO() if io == "cuda-python" else trt_runner._TorchIO()
        got = runner.infer(x)
    assert np.array_equal(got, default)


# ---------------------------------------------------------------- NHWC uint8 input (embedded preprocessing)


def _pixels_onnx(path: Path, batch: int | str = "batch") -> None:
    """Shaped like an ``--embed-preprocessing`` export: uint8 [N, 224, 224, 3] in, NCHW conv inside."""
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], np.full(108, 0.1, np.float32))
    nodes = [
        helper.make_node("Cast", ["pixels"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Transpose", ["f"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["nchw", "w"], ["logits"], pads=[1, 1, 1, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "pixels",
        [helper.make_tensor_value_info("pixels", TensorProto.UINT8, [batch, 224, 224, 3])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 4, 224, 224])],
        [w],
    )
    model = helper.make_model(graph)
    meta = {"model": "googlenet", "precision": "fp32", "input_size": 224, "embedded_preprocessing": True}
    helper.set_model_props(model, {"inception_export": json.dumps(meta)})
    onnx.save(model, str(path))


def test_nhwc_input_is_read_from_the_graph(tmp_path: Path) -> None:
    _pixels_onnx(tmp_path / "u8.onnx")
    info = read_onnx_input(tmp_path / "u8.onnx")
    assert (info.name, info.layout, info.dtype, info.fixed_size, info.fixed_batch) == (
        "pixels",
        "NHWC",
        "uint8",
        224,
        None,
    )
    cfg = EngineConfig(precision="fp32", max_batch=8, opt_batch=4, input_size=224, layout=info.layout)
    assert cfg.shape(4) == (4, 224, 224, 3)
    argv = trtexec_argv(Path("u8.onnx"), Path("u8.engine"), cfg, info.name)
    assert "--minShapes=pixels:1x224x224x3" in argv and "--maxShapes=pixels:8x224x224x3" in argv


def test_builder_checks_the_network_input_in_its_layout() -> None:
    from inception_export.errors import UsageError
    from inception_export.tensorrt.builder import _check_input

    nhwc = EngineConfig(precision="fp32", max_batch=8, input_size=224, layout="NHWC")
    _check_input(Path("u8.onnx"), "pixels", (-1, 224, 224, 3), nhwc)
    with pytest.raises(UsageError, match=r"not the NCHW 3x224x224"):
        _check_input(Path("u8.onnx"), "pixels", (-1, 224, 224, 3), EngineConfig(input_size=224, max_batch=8))
    nhwc_299 = EngineConfig(input_size=299, layout="NHWC")
    with pytest.raises(UsageError, match=r"not the NHWC 299x299x3"):
        _check_input(Path("u8.onnx"), "pixels", (-1, 224, 224, 3), nhwc_299)


@without_trt
def test_cli_prints_the_nhwc_trtexec_line(tmp_path: Path) -> None:
    _pixels_onnx(tmp_path / "u8.onnx")
    proc = _run_cli(
        "trt", "--onnx", "u8.onnx", "-o", "u8.engine", "--max-batch", "4", "--json", cwd=tmp_path
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["config"]["layout"] == "NHWC"
    assert "--optShapes=pixels:1x224x224x3 --maxShapes=pixels:4x224x224x3" in doc["trtexec"], doc["trtexec"]


# ---------------------------------------------------------------- trtexec-built engines (trt-manifest)


def test_engine_io_must_be_the_onnx(tmp_path: Path) -> None:
    from inception_export.tensorrt.adopt import check_engine_io, onnx_outputs

    _pixels_onnx(tmp_path / "u8.onnx")
    info = read_onnx_input(tmp_path / "u8.onnx")
    outs = onnx_outputs(tmp_path / "u8.onnx")
    assert outs == ["logits"]
    # What TensorRT reports for an engine trtexec built from it: -1 for the dynamic batch.
    check_engine_io(info, outs, {"pixels": ((-1, 224, 224, 3), "uint8")}, ["logits"])
    check_engine_io(info, outs, {"pixels": ((4, 224, 224, 3), "uint8")}, ["logits"])  # batch fixed at build
    for inputs, outputs, message in [
        ({"input": ((-1, 3, 224, 224), "float32")}, ["logits"], "not built from this ONNX"),
        ({"pixels": ((-1, 3, 224, 224), "uint8")}, ["logits"], "3 on axis 1 where the ONNX has 224"),
        ({"pixels": ((-1, 299, 299, 3), "uint8")}, ["logits"], "299 on axis 1 where the ONNX has 224"),
        ({"pixels": ((-1, 224, 224, 3), "float32")}, ["logits"], "is float32 but the ONNX's is uint8"),
        ({"pixels": ((-1, 224, 224, 3), "uint8")}, ["logits", "aux"], "outputs"),
    ]:
        with pytest.raises(ArtifactError, match=re.escape(message)):
            check_engine_io(info, outs, inputs, outputs)


def test_trt_manifest_refuses_before_tensorrt(tmp_path: Path) -> None:
    _pixels_onnx(tmp_path / "u8.onnx")
    engine = tmp_path / "u8.engine"
    missing = _run_cli("trt-manifest", str(engine), "--onnx", str(tmp_path / "u8.onnx"), cwd=tmp_path)
    assert missing.returncode == 2 and "no such engine file" in missing.stderr, missing.stderr
    engine.write_bytes(b"ftrt" + bytes(64))
    (tmp_path / "u8.engine.json").write_text("{}")
    taken = _run_cli("trt-manifest", str(engine), "--onnx", str(tmp_path / "u8.onnx"), cwd=tmp_path)
    assert taken.returncode == 2 and "already exists; pass --force" in taken.stderr, taken.stderr
    assert (tmp_path / "u8.engine.json").read_text() == "{}"


@without_trt
def test_trt_manifest_without_tensorrt_is_one_line(tmp_path: Path) -> None:
    _pixels_onnx(tmp_path / "u8.onnx")
    engine = tmp_path / "u8.engine"
    engine.write_bytes(b"ftrt" + bytes(64))
    proc = _run_cli("trt-manifest", str(engine), "--onnx", str(tmp_path / "u8.onnx"), "--json", cwd=tmp_path)
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "TensorRT" in errors[0], proc.stderr
    assert proc.stdout == "" and not (tmp_path / "u8.engine.json").exists()


@pytest.mark.tensorrt
@requires_trt
def test_trt_manifest_adopts_an_engine_built_elsewhere(v1_engine: Path, tmp_path: Path) -> None:
    import shutil

    from inception_export.tensorrt.manifest import read_manifest

    # An engine with no manifest stands in for a trtexec build from the same ONNX.
    bare = tmp_path / "bare.engine"
    shutil.copy(v1_engine, bare)
    onnx_file = str(v1_engine.with_suffix(".onnx"))
    proc = _run_cli("trt-manifest", str(bare), "--onnx", onnx_file, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    ours, adopted = read_manifest(v1_engine), read_manifest(bare)
    assert ours is not None and adopted is not None
    for key in ("precision", "input_name", "output_names", "profiles", "precision_check", "platform", "gpu"):
        assert adopted[key] == ours[key], key


@pytest.mark.tensorrt
@requires_trt
def test_runner_reuses_buffers_and_cuda_graph_agrees(v1_engine: Path) -> None:
    from inception_export.runners.tensorrt_runner import TensorRTRunner

    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    with TensorRTRunner(v1_engine) as plain, TensorRTRunner(v1_engine, cuda_graph=True) as graph:
        first = plain.infer(x)
        assert np.array_equal(plain.infer(x), first)
        assert np.allclose(graph.infer(x), first, atol=1e-3)
        assert np.allclose(graph.infer(x[:1]), first[:1], atol=1e-3)  # a new shape: captured again


class _BuilderConfig:
    """The two timing-cache calls of TensorRT's IBuilderConfig as its bindings answer them (no
    TensorRT here): bytes that do not deserialize give None, a cache of another TensorRT or GPU
    is refused by set_timing_cache(cache, ignore_mismatch=False), None is a TypeError."""

    def __init__(self) -> None:
        self.used: list[bytes] = []

    def create_timing_cache(self, blob: bytes) -> bytes | None:
        return None if blob.startswith(b"junk") else bytes(blob)

    def set_timing_cache(self, cache: bytes | None, ignore_mismatch: bool) -> bool:
        if cache is None:
            raise TypeError("set_timing_cache(): incompatible function arguments")
        assert ignore_mismatch is False
        if cache.startswith(b"foreign"):
            return False
        self.used.append(cache)
        return True


@pytest.mark.parametrize(
    ("blob", "noted"), [(b"ours", False), (b"foreign cache", True), (b"junk", True), (None, False)]
)
def test_a_foreign_or_corrupt_timing_cache_falls_back_to_an_empty_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], blob: bytes | None, noted: bool
) -> None:
    from inception_export.tensorrt.builder import _use_timing_cache

    path = tmp_path / "v1.timing"
    if blob is not None:
        path.write_bytes(blob)
    config = _BuilderConfig()
    _use_timing_cache(config, path)  # type: ignore[arg-type]
    assert config.used == ([b"ours"] if blob == b"ours" else [b""])
    err = capsys.readouterr().err
    assert ("note: --timing-cache" in err and "building with an empty one" in err) is noted
