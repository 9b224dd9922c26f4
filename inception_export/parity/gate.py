"""The parity gate: every artifact against the reference logits on the golden inputs.

Export-then-validate (as Optimum does), but the verdict is binding: each artifact gets
one result per check, and any failed check fails the gate. The gate only ever holds
:class:`Runner` objects, so it never branches on the backend, and one
:class:`~.reference.Reference`, so the checks are the same whether the reference logits
come from eager PyTorch here (:func:`.eager.run_gate`, the full role) or from a golden
bundle computed in CI (:func:`run_golden_gate`, no torch needed). This module imports no torch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..artifacts import artifact_metadata, aux_nodes, detect_format, require_backend
from ..console import expect_steps
from ..errors import ArtifactError, ArtifactRunFailure, UsageError
from ..facts import PrecisionFact, artifact_precision
from ..metadata import ArtifactMeta
from ..runners.base import RunnerInfo
from ..runners.factory import open_runner
from .accuracy import LabelledCheck, list_labelled
from .metrics import Metrics, compare
from .numfmt import failure_message
from .reference import EAGER, Reference, ReferenceSet, run_batched
from .tolerances import CHECKS, Limits, ToleranceProfile

Progress = Callable[[str], None]

# Inputs per inference call when an artifact takes any batch: activations of a batch grow
# with it, and a bundle may hold hundreds of inputs (an edge device has 8 GB).
MAX_GATE_BATCH = 16


@dataclass
class Check:
    name: str
    passed: bool
    value: float | None = None
    limit: float | None = None
    direction: str = ""  # "max": value <= limit, "min": value >= limit
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "value": self.value,
            "limit": self.limit,
            "direction": self.direction,
            "message": self.message,
        }


@dataclass
class ArtifactResult:
    path: str
    format: str
    precision: str
    runner: dict[str, Any]
    metadata: ArtifactMeta
    metrics: Metrics
    by_kind: dict[str, Metrics]
    batch_sizes: list[int]
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0
    accuracy: dict[str, Any] | None = None  # --labelled-images (parity/accuracy.py)
    # Where the precision (and so the limits) came from: "graph", "tensors" or "manifest".
    precision_from: str = ""
    precision_evidence: str = ""

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "precision": self.precision,
            "precision_from": self.precision_from,
            "precision_evidence": self.precision_evidence,
            "passed": self.passed,
            "runner": self.runner,
            "batch_sizes": self.batch_sizes,
            "metrics": self.metrics.to_dict(),
            "metrics_by_input_kind": {k: m.to_dict() for k, m in self.by_kind.items()},
            "checks": [c.to_dict() for c in self.checks],
            "seconds": round(self.seconds, 3),
            "metadata": self.metadata.to_dict(),
            **({"accuracy": self.accuracy} if self.accuracy is not None else {}),
        }


@dataclass
class GateReport:
    model: str
    weights: dict[str, Any]
    transform_input: bool
    profile: str
    limits: dict[str, Limits]
    inputs: list[dict[str, str]]
    artifacts: list[ArtifactResult]
    seconds: float = 0.0
    reference: str = EAGER
    golden_bundle: dict[str, Any] | None = None
    limits_from: str = ""  # "built-in profile", "file NAME", "golden bundle NAME"
    labelled: dict[str, Any] | None = None  # the --labelled-images set and eager accuracy
    # Limits looser than the built-in bound, taken only with --allow-loose-limits.
    limits_beyond_bound: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(a.passed for a in self.artifacts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": f"inception-export {__version__}",
            "model": self.model,
            "weights": self.weights,
            "transform_input": self.transform_input,
            "passed": self.passed,
            "exit_code": 0 if self.passed else 1,
            "tolerance_profile": self.profile,
            "limits_from": self.limits_from,
            "limits_within_bound": not self.limits_beyond_bound,
            "limits_beyond_bound": self.limits_beyond_bound,
            "limits": {p: lim.to_dict() for p, lim in self.limits.items()},
            "reference": self.reference,
            "golden_bundle": self.golden_bundle,
            "inputs": self.inputs,
            "artifacts": [a.to_dict() for a in self.artifacts],
            "seconds": round(self.seconds, 3),
            **({"labelled_images": self.labelled} if self.labelled is not None else {}),
        }


def _score(metrics: Metrics, consistency: float, limits: Limits, aux: list[str], outputs: int) -> list[Check]:
    heads = Check(
        "aux_heads",
        outputs == 1 and not aux,
        message=(
            "one output, no auxiliary-head nodes"
            if outputs == 1 and not aux
            else f"{outputs} outputs; aux nodes: {', '.join(aux[:3]) or 'none'}"
        ),
    )
    return [heads, *limit_checks(metrics, consistency, limits)]


def limit_checks(metrics: Metrics, consistency: float, limits: Limits) -> list[Check]:
    """Finiteness and every metric of ``CHECKS`` against its limit (shared by every gate that
    compares outputs with a reference: this one and the DeepStream gate)."""
    checks = [
        Check(
            "finite",
            metrics.nonfinite == 0,
            value=float(metrics.nonfinite),
            limit=0.0,
            direction="max",
            message=f"{metrics.nonfinite} NaN/Inf values" if metrics.nonfinite else "all outputs finite",
        ),
    ]
    values = metrics.to_dict()
    values["batch_consistency"] = consistency
    for name, direction in CHECKS.items():
        value = float(values[name])
        limit = float(getattr(limits, name))
        ok = bool(np.isfinite(value)) and (value <= limit if direction == "max" else value >= limit)
        checks.append(
            Check(
                name,
                ok,
                value=value,
                limit=limit,
                direction=direction,
                message="" if ok else failure_message(name, value, limit, direction),
            )
        )
    return checks


def batch_consistency(out: np.ndarray, probe: Sequence[int], single: np.ndarray) -> float:
    """max |batched - single| / max |single| over the probe rows (inf when not finite)."""
    scale = max(float(np.abs(single.astype(np.float64)).max()), 1e-30)
    with np.errstate(invalid="ignore"):
        value = float(np.abs(out[list(probe)].astype(np.float64) - single).max() / scale)
    return value if np.isfinite(value) else float("inf")


@dataclass(frozen=True)
class _Plan:
    """One artifact, checked against the reference and ready to run."""

    path: Path
    format: str
    meta: ArtifactMeta
    size: int
    pixels: bool
    precision: str
    precision_fact: PrecisionFact


@dataclass(frozen=True)
class _Outputs:
    """An artifact's logits at its largest batch, and at its smallest on one input of each kind."""

    info: RunnerInfo
    out: np.ndarray
    single: np.ndarray
    probe: list[int]  # the rows ``single`` holds
    batches: tuple[int, int]  # smallest, largest
    accuracy: dict[str, Any] | None = None  # on --labelled-images, with its checks' fields
    accuracy_checks: tuple[dict[str, Any], ...] = ()


