"""Interleaved timing loop and its statistics.

Runs go A B C A B C ... rather than AAA BBB CCC: on a shared, noisy machine a burst of
load then slows every backend alike instead of penalising whichever happened to be
running, so the ratios between backends stay honest even when absolute times drift.
"""

from __future__ import annotations

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
    p10_ms: float = 0.0  # last, with a default: positional users of the old fields keep working

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
        p10_ms=float(np.percentile(arr, 10)),
    )


def interleaved_schedule(keys: Sequence[K], rounds: int) -> list[K]:
    """``rounds`` passes over ``keys`` in order: [A, B, C, A, B, C, ...]."""
    if rounds < 0:
        raise ValueError("rounds must be >= 0")
    return [k for _ in range(rounds) for k in keys]


# A process counts as settled when its threads used under this fraction of one core during
# SETTLE_QUIET_WINDOWS consecutive SETTLE_WINDOW_S windows in which the timing thread only
# slept. One window is not enough on a loaded machine: a spinning worker that the scheduler
# left waiting for the whole window accrues no CPU time in it and looks idle.
SETTLE_IDLE_FRACTION = 0.1
SETTLE_WINDOW_S = 0.02
SETTLE_QUIET_WINDOWS = 2
SETTLE_MAX_S = 2.0


@dataclass(frozen=True)
class Settle:
    """One wait for the process's worker threads to go quiet before a timed run."""

    waited_s: float
    settled: bool
    busy_fraction: float  # CPU use (cores) of the process in the last window


def settle(
    max_s: float = SETTLE_MAX_S,
    min_s: float = 0.0,
    window_s: float = SETTLE_WINDOW_S,
    idle_fraction: float = SETTLE_IDLE_FRACTION,
    quiet_windows: int = SETTLE_QUIET_WINDOWS,
) -> Settle:
    """Sleep until this process's other threads stop using CPU (checked, not assumed).

    BLAS and runtime thread pools keep spinning after their work ends: OpenBLAS's workers
    (numpy's matmul) busy-wait for about 2^28 cycles, far longer than a fixed pause, and
    onnxruntime's and OpenMP's for shorter times. A spinning pool takes the cores from the
    next contender's timed run, so the order of contenders moved the medians (eager v3 at
    batch 1: 121-137 ms right after a 2048^3 numpy GEMM, 95-97 ms without it). The process
    CPU clock counts every thread, so a window in which it barely advances while this thread
    sleeps means nothing is spinning. Waits ``min_s`` first; gives up after ``max_s``.
    """
    t_start = time.perf_counter()
    if min_s > 0:
        time.sleep(min_s)
    busy, quiet = 0.0, 0
    while True:
        w0, c0 = time.perf_counter(), time.process_time()
        time.sleep(window_s)
        w1, c1 = time.perf_counter(), time.process_time()
        busy = (c1 - c0) / max(w1 - w0, 1e-9)
        waited = w1 - t_start
        quiet = quiet + 1 if busy < idle_fraction else 0
        if quiet >= quiet_windows:
            return Settle(waited, True, busy)
        if waited >= max_s:
            return Settle(waited, False, busy)


@dataclass
class SettleLog:
    """Per contender: how long its timed runs waited for the previous one to go quiet."""

    waits_s: dict[Any, list[float]]
    unsettled: dict[Any, int]

    def summary(self, key: Any) -> dict[str, Any]:
        waits = self.waits_s.get(key) or [0.0]
        return {
            "settle_median_ms": float(np.median(waits)) * 1e3,
            "settle_max_ms": float(max(waits)) * 1e3,
            "unsettled_runs": self.unsettled.get(key, 0),
        }


def run_interleaved(
    fns: Mapping[K, Callable[[], object]],
    warmup: int,
    iters: int,
    on_step: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    gap_s: float = 0.05,
    settle_log: SettleLog | None = None,
    isolate: bool = True,
) -> dict[K, list[float]]:
    """Warm every function up, then time each one ``iters`` times, interleaved.

    Warm-up runs are interleaved too (and discarded) so that every backend reaches its
    steady state (allocator pools, oneDNN primitive caches, JIT profiling runs) before
    the first timed run of any of them. Returns seconds per call, per key.

    Before each timed run the previous contender is isolated from it: an untimed pause of
    at least ``gap_s``, then :func:`settle` until the process's worker threads have gone
    quiet (measured on the 2-core machine: eager googlenet 48 ms alone, 90 ms interleaved
    with a 5 ms pause after onnxruntime; numpy's OpenBLAS spins longer than any fixed pause).
    The waits go to ``settle_log``. ``isolate=False`` keeps only the fixed pause (to show
    what the settling buys). Each backend keeps its default threading (what users get).
    """
    keys = list(fns)
    for key in interleaved_schedule(keys, warmup):
        fns[key]()
        if on_step:
            on_step()
    times: dict[K, list[float]] = {k: [] for k in keys}
    for key in interleaved_schedule(keys, iters):
        fn = fns[key]
        if isolate:
            s = settle(min_s=gap_s)
            if settle_log is not None:
                settle_log.waits_s.setdefault(key, []).append(s.waited_s)
                if not s.settled:
                    settle_log.unsettled[key] = settle_log.unsettled.get(key, 0) + 1
        elif gap_s > 0:
            time.sleep(gap_s)
        t0 = clock()
        fn()
        times[key].append(clock() - t0)
        if on_step:
            on_step()
    return times


# A p90 this many times the median means the runs were disturbed (other load, frequency
# changes): the median is then not a figure to trust or compare.
NOISY_P90_OVER_MEDIAN = 1.5


def is_noisy(stats: Stats) -> bool:
    return stats.p90_ms > NOISY_P90_OVER_MEDIAN * stats.median_ms


def noise_warnings(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per measurement whose p90 exceeds NOISY_P90_OVER_MEDIAN x its median, and one
    per measurement some of whose runs started before the previous contender had gone quiet."""
    unsettled = [
        f"{r['backend']}-{r['precision']} batch {r['batch']}: {r['unsettled_runs']} of {r.get('runs')} "
        f"timed runs started while the process was still busy after {SETTLE_MAX_S:g} s of waiting "
        "(another thread kept running): the previous contender may have slowed them"
        for r in records
        if r.get("unsettled_runs")
    ]
    return unsettled + [
        f"{r['backend']}-{r['precision']} batch {r['batch']}: p90 {r['p90_ms']:.2f} ms is "
        f"{r['p90_ms'] / r['median_ms']:.1f}x the median {r['median_ms']:.2f} ms "
        f"(over {NOISY_P90_OVER_MEDIAN}x): too noisy to trust; rerun on a quieter machine or with more runs"
        for r in records
        if r.get("noisy")
    ]
