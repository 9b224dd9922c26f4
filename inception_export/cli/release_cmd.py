"""``inception-export release``: export everything, gate it, write the manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import console
from ..console import emit_json, err, progress_steps
from .app import command
from .options import (
    JsonOpt,
    KeepFp32Opt,
    ModelOpt,
    SeedOpt,
    TransformInputOpt,
    WeightsOpt,
    checkpoint_transform_input,
)
from .parity_cmd import show_report


@command("release")
def release(
    model: ModelOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")],
    weights: WeightsOpt = None,
    transform_input: TransformInputOpt = None,
    fp16: Annotated[bool, typer.Option("--fp16/--no-fp16", help="Also export and gate ONNX FP16.")] = True,
    trt: Annotated[
        bool | None,
        typer.Option(
            "--trt/--no-trt",
            help="TensorRT engine: default where TensorRT and a GPU exist; --trt requires it.",
        ),
    ] = None,
    samples: Annotated[int, typer.Option("--samples", help="Seeded random gate inputs.")] = 6,
    tolerance_profile: Annotated[
        str, typer.Option("--tolerance-profile", help="strict, default, or a TOML/JSON file of limits.")
    ] = "default",
    seed: SeedOpt = 20261123,
    keep_fp32: KeepFp32Opt = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Replace an earlier release in DIR (atomically).")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Export TorchScript + ONNX FP32/FP16 (+ TensorRT), gate them, write DIR/manifest.json."""
    from ..release import check_release_options, run_release  # imports torch: only when run
    from ..tensorrt import missing_reason

    # Refuse bad options before the progress display starts and before any slow work.
    check_release_options(
        model,
        out,
        weights=weights,
        trt=trt,
        force=force,
        samples=samples,
        profile=tolerance_profile,
        fp16=fp16,
        keep_fp32=keep_fp32,
    )
    ti = checkpoint_transform_input(model, weights, transform_input)
    artifacts = 2 + int(fp16) + int(trt is not False and missing_reason() is None)
    # build + one export each + gate start + reference + golden + three gate steps each
    with progress_steps("release", 4 + 4 * artifacts) as step:
        result = run_release(
            model,
            out,
            weights=weights,
            transform_input=ti,
            fp16=fp16,
            trt=trt,
            force=force,
            seed=seed,
            samples=samples,
            profile=tolerance_profile,
            progress=step,
            keep_fp32=keep_fp32,
        )
    # The manifest is this command's JSON; the gate's table then goes to stderr.
    show_report(result.gate, json_out=json_out, junit=None, emit=False)
    (err if json_out else console.out).print(f"manifest: {out / 'manifest.json'}", soft_wrap=True)
    err.print(f"tensorrt: {result.manifest['tensorrt']}", soft_wrap=True)
    if json_out:
        emit_json(result.manifest)
    raise typer.Exit(result.exit_code)