def check_artifacts(
    reference: Reference,
    artifacts: Sequence[Path],
    *,
    profile: ToleranceProfile,
    device: str = "cpu",
    progress: Progress | None = None,
    labelled: LabelledCheck | None = None,
    threads: int | None = None,
) -> GateReport:
    """Every check on every artifact against ``reference``, within ``profile``'s limits;
    UsageError/ArtifactError on bad input.

    ``threads``: the CPU threads each artifact's runtime may use (None: its own default)."""
    t_start = time.perf_counter()
    limits = profile.limits
    if not artifacts:
        raise UsageError("no artifacts given")
    step = progress or (lambda _msg: None)
    opened = _open_artifacts(artifacts)
    reference.load(step)
    if labelled is not None:
        labelled.start(reference)
    plans = [_plan(reference, path, fmt, meta, fact, limits) for path, fmt, meta, fact in opened]
    results: list[ArtifactResult] = []
    first: ReferenceSet | None = None
    for plan in plans:
        t0 = time.perf_counter()
        gold = reference.inputs(plan.size, plan.pixels, step)
        first = first or gold
        try:
            outputs = _run(plan, gold, device, step, labelled, limits[plan.precision], threads)
        except ArtifactRunFailure as exc:
            # An artifact that loads but cannot compute (a node fails in run) is a failed
            # artifact, not bad input to the command: exit 1 with the node named, and the
            # other artifacts of the same gate are still judged, as CI wants from one run.
            results.append(_cannot_run(plan, exc, len(gold.feed)))
            continue
        result = _judge(plan, gold, outputs, reference, limits[plan.precision])
        result.accuracy = outputs.accuracy
        result.checks += [Check(**c) for c in outputs.accuracy_checks]
        result.seconds = time.perf_counter() - t0
        results.append(result)
    assert first is not None
    return GateReport(
        model=reference.model,
        weights=reference.weights,
        transform_input=reference.transform_input,
        profile=profile.name,
        limits=limits,
        inputs=first.inputs,
        artifacts=results,
        seconds=time.perf_counter() - t_start,
        reference=reference.description,
        golden_bundle=reference.info(),
        limits_from=profile.source,
        labelled=labelled.summary() if labelled is not None else None,
        limits_beyond_bound=list(profile.beyond),
    )


