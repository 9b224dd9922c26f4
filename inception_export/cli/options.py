"""Options shared by several commands, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Model name or alias (see `models`).")]
WeightsOpt = Annotated[
    Path | None,
    typer.Option("--weights", "-w", help="Checkpoint (.pth/.pt/.safetensors); default: synthetic weights."),
]
TransformInputOpt = Annotated[
    bool | None,
    typer.Option(
        "--transform-input/--no-transform-input",
        help="torchvision's input re-normalisation (for its published v1/v3 checkpoints; "
        "default: set by a recognised published checkpoint, else off).",
    ),
]


def checkpoint_transform_input(model: str, weights: Path | None, flag: bool | None) -> bool:
    """``--transform-input`` as the weights decide it: a recognised published checkpoint sets it
    (with a note) and refuses a contradicting flag; otherwise the flag, off when not given."""
    from ..registry import get_spec, resolve_transform_input

    return resolve_transform_input(get_spec(model), weights, flag)[0]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the synthetic weights.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
ForceOpt = Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing output.")]
KeepFp32Opt = Annotated[
    str | None,
    typer.Option(
        "--keep-fp32",
        help="FP16: 'auto' (measured) or LAYER[,LAYER...] module paths kept float32 in the graph.",
    ),
]
