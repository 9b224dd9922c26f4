"""``inception-export release``: export everything, gate it, write the manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..console import emit_json, err, progress_steps
from .app import command
from .options import ForceOpt, JsonOpt, ModelOpt, SeedOpt, TransformInputOpt, WeightsOpt
from .parity_cmd import show_report


@command("release")
def release(
    model: ModelOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")],
    weights: WeightsOpt = None,
    transform_input: TransformInputOpt = False,
    fp16: Annotated[bool, typer.Option("--fp16/--no-fp16", help="Also export and gate ONNX FP16.")] = True,
    trt: Annotated[
        bool | None,
        typer.Option(
            "--trt/--no-trt",
            help="TensorRT engine: default where TensorRT and a GPU exist; --trt requires it.",
        ),
    ] = None,
    samples: Annotated[int, typer.Option("--samples", help="Seeded random gate inputs.")] = 6,
    tolerance_profile: Annotated[str, typer.Option("--tolerance-profile")] = "default",
    seed: SeedOpt = 20261123,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Export TorchScript + ONNX FP32/FP16 (+ TensorRT), gate them, write DIR/manifest.json."""
    from ..release import run_release  # imports torch: only when the command runs
    from ..tensorrt import missing_reason

    artifacts = 2 + int(fp16) + int(trt is not False and missing_reason() is None)
    # build + one export each + gate start + reference + golden + three gate steps each
    with progress_steps("release", 4 + 4 * artifacts) as step:
        result = run_release(
            model,
            out,
            weights=weights,
            transform_input=transform_input,
            fp16=fp16,
            trt=trt,
            force=force,
            seed=seed,
            samples=samples,
            profile=tolerance_profile,
            progress=step,
        )
    show_report(result.gate, json_out=False, junit=None)
    err.print(f"manifest: {out / 'manifest.json'}  (tensorrt: {result.manifest['tensorrt']})", soft_wrap=True)
    if json_out:
        emit_json(result.manifest)
    raise typer.Exit(result.exit_code)
