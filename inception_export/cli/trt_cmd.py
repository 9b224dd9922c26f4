"""``inception-export trt``: build a strongly typed, precision-verified TensorRT engine.

Without TensorRT or a GPU it still writes the ONNX beside the requested engine and prints the
``trtexec`` line that builds the same engine on the target, then exits 2 naming what is missing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from ..atomic import check_output
from ..console import emit_json, err
from ..errors import BackendUnavailable, UsageError
from ..registry import get_spec
from ..tensorrt.availability import missing_reason
from ..tensorrt.config import EngineConfig
from ..tensorrt.manifest import manifest_path
from ..tensorrt.onnx_input import read_onnx_input
from ..tensorrt.trtexec import trtexec_command
from .app import command
from .options import ForceOpt, JsonOpt, TransformInputOpt, WeightsOpt


@command("trt")
def trt(
    output: Annotated[Path, typer.Option("--output", "-o", help="Engine file to write (e.g. model.engine).")],
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Model name or alias; with --onnx, read from its metadata."),
    ] = None,
    weights: WeightsOpt = None,
    onnx: Annotated[
        Path | None, typer.Option("--onnx", help="Build from this ONNX instead of exporting one.")
    ] = None,
    fp16: Annotated[bool, typer.Option("--fp16/--fp32", help="FP16 graph (verified) or FP32.")] = True,
    min_batch: Annotated[int, typer.Option("--min-batch", help="Smallest batch of the profile.")] = 1,
    opt_batch: Annotated[int, typer.Option("--opt-batch", help="Batch the kernels are tuned for.")] = 1,
    max_batch: Annotated[
        int | None, typer.Option("--max-batch", help="Largest batch of the profile (default: opt).")
    ] = None,
    workspace: Annotated[float, typer.Option("--workspace", help="Workspace memory pool in GiB.")] = 2.0,
    timing_cache: Annotated[
        Path | None, typer.Option("--timing-cache", help="Timing cache file to load and update.")
    ] = None,
    opt_level: Annotated[int, typer.Option("--opt-level", help="Builder optimisation level 0-5.")] = 3,
    hardware_compat: Annotated[
        str, typer.Option("--hardware-compat", help="none, or ampere+ to run on any GPU from Ampere on.")
    ] = "none",
    transform_input: TransformInputOpt = False,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Build a TensorRT engine (strongly typed; --fp16 verified by the engine inspector)."""
    # With --onnx and its metadata, no registry lookup: that loads the model code (torch),
    # which the device role does not install.
    facts = _onnx_facts(onnx) if onnx is not None and model is None else None
    if facts is None and model is None:
        raise UsageError("--model is required (or --onnx FILE made by inception-export)")
    spec = get_spec(str(model)) if facts is None else None
    model_name = spec.name if spec is not None else str(facts["model"]) if facts else ""
    default_size = spec.default_size if spec is not None else int(facts["input_size"]) if facts else 0
    precision = "fp16" if fp16 else "fp32"
    cfg = EngineConfig(
        precision=precision,
        min_batch=min_batch,
        opt_batch=opt_batch,
        max_batch=max_batch if max_batch is not None else max(opt_batch, min_batch),
        input_size=default_size,
        workspace_gib=workspace,
        opt_level=opt_level,
        timing_cache=timing_cache,
        hardware_compat=hardware_compat,
    )
    cfg.validate()
    if output.suffix.lower() == ".onnx":
        raise UsageError(f"{output}: the engine output must not end in .onnx (the ONNX is written beside it)")
    check_output(output, force)

    if onnx is not None:
        if not onnx.is_file():
            raise UsageError(f"{onnx}: no such ONNX file")
        onnx_path, onnx_sha = onnx, None
    else:
        from ..export import export_onnx

        onnx_path = output.with_suffix(".onnx")
        check_output(onnx_path, force)
        with err.status(f"exporting {model} to ONNX {precision}"):
            res = export_onnx(
                model_name,
                onnx_path,
                weights=weights,
                transform_input=transform_input,
                precision=precision,
                batch=None,
                input_size=None,
                force=True,
            )
        onnx_path, onnx_sha = Path(res.path), res.sha256
        if not json_out:
            err.print(f"wrote {escape(str(onnx_path))} ({precision} ONNX)")

    info = read_onnx_input(onnx_path)
    if info.fixed_size is not None and info.fixed_size != cfg.input_size:
        if spec is not None:
            spec.check_size(info.fixed_size)
        cfg = dataclasses.replace(cfg, input_size=info.fixed_size)
    command_line = trtexec_command(onnx_path, output, cfg, info.name)

    reason = missing_reason()
    if reason is not None:
        if json_out:
            emit_json(
                {
                    "status": "tensorrt-unavailable",
                    "error": reason,
                    "onnx": str(onnx_path),
                    "engine": None,
                    "trtexec": command_line,
                    "config": cfg.to_dict(),
                }
            )
        else:
            err.print("build it on the target with:", highlight=False)
            err.print(escape(command_line), highlight=False, soft_wrap=True)
        raise BackendUnavailable(reason)

    from ..tensorrt.builder import build_engine

    if not json_out:
        err.print(f"building {escape(str(output))} with TensorRT (this takes minutes)...")
    with err.status(f"building {output.name} with TensorRT"):
        result = build_engine(onnx_path, output, cfg, model=model_name, onnx_sha256=onnx_sha)
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
        f"wrote {escape(str(result.engine))} (sha256 {result.engine_sha256[:12]}, "
        f"{p.fp16_convolutions}/{p.convolutions} convolutions FP16) and {escape(str(manifest_path(output)))} "
        f"in {result.seconds:.0f}s"
    )


def _onnx_facts(onnx: Path) -> dict[str, Any] | None:
    """Model name and input size from an ONNX's inception-export metadata (None without it)."""
    from ..artifacts import read_metadata
    from ..errors import ArtifactError

    if not onnx.is_file():
        raise UsageError(f"{onnx}: no such ONNX file")
    try:
        meta = read_metadata(onnx)
    except ArtifactError:
        return None
    return meta if "model" in meta and "input_size" in meta else None
