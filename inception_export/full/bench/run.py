"""The benchmark run: every combination timed interleaved, batch by batch, one record each."""

from __future__ import annotations

import functools
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...errors import UsageError
from ...registry import ModelSpec
from ...runners.base import Runner, RunnerInfo
from ...runners.factory import model_runner, open_runner
from .artifacts import ArtifactExporter
from .gemm import gemm_callable
from .options import BenchConfig
from .plan import Combo, plan
from .timing import SETTLE_IDLE_FRACTION, SettleLog, is_noisy, run_interleaved, summarize

# Fields every record carries, measured or skipped (the --json contract).
RECORD_FIELDS = (
    "backend",
    "precision",
    "batch",
    "median_ms",
    "p90_ms",
    "throughput_ips",
    "speedup_vs_torch",
    "gmacs_per_s",
    "peak_rss_mb",
    "noisy",
)


def peak_rss_mb() -> float:
    """Process-wide peak resident set size so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


_ARTIFACT_KIND = {"torchscript": "torchscript", "onnxruntime": "onnx-{p}", "tensorrt": "onnx-fp32"}
# What each artifact backend runs, as ArtifactExporter kinds and artifacts.detect_format formats.
_RUNS = {"torchscript": ("torchscript", "torchscript"), "onnxruntime": ("onnx-{p}", "onnx"),
         "tensorrt": ("engine-{p}", "tensorrt")}  # fmt: skip


def open_combo(
    c: Combo, cfg: BenchConfig, spec: ModelSpec, model: nn.Module, exporter: ArtifactExporter, batch: int
) -> Runner:
    """The runner of one combination: the shared model itself (the runners never change it),
    or the artifact ``exporter`` makes for it (exported on first need, then reused)."""
    size = spec.default_size
    if c.backend in ("torch", "cudagraph"):
        return model_runner(model, c.backend, size, c.precision, cfg.device, batch=batch)
    if c.backend not in _RUNS:
        raise UsageError(f"unknown backend {c.backend!r}")
    kind, fmt = _RUNS[c.backend]
    path, _ = exporter.get(kind.format(p=c.precision))
    return open_runner(
        path,
        fmt,
        size,
        c.precision,
        cfg.device,
        threads=cfg.threads,
        spin=True,  # onnxruntime's default: what a user's timed loop of it gets
        cuda_graph=cfg.trt_cuda_graph,
    )


def cpu_model() -> str:
    """The CPU's marketing name (``platform.processor()`` only says x86_64 on Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance() -> dict[str, Any]:
    """Where and when a figure was measured: without it a median cannot be compared or trusted."""
    import numpy as np

    from ... import __version__

    try:
        import onnxruntime

        ort: str | None = str(onnxruntime.__version__)
    except ImportError:
        ort = None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS has no affinity call
        usable = os.cpu_count() or 1
    return {
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu": cpu_model(),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "loadavg_1_5_15": [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": ort,
        "numpy": np.__version__,
        "inception_export": __version__,
    }


def thread_settings(cfg: BenchConfig) -> dict[str, Any]:
    return {
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "ort_intra_op_threads": cfg.threads,
        "ort_inter_op_threads": 1,
    }


_Key = tuple[str, str, int]  # backend, precision, batch (0: any batch)
_Calls = dict[str, Callable[[], object]]


class _Runners:
    """Each combination's runner, opened on first need and kept for the other batch sizes."""

    def __init__(
        self, cfg: BenchConfig, spec: ModelSpec, model: nn.Module, exporter: ArtifactExporter
    ) -> None:
        self.cfg, self.spec, self.model, self.exporter = cfg, spec, model, exporter
        self.runners: dict[_Key, Runner] = {}
        self.setup_s: dict[_Key, float] = {}

    def get(self, c: Combo, batch: int) -> tuple[Runner, _Key]:
        # CUDA graphs are captured for one batch size; every other runner serves all sizes.
        key = (c.backend, c.precision, batch if c.backend == "cudagraph" else 0)
        if key not in self.runners:
            t0 = time.perf_counter()
            self.runners[key] = open_combo(c, self.cfg, self.spec, self.model, self.exporter, batch)
            # Includes exporting its artifact, if this runner was the first to need it.
            self.setup_s[key] = time.perf_counter() - t0
        return self.runners[key], key

    def close(self) -> None:
        for r in self.runners.values():
            r.close()


