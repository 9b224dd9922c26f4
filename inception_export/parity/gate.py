"""The parity gate: every artifact against eager PyTorch on the golden inputs.

Export-then-validate (as Optimum does), but the verdict is binding: each artifact gets
one result per check, and any failed check fails the gate. The gate only ever holds
:class:`Runner` objects, so it never branches on the backend.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..artifacts import artifact_metadata, aux_nodes, detect_format, open_runner
from ..build import build_model, load_report
from ..errors import ArtifactError, UsageError
from ..registry import ModelSpec, get_spec
from ..runners.base import Runner
from ..runners.torch_runner import TorchRunner
from .golden import GoldenSet, golden_inputs, golden_pixels
from .metrics import Metrics, compare
from .numfmt import failure_message
from .tolerances import CHECKS, Limits, load_profile

Progress = Callable[[str], None]


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
    metadata: dict[str, Any]
    metrics: Metrics
    by_kind: dict[str, Metrics]
    batch_sizes: list[int]
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0

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
            "passed": self.passed,
            "runner": self.runner,
            "batch_sizes": self.batch_sizes,
            "metrics": self.metrics.to_dict(),
            "metrics_by_input_kind": {k: m.to_dict() for k, m in self.by_kind.items()},
            "checks": [c.to_dict() for c in self.checks],
            "seconds": round(self.seconds, 3),
            "metadata": self.metadata,
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
            "limits": {p: lim.to_dict() for p, lim in self.limits.items()},
            "reference": "eager PyTorch, float32, CPU; metrics computed in float64",
            "inputs": self.inputs,
            "artifacts": [a.to_dict() for a in self.artifacts],
            "seconds": round(self.seconds, 3),
        }


def _run_batched(runner: Runner, x: np.ndarray, batch: int) -> np.ndarray:
    """Run ``x`` in chunks of exactly ``batch`` rows (the last chunk padded by repetition)."""
    outs = []
    for start in range(0, len(x), batch):
        chunk = x[start : start + batch]
        pad = batch - len(chunk)
        if pad:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)])
        outs.append(runner.infer(chunk)[: batch - pad])
    return np.concatenate(outs)


def _check_identity(spec: ModelSpec, meta: dict[str, Any], path: Path, num_classes: int) -> None:
    """Refuse (exit 2) an artifact that was made for another model or configuration."""
    model = meta.get("model")
    if model is not None and get_spec(str(model)).name != spec.name:
        raise ArtifactError(f"{path}: artifact is for model {model}, not {spec.name}")
    classes = meta.get("num_classes")
    if classes is not None and int(classes) != num_classes:
        raise ArtifactError(f"{path}: artifact has {classes} classes, the weights have {num_classes}")
    # A transform_input mismatch is deliberately not refused here: it is a real-world
    # failure (the metadata may be wrong too), so the gate must catch it numerically.


def _score(metrics: Metrics, consistency: float, limits: Limits, aux: list[str], outputs: int) -> list[Check]:
    checks = [
        Check(
            "aux_heads",
            outputs == 1 and not aux,
            message=(
                "one output, no auxiliary-head nodes"
                if outputs == 1 and not aux
                else f"{outputs} outputs; aux nodes: {', '.join(aux[:3]) or 'none'}"
            ),
        ),
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


def run_gate(
    model: str,
    artifacts: Sequence[Path],
    *,
    weights: Path | None = None,
    transform_input: bool = False,
    images: Path | None = None,
    samples: int = 6,
    profile: str = "default",
    device: str = "cpu",
    progress: Progress | None = None,
    reference_model: Any = None,
) -> GateReport:
    """Check every artifact against eager PyTorch; raise UsageError/ArtifactError on bad input."""
    t_start = time.perf_counter()
    spec = get_spec(model)
    if not artifacts:
        raise UsageError("no artifacts given")
    limits = load_profile(profile)
    if device not in ("cpu", "cuda"):
        raise UsageError(f"--device must be cpu or cuda, got {device!r}")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is visible to torch here")
    step = progress or (lambda _msg: None)
    # Validate every artifact before the slow work, so a typo fails in a second.
    formats = [(Path(p), detect_format(Path(p))) for p in artifacts]
    metas = [artifact_metadata(p, fmt) for p, fmt in formats]
    step("reference model")
    net = reference_model or build_model(spec.name, weights, transform_input=transform_input)
    report = load_report(net)
    for (path, _fmt), meta in zip(formats, metas, strict=True):
        _check_identity(spec, meta, path, report.num_classes)
    reference = TorchRunner(net, spec.default_size)
    goldens: dict[tuple[int, bool], tuple[GoldenSet, np.ndarray]] = {}
    results: list[ArtifactResult] = []
    for (path, fmt), meta in zip(formats, metas, strict=True):
        t0 = time.perf_counter()
        size = int(meta.get("input_size") or spec.default_size)
        spec.check_size(size)
        precision = str(meta.get("precision", "fp32"))
        if precision not in limits:
            raise ArtifactError(f"{path}: unknown precision {precision!r} in its metadata")
        # Artifacts with in-graph preprocessing take uint8 pixels; eager PyTorch gets the same
        # pixels normalised by the float pipeline.
        pixels = bool(meta.get("embedded_preprocessing"))
        if (size, pixels) not in goldens:
            step(f"golden inputs at {size}px and reference logits")
            gold = (golden_pixels if pixels else golden_inputs)(spec, size, samples, images)
            goldens[size, pixels] = (gold, _run_batched(reference, gold.batch, min(8, len(gold.batch))))
        gold, ref = goldens[size, pixels]
        feed = gold.pixels if gold.pixels is not None else gold.batch
        step(f"{path.name}: load")
        with open_runner(path, fmt, size, precision, device) as runner:
            info = runner.info
            low = max(1, info.min_batch)
            high = info.max_batch if info.max_batch is not None else len(gold.batch)
            # Metrics come from the largest batch the artifact takes; the smallest batch is
            # run on one input of each kind and must reproduce those rows.
            step(f"{path.name}: batch {high}")
            out = _run_batched(runner, feed, high)
            probe = [gold.kinds.index(k) for k in dict.fromkeys(gold.kinds)]
            step(f"{path.name}: batch {low}")
            single = _run_batched(runner, feed[probe], low)
        scale = max(float(np.abs(single.astype(np.float64)).max()), 1e-30)
        with np.errstate(invalid="ignore"):
            consistency = float(np.abs(out[probe].astype(np.float64) - single).max() / scale)
        if not np.isfinite(consistency):
            consistency = float("inf")
        metrics = compare(ref, out)
        kinds = np.asarray(gold.kinds)
        by_kind = {k: compare(ref[kinds == k], out[kinds == k]) for k in dict.fromkeys(gold.kinds)}
        aux = aux_nodes(path, fmt)
        checks = _score(metrics, consistency, limits[precision], aux, info.num_outputs)
        results.append(
            ArtifactResult(
                path=str(path),
                format=fmt,
                precision=precision,
                runner=info.to_dict(),
                metadata=meta,
                metrics=metrics,
                by_kind=by_kind,
                batch_sizes=sorted({low, high}),
                checks=checks,
                seconds=time.perf_counter() - t0,
            )
        )
    first_gold = next(iter(goldens.values()))[0]
    return GateReport(
        model=spec.name,
        weights={"path": report.path, "sha256": report.sha256, "num_classes": report.num_classes},
        transform_input=transform_input,
        profile=profile,
        limits=limits,
        inputs=first_gold.describe(),
        artifacts=results,
        seconds=time.perf_counter() - t_start,
    )
