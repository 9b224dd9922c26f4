"""``inception-export release``: export everything, gate it, write the manifest."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .. import console
from ..console import emit_json, err, progress_steps
from ..errors import UsageError
from ..seed import DEFAULT_SEED
from ..text import printable
from .boundary import command
from .deploy_cmd import ClassNamesOpt, warn_left_out
from .export_cmd import _parse_batch
from .int8_options import CalibrationOpt
from .options import (
    AllowLooseLimitsOpt,
    AlsoFp16Alias,
    InputSizeOpt,
    JsonOpt,
    KeepFp32Opt,
    ModelOpt,
    OpsetOpt,
    SamplesOpt,
    SeedOpt,
    SummaryOpt,
    ToleranceProfileOpt,
    TransformInputOpt,
    WeightsOpt,
    images_option,
    output_option,
    precision_option,
    release_precisions,
)
from .parity_cmd import publish_ci, show_report

if TYPE_CHECKING:  # the release imports torch: only inside the command
    from ..full.release import ReleaseResult


OutDirOpt = Annotated[Path, output_option("Output directory (--out is the same option).", "DIR", "--out")]
ReleasePrecisionOpt = Annotated[
    str | None,
    precision_option(
        "The ONNX to export and gate, FP32 always among them (default fp32,fp16; int8 needs --calibration).",
        many=True,
    ),
]
TrtOpt = Annotated[
    bool | None,
    typer.Option(
        "--trt/--no-trt", help="TensorRT engine: default where TensorRT and a GPU exist; --trt requires it."
    ),
]
ReleaseBatchOpt = Annotated[
    str,
    typer.Option(
        "--batch", metavar="dynamic|N", help="ONNX batch: 'dynamic' or a fixed size (the engine's too)."
    ),
]
ReleaseEmbedOpt = Annotated[
    bool,
    typer.Option(
        "--embed-preprocessing", help="ONNX takes uint8 NHWC images and normalises in the graph (no engine)."
    ),
]
ReleaseImagesOpt = Annotated[Path | None, images_option("the gate's inputs and --keep-fp32 auto's")]
EngineMinBatchOpt = Annotated[
    int | None, typer.Option("--min-batch", metavar="N", help="Engine: smallest batch (1).")
]
EngineOptBatchOpt = Annotated[
    int | None, typer.Option("--opt-batch", metavar="N", help="Engine: batch the kernels are tuned for (1).")
]
EngineMaxBatchOpt = Annotated[
    int | None, typer.Option("--max-batch", metavar="N", help="Engine: largest batch (8).")
]
TorchscriptOpt = Annotated[
    bool,
    typer.Option(
        "--torchscript/--no-torchscript", help="Also export and gate TorchScript (Triton's libtorch)."
    ),
]
Int8Opt = Annotated[
    bool | None, typer.Option("--int8/--no-int8", help="Same as int8 in --precision: the INT8 QDQ ONNX too.")
]
DeployOpt = Annotated[
    str | None,
    typer.Option(
        "--deploy",
        metavar="triton|deepstream[,...]",
        help="Also write DIR/triton/ and/or DIR/deepstream/: triton,deepstream.",
    ),
]
ReleaseForceOpt = Annotated[
    bool, typer.Option("--force", "-f", help="Replace an earlier release in DIR (atomically).")
]


@command("release")
def release(
    model: ModelOpt,
    out: OutDirOpt,
    weights: WeightsOpt = None,
    transform_input: TransformInputOpt = None,
    precision: ReleasePrecisionOpt = None,
    trt: TrtOpt = None,
    samples: SamplesOpt = 6,
    tolerance_profile: ToleranceProfileOpt = "default",
    allow_loose_limits: AllowLooseLimitsOpt = False,
    seed: SeedOpt = DEFAULT_SEED,
    keep_fp32: KeepFp32Opt = None,
    input_size: InputSizeOpt = None,
    batch: ReleaseBatchOpt = "dynamic",
    opset: OpsetOpt = None,
    embed_preprocessing: ReleaseEmbedOpt = False,
    images: ReleaseImagesOpt = None,
    min_batch: EngineMinBatchOpt = None,
    opt_batch: EngineOptBatchOpt = None,
    max_batch: EngineMaxBatchOpt = None,
    torchscript: TorchscriptOpt = False,
    int8: Int8Opt = None,
    calibration: CalibrationOpt = None,
    deploy: DeployOpt = None,
    class_names: ClassNamesOpt = None,
    force: ReleaseForceOpt = False,
    json_out: JsonOpt = False,
    summary: SummaryOpt = None,
    fp16: AlsoFp16Alias = None,
) -> None:
    """Export ONNX FP32/FP16 (+ TensorRT, + TorchScript), gate them, write DIR/manifest.json."""
    from ..deploy.package import parse_targets
    from ..full.release import ReleaseOptions, check_release_options, run_release  # torch: when run
    from ..parity.tolerances import ToleranceProfile
    from ..registry import get_spec

    precisions = release_precisions(precision, fp16)
    _check_int8(precisions, int8, calibration)
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
    # Refuse bad options before the progress display starts and before any slow work; the
    # model, the profile and the exports are resolved here once, into the plan the release follows.
    plan = check_release_options(
        get_spec(model),
        out,
        weights=weights,
        transform_input=transform_input,
        trt=trt,
        force=force,
        seed=seed,
        samples=samples,
        profile=ToleranceProfile.parse(tolerance_profile, allow_loose_limits),
        fp16="fp16" in precisions,
        keep_fp32=keep_fp32,
        options=options,
    )
    inputs = {"weights": weights, "images": images, "calibration": calibration, "class_names": class_names}
    _check_summary(summary, force, out, profile=tolerance_profile, **inputs)
    with progress_steps("release") as step:  # run_release says how many steps
        result = run_release(plan, progress=step)
    _report(result, json_out, summary)
    raise typer.Exit(result.exit_code)


def _check_int8(precisions: tuple[str, ...], int8: bool | None, calibration: Path | None) -> None:
    """``--int8`` (the old spelling of int8 in --precision) agrees with it; INT8 has its calibration."""
    if int8 is False and "int8" in precisions:
        raise UsageError(f"--no-int8 contradicts --precision {','.join(precisions)}; give --precision only")
    wanted = bool(int8) or "int8" in precisions
    if wanted and calibration is None:
        raise UsageError("INT8 needs --calibration DIR (images the activation ranges are measured on)")
    if calibration is not None and not wanted:
        raise UsageError("--calibration applies to the INT8 export: add int8 to --precision")


def _report(result: ReleaseResult, json_out: bool, summary: Path | None) -> None:
    # The manifest is this command's JSON; the gate's table then goes to stderr.
    show_report(result.gate, json_out=json_out, junit=None, emit=False)
    (err if json_out else console.out).print(
        f"manifest: {printable(result.out_dir / 'manifest.json')}",
        soft_wrap=True,
        markup=False,
        highlight=False,
    )
    err.print(f"tensorrt: {result.manifest['tensorrt']}", soft_wrap=True)
    _say_calibration(result)
    for target, packaged in (result.manifest.get("deploy") or {}).items():
        warn_left_out(target, packaged["left_out"])
    publish_ci(result.gate, summary, "release")
    if json_out:
        emit_json(result.manifest)


def _say_calibration(result: ReleaseResult) -> None:
    """How many images the INT8 artifact's scales come from, and why, as `onnx --precision int8`
    says it: read from the artifact's own record (the release takes at most its default)."""
    from ..full.export.calibration import describe
    from ..metadata import read_metadata

    for entry in result.manifest["artifacts"]:
        if entry["precision"] == "int8" and entry["format"] == "onnx":
            record = read_metadata(result.out_dir / entry["file"]).record
            calibration = (record.get("quantization") or {}).get("calibration")
            if isinstance(calibration, dict) and "count" in calibration:
                err.print(
                    describe(calibration, "at most {samples} in a release"), markup=False, highlight=False
                )


def _check_summary(
    summary: Path | None,
    force: bool,
    out: Path,
    *,
    profile: str,
    **inputs: Path | None,
) -> None:
    """--summary (and $GITHUB_STEP_SUMMARY) refused before any work when it is one of the
    release's inputs or lies inside DIR, which the release replaces whole."""
    from ..parity.summary import check_summary

    given: list[tuple[str, Path | str | None]] = [(f"--{k.replace('_', '-')}", v) for k, v in inputs.items()]
    if Path(profile).is_file():
        given.append(("--tolerance-profile", profile))
    check_summary(summary, force, given, replaced=out)
