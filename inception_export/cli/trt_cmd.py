"""``inception-export trt``: build a strongly typed, precision-verified TensorRT engine.

Without TensorRT or a GPU it still writes the ONNX beside the requested engine and prints the
``trtexec`` line that builds the same engine on the target, then exits 2 naming what is missing.

``trt --onnx FILE`` is the device role's command: it reads the model, precision and size from
the ONNX's metadata and imports neither torch nor the model code; only exporting from a model
(``--model`` without ``--onnx``) does.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from ..console import emit_json, err, status
from ..errors import ArtifactError, BackendUnavailable
from ..tensorrt.availability import missing_reason
from ..tensorrt.config import EngineConfig
from ..tensorrt.manifest import manifest_path
from ..tensorrt.onnx_input import read_onnx_input
from ..tensorrt.request import BuilderSettings, BuildRequest, build_request
from ..tensorrt.trtexec import trtexec_command
from ..text import printable
from .boundary import command
from .options import (
    ForceOpt,
    Fp16Fp32Alias,
    JsonOpt,
    KeepFp32Opt,
    MinBatchOpt,
    TransformInputOpt,
    WeightsOpt,
    checkpoint_transform_input,
    one_precision,
    output_option,
    precision_option,
)

if TYPE_CHECKING:
    from ..tensorrt.builder import BuildResult


OptBatchOpt = Annotated[
    int | None,
    typer.Option("--opt-batch", metavar="N", help="Batch the kernels are tuned for (1, at least min)."),
]
MaxBatchOpt = Annotated[
    int | None,
    typer.Option(
        "--max-batch",
        metavar="N",
        help="Largest batch of the profile (8, the max_batch_size `deploy triton` writes; at least opt).",
    ),
]
EngineModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model", "-m", metavar="NAME", help="Model name or alias (see `models`); optional with --onnx."
    ),
]
OnnxOpt = Annotated[
    Path | None,
    typer.Option("--onnx", metavar="FILE", help="Build from this ONNX (its metadata names the model)."),
]
EnginePrecisionOpt = Annotated[
    str | None, precision_option("The engine's, as the graph is (default: the ONNX's, else fp16).")
]
WorkspaceOpt = Annotated[
    float, typer.Option("--workspace", metavar="GIB", help="Workspace memory pool in GiB.")
]
TimingCacheOpt = Annotated[
    Path | None, typer.Option("--timing-cache", metavar="FILE", help="Timing cache file to load and update.")
]
OptLevelOpt = Annotated[int, typer.Option("--opt-level", metavar="N", help="Builder optimisation level 0-5.")]
HardwareCompatOpt = Annotated[
    str,
    typer.Option(
        "--hardware-compat", metavar="none|ampere+", help="none, or ampere+ to run on any GPU from Ampere on."
    ),
]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", help="Also show TensorRT's info messages (warnings and errors always).")
]


@command("trt")
def trt(
    output: Annotated[Path, output_option("Engine file to write (e.g. model.engine).")],
    model: EngineModelOpt = None,
    weights: WeightsOpt = None,
    onnx: OnnxOpt = None,
    precision: EnginePrecisionOpt = None,
    min_batch: MinBatchOpt = None,
    opt_batch: OptBatchOpt = None,
    max_batch: MaxBatchOpt = None,
    workspace: WorkspaceOpt = 2.0,
    timing_cache: TimingCacheOpt = None,
    opt_level: OptLevelOpt = 3,
    hardware_compat: HardwareCompatOpt = "none",
    transform_input: TransformInputOpt = None,
    keep_fp32: KeepFp32Opt = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    fp16: Fp16Fp32Alias = None,
) -> None:
    """Build a TensorRT engine (strongly typed; each convolution's type verified by the inspector)."""
    request = build_request(
        output,
        model=model,
        onnx=onnx,
        precision=one_precision(precision, fp16),
        batches=(min_batch, opt_batch, max_batch),
        settings=BuilderSettings(workspace, timing_cache, opt_level, hardware_compat),
        weights=weights,
        transform_input=transform_input,
        keep_fp32=keep_fp32,
        force=force,
    )
    # The ONNX: the one given, or exported here beside the engine.
    if request.given is not None and request.onnx is not None:
        onnx_path, onnx_sha, info = request.onnx, None, request.given
    else:
        onnx_path, onnx_sha = _export(request, json_out)
        info = read_onnx_input(onnx_path)
    cfg = request.config
    command_line = trtexec_command(onnx_path, output, cfg, info.name, dynamic_batch=info.fixed_batch is None)
    # Without TensorRT here: the lines that build and adopt the same engine on the target.
    reason = missing_reason()
    if reason is not None:
        _no_tensorrt(reason, request.model, output, onnx_path, command_line, cfg, json_out)
    from ..tensorrt.builder import build_engine

    if not json_out:
        err.print(f"building {escape(printable(output))} with TensorRT (this takes minutes)...")
    with status(f"building {output.name} with TensorRT"):
        result = build_engine(
            onnx_path, output, cfg, model=request.model, onnx_sha256=onnx_sha, onnx_info=info, verbose=verbose
        )
    _report_built(result, output, onnx_path, command_line, json_out)


def _no_tensorrt(
    reason: str,
    name: str,
    output: Path,
    onnx_path: Path,
    command_line: str,
    cfg: EngineConfig,
    json_out: bool,
) -> None:
    """Say how to build and adopt the engine on the target, then fail (exit 2) with ``reason``."""
    adopt_line = shlex.join(["inception-export", "trt-manifest", str(output), "--onnx", str(onnx_path)])
    if json_out:
        emit_json(
            {
                "status": "tensorrt-unavailable",
                "error": reason,
                "model": name,
                "onnx": str(onnx_path),
                "engine": None,
                "trtexec": command_line,
                "manifest_command": adopt_line,
                "config": cfg.to_dict(),
            }
        )
    else:
        err.print("build it on the target with:", highlight=False)
        err.print(escape(printable(command_line)), highlight=False, soft_wrap=True)
        err.print("then verify it and write its manifest (for parity) there with:", highlight=False)
        err.print(escape(printable(adopt_line)), highlight=False, soft_wrap=True)
    raise BackendUnavailable(reason)


def _report_built(
    result: BuildResult, output: Path, onnx_path: Path, command_line: str, json_out: bool
) -> None:
    if json_out:
        emit_json(
            {
                "status": "ok",
                "engine": str(result.engine),
                "manifest": str(result.manifest),
                "onnx": str(onnx_path),
                "trtexec": command_line,
                "seconds": round(result.seconds, 1),
                **{k: v for k, v in result.manifest_data.items() if k not in ("format", "format_version")},
            }
        )
        return
    p = result.precision
    err.print(
        f"wrote {escape(printable(result.engine))} (sha256 {result.engine_sha256[:12]}, {p.convolutions} "
        f"convolutions verified: {p.fp16_convolutions} FP16, {p.fp32_convolutions} FP32) and "
        f"{escape(printable(manifest_path(output)))} in {result.seconds:.0f}s"
    )


def _export(request: BuildRequest, quiet: bool) -> tuple[Path, str]:
    """The ONNX the engine is built from, exported beside it (an identical earlier one is kept)."""
    from ..full.export import ExportOptions
    from ..full.export.beside import export_beside

    name, precision = request.model, request.config.precision
    spec = request.spec if request.spec is not None else name  # looked up once, by the request
    options = ExportOptions.create(
        spec,
        precision=precision,
        weights=request.weights,
        transform_input=checkpoint_transform_input(spec, request.weights, request.transform_input),
        keep_fp32=request.keep_fp32,
    )
    onnx_path = request.exported_onnx
    with status(f"exporting {name} to ONNX {precision}"):
        sha256, kept = export_beside(options, onnx_path, force=request.force, ours=_written_by_us)
    if not quiet:
        done = "kept the identical" if kept else "wrote"
        err.print(f"{done} {escape(printable(onnx_path))} ({precision} ONNX)")
    return onnx_path, sha256


def _written_by_us(path: Path) -> bool:
    try:
        return read_onnx_input(path).model is not None
    except ArtifactError:
        return False
