"""A PNG chart of bench records (matplotlib, headless Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..atomic import atomic_path


def plot_records(records: Sequence[dict[str, Any]], path: Path, title: str = "") -> None:
    """One panel per batch size: grouped bars of throughput (images/s) per model and backend.

    Each bar is labelled with its median latency and its speedup over eager PyTorch, the two
    numbers a reader picks a backend by.
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
        figsize=(max(6.0, 2.2 * len(models) * len(labels) / 2) * len(batches) / 1.4, 5.2),
        squeeze=False,
    )
    width = 0.8 / len(labels)
    for ax, batch in zip(axes[0], batches, strict=True):
        for j, label in enumerate(labels):
            xs, ys, notes = [], [], []
            for i, model in enumerate(models):
                match = [
                    r
                    for r in ok
                    if r["model"] == model
                    and int(r["batch"]) == batch
                    and f"{r['backend']} {r['precision']}" == label
                ]
                if not match:
                    continue
                r = match[0]
                xs.append(i + (j - (len(labels) - 1) / 2) * width)
                ys.append(float(r["throughput_ips"]))
                sp = r.get("speedup_vs_torch")
                notes.append(f"{r['median_ms']:.0f} ms" + (f"\n{sp:.2f}x" if sp else ""))
            bars = ax.bar(xs, ys, width=width * 0.95, label=label, color=colours(j % 10))
            for bar, note in zip(bars, notes, strict=True):
                ax.annotate(
                    note,
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    xytext=(0, 2),
                    textcoords="offset points",
                )
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels(models)
        ax.set_ylabel("throughput (images/s, higher is better)")
        ax.set_title(f"batch {batch}")
        ax.margins(y=0.2)
        ax.grid(axis="y", alpha=0.3)
    handles, legend_labels = axes[0][0].get_legend_handles_labels()
    fig.legend(
        handles,
        legend_labels,
        loc="lower center",
        ncol=len(labels),
        fontsize=8,
        bbox_to_anchor=(0.5, 0.03),
        frameon=False,
    )
    if title:
        fig.suptitle(title, fontsize=10)
    fig.text(
        0.5,
        0.005,
        "bar labels: median latency per batch, speedup vs eager PyTorch fp32 (same batch)",
        ha="center",
        fontsize=8,
    )
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
