"""ONNX -> strongly typed network -> one optimisation profile -> verified, serialized engine.

Precision comes from the ONNX graph itself (an FP16 export carries FP16 weights and casts,
and keeps in float32 what its metadata's ``float32_nodes`` lists): the network is strongly
typed, so no builder precision flags are involved. That is the only mode TensorRT 11 has, and
it works unchanged on the 10.x that JetPack ships. TF32 is cleared, so float32 layers (all of
an FP32 engine, the kept ones of an FP16 engine) compute in float32, as the graph says.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomic import write_bytes_atomic
from ..errors import ArtifactError, UsageError
from ..hashing import file_sha256
from ..reading import read_regular
from .availability import require_tensorrt, runtime_env
from .config import EngineConfig
from .dims import dims_tuple
from .inspect_precision import PrecisionReport, verify_precision
from .manifest import (
    AMPERE,
    FORMAT,
    FORMAT_VERSION,
    RuntimeEnv,
    env_fields,
    manifest_path,
    precision_expectation,
    write_manifest,
)
from .onnx_input import OnnxInput, read_onnx_input
from .trt_log import first_error, make_logger, make_progress_monitor

# A timing cache holds a few MB of tactic timings; far more is not one.
MAX_TIMING_CACHE_BYTES = 1 << 30

if TYPE_CHECKING:
    import tensorrt as trt


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

    # Needed on 10.x; on 11.x every network is strongly typed and the flag (still there) is a no-op.
    return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)


def _first(errors: list[str]) -> str:
    return first_error(errors)


def check_hardware_compat(cfg: EngineConfig, env: RuntimeEnv) -> None:
    """Refuse ``--hardware-compat ampere+`` where TensorRT cannot apply it, before any work.

    It lets an engine run on other GPUs from Ampere on, on the same platform (OS, CPU
    architecture) and TensorRT version; TensorRT does not support it on Jetson.
    """
    if cfg.hardware_compat != "ampere+":
        return
    if env.integrated:
        raise UsageError(
            f"--hardware-compat ampere+ is not supported by TensorRT on an integrated (Jetson) GPU such as "
            f"{env.gpu_name}; build with --hardware-compat none"
        )
    cc = env.compute_capability
    if cc < AMPERE:
        raise UsageError(
            f"--hardware-compat ampere+ needs an Ampere or newer GPU to build on (compute capability "
            f">= 8.0), but {env.gpu_name} is {cc[0]}.{cc[1]}; build with --hardware-compat none"
        )


def _check_input(onnx_path: Path, name: str, shape: tuple[int, ...], cfg: EngineConfig) -> None:
    """The parsed network's input against what the ONNX graph (and so ``cfg``) says it is."""
    if len(shape) != 4 or (shape[0] > 0 and not cfg.min_batch == cfg.max_batch == shape[0]):
        raise UsageError(
            f"{onnx_path}: input {name} has shape {shape}; the batch range "
            f"{cfg.min_batch}-{cfg.max_batch} needs a dynamic (or equal) batch dimension"
        )
    want = cfg.shape(shape[0] if shape[0] > 0 else cfg.min_batch)
    if any(d > 0 and d != w for d, w in zip(shape, want, strict=True)):
        raise UsageError(
            f"{onnx_path}: input {name} has shape {shape}, not the {cfg.layout} "
            f"{'x'.join(map(str, want[1:]))} this build is for"
        )


def _parse(
    builder: trt.Builder, logger: Any, onnx_path: Path, cfg: EngineConfig
) -> tuple[trt.INetworkDefinition, trt.OnnxParser, trt.ITensor]:
    """The strongly typed network of ``onnx_path`` (and its parser, which must outlive it) and
    its one input, checked against ``cfg``."""
    import tensorrt as trt

    network = builder.create_network(_network_flags())
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errs = [str(parser.get_error(i).desc()) for i in range(parser.num_errors)]
        raise ArtifactError(f"{onnx_path}: TensorRT cannot parse it ({_first(errs)})")
    if network.num_inputs != 1:
        raise ArtifactError(f"{onnx_path}: expected one input, found {network.num_inputs}")
    inp = network.get_input(0)
    _check_input(onnx_path, inp.name, dims_tuple(inp.shape), cfg)
    return network, parser, inp