def _open_artifacts(artifacts: Sequence[Path]) -> list[tuple[Path, str, ArtifactMeta, PrecisionFact]]:
    """Every artifact's format, metadata, precision (read from the file, and checked against the
    metadata) and runtime, validated before the slow work (building the reference model), so a
    typo or a lying record fails in a second."""
    formats = [(Path(p), detect_format(Path(p))) for p in artifacts]
    metas = [(p, fmt, artifact_metadata(p, fmt)) for p, fmt in formats]
    for path, fmt in formats:
        require_backend(path, fmt)
    return [(p, fmt, meta, artifact_precision(p, fmt, meta)) for p, fmt, meta in metas]


def _plan(
    reference: Reference,
    path: Path,
    fmt: str,
    meta: ArtifactMeta,
    fact: PrecisionFact,
    limits: dict[str, Limits],
) -> _Plan:
    """What the artifact must match (model, classes) and what it takes (size, pixels, precision).

    The precision, which picks the limits, is read from the file (``facts.artifact_precision``):
    a record claiming INT8 for an FP32 graph would otherwise buy it INT8's limits."""
    reference.check_identity(path, meta)
    size, pixels = reference.resolve(path, meta)
    if fact.precision not in limits:
        raise ArtifactError(
            f"{path}: computes in {fact.precision} ({fact.evidence}) but the limits have no "
            f"{fact.precision} table (a golden bundle made before {fact.precision} was gated?)"
        )
    return _Plan(path, fmt, meta, size, pixels, fact.precision, fact)


def _run(
    plan: _Plan,
    gold: ReferenceSet,
    device: str,
    step: Progress,
    labelled: LabelledCheck | None = None,
    limits: Limits | None = None,
    threads: int | None = None,
) -> _Outputs:
    path = plan.path
    step(f"{path.name}: load")
    with open_runner(path, plan.format, plan.size, plan.precision, device, threads=threads) as runner:
        info = runner.info
        low = max(1, info.min_batch)
        high = info.max_batch if info.max_batch is not None else min(len(gold.feed), MAX_GATE_BATCH)
        # Metrics come from the largest batch the artifact takes; the smallest batch is
        # run on one input of each kind and must reproduce those rows.
        step(f"{path.name}: batch {high}")
        out = run_batched(runner, gold.feed, high)
        probe = [gold.kinds.index(k) for k in dict.fromkeys(gold.kinds)]
        step(f"{path.name}: batch {low}")
        single = run_batched(runner, gold.feed[probe], low)
        accuracy: dict[str, Any] | None = None
        checks: list[dict[str, Any]] = []
        if labelled is not None and limits is not None:
            accuracy, checks = labelled.measure(runner, plan.size, plan.pixels, high, limits, step)
    return _Outputs(info, out, single, probe, (low, high), accuracy, tuple(checks))


def _cannot_run(plan: _Plan, exc: ArtifactRunFailure, samples: int) -> ArtifactResult:
    """The result of an artifact whose run failed: every metric at its worst, one failed check."""
    inf = float("inf")
    worst = Metrics(inf, inf, inf, inf, inf, -1.0, 0.0, 0.0, inf, 0, samples)
    message = str(exc).removeprefix(f"{plan.path}: ")
    return ArtifactResult(
        path=str(plan.path),
        format=plan.format,
        precision=plan.precision,
        runner={},
        metadata=plan.meta,
        metrics=worst,
        by_kind={},
        batch_sizes=[],
        checks=[Check("runs", False, message=message)],
        precision_from=plan.precision_fact.source,
        precision_evidence=plan.precision_fact.evidence,
    )


