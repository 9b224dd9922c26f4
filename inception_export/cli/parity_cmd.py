"""``inception-export parity``: the CI gate over exported artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..console import emit_json, err, out, progress_steps
from ..parity.gate import GateReport, run_gate
from ..parity.report import failure_lines, table, write_junit
from .app import command
from .options import JsonOpt, ModelOpt, TransformInputOpt, WeightsOpt


def show_report(report: GateReport, json_out: bool, junit: Path | None, *, emit: bool = True) -> None:
    """The table on stdout (on stderr when ``--json`` takes stdout), failures on stderr,
    the JUnit file; shared with ``release``."""
    result = err if json_out else out
    result.print(table(report))
    for line in failure_lines(report):
        err.print(f"[red]FAIL[/] {line}", soft_wrap=True)
    if junit is not None:
        write_junit(report, junit)
    if json_out and emit:
        emit_json(report.to_dict())
    verdict = "[green]gate passed[/]" if report.passed else "[bold red]gate FAILED[/]"
    result.print(f"{verdict} in {report.seconds:.1f}s")


@command("parity")
def parity(
    model: ModelOpt,
    artifacts: Annotated[
        list[Path], typer.Argument(help="TorchScript, ONNX or TensorRT files (by content).")
    ],
    weights: WeightsOpt = None,
    transform_input: TransformInputOpt = False,
    images: Annotated[Path | None, typer.Option("--images", help="Directory of extra photographs.")] = None,
    samples: Annotated[int, typer.Option("--samples", help="Seeded random inputs.")] = 6,
    tolerance_profile: Annotated[
        str, typer.Option("--tolerance-profile", help="strict, default, or a TOML/JSON file of limits.")
    ] = "default",
    device: Annotated[
        str, typer.Option("--device", help="Where artifacts run: cpu or cuda.")
    ] = "cpu",
    json_out: JsonOpt = False,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write a JUnit XML report here.")] = None,
) -> None:
    """Compare artifacts with eager PyTorch; exit 0 all pass, 1 a parity failure, 2 bad input."""
    with progress_steps("parity", 2 + 3 * len(artifacts)) as step:
        report = run_gate(
            model,
            artifacts,
            weights=weights,
            transform_input=transform_input,
            images=images,
            samples=samples,
            profile=tolerance_profile,
            device=device,
            progress=step,
        )
    show_report(report, json_out, junit)
    if not report.passed:
        raise typer.Exit(1)
