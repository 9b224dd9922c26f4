"""A PNG chart of bench records (matplotlib, headless Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...atomic import atomic_path


def provenance_line(records: Sequence[dict[str, Any]]) -> str:
    """CPU, cores, load average, time and versions of the run, from the records' provenance."""
    p = next((r["provenance"] for r in records if isinstance(r.get("provenance"), dict)), None)
    if not p:
        return ""
    load = "/".join(f"{v:g}" for v in p.get("loadavg_1_5_15", []))
    end = (p.get("ended") or {}).get("loadavg_1_5_15")
    load_end = "/".join(f"{v:g}" for v in end) if end else "?"
    return (
        f"{p.get('cpu')} · {p.get('usable_cores')} of {p.get('cores')} cores · load {load} at start, "
        f"{load_end} at end · {p.get('time_utc')} · torch {p.get('torch')}, "
        f"onnxruntime {p.get('onnxruntime')}, "
        f"numpy {p.get('numpy')}, Python {p.get('python')}, inception-export {p.get('inception_export')}"
    )


def plot_records(records: Sequence[dict[str, Any]], path: Path, title: str = "") -> None:
    """Write :func:`build_figure`'s chart to ``path`` (PNG, atomically)."""
    import matplotlib.pyplot as plt

    fig = build_figure(records, title)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def build_figure(records: Sequence[dict[str, Any]], title: str = "") -> Any:
    """One panel per batch size: grouped bars of throughput (images/s) per model and backend.

    Each bar is labelled with its median latency and its speedup over eager PyTorch, the two
    numbers a reader picks a backend by; its error bar spans the throughput of the p90 to the
    p10 run, and a noisy measurement (p90 over 1.5x the median) is hatched and marked ``!``.
    The footer carries the run's provenance (CPU, cores, load, time, versions).
    """
    import matplotlib

    matplotlib.use("Agg")  # no display on CI machines or servers
    import matplotlib.pyplot as plt

    ok = [r for r in records if r.get("status") == "ok"]
    if not ok:
        raise ValueError("no measured records to plot")
    batches = sorted({int(r["batch"]) for r in ok})
    models = list(dict.fromkeys(str(r["model"]) for r in ok))
    labels = list(dict.fromkeys(f"{r['backend']} {r['precision']}" for r in ok))
    colours = plt.get_cmap("tab10")

    fig, axes = plt.subplots(
        1,
        len(batches),
        figsize=(max(8.0, 2.2 * len(models) * len(labels) / 2) * len(batches) / 1.4, 6.0),
        squeeze=False,
    )
    width = 0.8 / len(labels)
    for ax, batch in zip(axes[0], batches, strict=True):
        for j, label in enumerate(labels):
            offset = (j - (len(labels) - 1) / 2) * width
            bars = _Bars.of(ok, models, batch, label, offset)
            _draw_bars(ax, bars, label, colours(j % 10), width)
        _label_panel(ax, models, batch)
    _finish(fig, axes, len(labels), title, provenance_line(records))
    return fig


@dataclass
class _Bars:
    """One backend-precision's bars in one batch panel: a bar per model that has a record."""

    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lo: list[float] = field(default_factory=list)
    hi: list[float] = field(default_factory=list)
    noisy: list[bool] = field(default_factory=list)

    @classmethod
    def of(
        cls, ok: Sequence[dict[str, Any]], models: list[str], batch: int, label: str, offset: float
    ) -> _Bars:
        bars = cls()
        for i, model in enumerate(models):
            match = [
                r
                for r in ok
                if r["model"] == model
                and int(r["batch"]) == batch
                and f"{r['backend']} {r['precision']}" == label
            ]
            if match:
                bars.add(i + offset, match[0], batch)
        return bars

    def add(self, x: float, r: dict[str, Any], batch: int) -> None:
        self.xs.append(x)
        ips = float(r["throughput_ips"])
        self.ys.append(ips)
        # Throughput of the slow (p90) and fast (p10) runs; records from before p10
        # was kept fall back to the median.
        p10 = float(r.get("p10_ms") or r["median_ms"])
        p90 = float(r.get("p90_ms") or r["median_ms"])
        self.lo.append(max(ips - int(batch) * 1e3 / p90, 0.0))
        self.hi.append(max(int(batch) * 1e3 / p10 - ips, 0.0))
        self.noisy.append(bool(r.get("noisy")))
        sp = r.get("speedup_vs_torch")
        mark = "!" if r.get("noisy") else ""
        self.notes.append(f"{r['median_ms']:.0f} ms{mark}" + (f"\n{sp:.2f}x" if sp else ""))


def _draw_bars(ax: Any, series: _Bars, label: str, colour: Any, width: float) -> None:
    bars = ax.bar(
        series.xs,
        series.ys,
        width=width * 0.95,
        label=label,
        color=colour,
        yerr=[series.lo, series.hi],
        error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "0.25"},
    )
    for bar, is_noisy in zip(bars, series.noisy, strict=True):
        if is_noisy:
            bar.set_hatch("///")
            bar.set_edgecolor("black")
    for bar, note, up in zip(bars, series.notes, series.hi, strict=True):
        # Above the error bar, so the label never sits on it.
        ax.annotate(
            note,
            (bar.get_x() + bar.get_width() / 2, bar.get_height() + up),
            ha="center",
            va="bottom",
            fontsize=7,
            xytext=(0, 2),
            textcoords="offset points",
        )


def _label_panel(ax: Any, models: list[str], batch: int) -> None:
    ax.set_xticks(range(len(models)))
    ax.set_xticklabels(models)
    ax.set_ylabel("throughput (images/s, higher is better)")
    ax.set_title(f"batch {batch}")
    ax.margins(y=0.2)
    ax.grid(axis="y", alpha=0.3)


def _finish(fig: Any, axes: Any, n_labels: int, title: str, provenance: str) -> None:
    """The legend under the panels, the title, and the footer (what the marks mean, provenance)."""
    handles, legend_labels = axes[0][0].get_legend_handles_labels()
    fig.legend(
        handles,
        legend_labels,
        loc="lower center",
        ncol=n_labels,
        fontsize=8,
        bbox_to_anchor=(0.5, 0.13),
        frameon=False,
    )
    if title:
        fig.suptitle(title, fontsize=10)
    footer = (
        "bar labels: median latency per batch, speedup vs eager PyTorch fp32 (same batch); "
        "error bars: p90..p10 runs; hatched and ! : noisy (p90 > 1.5x median)"
    )
    fig.text(
        0.5, 0.005, footer + ("\n" + provenance if provenance else ""), ha="center", fontsize=7, wrap=True
    )
    fig.tight_layout(rect=(0, 0.19, 1, 1))