def _builder_config(builder: trt.Builder, inp: trt.ITensor, cfg: EngineConfig) -> trt.IBuilderConfig:
    """The optimisation profile, memory, flags and timing cache of the build."""
    import tensorrt as trt

    config = builder.create_builder_config()
    # A static input needs no profile (and trtexec takes no shapes).
    if any(d < 0 for d in dims_tuple(inp.shape)):
        profile = builder.create_optimization_profile()
        profile.set_shape(
            inp.name,
            trt.Dims(list(cfg.shape(cfg.min_batch))),
            trt.Dims(list(cfg.shape(cfg.opt_batch))),
            trt.Dims(list(cfg.shape(cfg.max_batch))),
        )
        config.add_optimization_profile(profile)
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, cfg.workspace_bytes)
    config.builder_optimization_level = cfg.opt_level
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    if hasattr(config, "progress_monitor"):
        config.progress_monitor = make_progress_monitor()
    # Float32 layers stay float32 (trtexec --noTF32); TF32 would round their inputs to 10 bits.
    config.clear_flag(trt.BuilderFlag.TF32)
    if cfg.hardware_compat == "ampere+":
        config.hardware_compatibility_level = trt.HardwareCompatibilityLevel.AMPERE_PLUS
    _use_timing_cache(config, cfg.timing_cache)
    return config


def _use_timing_cache(config: trt.IBuilderConfig, path: Path | None) -> None:
    """The builder's timing cache: ``path``'s, or an empty one (written back after the build).

    A cache from another TensorRT or GPU is refused by ``set_timing_cache`` (mismatches are not
    ignored: its timings would be another machine's); one that does not deserialize comes back
    as None (or raises). Both fall back to an empty cache, with a note, never a failed build."""
    from rich.markup import escape

    from .. import console
    from ..text import printable

    blob = b""
    if path is not None and path.exists():
        blob = read_regular(path, MAX_TIMING_CACHE_BYTES, "--timing-cache")
    cache = None
    if blob:
        try:
            cache = config.create_timing_cache(blob)
        except (RuntimeError, TypeError, ValueError):
            cache = None
    if cache is not None and config.set_timing_cache(cache, False):
        return
    if blob:
        why = (
            f"--timing-cache {path} is from another TensorRT or GPU, or not a timing cache: "
            "building with an empty one (written there afterwards)"
        )
        console.err.print(f"[yellow]note:[/] {escape(printable(why))}", soft_wrap=True)
    config.set_timing_cache(config.create_timing_cache(b""), False)


def _verify(
    logger: Any, data: bytes, inp: trt.ITensor, cfg: EngineConfig, info: OnnxInput
) -> tuple[PrecisionReport, dict[str, Any]]:
    """Deserialize the engine just built and check the precision each layer runs in; returns the
    check and the expectation it was held to."""
    import tensorrt as trt

    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(data)
    if engine is None:
        raise ArtifactError(f"the engine just built does not deserialize ({_first(logger.errors)})")
    # A dynamic-batch engine inspected on its own reports "N/A due to dynamic shapes" for every
    # tensor type; with a context at the profile's opt shape the types are readable.
    context = engine.create_execution_context()
    if context is None or not context.set_input_shape(inp.name, cfg.shape(cfg.opt_batch)):
        raise ArtifactError(f"cannot set {inp.name} to {cfg.shape(cfg.opt_batch)} on the engine just built")
    inspector = engine.create_engine_inspector()
    inspector.execution_context = context
    report_json = inspector.get_engine_information(trt.LayerInformationFormat.JSON)
    if cfg.precision == "int8":  # a QDQ graph: INT8 where the QDQ sits (tensorrt/int8_check.py)
        from .int8_check import int8_expectation, verify_int8_report

        expectation = int8_expectation(info.metadata.record)
        precision = verify_int8_report(report_json, expectation)
    else:
        expectation = precision_expectation(cfg.precision, info.float32_nodes, info.keep_fp32)
        precision = verify_precision(report_json, cfg.precision, expectation["float32_nodes"])
    # Inspector and context before the engine, the engine before its runtime: TensorRT's order.
    del inspector, context, engine, runtime
    return precision, expectation


