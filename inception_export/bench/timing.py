"""Interleaved timing loop and its statistics.

Runs go A B C A B C ... rather than AAA BBB CCC: on a shared, noisy machine a burst of
load then slows every backend alike instead of penalising whichever happened to be
running, so the ratios between backends stay honest even when absolute times drift.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Stats:
    """Summary of one backend's timed runs, in milliseconds."""

    n: int
    median_ms: float
    p90_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    stdev_ms: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(times_s: Sequence[float]) -> Stats:
    """Median, p90 (linear interpolation, numpy's default) and spread of run times in seconds."""
    if len(times_s) == 0:
        raise ValueError("no timings to summarise")
    arr = np.asarray(times_s, dtype=np.float64) * 1e3
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError("timings must be finite and non-negative")
    return Stats(
        n=int(arr.size),
        median_ms=float(np.median(arr)),
        p90_ms=float(np.percentile(arr, 90)),
        mean_ms=float(arr.mean()),
        min_ms=float(arr.min()),
        max_ms=float(arr.max()),
        # Sample standard deviation; a single run has no spread to report.
        stdev_ms=float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
    )


def interleaved_schedule(keys: Sequence[K], rounds: int) -> list[K]:
    """``rounds`` passes over ``keys`` in order: [A, B, C, A, B, C, ...]."""
    if rounds < 0:
        raise ValueError("rounds must be >= 0")
    return [k for _ in range(rounds) for k in keys]


def run_interleaved(
    fns: Mapping[K, Callable[[], object]],
    warmup: int,
    iters: int,
    on_step: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    gap_s: float = 0.05,
) -> dict[K, list[float]]:
    """Warm every function up, then time each one ``iters`` times, interleaved.

    Warm-up runs are interleaved too (and discarded) so that every backend reaches its
    steady state (allocator pools, oneDNN primitive caches, JIT profiling runs) before
    the first timed run of any of them. Returns seconds per call, per key.

    ``gap_s`` is an untimed pause before each timed run: onnxruntime's intra-op workers
    (and OpenMP's) keep spinning for a while after their work ends, and without the pause
    that spinning pool steals the cores of the next backend's timed run. Measured on the
    2-core machine: eager googlenet 48 ms alone, 90 ms interleaved with a 5 ms gap, 49 ms
    with 50 ms. The pause keeps each backend's default threading (what users get).
    """
    keys = list(fns)
    for key in interleaved_schedule(keys, warmup):
        fns[key]()
        if on_step:
            on_step()
    times: dict[K, list[float]] = {k: [] for k in keys}
    for key in interleaved_schedule(keys, iters):
        fn = fns[key]
        if gap_s > 0:
            time.sleep(gap_s)
        t0 = clock()
        fn()
        times[key].append(clock() - t0)
        if on_step:
            on_step()
    return times


def finite_positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


# A p90 this many times the median means the runs were disturbed (other load, frequency
# changes): the median is then not a figure to trust or compare.
NOISY_P90_OVER_MEDIAN = 1.5


def is_noisy(stats: Stats) -> bool:
    return stats.p90_ms > NOISY_P90_OVER_MEDIAN * stats.median_ms


def noise_warnings(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per measurement whose p90 exceeds NOISY_P90_OVER_MEDIAN x its median."""
    return [
        f"{r['backend']}-{r['precision']} batch {r['batch']}: p90 {r['p90_ms']:.2f} ms is "
        f"{r['p90_ms'] / r['median_ms']:.1f}x the median {r['median_ms']:.2f} ms "
        f"(over {NOISY_P90_OVER_MEDIAN}x): too noisy to trust; rerun on a quieter machine or with more runs"
        for r in records
        if r.get("noisy")
    ]
