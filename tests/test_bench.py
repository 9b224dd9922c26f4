"""`bench`: the interleaved schedule, the statistics, a real v1 run through the CLI, bad arguments,
noisy measurements flagged, the chart's spread and provenance.

Timings are never asserted against targets here (a shared CI machine makes that flaky);
only that the records are complete, finite and positive. The measured ratios live in
benchmarks/results/ and docs/bench.md.
"""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import pytest
from conftest import CliResult, assert_one_line_error, run_cli
from typer.testing import CliRunner

from inception_export.errors import UsageError
from inception_export.full.bench.options import parse_batches
from inception_export.full.bench.plan import plan, skip_reason
from inception_export.full.bench.plot import build_figure, provenance_line
from inception_export.full.bench.run import RECORD_FIELDS
from inception_export.full.bench.timing import (
    interleaved_schedule,
    is_noisy,
    noise_warnings,
    run_interleaved,
    summarize,
)


def test_schedule_is_round_robin() -> None:
    assert interleaved_schedule(["A", "B", "C"], 3) == ["A", "B", "C"] * 3
    assert interleaved_schedule(["A"], 2) == ["A", "A"]
    assert interleaved_schedule(["A", "B"], 0) == []


def test_run_interleaved_calls_in_abc_order_after_warmup() -> None:
    calls: list[str] = []
    fns = {k: functools.partial(calls.append, k) for k in ("A", "B", "C")}
    # A fake clock: every call "takes" one tick, so each recorded time is exactly 1.0.
    ticks = iter(range(1000))
    times = run_interleaved(fns, warmup=2, iters=4, clock=lambda: float(next(ticks)), gap_s=0)
    assert calls == ["A", "B", "C"] * 6  # 2 warm-up rounds, then 4 timed rounds, never AAA BBB
    assert {k: len(v) for k, v in times.items()} == {"A": 4, "B": 4, "C": 4}
    assert all(t == 1.0 for v in times.values() for t in v)


def test_summarize_known_values() -> None:
    st = summarize([0.001 * v for v in (5, 1, 3, 2, 4)])  # seconds in, milliseconds out
    assert st.n == 5
    assert st.median_ms == pytest.approx(3.0)
    assert st.p90_ms == pytest.approx(4.6)  # linear interpolation between 4 and 5
    assert st.mean_ms == pytest.approx(3.0)
    assert st.min_ms == pytest.approx(1.0) and st.max_ms == pytest.approx(5.0)
    assert st.stdev_ms == pytest.approx(float(np.std([1, 2, 3, 4, 5], ddof=1)))
    even = summarize([0.010, 0.020, 0.030, 0.040])
    assert even.median_ms == pytest.approx(25.0)
    assert even.p90_ms == pytest.approx(37.0)
    assert summarize([0.002]).stdev_ms == 0.0
    with pytest.raises(ValueError):
        summarize([])
    with pytest.raises(ValueError):
        summarize([0.1, float("nan")])


def test_cpu_fp16_plan_skips_with_reason() -> None:
    combos = plan(["torch", "onnxruntime"], ["fp32", "fp16"], "cpu")
    by = {c.label: c.skip for c in combos}
    assert by["torch-fp32"] is None and by["onnxruntime-fp32"] is None and by["onnxruntime-fp16"] is None
    assert by["torch-fp16"] and "CPU" in by["torch-fp16"]
    assert skip_reason("torchscript", "fp16", "cpu")
    with pytest.raises(UsageError, match="none of the requested combinations"):
        plan(["torch"], ["fp16"], "cpu")
    assert parse_batches("1, 8,8") == [1, 8]
    with pytest.raises(UsageError):
        parse_batches("0")


@pytest.fixture(scope="module")
def v1_run() -> CliResult:
    return run_cli(
        "bench", "--model", "v1", "--backends", "torch,torchscript,onnxruntime", "--precision", "fp32,fp16",
        "--batch", "1", "--warmup", "1", "--iters", "3", "--gemm", "256", "--json", timeout=300,
    )  # fmt: skip


