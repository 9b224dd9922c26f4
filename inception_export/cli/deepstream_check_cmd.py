"""``inception-export deepstream-check CONFIG --release DIR``: gate an nvinfer config as it runs.

For a config ``deploy deepstream`` wrote and someone edited since (a new offset, another colour
order): its artifact is fed through the config's own scaling and compared with the release's
model. Exit 0 when it computes the model's probabilities, 1 with the failed metrics named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from .. import console
from ..console import emit_json
from ..errors import GateFailure
from ..text import printable
from .boundary import command
from .options import AllowLooseLimitsOpt, JsonOpt


@command("deepstream-check")
def deepstream_check(
    config: Annotated[
        Path, typer.Argument(metavar="CONFIG", help="The nvinfer config file (its paths relative to it).")
    ],
    release: Annotated[
        Path, typer.Option("--release", metavar="DIR", help="Directory `release` wrote (its model).")
    ],
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights",
            "-w",
            metavar="FILE",
            help="The checkpoint the release was made from (none if synthetic).",
        ),
    ] = None,
    tolerance_profile: Annotated[
        str,
        typer.Option(
            "--tolerance-profile", metavar="PROFILE", help="strict, default, or a TOML/JSON file of limits."
        ),
    ] = "default",
    allow_loose_limits: AllowLooseLimitsOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Gate a DeepStream config: its artifact through nvinfer's scaling vs eager PyTorch."""
    from ..full.deploy.deepstream import check_deepstream  # torch: only when run
    from ..parity.tolerances import ToleranceProfile

    profile = ToleranceProfile.parse(tolerance_profile, allow_loose_limits)
    with console.progress_steps("deepstream-check") as step:
        result = check_deepstream(
            config, release, weights=weights, profile=profile, fail=False, progress=step
        )
    beyond = list(profile.beyond)
    for item in beyond:
        console.err.print(
            f"warning: limits beyond the built-in bound (--allow-loose-limits): {printable(item)}",
            soft_wrap=True,
            markup=False,
        )
    m = result.metrics
    if json_out:
        emit_json({**result.to_dict(), "limits_beyond_bound": beyond})
    else:
        verdict = "passed" if result.passed else "FAILED"
        console.out.print(
            escape(
                f"{printable(result.config)}: {verdict} (rel_l2 {m.rel_l2:.3g}, max_abs_rel "
                f"{m.max_abs_rel:.3g}, top1 {m.top1_agreement:.3g}, {m.samples} inputs)"
            ),
            soft_wrap=True,
        )
    if not result.passed:
        raise GateFailure(result.summary())
