"""Small things a new user hit (issue 21, item 8): digits of min cosine, ./dev from any directory,
bench provenance and its chart's spread."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from inception_export.full.bench.plot import build_figure, provenance_line
from inception_export.parity.numfmt import near_one

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0.9999998, "0.9999998"),
        (0.99999984, "0.9999998"),
        (1 - 3.35e-5, f"{1 - 3.35e-5:.6f}"),  # six decimals already show it
        (0.99, "0.990000"),
        (1.0, "1.000000"),
        (0.5, "0.500000"),
    ],
)
def test_min_cosine_shows_its_distance_from_one(value: float, shown: str) -> None:
    assert near_one(value) == shown
    # Never reads as exactly 1 when it is not.
    if value != 1.0:
        assert float(near_one(value)) != 1.0


def _dev_ready() -> bool:
    key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + (ROOT / "dev").read_bytes()).hexdigest()
    return (ROOT / ".venv" / f".installed-{key[:16]}").exists()


def test_dev_keeps_the_callers_directory(tmp_path: Path) -> None:
    if not _dev_ready():
        pytest.skip("./dev has not installed .venv for this pyproject.toml yet (it would take minutes)")
    proc = subprocess.run(
        [str(ROOT / "dev"), "python", "-c", "import os; open('out', 'w').write(os.getcwd())"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
    )
    assert proc.returncode == 0, proc.stderr
    # A relative output path lands where ./dev was called, not in the repository.
    assert (tmp_path / "out").read_text() == str(tmp_path)
    assert not (ROOT / "out").exists()


def _record(backend: str, median: float, p10: float, p90: float, noisy: bool) -> dict[str, object]:
    return {
        "status": "ok", "model": "googlenet", "backend": backend, "precision": "fp32", "batch": 1,
        "median_ms": median, "p10_ms": p10, "p90_ms": p90, "noisy": noisy,
        "throughput_ips": 1000.0 / median, "speedup_vs_torch": 1.0,
        "provenance": {
            "time_utc": "2026-11-30T19:00:00Z", "cpu": "Test CPU 9000", "cores": 2, "usable_cores": 2,
            "loadavg_1_5_15": [1.25, 1.0, 0.5], "python": "3.11.7", "torch": "2.13.0",
            "onnxruntime": "1.31.1", "numpy": "2.4.6", "inception_export": "0.1.0",
            "ended": {"time_utc": "2026-11-30T19:01:00Z", "loadavg_1_5_15": [1.5, 1.0, 0.5]},
        },
    }  # fmt: skip


def test_chart_shows_spread_noise_and_provenance() -> None:
    import matplotlib.pyplot as plt
    from matplotlib.container import BarContainer

    records = [_record("torch", 100.0, 90.0, 200.0, True), _record("onnxruntime", 50.0, 45.0, 55.0, False)]
    fig = build_figure(records, "t")
    try:
        ax = fig.axes[0]
        bars = [c for c in ax.containers if isinstance(c, BarContainer)]
        assert len(bars) == 2
        # Each bar carries a p90..p10 error bar, in images/s: 1000/p90 .. 1000/p10.
        for container, (p10, p90) in zip(bars, [(90.0, 200.0), (45.0, 55.0)], strict=True):
            assert container.errorbar is not None
            segment = container.errorbar.lines[2][0].get_segments()[0]
            assert sorted(y for _, y in segment) == pytest.approx([1000 / p90, 1000 / p10])
        # The noisy bar is hatched and its label marked; the steady one is not.
        assert bars[0].patches[0].get_hatch() and not bars[1].patches[0].get_hatch()
        labels = [t.get_text() for t in ax.texts]
        assert any(t.startswith("100 ms!") for t in labels) and any(t.startswith("50 ms\n") for t in labels)
        footer = "\n".join(t.get_text() for t in fig.texts)
        assert provenance_line(records) in footer
        for needle in ("Test CPU 9000", "2 of 2 cores", "load 1.25/1/0.5", "19:00:00Z", "torch 2.13.0"):
            assert needle in footer
    finally:
        plt.close(fig)
