"""DeepStream: an ``nvinfer`` classifier config, its label file and its artifact, gated as they run.

:func:`write_deepstream` reads a release's manifest, rebuilds the model from the weights the
release was made from (or its synthetic seed), exports the DeepStream artifact
(:mod:`.deepstream_onnx`), writes the config and labels (:mod:`.nvinfer`), then gates the
artifact through the numbers parsed back from the config just written
(:mod:`.deepstream_gate`). A failed gate raises :class:`GateFailure` (exit 1) naming the metric.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__, jsonout
from ..atomic import write_text_atomic
from ..errors import ArtifactError, GateFailure, UsageError, WeightsError
from ..text import printable
from .deepstream_gate import DeepStreamGate
from .labels import check_names, imagenet_names
from .nvinfer import NvinferConfig, engine_file_name, labels_text, render_config, scaling_for
from .source import check_manifest_types

MANIFEST = "manifest.json"
CONFIG_NAME = "config_infer_{model}.txt"
LABELS_NAME = "labels.txt"
ARTIFACT_NAME = "{model}-deepstream.onnx"
REPORT_NAME = "deepstream-parity.json"
DEFAULT_OPSET = 18
MAX_MANIFEST_BYTES = 64 << 20
# The gate's seeded random inputs (plus the edge images and photographs every gate uses).
GATE_SAMPLES = 2


@dataclass(frozen=True)
class ReleaseFacts:
    """What the DeepStream files need from a release's manifest."""

    model: str
    input_size: int
    num_classes: int
    transform_input: bool
    weights_sha256: str
    seed: int | None  # synthetic weights: their seed; None: a checkpoint
    batch: int | None  # the release ONNX's fixed batch, None for dynamic
    opset: int


def _need(data: dict[str, Any], key: str, kind: type, where: Path) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ArtifactError(f"{where}: no valid {key!r}; not a release manifest of this tool")
    return value


def read_release(release_dir: Path) -> ReleaseFacts:
    """The facts of ``release_dir/manifest.json``; ArtifactError (exit 2) for anything missing."""
    path = Path(release_dir) / MANIFEST
    if not Path(release_dir).is_dir():
        raise ArtifactError(f"--release {release_dir}: not a directory")
    try:
        if not path.is_file():
            raise ArtifactError(f"--release {release_dir}: no {MANIFEST}; not a release directory")
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise ArtifactError(f"{path}: larger than {MAX_MANIFEST_BYTES >> 20} MiB; not a release manifest")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ArtifactError(f"{path}: not JSON; not a release manifest") from None
    except OSError as exc:
        raise ArtifactError(f"{path}: {exc.strerror or exc}") from None
    if not isinstance(data, dict) or data.get("schema") != 1:
        raise ArtifactError(f"{path}: not a release manifest of this tool (schema 1)")
    check_manifest_types(data, path)
    model = _need(data, "model", str, path)
    pre = _need(data, "preprocessing", dict, path)
    weights = _need(data, "weights", dict, path)
    artifacts = _need(data, "artifacts", list, path)
    source, sha = weights.get("source"), weights.get("sha256")
    if not isinstance(source, str) or not isinstance(sha, str):
        raise ArtifactError(f"{path}: no weights source/sha256; cannot tell which weights made it")
    seed = None
    if source.startswith("synthetic:seed="):
        try:
            seed = int(source.removeprefix("synthetic:seed="))
        except ValueError:
            raise ArtifactError(
                f"{path}: weights source '{printable(source)}' is not a synthetic seed"
            ) from None
    fp32 = [
        a
        for a in artifacts
        if isinstance(a, dict) and a.get("format") == "onnx" and a.get("precision") == "fp32"
    ]
    if not fp32:
        raise ArtifactError(
            f"--release {release_dir}: no FP32 ONNX artifact in the manifest; DeepStream's is derived "
            "from its shape (batch, opset)"
        )
    shape = (fp32[0].get("input") or {}).get("shape")
    if not isinstance(shape, list) or not shape:
        raise ArtifactError(f"{path}: the FP32 ONNX entry has no input shape")
    opset = fp32[0].get("opset")
    return ReleaseFacts(
        model=model,
        input_size=_need(data, "input_size", int, path),
        num_classes=_need(data, "num_classes", int, path),
        transform_input=bool(pre.get("transform_input", False)),
        weights_sha256=sha,
        seed=seed,
        batch=shape[0] if isinstance(shape[0], int) and not isinstance(shape[0], bool) else None,
        opset=opset if isinstance(opset, int) and not isinstance(opset, bool) else DEFAULT_OPSET,
    )


def check_weights(facts: ReleaseFacts, weights: Path | None, release_dir: Path) -> None:
    """The weights must be the release's: by sha256, or none for a synthetic release."""
    from ..registry import checkpoint_sha256  # cached: release hashed it already

    if facts.seed is not None:
        if weights is not None:
            raise WeightsError(
                f"--weights {weights}: the release {release_dir} was made from synthetic weights "
                f"(seed {facts.seed}); drop --weights"
            )
        return
    if weights is None:
        raise WeightsError(
            f"the release {release_dir} was made from a checkpoint (sha256 {facts.weights_sha256[:12]}…); "
            "exporting DeepStream's artifact needs it: give --weights FILE"
        )
    if not Path(weights).is_file():
        raise WeightsError(f"--weights {weights}: no such file")
    digest = checkpoint_sha256(Path(weights))
    if digest != facts.weights_sha256:
        raise WeightsError(
            f"--weights {weights}: sha256 {digest[:12]}… is not the release's {facts.weights_sha256[:12]}…"
        )


