"""Upper bounds of the counts a command line may ask for, checked before any work.

A count is also a promise of time or memory: ``bench --iters 10**11`` runs for ever, a fixed
batch of 10**9 asks torch for 49 TB before the first layer, and Triton's ``max_batch_size``
is an int32. Each bound is far above what a latency benchmark or an Inception deployment
uses, and far below what fails in a library instead of in one ``error:`` line.
"""

from __future__ import annotations

from .errors import UsageError

# Largest batch anything is built, exported, timed or served for (bench, onnx/release --batch,
# engines' --min/--opt/--max-batch, deploy --max-batch): 1024 inputs at 299x299 are 1 GiB.
MAX_BATCH = 1024
MAX_ITERS = 10_000  # bench --iters: timed runs per backend
MAX_WARMUP = 1_000  # bench --warmup
# bench --gemm N: three N x N float32 matrices; 16384 is 3 GiB.
MAX_GEMM = 16_384
# trt --workspace GiB: TensorRT's memory pool limit; no GPU has more (inf was exit 3).
MAX_WORKSPACE_GIB = 1024


def check_count(option: str, value: int | None, low: int, high: int) -> None:
    """Refuse (exit 2) ``value`` outside ``low..high`` (None: the option was not given)."""
    if value is not None and not low <= value <= high:
        raise UsageError(f"{option} must be from {low:,} to {high:,}, got {value:,}")