def _contenders(
    live: list[Combo],
    batch: int,
    x: Any,
    pool: _Runners,
    spec: ModelSpec,
    on_progress: Callable[[str, int, int], None] | None,
) -> tuple[_Calls, dict[str, _Key], dict[str, RunnerInfo], dict[str, str]]:
    """What is timed at ``batch``: each runnable combination's call, its runner's key and info;
    and why the others (an artifact that does not take this batch) are skipped."""
    fns: _Calls = {}
    keys: dict[str, _Key] = {}
    infos: dict[str, RunnerInfo] = {}
    batch_skips: dict[str, str] = {}
    for c in live:
        if on_progress:
            on_progress(f"{spec.name} b{batch}: preparing {c.label}", 0, 0)
        r, key = pool.get(c, batch)
        info = r.info
        if batch < info.min_batch or (info.max_batch is not None and batch > info.max_batch):
            batch_skips[c.label] = (
                f"artifact accepts batch {info.min_batch}..{info.max_batch or 'any'}, not {batch}"
            )
            continue
        fns[c.label] = functools.partial(r.infer, x)
        keys[c.label] = key
        infos[c.label] = info
    return fns, keys, infos, batch_skips


def _time(
    fns: _Calls,
    cfg: BenchConfig,
    spec: ModelSpec,
    batch: int,
    on_progress: Callable[[str, int, int], None] | None,
) -> tuple[dict[str, list[float]], SettleLog, dict[str, float], int]:
    """Time the contenders interleaved; their run times, the settle log, the rates of the GEMM
    yardsticks among them (``gemm-*``, taken out of the times), and the warm-up used."""
    warmup = cfg.warmup_by_batch.get(batch, cfg.warmup)
    iters = cfg.iters_by_batch.get(batch, cfg.iters)
    total = (warmup + iters) * len(fns)
    done = 0

    def step(n: int = len(fns)) -> None:
        nonlocal done
        done += 1
        if on_progress:
            on_progress(f"{spec.name} batch {batch}: timing {n} backends interleaved", done, total)

    settle_log = SettleLog({}, {})
    times = run_interleaved(fns, warmup, iters, on_step=step, settle_log=settle_log) if fns else {}
    gemm_rates = {
        k.split("-", 1)[1]: float(cfg.gemm_n) ** 3 / (summarize(times.pop(k)).median_ms / 1e3) / 1e9
        for k in [k for k in times if k.startswith("gemm-")]
    }
    return times, settle_log, gemm_rates, warmup


