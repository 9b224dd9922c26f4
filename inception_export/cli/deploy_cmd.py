"""``inception-export deploy triton|deepstream --release DIR -o OUT``: deployment packages."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import console
from ..console import emit_json
from ..text import printable
from .boundary import command
from .options import JsonOpt

ClassNamesOpt = Annotated[
    Path | None,
    typer.Option(
        "--class-names",
        metavar="FILE",
        help="Text file, one class name a line (default: ImageNet-1k's for a 1000-class model).",
    ),
]


def warn_left_out(target: str, left_out: list[dict[str, Any]]) -> None:
    """One warning line per artifact a package leaves out (the release's gate failed it)."""
    for item in left_out:
        console.err.print(
            f"warning: {target}: {printable(item['file'])} left out: {printable(item['reason'])}",
            soft_wrap=True,
            markup=False,
        )


TargetArg = Annotated[
    str, typer.Argument(metavar="TARGET", help="triton (a model repository) or deepstream (nvinfer).")
]
ReleaseDirOpt = Annotated[Path, typer.Option("--release", metavar="DIR", help="Directory `release` wrote.")]
DeployOutOpt = Annotated[
    Path,
    typer.Option("--output", "-o", metavar="DIR", help="Output directory (staged, swapped in whole)."),
]
DeployWeightsOpt = Annotated[
    Path | None,
    typer.Option(
        "--weights",
        "-w",
        metavar="FILE",
        help="The checkpoint the release was made from (its sha256 is checked against the "
        "manifest); needed only to export an artifact the release lacks.",
    ),
]
PlatformOpt = Annotated[
    str | None,
    typer.Option(
        "--platform",
        metavar="onnx|plan|libtorch[,...]",
        help="Triton: onnx,plan,libtorch (default: every artifact the release has).",
    ),
]
TritonMaxBatchOpt = Annotated[
    int | None,
    typer.Option("--max-batch", metavar="N", help="Triton's max_batch_size (default: the engine's, else 8)."),
]
EngineOpt = Annotated[
    Path | None,
    typer.Option(
        "--engine",
        metavar="FILE",
        help="Triton: a TensorRT engine built on the device from the release's ONNX (`trt --onnx`), "
        "its manifest FILE.json beside it; served as the repository's plan model (sha256 checked).",
    ),
]
GieUniqueIdOpt = Annotated[
    int | None,
    typer.Option(
        "--gie-unique-id",
        metavar="N",
        help="DeepStream: nvinfer's gie-unique-id, by which other elements name this model "
        "(default 1; give each nvinfer in a pipeline its own).",
    ),
]
DeployForceOpt = Annotated[
    bool, typer.Option("--force", "-f", help="Replace an earlier `deploy` output in -o DIR (atomically).")
]


@command("deploy")
def deploy(
    target: TargetArg,
    release: ReleaseDirOpt,
    out: DeployOutOpt,
    weights: DeployWeightsOpt = None,
    class_names: ClassNamesOpt = None,
    platform: PlatformOpt = None,
    max_batch: TritonMaxBatchOpt = None,
    engine: EngineOpt = None,
    gie_unique_id: GieUniqueIdOpt = None,
    force: DeployForceOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Write a Triton model repository or a DeepStream config for an existing release."""
    from ..bounds import MAX_BATCH, check_count
    from ..deploy.package import check_target, run_deploy
    from ..deploy.triton import parse_platforms

    check_target(target)
    check_count("--max-batch", max_batch, 1, MAX_BATCH)
    # DeepStream's package is exported and gated here (a minute and more at full size): its
    # phases are reported; Triton's copies and checks files.
    phases = (
        console.progress_steps("deploy deepstream") if target == "deepstream" else contextlib.nullcontext()
    )
    with phases as step:
        record = run_deploy(
            target,
            release,
            out,
            weights=weights,
            class_names=class_names,
            platforms=parse_platforms(platform),
            max_batch=max_batch,
            force=force,
            engine=engine,
            gie_unique_id=gie_unique_id,
            progress=step,
        )
    warn_left_out(target, record["left_out"])
    if json_out:
        emit_json(record)
        return
    for f in record["files"]:
        console.out.print(printable(out / f["file"]), soft_wrap=True, markup=False)
    console.err.print(
        f"{target}: {len(record['files'])} files in {printable(out)}", soft_wrap=True, markup=False
    )
