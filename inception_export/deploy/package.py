"""``deploy`` and ``release --deploy``: the deployment packages of a release, staged like one.

Triton's model repository is written here (``triton.py``); DeepStream's files come from
``deepstream.py: write_deepstream``. Either way the output directory is built beside its
final place and swapped in whole, so a refused input leaves nothing half-written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import jsonout
from ..atomic import check_apart, check_output_dir, staged_directory, with_sidecars, write_text_atomic
from ..errors import UsageError
from ..hashing import file_sha256
from ..reading import read_regular
from ..release_manifest import MANIFEST, check_weights, read_release
from ..text import printable
from .labels import class_names_for, load_class_names
from .triton import NothingToPackage

TARGETS = ("triton", "deepstream")
# What marks a directory `deploy` wrote (and may replace with --force).
MARKER = "deploy.json"
MARKER_FORMAT = "inception-export/deploy"


def parse_targets(text: str | None) -> tuple[str, ...]:
    """``--deploy triton,deepstream`` in the order given, each once."""
    if text is None:
        return ()
    asked = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in asked if t not in TARGETS]
    if unknown or not asked:
        raise UsageError(f"--deploy '{printable(text)}': choose from {', '.join(TARGETS)} (comma-separated)")
    return tuple(dict.fromkeys(asked))


def check_target(target: str) -> str:
    if target not in TARGETS:
        raise UsageError(f"deploy '{printable(target)}': choose one of {', '.join(TARGETS)}")
    return target


def check_release_deploy(
    targets: tuple[str, ...],
    path: Path | None,
    num_classes: int | None,
    engine_batch: tuple[int, int, int] | None,
) -> None:
    """``release --deploy``: refuse what the deployment would refuse before any slow work: an
    unreadable or wrong-sized ``--class-names``, an engine Triton cannot batch."""
    if path is not None and not targets:
        raise UsageError("--class-names names the classes in the label files of --deploy; add --deploy")
    if "triton" in targets and engine_batch is not None:
        from .triton import check_engine_batch

        check_engine_batch(*engine_batch)
    if num_classes is not None:
        class_names_for(num_classes, path)
    elif path is not None:
        load_class_names(path)


def write_target(
    target: str,
    release_dir: Path,
    out_dir: Path,
    manifest: dict[str, Any],
    *,
    weights: Path | None,
    class_names: list[str],
    platforms: set[str] | None = None,
    max_batch: int | None = None,
    engine: Path | None = None,
    gie_unique_id: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[Path], list[dict[str, Any]]]:
    """Write ``target``'s files into the existing, empty (staged) ``out_dir``: the files, and
    the release's artifacts left out because its gate failed them (never packaged). ``progress``:
    DeepStream's phases (its export and gate take a minute and more)."""
    if target == "triton":
        if gie_unique_id is not None:
            raise UsageError("--gie-unique-id is nvinfer's (deepstream); drop it for triton")
        from .triton import write_triton

        return write_triton(
            release_dir,
            out_dir,
            manifest,
            class_names=class_names,
            platforms=platforms,
            max_batch=max_batch,
            weights=weights,
            engine=engine,
        )
    if platforms is not None or max_batch is not None:
        raise UsageError("--platform and --max-batch shape the Triton repository; drop them for deepstream")
    from ..full.deploy.deepstream import write_deepstream  # imports torch: only when asked for

    # None: not asked (nvinfer's usual 1); 0 is asked and refused there, never taken for None.
    gie = 1 if gie_unique_id is None else gie_unique_id
    files = write_deepstream(
        release_dir, out_dir, weights=weights, class_names=class_names, gie_unique_id=gie, progress=progress
    )
    return files, []


def _records(root: Path, files: list[Path]) -> list[dict[str, Any]]:
    return [
        {"file": p.relative_to(root).as_posix(), "sha256": file_sha256(p), "bytes": p.stat().st_size}
        for p in sorted(set(files))
    ]


