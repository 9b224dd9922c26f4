"""DeepStream: an ``nvinfer`` classifier config, its label file and its artifact, gated as they run.

:func:`write_deepstream` reads a release's manifest, rebuilds the model from the weights the
release was made from (or its synthetic seed), exports the DeepStream artifact
(:mod:`.deepstream_onnx`), writes the config and labels (:mod:`.nvinfer`), then gates the
artifact through the numbers parsed back from the config just written
(:mod:`.deepstream_gate`). A failed gate raises :class:`GateFailure` (exit 1) naming the metric.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ... import __version__, jsonout
from ...atomic import write_text_atomic
from ...console import expect_steps
from ...deploy.labels import check_names, imagenet_names
from ...deploy.nvinfer import (
    NvinferConfig,
    NvinferScaling,
    engine_file_name,
    labels_text,
    render_config,
    scaling_for,
)
from ...deploy.verify import ModelFacts, model_facts
from ...errors import ArtifactError, GateFailure, UsageError
from ...parity.tolerances import DEFAULT_PROFILE, ToleranceProfile
from ...release_manifest import ReleaseManifest, ReleaseModel, check_weights, read_release
from ...specs.model_spec import ModelSpec
from .deepstream_gate import DeepStreamGate

CONFIG_NAME = "config_infer_{model}.txt"
LABELS_NAME = "labels.txt"
ARTIFACT_NAME = "{model}-deepstream.onnx"
REPORT_NAME = "deepstream-parity.json"
DEFAULT_OPSET = 18
# The gate's seeded random inputs (plus the edge images and photographs every gate uses).
GATE_SAMPLES = 2
# gie-unique-id is a guint in nvinfer; 0 is its "unset".
MAX_GIE_UNIQUE_ID = (1 << 32) - 1


def _release_batch(release: ReleaseManifest) -> int | None:
    """The fixed batch of the release's FP32 ONNX, as its manifest entry gives it (None:
    dynamic): nvinfer's default batch-size."""
    fp32 = [a for a in release.doc["artifacts"] if a.get("format") == "onnx" and a.get("precision") == "fp32"]
    if not fp32:
        raise ArtifactError(
            f"--release {release.directory}: no FP32 ONNX artifact in the manifest; DeepStream's is "
            "derived from its shape (batch, opset)"
        )
    shape = (fp32[0].get("input") or {}).get("shape")
    if not isinstance(shape, list) or not shape:
        raise ArtifactError(f"{release.path}: the FP32 ONNX entry has no input shape")
    return shape[0] if isinstance(shape[0], int) and not isinstance(shape[0], bool) else None


def _class_names(facts: ReleaseModel, class_names: list[str] | None) -> list[str]:
    if class_names is None:
        if facts.num_classes != 1000:
            raise UsageError(
                f"the model has {facts.num_classes} classes, not ImageNet-1k's 1000: "
                "give their names with --class-names FILE (one a line)"
            )
        return imagenet_names()
    if len(class_names) != facts.num_classes:
        raise UsageError(f"{len(class_names)} class names, but the model has {facts.num_classes} classes")
    return check_names(list(class_names), "class names")


