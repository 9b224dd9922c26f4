"""What a benchmark run is asked to do: the allowed values, parsing the comma lists, the
configuration, and refusing (exit 2) what cannot run here, before any work."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ...bounds import MAX_BATCH, MAX_GEMM, MAX_ITERS, MAX_WARMUP, check_count
from ...errors import BackendUnavailable, UsageError
from ...tensorrt.availability import INSTALL_TENSORRT, tensorrt_available

BACKENDS = ("torch", "torchscript", "onnxruntime", "tensorrt", "cudagraph")
PRECISIONS = ("fp32", "fp16", "int8")  # int8: the QDQ ONNX (export/int8.py), needs --calibration
DEVICES = ("cpu", "cuda")


def parse_list(text: str, what: str, allowed: Sequence[str]) -> list[str]:
    items = [t.strip().lower() for t in text.split(",") if t.strip()]
    if not items:
        raise UsageError(f"--{what} is empty; choose from {', '.join(allowed)}")
    for item in items:
        if item not in allowed:
            raise UsageError(
                f"unknown {what[:-1] if what.endswith('s') else what} {item!r}; "
                f"choose from {', '.join(allowed)}"
            )
    return list(dict.fromkeys(items))


# Larger batches than MAX_BATCH are not a latency benchmark, and 100,000 inputs at 299x299
# would need 100 GB before the first run.


def parse_batches(text: str) -> list[int]:
    out: list[int] = []
    for tok in (t.strip() for t in text.split(",")):
        if not tok:
            continue
        try:
            b = int(tok)
        except ValueError:
            raise UsageError(f"--batch: {tok!r} is not an integer") from None
        if b < 1:
            raise UsageError(f"--batch: batch size must be >= 1, got {b}")
        if b > MAX_BATCH:
            raise UsageError(f"--batch: {b} is larger than the largest batch bench runs ({MAX_BATCH})")
        out.append(b)
    if not out:
        raise UsageError("--batch is empty; give sizes like 1,8")
    return list(dict.fromkeys(out))


def default_threads() -> int:
    """Cores this process may use (the affinity mask, not the host's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_available(backends: Sequence[str], device: str) -> None:
    """Refuse (exit 2) a backend that is not installed, before any work is done."""
    if device not in DEVICES:
        raise UsageError(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailable("--device cuda asked for, but torch sees no CUDA device here")
    if "onnxruntime" in backends:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise BackendUnavailable("onnxruntime is not installed (pip install onnxruntime)") from None
    if "tensorrt" in backends and not tensorrt_available():
        # Checked here rather than via inception_export.tensorrt so the message names the backend.
        raise BackendUnavailable(
            f"backend tensorrt is not installed here (no real TensorRT; on a machine with an NVIDIA GPU: "
            f"{INSTALL_TENSORRT})"
        )
    if "cudagraph" in backends and device != "cuda":
        raise UsageError("backend cudagraph needs --device cuda")


@dataclass
class BenchConfig:
    model: str
    backends: list[str]
    precisions: list[str]
    batches: list[int]
    warmup: int = 3
    iters: int = 15
    weights: Path | None = None
    transform_input: bool = False
    device: str = "cpu"
    threads: int = field(default_factory=default_threads)
    # Per-batch overrides (the suite uses fewer runs at batch 8).
    iters_by_batch: dict[int, int] = field(default_factory=dict)
    warmup_by_batch: dict[int, int] = field(default_factory=dict)
    artifact_dir: Path | None = None
    # Side of a square fp32 GEMM timed in the same interleaved rotation (0: none).
    gemm_n: int = 0
    # TensorRT engines replayed from a CUDA graph (trtexec 11 does this by default).
    trt_cuda_graph: bool = False
    # Images the INT8 artifact is calibrated on (precision int8 only).
    calibration: Path | None = None

    def validate(self) -> None:
        if "int8" in self.precisions and self.calibration is None:
            raise UsageError(
                "--precision int8 needs --calibration DIR (the INT8 artifact is calibrated on it)"
            )
        if self.calibration is not None:
            if "int8" not in self.precisions:
                raise UsageError("--calibration applies to the INT8 artifact: add int8 to --precision")
            from ..export.calibration import list_calibration

            list_calibration(Path(self.calibration))  # a bad folder fails before any model is built
        check_count("--warmup", self.warmup, 0, MAX_WARMUP)
        check_count("--iters", self.iters, 1, MAX_ITERS)
        check_count("--gemm", self.gemm_n, 0, MAX_GEMM)
        if self.threads < 1:
            raise UsageError(f"--threads must be >= 1, got {self.threads}")
        for b in self.batches:
            if b < 1:
                raise UsageError(f"--batch: batch size must be >= 1, got {b}")
        check_available(self.backends, self.device)
