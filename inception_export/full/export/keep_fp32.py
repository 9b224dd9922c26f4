"""``--keep-fp32 auto``: measure which layers float16 cannot carry, and keep just those.

Measured on the BN-folded float32 model (what the FP16 graph computes, before rounding) with
forward hooks, one golden input at a time:

* **activations**: a layer whose output (pre-ReLU included) or input reaches
  ``ACTIVATION_LIMIT`` = 65504 / 4 would overflow float16 or come too close: the golden
  inputs already include the range extremes (saturated images), but real inputs can go
  beyond them and the float16 graph's own rounding adds to it, so we keep 4x (2 bits) of
  headroom. The healthy models peak at 124 (v1/v3) and 3.7e3 (v2, BGR 0-255 input), 4.4x
  and more below the limit.
* **weights** (after BN folding, in float64): a layer whose non-zero weights are mostly
  (> 50 %) below float16's smallest normal number 2^-14 = 6.1e-5 (subnormal: fewer
  significant bits, or flushed to zero below 2^-25), or whose float16 rounding error
  exceeds ``WEIGHT_REL_ERR_LIMIT`` = 1e-3 relative L2 (normal float16 rounding gives about
  2^-11 / sqrt(3) = 2.8e-4), loses its precision.

A kept layer whose output itself exceeds the limit must hand it on in float32, so every
layer it feeds is kept too ("what they feed"); when something other than a layer (a concat,
a pool) consumes it, no per-layer choice can help and the export is refused, naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ...errors import UsageError
from ...registry import ModelSpec
from .layers import layer_graph, layer_paths

FP16_MAX = 65504.0
FP16_MIN_NORMAL = 2.0**-14
ACTIVATION_LIMIT = FP16_MAX / 4
SUBNORMAL_FRACTION_LIMIT = 0.5
WEIGHT_REL_ERR_LIMIT = 1e-3


@dataclass
class KeepPlan:
    """Which layers stay float32, whether each one's output stays float32, and why."""

    float32_out: dict[str, bool] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def layers(self) -> list[str]:
        return list(self.float32_out)

    def to_dict(self) -> dict[str, Any]:
        return {"layers": self.layers, "reasons": self.reasons}


def _params(module: nn.Module) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    conv = getattr(module, "conv", None)
    target = conv if isinstance(conv, nn.Conv2d) else module
    w, b = getattr(target, "weight", None), getattr(target, "bias", None)
    return (
        w.detach() if isinstance(w, torch.Tensor) else None,
        b.detach() if isinstance(b, torch.Tensor) else None,
    )


def weight_findings(folded: nn.Module, layers: list[str]) -> dict[str, str]:
    """Layers whose folded weights float16 cannot represent well, with the reason."""
    out: dict[str, str] = {}
    for name in layers:
        w, b = _params(folded.get_submodule(name))
        if w is None:
            continue
        w64 = w.double()
        peak = max(float(w64.abs().max()), float(b.double().abs().max()) if b is not None else 0.0)
        if peak > FP16_MAX:
            out[name] = f"weights/bias reach {peak:.3g} (float16 max 65504)"
            continue
        nz = w64[w64 != 0]
        if nz.numel() == 0:
            continue
        small = float((nz.abs() < FP16_MIN_NORMAL).double().mean())
        err = float(torch.linalg.vector_norm(w64.half().double() - w64) / torch.linalg.vector_norm(w64))
        if small > SUBNORMAL_FRACTION_LIMIT or err > WEIGHT_REL_ERR_LIMIT:
            out[name] = f"weights {small:.0%} below float16's normal range (rounding error {err:.2g})"
    return out


