"""An artifact a release lacks, exported for a deployment from the weights the release was made
from, and gated before it ships against the release's own golden bundle (full role: imports
torch when run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ArtifactError, GateFailure
from ..hashing import file_sha256
from ..release_manifest import MANIFEST, check_weights, model_words
from .verify import model_facts


def export_torchscript_for(
    release_dir: Path, manifest: dict[str, Any], scratch: Path, weights: Path | None, what: str
) -> tuple[Path, dict[str, Any]]:
    """Export the release's model as TorchScript into ``scratch``, built from the release's facts
    (its golden bundle and FP32 ONNX, not the manifest's words), gate it against the release's
    golden bundle (the eager reference the release was gated with), and return it with the
    manifest entry a release would have given it."""
    # The first thing to say, before the files are verified; the files' weights are then the
    # manifest's (model_facts compares them), so the check holds for both.
    check_weights(model_words(manifest, release_dir / MANIFEST), weights, release_dir, needed=what)
    facts = model_facts(release_dir, manifest)
    from ..full.build import build_model, load_report
    from ..full.export import export_torchscript
    from ..parity.gate import run_golden_gate

    size = facts.input_size
    kwargs: dict[str, Any] = {"transform_input": facts.transform_input}
    if facts.seed is not None:
        kwargs["seed"] = facts.seed
    net = build_model(facts.model, weights, **kwargs)
    classes = load_report(net).num_classes
    if classes != facts.num_classes:
        raise ArtifactError(f"{what}: the weights give {classes} classes, the release {facts.num_classes}")
    path = scratch / f"{facts.model}.pt"
    result = export_torchscript(facts.model, path, weights=weights, input_size=size, model_obj=net, **kwargs)
    gate = run_golden_gate(facts.bundle, [path], model=facts.model)
    if not gate.passed:
        failed = gate.artifacts[0].failures
        detail = "; ".join(c.message or c.name for c in failed[:2]) or "see the gate"
        raise GateFailure(
            f"{what}: the exported TorchScript failed the gate against the release's "
            f"{facts.bundle.name}: {detail}"
        )
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
        "gate": {"passed": True, "against": facts.bundle.name},
    }
    return path, entry
