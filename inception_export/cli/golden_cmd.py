"""``inception-export golden``: write a golden bundle (inputs + eager PyTorch logits) for the device."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..console import emit_json, err, progress_steps
from ..seed import DEFAULT_SEED
from ..text import printable
from .boundary import command
from .options import (
    AllowLooseLimitsOpt,
    ForceOpt,
    ImagesOpt,
    InputSizeOpt,
    JsonOpt,
    ModelOpt,
    SamplesOpt,
    SeedOpt,
    TransformInputOpt,
    WeightsOpt,
    checkpoint_transform_input,
    output_option,
)


@command("golden")
def golden(
    model: ModelOpt,
    output: Annotated[Path, output_option("Bundle to write (e.g. golden.npz).")],
    weights: WeightsOpt = None,
    transform_input: TransformInputOpt = None,
    embed_preprocessing: Annotated[
        bool,
        typer.Option(
            "--embed-preprocessing/--no-embed-preprocessing",
            help="Also hold uint8 NHWC pixels, for artifacts exported with --embed-preprocessing.",
        ),
    ] = False,
    input_size: InputSizeOpt = None,
    samples: SamplesOpt = 6,
    images: ImagesOpt = None,
    tolerance_profile: Annotated[
        str,
        typer.Option(
            "--tolerance-profile",
            metavar="PROFILE",
            help="Limits the device applies: strict, default, or a file.",
        ),
    ] = "default",
    allow_loose_limits: AllowLooseLimitsOpt = False,
    seed: SeedOpt = DEFAULT_SEED,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Write golden inputs + eager PyTorch logits, for `parity --golden FILE` where torch is absent."""
    from ..atomic import check_apart
    from ..full.eager import make_bundle
    from ..parity.tolerances import PROFILES, ToleranceProfile

    profile_file = None if tolerance_profile in PROFILES else tolerance_profile
    check_apart(
        [("--weights", weights), ("--images", images), ("--tolerance-profile", profile_file)],
        files={"-o": output},
    )
    ti = checkpoint_transform_input(model, weights, transform_input)
    profile = ToleranceProfile.parse(tolerance_profile, allow_loose_limits)
    with progress_steps("golden") as step:
        result = make_bundle(
            model,
            output,
            weights=weights,
            transform_input=ti,
            input_size=input_size,
            pixels=embed_preprocessing,
            samples=samples,
            images=images,
            profile=profile,
            seed=seed,
            force=force,
            progress=step,
        )
    if json_out:
        emit_json(result.to_dict())
        return
    from ..atomic import not_stored

    info = result.to_dict()
    sets = ", ".join(f"{v['inputs']} {form}" for form, v in info["sets"].items())
    what = f"{info['model']} at {info['input_size']}px ({sets} inputs), {result.size_bytes / 1e6:.1f} MB"
    elsewhere = not_stored(result.path)
    done = f"wrote {result.path}: {what},"
    if elsewhere:
        done = f"made the bundle ({what}) and {elsewhere};"
    # The path is the user's: its control characters escaped, its brackets not taken for markup.
    err.print(printable(f"{done} sha256 {result.sha256[:16]}"), soft_wrap=True, markup=False, highlight=False)