def write_deepstream(
    release_dir: Path,
    out_dir: Path,
    *,
    weights: Path | None,
    class_names: list[str] | None,
    batch_size: int | None = None,
    profile: ToleranceProfile = DEFAULT_PROFILE,
    process_mode: int = 1,
    gie_unique_id: int = 1,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write the DeepStream files of ``release_dir`` into ``out_dir`` (staged by the caller,
    existing and empty) and gate them; return the paths written.

    ``batch_size`` is nvinfer's ``batch-size`` (default: the release ONNX's fixed batch, else
    1); the DeepStream ONNX itself always takes any batch. ``process_mode`` 1 classifies whole frames, 2
    the objects of an upstream detector; ``profile`` the gate's limits (default: the built-in
    ``default``). Raises UsageError subclasses (exit 2) for a release
    or weights that cannot make them, GateFailure (exit 1) when the gate fails. ``progress`` is
    called as each phase starts (a minute and more at a model's full size).
    """
    import torch

    from ..build import build_model
    from .deepstream_onnx import export_deepstream_onnx

    if not Path(out_dir).is_dir():
        raise UsageError(f"{out_dir}: not a directory (the caller stages it)")
    # The manifest's words refuse a request early, in their terms; the export is then built
    # from the release's files, every word compared with them (``verify.model_facts``).
    release = read_release(release_dir)
    spec, names = _check_request(release, release_dir, weights, class_names, process_mode, gie_unique_id)
    _nvinfer_batch(batch_size, _release_batch(release))
    step = progress or (lambda _msg: None)
    expect_steps(progress, 5)
    step("verify the release's files")
    # The files' facts are the manifest's words, each compared (model, size, classes, weights):
    # only the batch, read from the ONNX graph, can differ from what was checked above.
    facts = model_facts(release_dir, release.doc)
    batch = _nvinfer_batch(batch_size, _files_batch(facts))
    pre = spec.preprocessing
    scaling = scaling_for(pre.mean, pre.std, pre.value_range, pre.colour_order, facts.transform_input)
    seed = {} if facts.seed is None else {"seed": facts.seed}
    step("build model")
    net = build_model(
        spec, weights, transform_input=facts.transform_input, num_classes=facts.num_classes, **seed
    )
    step(f"check the model against {facts.bundle.name}")
    check_rebuilt(net, facts.bundle)
    out = Path(out_dir)
    artifact = out / ARTIFACT_NAME.format(model=spec.name)
    config = out / CONFIG_NAME.format(model=spec.name)
    labels = out / LABELS_NAME
    report = out / REPORT_NAME
    labels_bytes = labels_text(names).encode("utf-8")
    step(f"export {artifact.name}")
    with torch.no_grad():
        # Always a dynamic batch: nvinfer builds its engine with a dynamic batch from 1 to
        # batch-size, and a graph traced at batch N bakes N into the classifier's Reshape.
        exported = export_deepstream_onnx(
            net,
            spec,
            artifact,
            size=facts.input_size,
            batch=None,
            labels_sha256=hashlib.sha256(labels_bytes).hexdigest(),
            opset=facts.opset or DEFAULT_OPSET,
            scaling=scaling,
            transform_input=facts.transform_input,
            seed=facts.seed if facts.seed is not None else 0,
        )
    write_text_atomic(labels, labels_bytes.decode("utf-8"))
    cfg = NvinferConfig(
        onnx_file=artifact.name,
        engine_file=engine_file_name(artifact.name, batch),
        labels_file=labels.name,
        batch_size=batch,
        channels=3,
        height=facts.input_size,
        width=facts.input_size,
        scaling=scaling,
        process_mode=process_mode,
        gie_unique_id=gie_unique_id,
    )
    write_text_atomic(config, render_config(cfg, _header(spec.name, facts, exported.sha256, scaling)))
    step(f"gate {config.name}")
    _gate_into(report, config, spec, net, profile)
    return [config, labels, artifact, exported.sidecar, report]


def _gate_into(report: Path, config: Path, spec: ModelSpec, net: Any, profile: ToleranceProfile) -> None:
    """Gate the files written, write the verdict to ``report``; GateFailure (exit 1) when failed."""
    result = _gate(config, spec, net, profile)
    doc = {
        "tool": f"inception-export {__version__}",
        "model": spec.name,
        "profile": profile.name,
        **result.to_dict(),
    }
    write_text_atomic(report, jsonout.dumps(doc, indent=2) + "\n")
    if not result.passed:
        raise GateFailure(result.summary())


def _files_batch(found: ModelFacts) -> int | None:
    """The fixed batch of the release's FP32 ONNX, as its graph gives it (None: dynamic)."""
    return found.source.batch[0] if found.source.batch else None


def _header(model: str, facts: ReleaseModel, artifact_sha256: str, scaling: NvinferScaling) -> list[str]:
    return [
        f"nvinfer classifier config for {model}, written by inception-export {__version__}",
        f"weights sha256 {facts.weights_sha256[:16]} (the release's); artifact sha256 {artifact_sha256[:16]}",
        f"scaling: {scaling.describe()}",
        "paths are relative to this file, as nvinfer resolves them",
    ]


def _check_request(
    facts: ReleaseModel,
    release_dir: Path,
    weights: Path | None,
    class_names: list[str] | None,
    process_mode: int,
    gie_unique_id: int,
) -> tuple[ModelSpec, list[str]]:
    """(spec, class names) of a request that the release (its manifest's words) can serve;
    UsageError subclasses (exit 2) otherwise."""
    from ...registry import get_spec

    spec = get_spec(facts.model)
    spec.check_size(facts.input_size)
    check_weights(facts, weights, Path(release_dir), needed=f"--release {release_dir}: DeepStream's artifact")
    names = _class_names(facts, class_names)
    if process_mode not in (1, 2):
        raise UsageError(f"process-mode {process_mode}: 1 (whole frame) or 2 (objects)")
    if not 1 <= gie_unique_id <= MAX_GIE_UNIQUE_ID:
        raise UsageError(
            f"--gie-unique-id {gie_unique_id}: must be 1..{MAX_GIE_UNIQUE_ID} (nvinfer's uint range)"
        )
    return spec, names


def _nvinfer_batch(batch_size: int | None, release_batch: int | None) -> int:
    """nvinfer's batch-size: the one asked for, else the release's fixed batch, else 1."""
    # The DeepStream ONNX is exported with a dynamic batch whatever the release's (nvinfer builds
    # its engine for batches 1..batch-size), so any batch-size is served.
    batch = batch_size if batch_size is not None else release_batch or 1
    if batch < 1:
        raise UsageError(f"batch size {batch}: must be at least 1")
    return batch


def release_model_facts(release_dir: Path) -> ModelFacts:
    """The release's model as its hashed files say (``verify.model_facts``), its manifest's
    words checked against them."""
    return model_facts(release_dir, read_release(release_dir).doc)


def check_rebuilt(net: Any, bundle_path: Path) -> None:
    """The model rebuilt here must compute the release's golden logits (its eager reference)
    within the FP32 limits the release was gated with (the built-in ones where those were
    loosened past the bound): else the DeepStream artifact, gated
    against this model, would rest on another model than the release's. GateFailure (exit 1)."""
    from ...parity.bundle import load_bundle
    from ...parity.gate import MAX_GATE_BATCH, limit_checks
    from ...parity.metrics import compare
    from ...parity.reference import run_batched
    from ...parity.tolerances import PROFILES
    from ...runners.factory import model_runner

    bundle = load_bundle(bundle_path, allow_loose_limits=True)
    # The eager model against its own logits: loosened limits (a release made with
    # --allow-loose-limits) are the artifacts' allowance, not this identity check's.
    limits = PROFILES["default"]["fp32"] if bundle.beyond_bound else bundle.limits["fp32"]
    gold = bundle.sets["float"]
    with model_runner(net, "torch", bundle.input_size, "fp32") as runner:
        out = run_batched(runner, gold.feed, min(len(gold.feed), MAX_GATE_BATCH))
    # Batch consistency is the artifact's check (the DeepStream gate's), not the eager model's.
    checks = limit_checks(compare(gold.logits, out), 0.0, limits)
    failed = [c.message or c.name for c in checks if not c.passed]
    if failed:
        raise GateFailure(
            f"the model rebuilt from the release's weights does not compute its {bundle_path.name}: "
            + "; ".join(failed[:2])
        )


def _gate(config: Path, spec: ModelSpec, net: Any, profile: ToleranceProfile) -> DeepStreamGate:
    from ..eager import EagerReference
    from .deepstream_gate import gate_deepstream

    reference = EagerReference(spec, samples=GATE_SAMPLES, reference_model=net)
    reference.load(lambda _msg: None)
    return gate_deepstream(config, reference, spec.preprocessing, profile.limits)


def check_deepstream(
    config: Path,
    release_dir: Path,
    *,
    weights: Path | None = None,
    profile: ToleranceProfile = DEFAULT_PROFILE,
    fail: bool = True,
    progress: Callable[[str], None] | None = None,
) -> DeepStreamGate:
    """Gate an nvinfer config (one written here, or edited since) against the release's model:
    its artifact fed through the config's own scaling, within ``profile``'s limits (default:
    the built-in ``default``). GateFailure (exit 1) naming the failed metrics when it does not
    compute the model's probabilities (``fail=False``: the result says so instead); exit 2 for
    bad input. ``progress`` is called as each phase starts."""
    from ...deploy.nvinfer import read_config
    from ...registry import get_spec
    from ..build import build_model
    from .deepstream_gate import check_config_agrees

    release = read_release(release_dir)
    spec = get_spec(release.model)
    check_weights(release, weights, Path(release_dir), needed=f"--release {release_dir}: the DeepStream gate")
    # A malformed file, or one that disagrees with its artifact, is refused before the build.
    check_config_agrees(read_config(config), release.num_classes)
    step = progress or (lambda _msg: None)
    expect_steps(progress, 4)
    # The model from the release's files, checked against its golden bundle, as for the export.
    step("verify the release's files")
    found = model_facts(release_dir, release.doc)
    seed = {} if found.seed is None else {"seed": found.seed}
    step("build model")
    net = build_model(
        spec, weights, transform_input=found.transform_input, num_classes=found.num_classes, **seed
    )
    step(f"check the model against {found.bundle.name}")
    check_rebuilt(net, found.bundle)
    step(f"gate {Path(config).name}")
    result = _gate(Path(config), spec, net, profile)
    if fail and not result.passed:
        raise GateFailure(result.summary())
    return result
