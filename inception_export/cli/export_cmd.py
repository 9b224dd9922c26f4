"""``inception-export onnx`` and ``inception-export torchscript``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..console import emit_json, err, status
from ..errors import UsageError
from ..registry import get_spec
from .app import command
from .int8_options import CalibrationMethodOpt, CalibrationOpt, CalibrationSamplesOpt, KeepFp16Opt
from .options import (
    ForceOpt,
    JsonOpt,
    KeepFp32Opt,
    ModelOpt,
    SeedOpt,
    TransformInputOpt,
    WeightsOpt,
    checkpoint_transform_input,
)

if TYPE_CHECKING:  # the exporters import torch: only inside the commands (the device role has none)
    from ..export import ExportResult

DEFAULT_SEED = 20261123  # synthetic.DEFAULT_SEED, repeated so that importing this module needs no torch

OutputOpt = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Artifact path (default: {model}-{precision}.{ext} here)."),
]


def _parse_batch(value: str) -> int | None:
    if value.strip().lower() == "dynamic":
        return None
    try:
        batch = int(value)
    except ValueError:
        raise UsageError(f"--batch must be 'dynamic' or a positive integer, got {value!r}") from None
    if batch < 1:
        raise UsageError(f"--batch must be 'dynamic' or a positive integer, got {value!r}")
    return batch


def _report(result: ExportResult, json_out: bool) -> None:
    if json_out:
        emit_json(result.to_dict())
        return
    meta = result.metadata
    sidecar = f" and {result.sidecar.name}" if result.sidecar.is_file() else ""  # none beside /dev/null
    err.print(
        f"wrote {result.path} ({result.format} {result.precision}, {meta['model']} "
        f"{meta['input_size']}x{meta['input_size']}, sha256 {result.sha256[:16]}){sidecar}"
    )


@command("onnx")
def onnx_cmd(
    model: ModelOpt,
    output: OutputOpt = None,
    weights: WeightsOpt = None,
    transform_input: TransformInputOpt = None,
    precision: Annotated[
        str,
        typer.Option(
            "--precision", help="fp32; fp16 or int8 (QDQ, needs --calibration) with float32 input/output."
        ),
    ] = "fp32",
    opset: Annotated[int | None, typer.Option("--opset", help="ONNX opset (18-22; default 18).")] = None,
    batch: Annotated[str, typer.Option("--batch", help="'dynamic' or a fixed batch size.")] = "dynamic",
    input_size: Annotated[
        int | None, typer.Option("--input-size", help="Square input size (default: the model's).")
    ] = None,
    embed_preprocessing: Annotated[
        bool,
        typer.Option("--embed-preprocessing", help="Take uint8 NHWC images and normalise in the graph."),
    ] = False,
    keep_fp32: KeepFp32Opt = None,
    images: Annotated[
        Path | None, typer.Option("--images", help="Photographs added to what --keep-fp32 auto measures.")
    ] = None,
    calibration: CalibrationOpt = None,
    calibration_samples: CalibrationSamplesOpt = 64,
    calibration_method: CalibrationMethodOpt = "minmax",
    keep_fp16: KeepFp16Opt = None,
    force: ForceOpt = False,
    seed: SeedOpt = DEFAULT_SEED,
    json_out: JsonOpt = False,
) -> None:
    """Export to ONNX: BN folded, dynamic batch, metadata embedded and in a sidecar."""
    from ..export import export_onnx

    precision = precision.strip().lower()
    fixed = _parse_batch(batch)
    ti = checkpoint_transform_input(model, weights, transform_input)
    if output is None:
        output = Path(f"{get_spec(model).name}-{precision}.onnx")
    if precision == "int8" or calibration is not None or keep_fp16 is not None:
        from .int8_export import int8_onnx

        result = int8_onnx(
            model,
            output,
            precision=precision,
            calibration=calibration,
            calibration_samples=calibration_samples,
            calibration_method=calibration_method,
            keep_fp16=keep_fp16,
            keep_fp32=keep_fp32,
            weights=weights,
            transform_input=ti,
            opset=opset,
            batch=fixed,
            input_size=input_size,
            embed_preprocessing=embed_preprocessing,
            force=force,
            seed=seed,
            images=images,
        )
        _report(result, json_out)
        return
    with status(f"exporting {model} to ONNX {precision}"):
        result = export_onnx(
            model,
            output,
            weights=weights,
            transform_input=ti,
            precision=precision,
            opset=opset,
            batch=fixed,
            input_size=input_size,
            embed_preprocessing=embed_preprocessing,
            force=force,
            seed=seed,
            keep_fp32=keep_fp32,
            keep_fp32_images=images,
        )
    _report(result, json_out)


@command("torchscript")
def torchscript_cmd(
    model: ModelOpt,
    output: OutputOpt = None,
    weights: WeightsOpt = None,
    transform_input: TransformInputOpt = None,
    input_size: Annotated[
        int | None, typer.Option("--input-size", help="Input size recorded in the metadata.")
    ] = None,
    force: ForceOpt = False,
    seed: SeedOpt = DEFAULT_SEED,
    json_out: JsonOpt = False,
) -> None:
    """Export a frozen TorchScript module (loads with plain torch.jit.load)."""
    from ..export import export_torchscript

    if output is None:
        output = Path(f"{get_spec(model).name}-fp32.torchscript.pt")
    ti = checkpoint_transform_input(model, weights, transform_input)
    with status(f"exporting {model} to TorchScript"):
        result = export_torchscript(
            model,
            output,
            weights=weights,
            transform_input=ti,
            input_size=input_size,
            force=force,
            seed=seed,
        )
    _report(result, json_out)
