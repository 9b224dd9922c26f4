"""ONNX -> strongly typed network -> one optimisation profile -> verified, serialized engine.

Precision comes from the ONNX graph itself (an FP16 export carries FP16 weights and casts):
the network is strongly typed, so no builder precision flags are involved. That is the only
mode TensorRT 11 has, and it works unchanged on the 10.x that JetPack ships.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import write_bytes_atomic
from ..errors import ArtifactError, UsageError
from ..hashing import file_sha256
from .availability import require_tensorrt, runtime_env
from .config import EngineConfig
from .dims import dims_tuple
from .inspect_precision import PrecisionReport, parse_layers, summarize, verify_fp16_convolutions
from .manifest import FORMAT, FORMAT_VERSION, manifest_path, write_manifest


@dataclass(frozen=True)
class BuildResult:
    engine: Path
    manifest: Path
    engine_sha256: str
    precision: PrecisionReport
    manifest_data: dict[str, Any]
    seconds: float


def _network_flags() -> int:
    import tensorrt as trt

    # 10.x needs STRONGLY_TYPED; on 11.x every network is strongly typed and the flag may be gone.
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return 1 << int(flag) if flag is not None else 0


def _make_logger() -> Any:
    import tensorrt as trt

    class CollectingLogger(trt.ILogger):
        """Keeps TensorRT's errors for a one-line message instead of printing them."""

        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []

        def log(self, severity: Any, msg: str) -> None:
            # Membership, not ordering: pybind11 enums need not define comparisons.
            if severity in (trt.ILogger.Severity.INTERNAL_ERROR, trt.ILogger.Severity.ERROR):
                self.errors.append(str(msg).strip())

    return CollectingLogger()


def _first(errors: list[str]) -> str:
    return errors[0].splitlines()[0][:300] if errors else "no details from TensorRT"


def build_engine(
    onnx_path: Path,
    engine_path: Path,
    cfg: EngineConfig,
    *,
    model: str,
    onnx_sha256: str | None = None,
    extra: dict[str, Any] | None = None,
) -> BuildResult:
    """Build, verify precision, then write the engine and its manifest atomically.

    Raises BackendUnavailable without TensorRT or a GPU, ArtifactError when the ONNX cannot be
    parsed or built, GateFailure when an fp16 engine does not run its convolutions in FP16.
    Nothing is written unless every check passed.
    """
    cfg.validate()
    require_tensorrt()
    import tensorrt as trt

    start = time.perf_counter()
    logger = _make_logger()
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags())
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errs = [str(parser.get_error(i).desc()) for i in range(parser.num_errors)]
        raise ArtifactError(f"{onnx_path}: TensorRT cannot parse it ({_first(errs)})")
    if network.num_inputs != 1:
        raise ArtifactError(f"{onnx_path}: expected one input, found {network.num_inputs}")
    inp = network.get_input(0)
    shape = dims_tuple(inp.shape)
    if len(shape) != 4 or (shape[0] > 0 and not cfg.min_batch == cfg.max_batch == shape[0]):
        raise UsageError(
            f"{onnx_path}: input {inp.name} has shape {shape}; the batch range "
            f"{cfg.min_batch}-{cfg.max_batch} needs a dynamic (or equal) batch dimension"
        )
    if shape[2] > 0 and shape[2] != cfg.input_size:
        raise UsageError(f"{onnx_path}: input is {shape[2]}x{shape[3]}, not {cfg.input_size}")

    profile = builder.create_optimization_profile()
    profile.set_shape(
        inp.name,
        trt.Dims(list(cfg.shape(cfg.min_batch))),
        trt.Dims(list(cfg.shape(cfg.opt_batch))),
        trt.Dims(list(cfg.shape(cfg.max_batch))),
    )
    config = builder.create_builder_config()
    config.add_optimization_profile(profile)
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, cfg.workspace_bytes)
    config.builder_optimization_level = cfg.opt_level
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    if cfg.hardware_compat == "ampere+":
        config.hardware_compatibility_level = trt.HardwareCompatibilityLevel.AMPERE_PLUS
    cache_blob = b""
    if cfg.timing_cache is not None and cfg.timing_cache.exists():
        cache_blob = cfg.timing_cache.read_bytes()
    cache = config.create_timing_cache(cache_blob)
    # A cache from another TensorRT/GPU is not trusted: a mismatch is ignored only by starting empty.
    if not config.set_timing_cache(cache, False):
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, False)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ArtifactError(f"TensorRT could not build an engine from {onnx_path} ({_first(logger.errors)})")
    data = bytes(memoryview(serialized))

    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(data)
    if engine is None:
        raise ArtifactError(f"the engine just built does not deserialize ({_first(logger.errors)})")
    report_json = engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON)
    if cfg.precision == "fp16":
        precision = verify_fp16_convolutions(report_json)
    else:
        precision = summarize(parse_layers(report_json))

    cache_sha = None
    if cfg.timing_cache is not None:
        write_bytes_atomic(cfg.timing_cache, bytes(memoryview(config.get_timing_cache().serialize())))
        cache_sha = file_sha256(cfg.timing_cache)

    engine_sha = hashlib.sha256(data).hexdigest()
    env = runtime_env()
    outputs = [network.get_output(i).name for i in range(network.num_outputs)]
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model,
        "engine": {"file": engine_path.name, "sha256": engine_sha, "bytes": len(data)},
        "tensorrt_version": env.tensorrt_version,
        "cuda_version": env.cuda_version,
        "gpu": {
            "name": env.gpu_name,
            "compute_capability": f"{env.compute_capability[0]}.{env.compute_capability[1]}",
        },
        "precision": cfg.precision,
        "strongly_typed": True,
        "input_name": inp.name,
        "output_names": outputs,
        "input_size": cfg.input_size,
        "profiles": [
            {
                "input": inp.name,
                "min": list(cfg.shape(cfg.min_batch)),
                "opt": list(cfg.shape(cfg.opt_batch)),
                "max": list(cfg.shape(cfg.max_batch)),
            }
        ],
        "hardware_compatibility": cfg.hardware_compat,
        "builder": {
            "opt_level": cfg.opt_level,
            "workspace_bytes": cfg.workspace_bytes,
            "profiling_verbosity": "detailed",
        },
        "onnx": {"file": str(onnx_path), "sha256": onnx_sha256 or file_sha256(onnx_path)},
        "timing_cache": (
            {"file": str(cfg.timing_cache), "sha256": cache_sha} if cfg.timing_cache is not None else None
        ),
        "precision_check": precision.to_dict(),
        # What the model expects, carried over from the ONNX so the gate and deployments can
        # check an engine without its ONNX at hand.
        **_model_facts(onnx_path),
        **(extra or {}),
    }
    write_bytes_atomic(engine_path, data)
    try:
        mpath = write_manifest(engine_path, manifest)
    except BaseException:
        engine_path.unlink(missing_ok=True)
        raise
    return BuildResult(engine_path, mpath, engine_sha, precision, manifest, time.perf_counter() - start)


def _model_facts(onnx_path: Path) -> dict[str, Any]:
    from ..artifacts import read_metadata  # torch-free: engines are built where torch is absent
    from ..errors import ArtifactError

    try:
        meta = read_metadata(onnx_path)
    except ArtifactError:
        return {}
    return {k: meta[k] for k in ("num_classes", "preprocessing", "weights") if k in meta}


__all__ = ["BuildResult", "build_engine", "manifest_path"]