def _deploy_record(directory: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(read_regular(directory / MARKER, 64 << 20, "deploy record"))
    except (OSError, ValueError, RecursionError, UsageError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == MARKER_FORMAT else None


def is_deploy_dir(directory: Path) -> bool:
    """Whether ``directory`` holds a ``deploy.json`` this tool wrote: only such a directory is
    ever replaced (with --force)."""
    return _deploy_record(directory) is not None


def deploy_files(directory: Path) -> list[str]:
    """The files ``directory/deploy.json`` lists, and itself: ``--force`` replaces a deploy
    output only when nothing else is in it."""
    files = (_deploy_record(directory) or {}).get("files")
    entries = files if isinstance(files, list) else []
    return [MARKER, *(f["file"] for f in entries if isinstance(f, dict) and isinstance(f.get("file"), str))]


def run_deploy(
    target: str,
    release_dir: Path,
    out_dir: Path,
    *,
    weights: Path | None = None,
    class_names: Path | None = None,
    platforms: set[str] | None = None,
    max_batch: int | None = None,
    force: bool = False,
    engine: Path | None = None,
    gie_unique_id: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """``inception-export deploy TARGET --release DIR -o OUT``: the record written to OUT/deploy.json."""
    check_target(target)
    if engine is not None and target != "triton":
        raise UsageError(
            "--engine puts a device-built engine into the Triton repository; drop it for deepstream"
        )
    check_apart(
        [
            ("--release", release_dir),
            ("--weights", weights),
            ("--class-names", class_names),
            *with_sidecars("--engine", [engine]),
        ],
        dirs={"-o": Path(out_dir)},
    )
    release = read_release(release_dir)
    names = class_names_for(release.num_classes, class_names)
    if target == "triton":  # deepstream's exporter checks them itself, as any caller of it needs
        check_weights(release, weights, Path(release_dir))
    check_output_dir(out_dir, force, MARKER, ours=is_deploy_dir, listed=deploy_files)
    with staged_directory(out_dir, force=force, ours=is_deploy_dir, listed=deploy_files) as stage:
        files, left_out = write_target(
            target,
            Path(release_dir),
            stage,
            release.doc,
            weights=weights,
            class_names=names,
            platforms=platforms,
            max_batch=max_batch,
            engine=engine,
            gie_unique_id=gie_unique_id,
            progress=progress,
        )
        record = {
            "format": MARKER_FORMAT,
            "format_version": 1,
            "target": target,
            "model": release.model,
            "release": {"manifest_sha256": release.sha256, "weights_sha256": release.weights_sha256},
            "files": _records(stage, files),
            "left_out": left_out,
        }
        write_text_atomic(stage / MARKER, jsonout.dumps(record, indent=2) + "\n")
    return record


def deploy_into_release(
    stage: Path,
    manifest: dict[str, Any],
    targets: tuple[str, ...],
    *,
    weights: Path | None,
    class_names: Path | None,
) -> dict[str, Any]:
    """``release --deploy``: write each target into ``stage/<target>/`` of the staged release
    (its manifest already written) and list the files in the manifest, which is rewritten."""
    if not targets:
        return manifest
    names = class_names_for(int(manifest["num_classes"]), class_names)
    deploy: dict[str, Any] = {}
    for target in targets:
        out = stage / target
        out.mkdir()
        try:
            files, left_out = write_target(target, stage, out, manifest, weights=weights, class_names=names)
        except NothingToPackage as exc:
            # The release's gate failed everything: the release stands (exit 1, its report says
            # why), with no package of failed artifacts in it.
            out.rmdir()
            deploy[target] = {"dir": None, "files": [], "left_out": exc.left_out}
            continue
        deploy[target] = {"dir": target, "files": _records(stage, files), "left_out": left_out}
    manifest = {**manifest, "deploy": deploy}
    write_text_atomic(stage / MANIFEST, jsonout.dumps(manifest, indent=2) + "\n")
    return manifest
