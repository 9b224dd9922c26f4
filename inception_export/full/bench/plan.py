"""Which backend x precision combinations mean something on the chosen device.

Combinations that do not (eager fp16 on CPU, ...) are kept with ``skip`` set to the reason,
so the output still says what was asked and why it was not measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ...errors import UsageError


def skip_reason(backend: str, precision: str, device: str) -> str | None:
    """Why a combination is not meaningful on this device, or None if it can run."""
    if backend in ("torch", "torchscript", "cudagraph") and precision == "int8":
        return f"{backend} has no INT8 artifact; INT8 is measured as the QDQ ONNX (onnxruntime, TensorRT)"
    if device == "cpu":
        if backend in ("torch", "torchscript") and precision == "fp16":
            return (
                f"{backend} fp16 on CPU is slow or unsupported for convolutions; on CPU, fp16 is "
                "measured as the ONNX FP16 artifact on onnxruntime"
            )
        if backend == "tensorrt":
            return "TensorRT runs on an NVIDIA GPU only; use --device cuda"
    else:
        if backend == "torchscript" and precision == "fp16":
            return "the frozen TorchScript artifact is fp32 (weights are baked-in constants)"
    return None


@dataclass
class Combo:
    backend: str
    precision: str
    skip: str | None = None

    @property
    def label(self) -> str:
        return f"{self.backend}-{self.precision}"


def plan(backends: Sequence[str], precisions: Sequence[str], device: str) -> list[Combo]:
    combos = [Combo(b, p, skip_reason(b, p, device)) for b in backends for p in precisions]
    if all(c.skip for c in combos):
        reasons = "; ".join(f"{c.label}: {c.skip}" for c in combos)
        raise UsageError(f"none of the requested combinations can run on {device}: {reasons}")
    return combos
