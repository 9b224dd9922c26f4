"""The runner interface every backend implements (Polygraphy's runner split).

Parity and benchmark code hold a :class:`Runner` and never ask which backend it is:
float32 NCHW numpy in, float32 logits numpy out, plus a :class:`RunnerInfo` describing
what it is and which batch sizes it accepts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any

import numpy as np


@dataclass(frozen=True)
class RunnerInfo:
    backend: str  # torch | torchscript | onnxruntime | tensorrt
    precision: str  # fp32 | fp16
    device: str  # cpu | cuda
    input_size: int
    min_batch: int = 1
    max_batch: int | None = None  # None: any batch size
    artifact: str | None = None
    num_outputs: int = 1
    detail: str = ""

    @property
    def label(self) -> str:
        name = f"{self.backend}-{self.precision}"
        return name if self.device == "cpu" else f"{name}-{self.device}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["label"] = self.label
        return out


class Runner(ABC):
    info: RunnerInfo

    @abstractmethod
    def infer(self, x: np.ndarray) -> np.ndarray:
        """Run a float32 NCHW batch (uint8 NHWC pixels for artifacts that normalise in-graph);
        return float32 logits of shape (N, classes)."""

    def close(self) -> None:  # noqa: B027 - most runners hold nothing to release
        """Release sessions or device memory."""

    def __enter__(self) -> Runner:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
