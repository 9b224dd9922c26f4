"""The machine's measured matrix-multiply rate: the ceiling a conv net's compute can approach.

A convolution network on CPU is mostly GEMM-shaped work (oneDNN / MLAS lower convs to
it), so a large square fp32 GEMM timed in the same process, at the same thread count, is
the honest yardstick for "how much of the machine does this backend use".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class GemmRate:
    n: int
    threads: int
    median_ms: float
    gflops: float  # 2 * n^3 floating-point operations per GEMM
    gmacs_per_s: float  # n^3 multiply-accumulates: the unit ModelSpec.gmacs uses

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_gemm(
    n: int = 2048, iters: int = 10, warmup: int = 2, threads: int | None = None, device: str = "cpu"
) -> GemmRate:
    """Median time of an ``n x n`` fp32 matmul with torch (MKL/oneDNN on CPU, cuBLAS on CUDA)."""
    if threads:
        torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(device)
    b = torch.randn(n, n, generator=gen).to(device)
    out = torch.empty(n, n, device=device)

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    with torch.inference_mode():
        for _ in range(warmup):
            torch.matmul(a, b, out=out)
        sync()
        times = []
        for _ in range(iters):
            t0 = time.perf_counter()
            torch.matmul(a, b, out=out)
            sync()
            times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    macs = float(n) ** 3
    return GemmRate(
        n=n,
        threads=torch.get_num_threads(),
        median_ms=med * 1e3,
        gflops=2 * macs / med / 1e9,
        gmacs_per_s=macs / med / 1e9,
    )


def gemm_callable(n: int, device: str = "cpu", lib: str = "torch") -> Callable[[], object]:
    """One ``n x n`` fp32 matmul as a no-argument call, to time interleaved with the backends.

    Timed in the same A B C ... rotation as the models, the GEMM sees the same load from
    other jobs, so "fraction of the machine's GEMM rate" compares like with like. ``lib`` is
    ``torch`` (MKL/oneDNN, cuBLAS) or ``numpy`` (its BLAS, OpenBLAS in the wheels): on the AMD
    development machine numpy's OpenBLAS is ~1.3x faster than torch's GEMM, so the suite
    times both and takes the faster as the machine's rate.
    """
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((n, n), dtype=np.float32)
    b_np = rng.standard_normal((n, n), dtype=np.float32)
    if lib == "numpy":
        out_np = np.empty((n, n), dtype=np.float32)

        def run_np() -> object:
            return np.matmul(a_np, b_np, out=out_np)

        return run_np
    a = torch.from_numpy(a_np).to(device)
    b = torch.from_numpy(b_np).to(device)
    out = torch.empty(n, n, device=device)

    def run() -> object:
        with torch.inference_mode():
            torch.matmul(a, b, out=out)
        if device == "cuda":
            torch.cuda.synchronize()
        return None

    return run