def _bench_batch(
    cfg: BenchConfig,
    spec: ModelSpec,
    combos: list[Combo],
    batch: int,
    pool: _Runners,
    threads: dict[str, Any],
    on_progress: Callable[[str, int, int], None] | None,
) -> list[dict[str, Any]]:
    """One record per combination at ``batch``: measured, or skipped with the reason."""
    from ..build import example_input

    x = example_input(spec, batch).numpy()
    live = [c for c in combos if not c.skip]
    fns, keys, infos, batch_skips = _contenders(live, batch, x, pool, spec, on_progress)
    if cfg.gemm_n and fns:
        fns["gemm-torch"] = gemm_callable(cfg.gemm_n, cfg.device, "torch")
        if cfg.device == "cpu":
            fns["gemm-numpy"] = gemm_callable(cfg.gemm_n, cfg.device, "numpy")
    times, settle_log, gemm_rates, warmup = _time(fns, cfg, spec, batch, on_progress)
    gemm_rate = max(gemm_rates.values()) if gemm_rates else None
    rss = peak_rss_mb()
    torch_med = None
    if "torch-fp32" in times:
        torch_med = summarize(times["torch-fp32"]).median_ms
    records: list[dict[str, Any]] = []
    for c in combos:
        rec: dict[str, Any] = {
            "model": spec.name,
            "backend": c.backend,
            "precision": c.precision,
            "batch": batch,
            "device": cfg.device,
            "input_size": spec.default_size,
        }
        reason = c.skip or batch_skips.get(c.label)
        if reason:
            rec.update({k: None for k in RECORD_FIELDS if k not in rec})
            rec.update({"status": "skipped", "reason": reason})
            records.append(rec)
            continue
        st = summarize(times[c.label])
        med_s = st.median_ms / 1e3
        rec.update(
            {
                "status": "ok",
                "median_ms": st.median_ms,
                "p90_ms": st.p90_ms,
                "p10_ms": st.p10_ms,
                "noisy": is_noisy(st),
                "mean_ms": st.mean_ms,
                "min_ms": st.min_ms,
                "stdev_ms": st.stdev_ms,
                "runs": st.n,
                "warmup": warmup,
                "throughput_ips": batch / med_s,
                "speedup_vs_torch": (torch_med / st.median_ms) if torch_med else None,
                "gmacs_per_s": spec.gmacs * batch / med_s,
                "peak_rss_mb": rss,
                "peak_rss_scope": "process-wide peak RSS after this batch's interleaved runs",
                "setup_s": pool.setup_s[keys[c.label]],
                "threads": threads,
                "artifact": infos[c.label].artifact,
                "interleaved_with": sorted(fns),
                # Each timed run started only once the previous contender's
                # threads had gone quiet (bench.timing.settle), checked per run.
                "isolation": f"settled: process CPU under {SETTLE_IDLE_FRACTION} core before each run",
                **settle_log.summary(c.label),
                "gemm_n": cfg.gemm_n or None,
                "gemm_gmacs_per_s": gemm_rate,
                "gemm_gmacs_per_s_by_lib": gemm_rates or None,
                "fraction_of_gemm": (spec.gmacs * batch / med_s / gemm_rate) if gemm_rate else None,
            }
        )
        records.append(rec)
    return records


def run_bench(
    cfg: BenchConfig,
    on_progress: Callable[[str, int, int], None] | None = None,
    on_skip: Callable[[Combo], None] | None = None,
    model: nn.Module | None = None,
) -> list[dict[str, Any]]:
    """Measure every combination; one record per backend x precision x batch.

    ``on_progress(description, done, total)`` is called as runs complete (for a progress bar).
    """
    from ..build import build_model

    cfg.validate()
    combos = plan(cfg.backends, cfg.precisions, cfg.device)
    for c in combos:
        if c.skip and on_skip:
            on_skip(c)
    torch.set_num_threads(cfg.threads)
    if model is None:
        model = build_model(cfg.model, cfg.weights, transform_input=cfg.transform_input)
    spec: ModelSpec = model.spec  # type: ignore[assignment]
    threads = thread_settings(cfg)
    started = provenance()

    with tempfile.TemporaryDirectory(prefix="inception-bench-") as tmp:
        exporter = ArtifactExporter(cfg, model, cfg.artifact_dir or Path(tmp))
        pool = _Runners(cfg, spec, model, exporter)
        records: list[dict[str, Any]] = []
        try:
            for batch in cfg.batches:
                records.extend(_bench_batch(cfg, spec, combos, batch, pool, threads, on_progress))
        finally:
            pool.close()
        # The load average at the end too: a figure taken while it rose is suspect.
        ended = {
            "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "loadavg_1_5_15": [round(v, 2) for v in os.getloadavg()],
        }
        for rec in records:
            rec["provenance"] = {**started, "ended": ended}
            kind = _ARTIFACT_KIND.get(rec["backend"], "").format(p=rec["precision"])
            rec["export_s"] = exporter.seconds.get(kind) if rec["status"] == "ok" else None
    return records
