"""``inception-export localize``: which layer of an ONNX artifact drifts from eager PyTorch."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..console import emit_json, progress_steps
from .boundary import command
from .options import (
    AllowLooseLimitsOpt,
    ImagesOpt,
    JsonOpt,
    ModelOpt,
    SamplesOpt,
    ThreadsOpt,
    ToleranceProfileOpt,
    TransformInputOpt,
    WeightsOpt,
    checkpoint_transform_input,
)


@command("localize")
def localize_cmd(
    model: ModelOpt,
    artifact: Annotated[
        Path, typer.Argument(metavar="ARTIFACT", help="An ONNX artifact (FP32, FP16 or INT8) from `onnx`.")
    ],
    weights: WeightsOpt = None,
    transform_input: TransformInputOpt = None,
    images: ImagesOpt = None,
    samples: SamplesOpt = 6,
    tolerance_profile: ToleranceProfileOpt = "default",
    allow_loose_limits: AllowLooseLimitsOpt = False,
    threads: ThreadsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Per-layer error against eager PyTorch; exit 0 none diverges, 1 one does, 2 bad input."""
    from ..full.golden import check_samples
    from ..full.localize.core import localize
    from ..full.localize.table import table
    from ..parity.tolerances import ToleranceProfile
    from .options import check_threads

    check_samples(samples)  # before the progress bar sized by it
    threads = check_threads(threads)
    ti = checkpoint_transform_input(model, weights, transform_input)
    profile = ToleranceProfile.parse(tolerance_profile, allow_loose_limits)
    # The total comes from the core, which knows how many inputs --images adds.
    with progress_steps("localize") as step:
        report = localize(
            model,
            artifact,
            weights=weights,
            transform_input=ti,
            images=images,
            samples=samples,
            profile=profile,
            progress=step,
            threads=threads,
        )
    if json_out:
        emit_json(report.to_dict())
    else:
        sys.stdout.write(table(report) + "\n")
    raise typer.Exit(report.exit_code)
