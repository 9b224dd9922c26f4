"""``inception-export parity``: the CI gate over exported artifacts.

Against eager PyTorch (``--model``), or against a golden bundle (``--golden FILE``) on a
machine without PyTorch: the gate's modules are imported inside the command so that the
second path never loads torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from ..console import emit_json, err, out, progress_steps
from ..errors import UsageError
from .boundary import command
from .options import (
    AllowLooseLimitsOpt,
    ForceOpt,
    JsonOpt,
    SummaryOpt,
    ThreadsOpt,
    WeightsOpt,
    check_threads,
    checkpoint_transform_input,
    images_option,
)

if TYPE_CHECKING:
    from ..atomic import Named
    from ..parity.gate import GateReport
    from ..parity.tolerances import ToleranceProfile


def show_report(report: GateReport, json_out: bool, junit: Path | None, *, emit: bool = True) -> None:
    """The table on stdout (on stderr when ``--json`` takes stdout), failures on stderr,
    the JUnit file; shared with ``release``."""
    from ..parity.report import failure_lines, table, write_junit

    result = err if json_out else out
    result.print(table(report))
    for line in failure_lines(report):
        err.print(f"[red]FAIL[/] {escape(line)}", soft_wrap=True)
    if junit is not None:
        write_junit(report, junit)
    if json_out and emit:
        emit_json(report.to_dict())
    verdict = "[green]gate passed[/]" if report.passed else "[bold red]gate FAILED[/]"
    result.print(f"{verdict} in {report.seconds:.1f}s")


def publish_ci(report: GateReport, summary: Path | None, command: str) -> None:
    """The CI page's view of the verdict: the Markdown summary (``--summary``,
    ``$GITHUB_STEP_SUMMARY``) and, under GitHub Actions, one ``::error`` per failing artifact on
    stderr (never inside ``--json``); shared with ``release``. The exit code stays the gate's."""
    from ..parity.annotations import annotate
    from ..parity.summary import publish
    from ..text import printable

    for warning in publish(report, summary, command):
        err.print(f"[yellow]warning:[/] {escape(printable(warning))}", soft_wrap=True)
    annotate(report)


def check_junit(junit: Path, force: bool, inputs: Named) -> None:
    """Refuse a --junit path that would overwrite one of this command's inputs (never, even
    with --force) or an existing file (without --force), before any work."""
    from ..atomic import check_apart, check_output

    check_apart(inputs, files={"--junit": junit})
    check_output(junit, force)


def _inputs(
    artifacts: list[Path],
    golden: Path | None,
    weights: Path | None,
    images: Path | None,
    class_names: Path | None,
    labelled_images: Path | None,
    tolerance_profile: str | None,
) -> list[tuple[str, Path | str | None]]:
    """Every file the gate reads, named by its option: no output may be one of them."""
    from ..atomic import with_sidecars

    given: list[tuple[str, Path | str | None]] = [*with_sidecars("artifact", artifacts)]
    given += [("--golden", golden), ("--weights", weights), ("--images", images)]
    if golden is not None:  # the release manifest beside a bundle is read to check its sha256
        for folder in dict.fromkeys([golden.parent, golden.resolve().parent]):
            given.append(("--golden's release manifest", folder / "manifest.json"))
    given += [("--class-names", class_names), ("--labelled-images", labelled_images)]
    if tolerance_profile is not None and Path(tolerance_profile).is_file():
        given.append(("--tolerance-profile", tolerance_profile))
    return given


def _check_summary(summary: Path | None, force: bool, given: Named) -> None:
    from ..parity.summary import check_summary

    check_summary(summary, force, given)


def _no_effect_with_golden(**given: object) -> None:
    for name, value in given.items():
        if value is not None:
            raise UsageError(
                f"--{name} has no effect with --golden: the inputs and reference logits come from the bundle"
            )


