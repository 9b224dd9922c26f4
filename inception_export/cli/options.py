"""Options shared by several commands, declared once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import UsageError
from ..precision import PRECISIONS, parse_precision, parse_precisions

if TYPE_CHECKING:
    from ..registry import ModelSpec

ModelOpt = Annotated[
    str, typer.Option("--model", "-m", metavar="NAME", help="Model name or alias (see `models`).")
]
WeightsOpt = Annotated[
    Path | None,
    typer.Option(
        "--weights",
        "-w",
        metavar="FILE",
        help="Checkpoint (.pth/.pt/.safetensors); default: synthetic weights.",
    ),
]
TransformInputOpt = Annotated[
    bool | None,
    typer.Option(
        "--transform-input/--no-transform-input",
        help="torchvision's input re-normalisation (for its published v1/v3 checkpoints; "
        "default: set by a recognised published checkpoint, else off).",
    ),
]


def checkpoint_transform_input(model: str | ModelSpec, weights: Path | None, flag: bool | None) -> bool:
    """``--transform-input`` as the weights decide it: a recognised published checkpoint sets it
    (with a note) and refuses a contradicting flag; otherwise the flag, off when not given."""
    from ..registry import get_spec, resolve_transform_input

    return resolve_transform_input(get_spec(model), weights, flag)[0]


SeedOpt = Annotated[int, typer.Option("--seed", metavar="N", help="Seed of the synthetic weights.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
ForceOpt = Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing output.")]
KeepFp32Opt = Annotated[
    str | None,
    typer.Option(
        "--keep-fp32",
        metavar="auto|LAYER,...",
        help="FP16: 'auto' (measured) or LAYER[,LAYER...] module paths kept float32 in the graph.",
    ),
]

InputSizeOpt = Annotated[
    int | None, typer.Option("--input-size", metavar="S", help="Square input size (default: the model's).")
]
OnnxBatchOpt = Annotated[
    str, typer.Option("--batch", metavar="dynamic|N", help="ONNX batch: 'dynamic' or a fixed batch size.")
]
OpsetOpt = Annotated[int | None, typer.Option("--opset", metavar="N", help="ONNX opset (18-22; default 18).")]
EmbedPreprocessingOpt = Annotated[
    bool,
    typer.Option(
        "--embed-preprocessing", help="The ONNX takes uint8 NHWC images and normalises in the graph."
    ),
]


def images_option(inputs: str = "the inputs") -> Any:
    """``--images DIR``: its photographs take the place of the three bundled sample photographs
    (scikit-image's) in ``inputs``; the seeded random and edge-case inputs stay."""
    return typer.Option(
        "--images",
        metavar="DIR",
        help=f"Directory of photographs that replace the three bundled sample photos in {inputs} "
        "(the seeded random and edge-case inputs stay).",
    )


ImagesOpt = Annotated[Path | None, images_option()]
SamplesOpt = Annotated[int, typer.Option("--samples", metavar="N", help="Seeded random inputs.")]
ToleranceProfileOpt = Annotated[
    str,
    typer.Option(
        "--tolerance-profile", metavar="PROFILE", help="strict, default, or a TOML/JSON file of limits."
    ),
]
# Limits looser than the built-in bound (parity/tolerances.py: bound) are refused without it.
AllowLooseLimitsOpt = Annotated[
    bool,
    typer.Option(
        "--allow-loose-limits",
        help="Take tolerance limits looser than the built-in bound (10x the default profile's error "
        "limits, no agreement limit below its own); the report says so.",
    ),
]
ThreadsOpt = Annotated[
    int | None,
    typer.Option("--threads", metavar="N", help="CPU threads for torch and onnxruntime (default: all)."),
]
SummaryOpt = Annotated[
    Path | None,
    typer.Option(
        "--summary",
        metavar="FILE",
        help="Write the verdict as Markdown here (one row per artifact; also appended to "
        "$GITHUB_STEP_SUMMARY when set).",
    ),
]
MinBatchOpt = Annotated[int | None, typer.Option("--min-batch", metavar="N", help="Engine: smallest batch.")]


def output_option(help: str, metavar: str = "FILE", *aliases: str) -> Any:
    """``-o/--output``: every command names what it writes the same way (``aliases`` keeps an
    older spelling working)."""
    return typer.Option("--output", "-o", *aliases, metavar=metavar, help=help)


# --- Precision: one option, one vocabulary (precision.PRECISIONS) -----------------------------

_CHOICES = "|".join(PRECISIONS)


def precision_option(help: str, many: bool = False) -> Any:
    """``--precision``: one name, or (``many``) a comma list of the artifacts to make."""
    metavar = f"{_CHOICES}[,...]" if many else _CHOICES
    return typer.Option("--precision", metavar=metavar, help=help)


def _deprecated_flag(flags: str, precision_for: dict[bool, str]) -> Any:
    """A hidden ``--on/--off`` flag that still works and notes which ``--precision`` replaces it."""
    spelled = dict(zip((True, False), flags.split("/"), strict=True))

    def note(value: bool | None) -> bool | None:
        if value is not None:
            from ..console import err

            err.print(
                f"[yellow]note:[/] {spelled[value]} is deprecated; use --precision {precision_for[value]}",
                soft_wrap=True,
            )
        return value

    return typer.Option(
        flags,
        hidden=True,
        callback=note,
        help=f"Deprecated: --precision {precision_for[True]} / {precision_for[False]}.",
    )


# trt's old spelling: --fp16 / --fp32 chose the engine's precision.
Fp16Fp32Alias = Annotated[bool | None, _deprecated_flag("--fp16/--fp32", {True: "fp16", False: "fp32"})]
# release's old spelling: --fp16 (the default) / --no-fp16 meant "also FP16" / "FP32 only".
AlsoFp16Alias = Annotated[
    bool | None, _deprecated_flag("--fp16/--no-fp16", {True: "fp32,fp16", False: "fp32"})
]


def one_precision(precision: str | None, fp16_alias: bool | None) -> str | None:
    """``--precision`` or its deprecated ``--fp16/--fp32`` spelling (None: neither given)."""
    alias = None if fp16_alias is None else ("fp16" if fp16_alias else "fp32")
    chosen = None if precision is None else parse_precision(precision)
    if chosen is not None and alias is not None and chosen != alias:
        raise UsageError(f"--precision {chosen} contradicts --{alias}; give --precision only")
    return chosen or alias


def release_precisions(precision: str | None, fp16_alias: bool | None) -> tuple[str, ...]:
    """The ONNX precisions a release makes: ``--precision`` (a comma list, FP32 always among
    them: it is the artifact the others are checked beside) or the deprecated ``--fp16/--no-fp16``."""
    alias = None if fp16_alias is None else (("fp32", "fp16") if fp16_alias else ("fp32",))
    if precision is None:
        return alias or ("fp32", "fp16")
    chosen = parse_precisions(precision)
    # The old flag spoke of FP16 only: int8 beside it is no contradiction.
    if alias is not None and tuple(p for p in chosen if p != "int8") != alias:
        flag = "--fp16" if fp16_alias else "--no-fp16"
        raise UsageError(f"--precision {','.join(chosen)} contradicts {flag}; give --precision only")
    if "fp32" not in chosen:
        raise UsageError(
            f"--precision {precision}: a release always makes the FP32 ONNX; give fp32,{','.join(chosen)}"
        )
    return chosen


def usable_cores() -> int:
    """Cores this process may use (the affinity mask, not the host's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_threads(threads: int | None) -> int | None:
    """``--threads``: at least 1, and capped at the cores there are (more threads than cores
    only add contention; thousands would fail to start under memory pressure)."""
    if threads is None:
        return None
    if threads < 1:
        raise UsageError(f"--threads must be at least 1, got {threads}")
    cores = usable_cores()
    if threads > cores:
        from ..console import err

        err.print(f"[yellow]note:[/] --threads {threads} capped at the {cores} cores this process may use")
        return cores
    return threads