@pytest.mark.slow
def test_real_v1_bench_records(v1_run: CliResult) -> None:
    assert v1_run.code == 0, v1_run.stderr
    records = json.loads(v1_run.stdout)
    ok = {(r["backend"], r["precision"]): r for r in records if r["status"] == "ok"}
    expected = {("torch", "fp32"), ("torchscript", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "fp16")}
    assert set(ok) == expected
    skipped = [r for r in records if r["status"] == "skipped"]
    assert {(r["backend"], r["precision"]) for r in skipped} == {("torch", "fp16"), ("torchscript", "fp16")}
    assert all(r["reason"] for r in skipped)
    assert all(r["noisy"] is None for r in skipped)
    for r in ok.values():
        for key in RECORD_FIELDS:
            assert key in r
        for key in [k for k in RECORD_FIELDS[3:] if k != "noisy"]:
            assert isinstance(r[key], float) and math.isfinite(r[key]) and r[key] > 0, (key, r[key])
        # Too noisy to trust: p90 over 1.5x the median, flagged in the JSON and warned about.
        assert r["noisy"] is (r["p90_ms"] > 1.5 * r["median_ms"])
        if r["noisy"]:
            assert f"warning: {r['backend']}-{r['precision']} batch 1: p90" in v1_run.stderr
        assert r["batch"] == 1 and r["runs"] == 3
        assert r["p90_ms"] >= r["median_ms"]
        assert r["throughput_ips"] == pytest.approx(1000.0 / r["median_ms"])
        assert r["gmacs_per_s"] == pytest.approx(1.498 / (r["median_ms"] / 1000.0))
        assert r["threads"]["torch_threads"] >= 1 and r["threads"]["ort_intra_op_threads"] >= 1
        # The yardstick GEMM ran in the same rotation; its rate is the faster of torch and numpy.
        assert r["gemm_gmacs_per_s"] == max(r["gemm_gmacs_per_s_by_lib"].values()) > 0
        assert r["fraction_of_gemm"] == pytest.approx(r["gmacs_per_s"] / r["gemm_gmacs_per_s"])
        assert "gemm-torch" in r["interleaved_with"]
    assert ok[("torch", "fp32")]["speedup_vs_torch"] == pytest.approx(1.0)
    # Progress and skip reasons go to stderr, never into the JSON on stdout.
    assert "skip" in v1_run.stderr
    # stderr is a pipe here, as in CI: a line per phase instead of a live bar.
    phases = [ln for ln in v1_run.stderr.splitlines() if ln.startswith("bench: ")]
    assert any("building" in ln for ln in phases) and any("timing" in ln for ln in phases), v1_run.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--backends", "torch,mxnet"], "unknown backend 'mxnet'"),
        (["--batch", "0"], "batch size must be >= 1"),
        (["--batch", "1,x"], "not an integer"),
        (["--precision", "int4"], "unknown precision 'int4'; choose from fp32, fp16, int8"),
        (["--iters", "0"], "--iters"),
        # Bounded (bounds.py): 10**11 runs went on for ever, a 10**8 GEMM ran out of memory.
        (["--iters", "99999999999"], "--iters must be from 1 to 10,000"),
        (["--warmup", "99999999999"], "--warmup must be from 0 to 1,000"),
        (["--gemm", "100000000"], "--gemm must be from 0 to 16,384"),
        (["--backends", "tensorrt"], "tensorrt is not installed"),
        (["--backends", "torch", "--precision", "fp16"], "none of the requested combinations"),
        (["--plot", "chart.svg"], ".png"),
    ],
)
def test_bad_arguments_one_line_exit_2(args: list[str], needle: str) -> None:
    from inception_export.cli import commands  # noqa: F401  (registers the commands)
    from inception_export.cli.app import app

    res = CliRunner().invoke(app, ["bench", "--model", "v1", *args])
    result = CliResult(res.exit_code, res.stdout, res.stderr)
    assert_one_line_error(result, 2, needle)


@pytest.mark.slow
def test_unknown_model_subprocess() -> None:
    assert_one_line_error(run_cli("bench", "--model", "v9", "--iters", "1"), 2, "unknown model")


def test_real_v1_records_carry_provenance_and_isolation(v1_run: CliResult) -> None:
    assert v1_run.code == 0, v1_run.stderr
    records = json.loads(v1_run.stdout)
    for r in records:
        p = r["provenance"]
        assert p["cpu"] and p["cores"] >= 1 and 1 <= p["usable_cores"] <= p["cores"]
        assert len(p["loadavg_1_5_15"]) == 3 and len(p["ended"]["loadavg_1_5_15"]) == 3
        assert p["time_utc"].endswith("Z") and p["torch"] and p["onnxruntime"] and p["numpy"]
    for r in (r for r in records if r["status"] == "ok"):
        assert r["p10_ms"] <= r["median_ms"] <= r["p90_ms"]
        # Every timed run waited for the previous contender's threads to go quiet (checked).
        assert r["isolation"].startswith("settled")
        assert r["settle_median_ms"] >= 50 and r["settle_max_ms"] >= r["settle_median_ms"]
        busy = "timed runs started while the process was still busy"
        assert r["unsettled_runs"] == 0 or busy in v1_run.stderr


def test_noisy_measurement_flagged() -> None:
    steady = summarize([0.010, 0.011, 0.010, 0.012, 0.010])
    noisy = summarize([0.010, 0.010, 0.011, 0.010, 0.040])
    assert not is_noisy(steady) and is_noisy(noisy)
    assert noisy.p90_ms > 1.5 * noisy.median_ms
    records = [
        {"backend": "torch", "precision": "fp32", "batch": 1, "median_ms": noisy.median_ms,
         "p90_ms": noisy.p90_ms, "noisy": is_noisy(noisy)},
        {"backend": "onnxruntime", "precision": "fp32", "batch": 1, "median_ms": steady.median_ms,
         "p90_ms": steady.p90_ms, "noisy": is_noisy(steady)},
    ]  # fmt: skip
    lines = noise_warnings(records)
    assert len(lines) == 1 and lines[0].startswith("torch-fp32 batch 1: p90 ") and "noisy" in lines[0]
    assert math.isclose(float(lines[0].split("p90 ")[1].split()[0]), noisy.p90_ms, rel_tol=1e-2)


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
