"""Give an engine that ``trtexec`` built (on a device without TensorRT's Python builder) its manifest.

The gate runs only engines with this package's manifest, since that is where it learns what
the engine was built from and that its precision was verified. For an engine from the printed
``trtexec`` line the manifest is written here, on the device (TensorRT and the GPU present),
only after the same checks ``trt`` makes on its own builds:

- the engine deserialises on this TensorRT and GPU (else TensorRT's own logged reason);
- it was built from the given ONNX: the same input name, rank, fixed dimensions, layout and
  element type, the same output names, and a batch range within what the ONNX allows;
- every convolution runs in the type the ONNX asks (FP16, except what the ONNX keeps in
  float32), read by the engine inspector at the profile's opt shape exactly as ``trt`` reads
  it, which needs the engine built with ``--profilingVerbosity=detailed``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import check_output
from ..errors import ArtifactError
from ..hashing import file_sha256
from ..text import describe_kind
from .availability import require_tensorrt, runtime_env
from .dims import dims_tuple
from .inspect_precision import PrecisionReport, verify_precision
from .manifest import FORMAT, FORMAT_VERSION, env_fields, manifest_path, precision_expectation, write_manifest
from .onnx_input import OnnxInput, read_onnx_input
from .trt_log import first_error, make_logger


@dataclass(frozen=True)
class AdoptResult:
    engine: Path
    manifest: Path
    precision: PrecisionReport
    manifest_data: dict[str, Any]
    seconds: float


def onnx_outputs(path: Path) -> list[str]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return [o.name for o in model.graph.output]


def check_engine_io(
    info: OnnxInput,
    outputs: list[str],
    engine_inputs: dict[str, tuple[tuple[int, ...], str]],
    engine_outputs: list[str],
) -> None:
    """ArtifactError unless the engine's I/O is the ONNX's: names, rank, fixed dims, element type.

    ``engine_inputs``: name -> (shape with -1 for dynamic dimensions, numpy dtype name).
    """
    if list(engine_inputs) != [info.name]:
        raise ArtifactError(
            f"the engine's inputs are {sorted(engine_inputs)} but the ONNX's is {info.name!r}: "
            "it was not built from this ONNX"
        )
    shape, dtype = engine_inputs[info.name]
    if len(shape) != len(info.shape):
        raise ArtifactError(f"engine input {info.name} has rank {len(shape)}, the ONNX's {len(info.shape)}")
    for axis, (got, want) in enumerate(zip(shape, info.shape, strict=True)):
        if isinstance(want, int) and want > 0 and got != want:
            raise ArtifactError(
                f"engine input {info.name} has {got} on axis {axis} where the ONNX has {want}: "
                "it was not built from this ONNX"
            )
    if dtype != info.dtype:
        raise ArtifactError(f"engine input {info.name} is {dtype} but the ONNX's is {info.dtype}")
    if sorted(engine_outputs) != sorted(outputs):
        raise ArtifactError(
            f"the engine's outputs {sorted(engine_outputs)} are not the ONNX's {sorted(outputs)}"
        )


def adopt_engine(
    engine_path: Path, onnx_path: Path, *, force: bool = False, model: str | None = None
) -> AdoptResult:
    """Verify ``engine_path`` against ``onnx_path`` on this TensorRT and GPU, then write its manifest."""
    start = time.perf_counter()
    info, name, precision = _read_inputs(engine_path, onnx_path, model)
    check_output(manifest_path(engine_path), force)
    trt = require_tensorrt()
    data = engine_path.read_bytes()
    env = runtime_env(hashlib.sha256(data).hexdigest())
    logger = make_logger(show=False)
    runtime = trt.Runtime(logger)  # held while the engine is in use
    engine = runtime.deserialize_cuda_engine(data)
    if engine is None:
        raise ArtifactError(
            f"{engine_path}: TensorRT {trt.__version__} cannot deserialize it: {first_error(logger.errors)}"
        )
    inputs, outputs = _engine_io(engine, trt)
    check_engine_io(info, onnx_outputs(onnx_path), inputs, outputs)
    lo, opt, hi = _profile(engine, info, inputs[info.name][0])
    expectation, report = _verify_precision(engine, trt, logger, info, precision, opt, engine_path)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": name,
        "engine": {"file": engine_path.name, "sha256": env.engine_sha256, "bytes": len(data)},
        **env_fields(env),
        "precision": precision,
        "strongly_typed": True,
        "input_name": info.name,
        "output_names": outputs,
        "input_size": _input_size(info) or None,
        "input_layout": info.layout,
        "input_dtype": info.dtype,
        "profiles": [{"input": info.name, "min": list(lo), "opt": list(opt), "max": list(hi)}],
        "hardware_compatibility": _compat(engine, trt),
        # Built elsewhere (trtexec); what was verified here is the engine itself.
        "builder": {"tool": "trtexec", "adopted_by": "inception-export trt-manifest"},
        "onnx": {"file": onnx_path.name, "sha256": file_sha256(onnx_path)},
        "timing_cache": None,
        "precision_expectation": expectation,
        "precision_check": report.to_dict(),
        **info.metadata.pick("num_classes", "preprocessing", "weights", "embedded_preprocessing"),
    }
    mpath = write_manifest(engine_path, manifest)
    return AdoptResult(engine_path, mpath, report, manifest, time.perf_counter() - start)


def _read_inputs(engine_path: Path, onnx_path: Path, model: str | None) -> tuple[OnnxInput, str, str]:
    """The ONNX's input, the model's name and the graph's precision, once both files are there and
    the ONNX says enough."""
    if not engine_path.is_file():
        what = (
            "no such engine file"
            if not engine_path.exists()
            else f"{describe_kind(engine_path)}, not an engine file"
        )
        raise ArtifactError(f"{engine_path}: {what}")
    if not onnx_path.is_file():
        raise ArtifactError(f"{onnx_path}: no such ONNX file")
    info = read_onnx_input(onnx_path)
    name = model or info.model
    if name is None:
        raise ArtifactError(f"{onnx_path} has no inception-export metadata naming its model: give --model")
    precision = info.precision
    if precision not in ("fp16", "fp32", "int8"):
        raise ArtifactError(f"{onnx_path}: cannot tell whether it is an FP16 or an FP32 graph")
    return info, name, precision


def _engine_io(engine: Any, trt: Any) -> tuple[dict[str, tuple[tuple[int, ...], str]], list[str]]:
    """The engine's inputs (name -> shape with -1 where dynamic, numpy dtype name) and output names."""
    from ..runners.tensorrt_runner import _np_dtype

    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    is_input = {n: engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
    inputs = {
        n: (dims_tuple(engine.get_tensor_shape(n)), np.dtype(_np_dtype(engine.get_tensor_dtype(n))).name)
        for n in names
        if is_input[n]
    }
    return inputs, [n for n in names if not is_input[n]]


Shape = tuple[int, ...]


def _input_size(info: OnnxInput) -> int:
    return info.fixed_size or info.metadata.input_size or 0


def _profile(engine: Any, info: OnnxInput, shape: Shape) -> tuple[Shape, Shape, Shape]:
    """The input's (min, opt, max) shapes; ArtifactError unless they are for the ONNX's size."""
    if shape[0] > 0:
        lo = opt = hi = tuple(shape)
    else:
        lo, opt, hi = (dims_tuple(d) for d in engine.get_tensor_profile_shape(info.name, 0))
    size = _input_size(info)
    h_axis = 1 if info.layout == "NHWC" else 2
    if size and any(s[h_axis] != size for s in (lo, opt, hi)):
        raise ArtifactError(f"the engine's optimisation profile {lo}..{hi} is not for {size}x{size} inputs")
    return lo, opt, hi


def _verify_precision(
    engine: Any, trt: Any, logger: Any, info: OnnxInput, precision: str, opt: Shape, engine_path: Path
) -> tuple[dict[str, Any], PrecisionReport]:
    """What the ONNX asks of each layer, and the inspector's report read at the opt shape against it."""
    context = engine.create_execution_context()
    if context is None or not context.set_input_shape(info.name, opt):
        raise ArtifactError(
            f"cannot set {info.name} to {opt} on {engine_path.name} ({first_error(logger.errors)})"
        )
    inspector = engine.create_engine_inspector()
    inspector.execution_context = context
    report_json = inspector.get_engine_information(trt.LayerInformationFormat.JSON)
    if precision == "int8":  # a QDQ graph (tensorrt/int8_check.py)
        from .int8_check import int8_expectation, verify_int8_report

        expectation = int8_expectation(info.metadata.record)
        report = verify_int8_report(report_json, expectation)
    else:
        expectation = precision_expectation(precision, info.float32_nodes, info.keep_fp32)
        report = verify_precision(report_json, precision, expectation["float32_nodes"])
    del inspector, context
    return expectation, report


def _compat(engine: Any, trt: Any) -> str:
    level = getattr(engine, "hardware_compatibility_level", None)
    return "ampere+" if level == trt.HardwareCompatibilityLevel.AMPERE_PLUS else "none"