def activation_peaks(
    folded32: nn.Module, layers: list[str], batch: np.ndarray
) -> dict[str, tuple[float, float, float]]:
    """Per layer: max |input|, max |pre-activation|, max |output| over ``batch`` (one input at a time)."""
    peaks: dict[str, list[float]] = {name: [0.0, 0.0, 0.0] for name in layers}
    handles = []

    def _upd(name: str, slot: int, t: torch.Tensor) -> None:
        # aminmax instead of abs().max(): no copy of every activation tensor.
        lo, hi = torch.aminmax(t.detach())
        v = max(-float(lo), float(hi))
        peaks[name][slot] = max(peaks[name][slot], v if v == v else float("inf"))

    def _outer(name: str) -> Any:
        def hook(_m: nn.Module, i: tuple[torch.Tensor, ...], o: torch.Tensor) -> None:
            _upd(name, 0, i[0])
            _upd(name, 2, o)

        return hook

    def _inner(name: str) -> Any:
        def hook(_m: nn.Module, _i: tuple[torch.Tensor, ...], o: torch.Tensor) -> None:
            _upd(name, 1, o)

        return hook

    for name in layers:
        module = folded32.get_submodule(name)
        handles.append(module.register_forward_hook(_outer(name)))
        conv = getattr(module, "conv", None)
        inner = conv if isinstance(conv, nn.Conv2d) else module
        handles.append(inner.register_forward_hook(_inner(name)))
    try:
        with torch.inference_mode():
            for row in batch:
                folded32(torch.from_numpy(np.ascontiguousarray(row[None], dtype=np.float32)))
    finally:
        for h in handles:
            h.remove()
    return {k: (v[0], v[1], v[2]) for k, v in peaks.items()}


def plan_keep(model: nn.Module, names: list[str]) -> KeepPlan:
    """The plan for an explicit list: outputs stay float32 only between kept layers."""
    graph = layer_graph(model)
    plan = KeepPlan()
    kept = set(names)
    for name in names:
        users = graph.consumers.get(name)
        plan.float32_out[name] = bool(users) and all(u in kept for u in users or [])
        plan.reasons[name] = "named on the command line"
    return plan


def auto_keep(
    model: nn.Module,
    folded: nn.Module,
    spec: ModelSpec,
    size: int,
    *,
    samples: int = 6,
    images: Path | None = None,
) -> KeepPlan:
    """Measure on the golden inputs which layers must stay float32 (see the module doc)."""
    from ..golden import golden_inputs
    from .fold import fold_batchnorm

    layers = layer_paths(model)
    graph = layer_graph(model)
    reasons = weight_findings(folded, layers)
    folded32, _ = fold_batchnorm(model)
    gold = golden_inputs(spec, size, samples, images)
    peaks = activation_peaks(folded32, layers, gold.batch)
    big_out: set[str] = set()
    for name in graph.order:
        x_in, pre, out = peaks[name]
        found = [reasons[name]] if name in reasons else []
        if max(pre, out) > ACTIVATION_LIMIT:
            found.append(f"activations reach {max(pre, out):.3g}")
        elif x_in > ACTIVATION_LIMIT:
            found.append(f"input reaches {x_in:.3g}")
        if found:
            reasons[name] = "; ".join(found)
        if out > ACTIVATION_LIMIT:
            big_out.add(name)
    for name in sorted(big_out):
        users = graph.consumers.get(name)
        if users is None or not users:
            raise UsageError(
                f"--keep-fp32 auto: {name}'s activations reach {peaks[name][2]:.3g} (float16 max 65504) "
                "and flow into an operation outside a layer (concat/pool); keep the enclosing block "
                "by name instead"
            )
        for user in users:
            reasons.setdefault(user, f"fed by {name} in float32")
    plan = KeepPlan()
    for name in graph.order:
        if name in reasons:
            users = graph.consumers.get(name) or []
            plan.float32_out[name] = name in big_out or (bool(users) and all(u in reasons for u in users))
            plan.reasons[name] = reasons[name]
    return plan


def describe_auto_plan(plan: KeepPlan) -> str:
    """One line: what ``--keep-fp32 auto`` kept in float32 and why, or that it kept nothing."""
    if not plan.layers:
        return (
            "--keep-fp32 auto kept nothing in float32: no layer's folded weights fall outside "
            "float16's range or precision, and no activation on the golden inputs reaches "
            f"{ACTIVATION_LIMIT:g} (float16 max / 4)"
        )
    kept = "; ".join(f"{name} ({plan.reasons[name]})" for name in plan.layers)
    return f"--keep-fp32 auto kept {len(plan.layers)} layer(s) in float32: {kept}"