ArtifactsArg = Annotated[
    list[Path],
    typer.Argument(metavar="ARTIFACT", help="TorchScript, ONNX or TensorRT files (by content)."),
]
ParityModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model", "-m", metavar="NAME", help="Model name or alias (see `models`); not needed with --golden."
    ),
]
GoldenOpt = Annotated[
    Path | None,
    typer.Option(
        "--golden",
        metavar="FILE",
        help="Compare with this golden bundle (from `release` or `golden`) instead of eager PyTorch: "
        "no torch, model code or checkpoint needed.",
    ),
]
ParityTransformInputOpt = Annotated[
    bool | None,
    typer.Option(
        "--transform-input/--no-transform-input",
        help="torchvision's input re-normalisation (for its published v1/v3 checkpoints).",
    ),
]
ExtraImagesOpt = Annotated[Path | None, images_option("the gate's inputs")]
ParitySamplesOpt = Annotated[
    int | None, typer.Option("--samples", metavar="N", help="Seeded random inputs (default 6).")
]
LabelledImagesOpt = Annotated[
    Path | None,
    typer.Option(
        "--labelled-images",
        metavar="DIR",
        help="One sub-folder per class (class index, or a --class-names name) of images: top-1/top-5 "
        "accuracy of eager PyTorch and each artifact, the drop gated per precision.",
    ),
]
ClassNamesOpt = Annotated[
    Path | None,
    typer.Option(
        "--class-names", metavar="FILE", help="The model's class names, one per line in class order."
    ),
]
ParityProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--tolerance-profile",
        metavar="PROFILE",
        help="strict, default, or a TOML/JSON file of limits (default: default, or the bundle's).",
    ),
]
ParityDeviceOpt = Annotated[
    str, typer.Option("--device", metavar="cpu|cuda", help="Where artifacts run: cpu or cuda.")
]
JunitOpt = Annotated[
    Path | None, typer.Option("--junit", metavar="FILE", help="Write a JUnit XML report here.")
]


@command("parity")
def parity(
    artifacts: ArtifactsArg,
    model: ParityModelOpt = None,
    golden: GoldenOpt = None,
    weights: WeightsOpt = None,
    transform_input: ParityTransformInputOpt = None,
    images: ExtraImagesOpt = None,
    samples: ParitySamplesOpt = None,
    labelled_images: LabelledImagesOpt = None,
    class_names: ClassNamesOpt = None,
    tolerance_profile: ParityProfileOpt = None,
    allow_loose_limits: AllowLooseLimitsOpt = False,
    device: ParityDeviceOpt = "cpu",
    threads: ThreadsOpt = None,
    json_out: JsonOpt = False,
    junit: JunitOpt = None,
    summary: SummaryOpt = None,
    force: ForceOpt = False,
) -> None:
    """Compare artifacts with eager PyTorch or a golden bundle; exit 0 pass, 1 parity failure, 2 bad input."""
    threads = check_threads(threads)
    given = _inputs(artifacts, golden, weights, images, class_names, labelled_images, tolerance_profile)
    _check_outputs(junit, summary, force, given)
    if golden is not None:
        _no_effect_with_golden(
            weights=weights, samples=samples, images=images, **{"transform-input": transform_input}
        )
        from ..parity.gate import run_golden_gate

        # None: the limits recorded in the bundle (checked against the bound when it is read).
        profile = None if tolerance_profile is None else _profile(tolerance_profile, allow_loose_limits)
        with progress_steps("parity") as step:
            report = run_golden_gate(
                golden,
                artifacts,
                profile=profile,
                device=device,
                progress=step,
                model=model,
                labelled_images=labelled_images,
                class_names=class_names,
                allow_loose_limits=allow_loose_limits,
                threads=threads,
            )
    else:
        if model is None:
            raise UsageError("--model is required (or --golden FILE to compare with a golden bundle)")
        from ..full.eager import run_gate

        ti = checkpoint_transform_input(model, weights, transform_input)  # an unknown model first
        profile = _profile(tolerance_profile or "default", allow_loose_limits)
        with progress_steps("parity") as step:
            report = run_gate(
                model,
                artifacts,
                weights=weights,
                transform_input=ti,
                images=images,
                samples=6 if samples is None else samples,
                profile=profile,
                device=device,
                progress=step,
                labelled_images=labelled_images,
                class_names=class_names,
                threads=threads,
            )
    show_report(report, json_out, junit)
    publish_ci(report, summary, "parity")
    if not report.passed:
        raise typer.Exit(1)


def _profile(spec: str, allow_loose_limits: bool) -> ToleranceProfile:
    from ..parity.tolerances import ToleranceProfile

    return ToleranceProfile.parse(spec, allow_loose_limits)


def _check_outputs(junit: Path | None, summary: Path | None, force: bool, given: Named) -> None:
    """The reports' destinations, before the gate runs: the report would have nowhere to go."""
    if junit is not None and (junit.is_dir() or not junit.parent.is_dir()):
        where = "is a directory" if junit.is_dir() else f"has no directory {junit.parent}"
        raise UsageError(f"--junit {junit} {where}; give a file name for the XML report")
    if junit is not None:
        check_junit(junit, force, given)
    _check_summary(summary, force, [*given, ("--junit", junit)])
