"""The localize table: one row per layer, in execution order, at most 79 characters wide."""

from __future__ import annotations

from ...text import printable
from .core import LocalizeReport

LAYER_WIDTH = 36


def _fit(name: str) -> str:
    # Keep the end of long paths: the leaf tells the layer, the block prefix is guessable.
    return name if len(name) <= LAYER_WIDTH else "…" + name[-(LAYER_WIDTH - 1) :]


def _g(x: float) -> str:
    return f"{x:9.2e}" if x == x and abs(x) != float("inf") else f"{x!s:>9}"


def limit_text(limit: float) -> str:
    """The limit as the very float the layers were compared with: the shortest text that reads
    back as it (a rounded format would show a profile's 0.12345 as 0.123, or INT8's 0.15 as 1e-01)."""
    return repr(float(limit))


def table(report: LocalizeReport) -> str:
    first = report.first_divergent
    head = f"{'#':>3} {'layer':<{LAYER_WIDTH}} {'rel L2':>9} {'max abs':>9} {'max |x|':>9} "
    lines = [
        printable(report.artifact),  # the user's path: its control characters escaped
        f"{report.model}, {report.precision}: per-layer error vs eager PyTorch, {len(report.inputs)} inputs",
        head + "note",
        "-" * (len(head) + 8),
    ]
    for i, lay in enumerate(report.layers, 1):
        note = ""
        if first is not None and lay is first:
            note = "<- FIRST"
        elif lay.diverges:
            note = "over"
        lines.append(
            f"{i:>3} {_fit(lay.layer):<{LAYER_WIDTH}} {_g(lay.rel_l2)} {_g(lay.max_abs)} "
            f"{_g(lay.max_activation)} {note}".rstrip()
        )
    # The limit applied, and why that one: the precision is read from the graph, not a record.
    limit = limit_text(report.rel_l2_limit)
    if first is None:
        lines.append(f"no layer diverges: all within the rel L2 limit {limit}")
    else:
        lines.append(f"first divergent layer: {first.layer}")
        lines.append(f"  rel L2 {first.rel_l2:.3g} exceeds the limit {limit}")
    lines.append(f"limit: {report.precision} (read from the graph), profile {printable(report.profile)}")
    if report.limits_beyond_bound:
        lines.append("limits beyond the built-in bound (--allow-loose-limits):")
        lines += [f"  {printable(b)}" for b in report.limits_beyond_bound]
    if report.precision == "fp16":
        peak = max(report.layers, key=lambda lay: lay.max_activation)
        lines.append(f"largest |x|: {peak.max_activation:.3g} in {peak.layer}")
        headroom = 65504 / max(peak.max_activation, 1e-30)
        lines.append(f"  float16 overflow headroom {headroom:.3g}x (max 65504)")
    return "\n".join(lines)
