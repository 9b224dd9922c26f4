"""``inception-export release``: export everything, gate it, write the manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import console
from ..console import emit_json, err, progress_steps
from ..errors import UsageError
from .app import command
from .deploy_cmd import ClassNamesOpt
from .export_cmd import _parse_batch
from .int8_options import CalibrationOpt
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

EngineBatchOpt = int | None


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
    input_size: Annotated[
        int | None, typer.Option("--input-size", help="Square input size (default: the model's).")
    ] = None,
    batch: Annotated[
        str, typer.Option("--batch", help="ONNX batch: 'dynamic' or a fixed size (the engine's too).")
    ] = "dynamic",
    opset: Annotated[int | None, typer.Option("--opset", help="ONNX opset (18-22; default 18).")] = None,
    embed_preprocessing: Annotated[
        bool,
        typer.Option(
            "--embed-preprocessing",
            help="ONNX takes uint8 NHWC images and normalises in the graph (no engine).",
        ),
    ] = False,
    images: Annotated[
        Path | None,
        typer.Option(
            "--images", help="Directory of photographs added to the gate's inputs and --keep-fp32 auto's."
        ),
    ] = None,
    min_batch: Annotated[
        EngineBatchOpt, typer.Option("--min-batch", help="Engine: smallest batch (1).")
    ] = None,
    opt_batch: Annotated[
        EngineBatchOpt, typer.Option("--opt-batch", help="Engine: batch the kernels are tuned for (1).")
    ] = None,
    max_batch: Annotated[
        EngineBatchOpt, typer.Option("--max-batch", help="Engine: largest batch (8).")
    ] = None,
    torchscript: Annotated[
        bool,
        typer.Option(
            "--torchscript/--no-torchscript", help="Also export and gate TorchScript (Triton's libtorch)."
        ),
    ] = False,
    int8: Annotated[
        bool, typer.Option("--int8/--no-int8", help="Also export and gate the INT8 QDQ ONNX (--calibration).")
    ] = False,
    calibration: CalibrationOpt = None,
    deploy: Annotated[
        str | None,
        typer.Option("--deploy", help="Also write DIR/triton/ and/or DIR/deepstream/: triton,deepstream."),
    ] = None,
    class_names: ClassNamesOpt = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Replace an earlier release in DIR (atomically).")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Export ONNX FP32/FP16 (+ TensorRT, + TorchScript), gate them, write DIR/manifest.json."""
    from ..deploy.package import parse_targets
    from ..release import ReleaseOptions, check_release_options, run_release  # imports torch: only when run
    from ..tensorrt import missing_reason

    if int8 and calibration is None:
        raise UsageError("--int8 needs --calibration DIR (images the activation ranges are measured on)")
    if calibration is not None and not int8:
        raise UsageError("--calibration applies to the INT8 export: add --int8")
    options = ReleaseOptions(
        input_size=input_size,
        batch=_parse_batch(batch),
        opset=opset,
        embed_preprocessing=embed_preprocessing,
        images=images,
        min_batch=min_batch,
        opt_batch=opt_batch,
        max_batch=max_batch,
        torchscript=torchscript,
        int8_calibration=calibration,
        deploy=parse_targets(deploy),
        class_names=class_names,
    )
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
        options=options,
    )
    ti = checkpoint_transform_input(model, weights, transform_input)
    engine = trt is not False and missing_reason() is None and options.engine_unsupported() is None
    artifacts = int(torchscript) + 1 + int(fp16) + int(engine) + int(int8)
    # build + the exports (FP32 and FP16 together, INT8) + the engine + gate start + reference +
    # golden inputs + three gate steps each
    with progress_steps(
        "release", 5 + int(engine) + int(int8) + 3 * artifacts + int(bool(options.deploy))
    ) as step:
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
            options=options,
        )
    # The manifest is this command's JSON; the gate's table then goes to stderr.
    show_report(result.gate, json_out=json_out, junit=None, emit=False)
    (err if json_out else console.out).print(f"manifest: {out / 'manifest.json'}", soft_wrap=True)
    err.print(f"tensorrt: {result.manifest['tensorrt']}", soft_wrap=True)
    if json_out:
        emit_json(result.manifest)
    raise typer.Exit(result.exit_code)