def _class_names(facts: ReleaseFacts, class_names: list[str] | None) -> list[str]:
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
    profile: str = "default",
    process_mode: int = 1,
) -> list[Path]:
    """Write the DeepStream files of ``release_dir`` into ``out_dir`` (staged by the caller,
    existing and empty) and gate them; return the paths written.

    ``batch_size`` is nvinfer's ``batch-size`` (default: the release ONNX's fixed batch, else
    1); a fixed-batch release serves no other. ``process_mode`` 1 classifies whole frames, 2
    the objects of an upstream detector. Raises UsageError subclasses (exit 2) for a release
    or weights that cannot make them, GateFailure (exit 1) when the gate fails.
    """
    import torch

    from ..build import build_model
    from ..parity.tolerances import load_profile
    from ..registry import get_spec
    from .deepstream_onnx import export_deepstream_onnx

    if not Path(out_dir).is_dir():
        raise UsageError(f"{out_dir}: not a directory (the caller stages it)")
    facts = read_release(release_dir)
    spec = get_spec(facts.model)
    spec.check_size(facts.input_size)
    check_weights(facts, weights, Path(release_dir))
    names = _class_names(facts, class_names)
    load_profile(profile)  # a bad profile is refused before the export
    if process_mode not in (1, 2):
        raise UsageError(f"process-mode {process_mode}: 1 (whole frame) or 2 (objects)")
    batch = batch_size if batch_size is not None else facts.batch or 1
    if batch < 1:
        raise UsageError(f"batch size {batch}: must be at least 1")
    if facts.batch is not None and batch != facts.batch:
        raise UsageError(
            f"batch size {batch}: the release's ONNX takes batch {facts.batch} only "
            "(release with --batch dynamic for another)"
        )
    pre = spec.preprocessing
    scaling = scaling_for(pre.mean, pre.std, pre.value_range, pre.colour_order, facts.transform_input)
    seed = {} if facts.seed is None else {"seed": facts.seed}
    net = build_model(
        spec.name, weights, transform_input=facts.transform_input, num_classes=facts.num_classes, **seed
    )
    out = Path(out_dir)
    artifact = out / ARTIFACT_NAME.format(model=spec.name)
    config = out / CONFIG_NAME.format(model=spec.name)
    labels = out / LABELS_NAME
    report = out / REPORT_NAME
    with torch.no_grad():
        exported = export_deepstream_onnx(
            net,
            spec,
            artifact,
            size=facts.input_size,
            batch=facts.batch,
            opset=facts.opset,
            scaling=scaling,
            transform_input=facts.transform_input,
            seed=facts.seed if facts.seed is not None else 0,
        )
    write_text_atomic(labels, labels_text(names))
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
    )
    header = [
        f"nvinfer classifier config for {spec.name}, written by inception-export {__version__}",
        f"weights sha256 {facts.weights_sha256[:16]} (the release's); artifact sha256 {exported.sha256[:16]}",
        f"scaling: {scaling.describe()}",
        "paths are relative to this file, as nvinfer resolves them",
    ]
    write_text_atomic(config, render_config(cfg, header))
    result = _gate(config, spec.name, net, profile)
    doc = {
        "tool": f"inception-export {__version__}",
        "model": spec.name,
        "profile": profile,
        **result.to_dict(),
    }
    write_text_atomic(report, jsonout.dumps(doc, indent=2) + "\n")
    if not result.passed:
        raise GateFailure(result.summary())
    return [config, labels, artifact, exported.sidecar, report]


def _gate(config: Path, model: str, net: Any, profile: str) -> DeepStreamGate:
    from ..parity.eager import EagerReference
    from ..parity.tolerances import load_profile
    from ..registry import get_spec
    from .deepstream_gate import gate_deepstream

    reference = EagerReference(model, samples=GATE_SAMPLES, reference_model=net)
    reference.load(lambda _msg: None)
    return gate_deepstream(config, reference, get_spec(model).preprocessing, load_profile(profile))


def check_deepstream(
    config: Path,
    release_dir: Path,
    *,
    weights: Path | None = None,
    profile: str = "default",
    fail: bool = True,
) -> DeepStreamGate:
    """Gate an nvinfer config (one written here, or edited since) against the release's model:
    its artifact fed through the config's own scaling. GateFailure (exit 1) naming the failed
    metrics when it does not compute the model's probabilities (``fail=False``: the result says
    so instead); exit 2 for bad input."""
    from ..build import build_model
    from ..parity.tolerances import load_profile
    from ..registry import get_spec
    from .deepstream_gate import check_config_agrees
    from .nvinfer import read_config

    facts = read_release(release_dir)
    spec = get_spec(facts.model)
    check_weights(facts, weights, Path(release_dir))
    load_profile(profile)
    # A malformed file, or one that disagrees with its artifact, is refused before the build.
    check_config_agrees(read_config(config), facts.num_classes)
    seed = {} if facts.seed is None else {"seed": facts.seed}
    net = build_model(
        spec.name, weights, transform_input=facts.transform_input, num_classes=facts.num_classes, **seed
    )
    result = _gate(Path(config), spec.name, net, profile)
    if fail and not result.passed:
        raise GateFailure(result.summary())
    return result