def _save_timing_cache(config: trt.IBuilderConfig, cfg: EngineConfig) -> str | None:
    """Write the timing cache back (atomically) if one was asked for; its sha256."""
    if cfg.timing_cache is None:
        return None
    write_bytes_atomic(cfg.timing_cache, bytes(memoryview(config.get_timing_cache().serialize())))
    return file_sha256(cfg.timing_cache)


def _manifest(
    *,
    model: str,
    engine_path: Path,
    data: bytes,
    env: RuntimeEnv,
    cfg: EngineConfig,
    inp: trt.ITensor,
    outputs: list[str],
    info: OnnxInput,
    onnx_path: Path,
    onnx_sha256: str | None,
    cache_sha: str | None,
    expectation: dict[str, Any],
    precision: PrecisionReport,
    extra: dict[str, Any] | None,
) -> dict[str, Any]:
    """The manifest written beside the engine: what it is, where it runs, what it was checked for."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model,
        "engine": {"file": engine_path.name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)},
        **env_fields(env),
        "precision": cfg.precision,
        "strongly_typed": True,
        "input_name": inp.name,
        "output_names": outputs,
        "input_size": cfg.input_size,
        "input_layout": cfg.layout,
        "input_dtype": info.dtype,
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
            "tf32": False,
        },
        "onnx": {"file": onnx_path.name, "sha256": onnx_sha256 or file_sha256(onnx_path)},
        "timing_cache": (
            {"file": str(cfg.timing_cache), "sha256": cache_sha} if cfg.timing_cache is not None else None
        ),
        # What each convolution must run in, from the ONNX, so the engine can be verified again
        # (verify_engine_report) without its ONNX at hand; and what the check found.
        "precision_expectation": expectation,
        "precision_check": precision.to_dict(),
        # What the model expects, carried over from the ONNX so the gate and deployments can
        # check an engine without its ONNX at hand.
        **info.metadata.pick("num_classes", "preprocessing", "weights", "embedded_preprocessing"),
        **(extra or {}),
    }


def _write(engine_path: Path, data: bytes, manifest: dict[str, Any]) -> Path:
    """The engine, then its manifest; the engine goes again if the manifest cannot be written."""
    write_bytes_atomic(engine_path, data)
    try:
        return write_manifest(engine_path, manifest)
    except BaseException:
        engine_path.unlink(missing_ok=True)
        raise


def build_engine(
    onnx_path: Path,
    engine_path: Path,
    cfg: EngineConfig,
    *,
    model: str,
    onnx_sha256: str | None = None,
    extra: dict[str, Any] | None = None,
    onnx_info: OnnxInput | None = None,
    verbose: bool = False,
) -> BuildResult:
    """Build, verify precision, then write the engine and its manifest atomically.

    Raises BackendUnavailable without TensorRT or a GPU, ArtifactError when the ONNX cannot be
    parsed or built, GateFailure when an fp16 engine does not run its convolutions in FP16.
    Nothing is written unless every check passed.
    """
    cfg.validate()
    require_tensorrt()
    import tensorrt as trt

    info = onnx_info if onnx_info is not None else read_onnx_input(onnx_path)
    env = runtime_env()
    check_hardware_compat(cfg, env)

    start = time.perf_counter()
    logger = make_logger(verbose=verbose)
    builder = trt.Builder(logger)
    network, _parser, inp = _parse(builder, logger, onnx_path, cfg)
    config = _builder_config(builder, inp, cfg)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ArtifactError(f"TensorRT could not build an engine from {onnx_path} ({_first(logger.errors)})")
    data = bytes(memoryview(serialized))
    precision, expectation = _verify(logger, data, inp, cfg, info)
    cache_sha = _save_timing_cache(config, cfg)
    manifest = _manifest(
        model=model,
        engine_path=engine_path,
        data=data,
        env=env,
        cfg=cfg,
        inp=inp,
        outputs=[network.get_output(i).name for i in range(network.num_outputs)],
        info=info,
        onnx_path=onnx_path,
        onnx_sha256=onnx_sha256,
        cache_sha=cache_sha,
        expectation=expectation,
        precision=precision,
        extra=extra,
    )
    mpath = _write(engine_path, data, manifest)
    engine_sha = manifest["engine"]["sha256"]
    return BuildResult(engine_path, mpath, engine_sha, precision, manifest, time.perf_counter() - start)


__all__ = ["BuildResult", "build_engine", "manifest_path"]
