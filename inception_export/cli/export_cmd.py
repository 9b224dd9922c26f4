"""``inception-export onnx`` and ``inception-export torchscript``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..bounds import MAX_BATCH, check_count
from ..console import emit_json, err, progress_steps, status
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


OnnxPrecisionOpt = Annotated[
    str, precision_option("fp32; fp16, or int8 (QDQ, needs --calibration): float32 input/output.")
]
RecordedSizeOpt = Annotated[
    int | None, typer.Option("--input-size", metavar="S", help="Input size recorded in the metadata.")
]


@command("onnx")
def onnx_cmd(
    model: ModelOpt,
    output: OutputOpt = None,
    weights: WeightsOpt = None,
    transform_input: TransformInputOpt = None,
    precision: OnnxPrecisionOpt = "fp32",
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
    from ..full.export import ExportOptions, write_onnx

    precision = parse_precision(precision)
    fixed = _parse_batch(batch)
    spec = get_spec(model)  # resolved once: the options below carry the spec
    output = Path(f"{spec.name}-{precision}.onnx") if output is None else output
    check_apart_from_inputs(
        output, [("--weights", weights), ("--calibration", calibration), ("--images", images)]
    )
    options = ExportOptions.create(
        spec,
        precision=precision,
        weights=weights,
        transform_input=checkpoint_transform_input(spec, weights, transform_input),
        seed=seed,
        opset=opset,
        batch=fixed,
        input_size=input_size,
        embed_preprocessing=embed_preprocessing,
        keep_fp32=keep_fp32,
        images=images,
        calibration=calibration,
        calibration_samples=calibration_samples,
        calibration_method=calibration_method,
        keep_fp16=keep_fp16,
        auto_keep=_int8_auto_keep(precision),
    )
    if options.int8 is None:
        with status(f"exporting {spec.name} to ONNX {precision}"):
            result = write_onnx(options, output, force=force)
    else:
        # INT8 reports its phases (a minute and more at a model's full size), then how many
        # calibration images its scales come from, and why that many.
        from ..full.export.calibration import describe

        with progress_steps("onnx int8") as step:
            result = write_onnx(options, output, force=force, progress=step)
        err.print(describe(result.metadata["quantization"]["calibration"]), markup=False, highlight=False)
    _report(result, json_out)


def _int8_auto_keep(precision: str) -> Any:
    """``--keep-fp16 auto``'s measurement, from localize/ (which the exporter does not import)."""
    if precision != "int8":
        return None
    from ..full.localize.int8_auto import auto_keep_fp16

    return auto_keep_fp16


@command("torchscript")
def torchscript_cmd(
    model: ModelOpt,
    output: OutputOpt = None,
    weights: WeightsOpt = None,
    transform_input: TransformInputOpt = None,
    input_size: RecordedSizeOpt = None,
    force: ForceOpt = False,
    seed: SeedOpt = DEFAULT_SEED,
    json_out: JsonOpt = False,
) -> None:
    """Export a frozen TorchScript module (loads with plain torch.jit.load)."""
    from ..full.export import ExportOptions, write_torchscript

    spec = get_spec(model)  # resolved once: the options below carry the spec
    output = Path(f"{spec.name}-fp32.torchscript.pt") if output is None else output
    check_apart_from_inputs(output, [("--weights", weights)])
    options = ExportOptions.create(
        spec,
        weights=weights,
        transform_input=checkpoint_transform_input(spec, weights, transform_input),
        input_size=input_size,
        seed=seed,
    )
    with status(f"exporting {spec.name} to TorchScript"):
        result = write_torchscript(options, output, force=force)
    _report(result, json_out)
