"""Options shared by several commands, declared once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError

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
