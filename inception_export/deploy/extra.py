"""An artifact a release lacks, exported for a deployment from the weights the release was made
from, and gated before it ships like the release's own (full role: imports torch when run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ArtifactError, GateFailure, WeightsError
from ..hashing import file_sha256

# The gate's built-in profiles; a release gated with a profile file names a path that may not
# exist here, and the manifest is not trusted to name files to read.
BUILT_IN_PROFILES = ("strict", "default")
GATE_SAMPLES = 4


def release_seed(manifest: dict[str, Any], weights: Path | None, what: str) -> int | None:
    """The synthetic seed to rebuild a release's model from, or None when ``weights`` (already
    checked against the manifest) are given; refused when neither can rebuild it."""
    recorded = str((manifest.get("weights") or {}).get("sha256"))
    if weights is not None:
        return None
    if recorded.startswith("synthetic-") and recorded.removeprefix("synthetic-").isdigit():
        return int(recorded.removeprefix("synthetic-"))
    raise WeightsError(
        f"{what}: exporting it needs the weights the release was made from; pass --weights W "
        f"(sha256 {recorded[:12]}…)"
    )


def export_torchscript_for(
    manifest: dict[str, Any], scratch: Path, weights: Path | None, what: str
) -> tuple[Path, dict[str, Any]]:
    """Export the release's model as TorchScript into ``scratch``, gate it against eager PyTorch,
    and return it with the manifest entry a release would have given it."""
    seed = release_seed(manifest, weights, what)  # refused before torch is imported
    from ..build import build_model, load_report
    from ..export import export_torchscript
    from ..parity.eager import EagerReference
    from ..parity.gate import check_artifacts
    from ..parity.tolerances import load_profile

    model = str(manifest["model"])
    size = int(manifest["input_size"])
    transform_input = bool((manifest.get("preprocessing") or {}).get("transform_input"))
    kwargs: dict[str, Any] = {"transform_input": transform_input}
    if seed is not None:
        kwargs["seed"] = seed
    net = build_model(model, weights, **kwargs)
    classes = load_report(net).num_classes
    if classes != manifest["num_classes"]:
        raise ArtifactError(
            f"{what}: the weights give {classes} classes, the release {manifest['num_classes']}"
        )
    path = scratch / f"{model}.pt"
    result = export_torchscript(model, path, weights=weights, input_size=size, model_obj=net, **kwargs)
    reference = EagerReference(
        model, weights=weights, transform_input=transform_input, samples=GATE_SAMPLES, reference_model=net
    )
    profile = str((manifest.get("gate") or {}).get("profile"))
    profile = profile if profile in BUILT_IN_PROFILES else "default"
    gate = check_artifacts(reference, [path], limits=load_profile(profile), profile=profile)
    if not gate.passed:
        failed = gate.artifacts[0].failures
        first = failed[0] if failed else None
        detail = f"{first.name} {first.value} (limit {first.limit})" if first else "see the gate"
        raise GateFailure(f"{what}: the exported TorchScript failed the gate: {detail}")
    entry = {
        "file": path.name,
        "sha256": result.sha256 or file_sha256(path),
        "format": "torchscript",
        "precision": "fp32",
        "input": {
            "name": "input",
            "shape": ["batch", 3, size, size],
            "layout": "NCHW",
            "batch": "dynamic",
            "dtype": "float32",
        },
        "output": {"name": "logits", "shape": ["batch", classes], "dtype": "float32"},
        "exported_for_deploy": True,
    }
    return path, entry