def _judge(
    plan: _Plan, gold: ReferenceSet, outputs: _Outputs, reference: Reference, limits: Limits
) -> ArtifactResult:
    """The artifact's metrics against the reference logits, and every check scored."""
    path, ref, out, single = plan.path, gold.logits, outputs.out, outputs.single
    if out.shape[1] != ref.shape[1]:
        raise ArtifactError(
            f"{path}: artifact gives {out.shape[1]} classes, the reference {ref.shape[1]} ({reference.model})"
        )
    consistency = batch_consistency(out, outputs.probe, single)
    metrics = compare(ref, out)
    kinds = np.asarray(gold.kinds)
    by_kind = {k: compare(ref[kinds == k], out[kinds == k]) for k in dict.fromkeys(gold.kinds)}
    aux = aux_nodes(path, plan.format)
    return ArtifactResult(
        path=str(path),
        format=plan.format,
        precision=plan.precision,
        runner=outputs.info.to_dict(),
        metadata=plan.meta,
        metrics=metrics,
        by_kind=by_kind,
        batch_sizes=sorted(set(outputs.batches)),
        checks=_score(metrics, consistency, limits, aux, outputs.info.num_outputs),
        precision_from=plan.precision_fact.source,
        precision_evidence=plan.precision_fact.evidence,
    )


def run_golden_gate(
    bundle: Path,
    artifacts: Sequence[Path],
    *,
    profile: ToleranceProfile | None = None,
    device: str = "cpu",
    progress: Progress | None = None,
    model: str | None = None,
    labelled_images: Path | None = None,
    class_names: Path | None = None,
    allow_loose_limits: bool = False,
    threads: int | None = None,
) -> GateReport:
    """Check every artifact against a golden bundle's logits: the same checks as :func:`.eager.run_gate`,
    without PyTorch, the model code or the checkpoint.

    ``profile`` (read at the edge: ``ToleranceProfile.parse``) replaces the bundle's limits;
    ``None`` means the tolerance profile recorded in the bundle. ``model``, if given, must name
    the bundle's model (by name or alias). The bundle's limits looser than the built-in bound
    are refused unless ``allow_loose_limits`` (a profile's were checked when it was parsed).
    """
    from .bundle import load_bundle
    from .golden_reference import GoldenReference

    if not artifacts:
        raise UsageError("no artifacts given")
    check_device(device)
    labelled = labelled_check(labelled_images, class_names)
    # the bundle, then three per artifact (and the labelled images')
    expect_steps(progress, 1 + 3 * len(artifacts) + labelled_steps(labelled_images, artifacts, eager=False))
    step = progress or (lambda _msg: None)
    step("golden bundle")
    golden = load_bundle(bundle, allow_loose_limits=allow_loose_limits)
    reference = GoldenReference(golden)
    if model is not None and not reference.accepts(model):
        raise UsageError(f"--model {model}: the golden bundle {bundle} is for {golden.model}")
    if profile is None:
        profile = ToleranceProfile(
            golden.profile, golden.limits, f"golden bundle {golden.path.name}", tuple(golden.beyond_bound)
        )
    return check_artifacts(
        reference,
        artifacts,
        profile=profile,
        device=device,
        progress=progress,
        labelled=labelled,
        threads=threads,
    )


def labelled_steps(labelled_images: Path | None, artifacts: Sequence[Path], *, eager: bool) -> int:
    """Progress steps of --labelled-images: reading them, eager PyTorch's accuracy (``eager``: a
    golden bundle has no model to run), one per artifact."""
    return 0 if labelled_images is None else 1 + int(eager) + len(artifacts)


def labelled_check(images: Path | None, class_names: Path | None) -> LabelledCheck | None:
    """``--labelled-images`` checked for layout before the model is built (classes: after)."""
    if images is None:
        if class_names is not None:
            raise UsageError("--class-names names the folders of --labelled-images; give that too")
        return None
    return LabelledCheck(list_labelled(images, class_names))


def check_device(device: str) -> None:
    """``--device``, refused before any work when it is neither cpu nor cuda (whether torch
    sees a GPU is the eager gate's own check: ``eager.check_cuda_visible``)."""
    if device not in ("cpu", "cuda"):
        raise UsageError(f"--device must be cpu or cuda, got {device!r}")
