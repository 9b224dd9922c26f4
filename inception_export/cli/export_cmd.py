"""``inception-export onnx`` and ``inception-export torchscript``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..bounds import MAX_BATCH, check_count
from ..console import emit_json, err, status
from ..errors import UsageError
from ..precision import parse_precision
from ..registry import get_spec
from ..seed import DEFAULT_SEED
from ..text import printable
from .boundary import command
from .int8_options import CalibrationMethodOpt, CalibrationOpt, CalibrationSamplesOpt, KeepFp16Opt
from .options import (
    EmbedPreprocessingOpt,
    ForceOpt,
    InputSizeOpt,
    JsonOpt,
    KeepFp32Opt,
    ModelOpt,
    OnnxBatchOpt,
    OpsetOpt,
    SeedOpt,
    TransformInputOpt,
    WeightsOpt,
    checkpoint_transform_input,
    images_option,
    output_option,
    precision_option,
)

if TYPE_CHECKING:  # the exporters import torch: only inside the commands (the device role has none)
    from ..full.export import ExportResult

OutputOpt = Annotated[
    Path | None, output_option("Artifact path (default: MODEL-PRECISION.EXT in this directory).")
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
    check_count("--batch", batch, 1, MAX_BATCH)
    return batch


def check_apart_from_inputs(output: Path, inputs: list[tuple[str, Path | None]]) -> None:
    """The artifact and its sidecar must not be any input of the command (--force or not)."""
    from ..atomic import check_apart, writes_into
    from ..metadata import sidecar_path

    files = {"-o": output}
    if not writes_into(output):
        files["-o's metadata sidecar"] = sidecar_path(output)
    check_apart(inputs, files=files)


def _report(result: ExportResult, json_out: bool) -> None:
    if json_out:
        emit_json(result.to_dict())
        return
    from ..atomic import not_stored

    meta = result.metadata
    what = f"{result.format} {result.precision}, {meta['model']} {meta['input_size']}x{meta['input_size']}"
    elsewhere = not_stored(result.path)
    if elsewhere is not None:
        # -o /dev/null, a FIFO: no file, no sidecar; the hash is of the bytes that went there.
        line = f"exported ({what}) and {elsewhere}; no sidecar; sha256 of the bytes {result.sha256[:16]}"
    else:
        line = f"wrote {result.path} ({what}, sha256 {result.sha256[:16]}) and {result.sidecar.name}"
    # The path is the user's: its control characters escaped, its brackets not taken for markup.
    err.print(printable(line), markup=False, highlight=False, soft_wrap=True)


@command("onnx")
def onnx_cmd(
    model: ModelOpt,
    output: OutputOpt = None,
    weights: WeightsOpt = None,
    transform_input: TransformInputOpt = None,
    precision: Annotated[
        str, precision_option("fp32; fp16, or int8 (QDQ, needs --calibration): float32 input/output.")
    ] = "fp32",
    opset: OpsetOpt = None,
    batch: OnnxBatchOpt = "dynamic",
    input_size: InputSizeOpt = None,
    embed_preprocessing: EmbedPreprocessingOpt = False,
    keep_fp32: KeepFp32Opt = None,
    images: Annotated[Path | None, images_option("what --keep-fp32/--keep-fp16 auto measure")] = None,
    calibration: CalibrationOpt = None,
    calibration_samples: CalibrationSamplesOpt = None,
    calibration_method: CalibrationMethodOpt = None,
    keep_fp16: KeepFp16Opt = None,
    force: ForceOpt = False,
    seed: SeedOpt = DEFAULT_SEED,
    json_out: JsonOpt = False,
) -> None:
    """Export to ONNX: BN folded, dynamic batch, metadata embedded and in a sidecar."""
    from ..full.export import export_onnx

    precision = parse_precision(precision)
    fixed = _parse_batch(batch)
    spec = get_spec(model)  # resolved once: the functions below take the spec
    if output is None:
        output = Path(f"{spec.name}-{precision}.onnx")
    inputs = [("--weights", weights), ("--calibration", calibration), ("--images", images)]
    check_apart_from_inputs(output, inputs)
    ti = checkpoint_transform_input(spec, weights, transform_input)
    int8_options = (calibration, calibration_samples, calibration_method, keep_fp16)
    if precision == "int8" or any(v is not None for v in int8_options):
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
    with status(f"exporting {spec.name} to ONNX {precision}"):
        result = export_onnx(
            spec,
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
        int | None, typer.Option("--input-size", metavar="S", help="Input size recorded in the metadata.")
    ] = None,
    force: ForceOpt = False,
    seed: SeedOpt = DEFAULT_SEED,
    json_out: JsonOpt = False,
) -> None:
    """Export a frozen TorchScript module (loads with plain torch.jit.load)."""
    from ..full.export import export_torchscript

    spec = get_spec(model)  # resolved once: the functions below take the spec
    if output is None:
        output = Path(f"{spec.name}-fp32.torchscript.pt")
    check_apart_from_inputs(output, [("--weights", weights)])
    ti = checkpoint_transform_input(spec, weights, transform_input)
    with status(f"exporting {spec.name} to TorchScript"):
        result = export_torchscript(
            spec,
            output,
            weights=weights,
            transform_input=ti,
            input_size=input_size,
            force=force,
            seed=seed,
        )
    _report(result, json_out)
