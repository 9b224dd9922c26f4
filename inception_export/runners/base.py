"""The runner interface every backend implements (Polygraphy's runner split).

Parity and benchmark code hold a :class:`Runner` and never ask which backend it is:
float32 NCHW numpy in, float32 logits numpy out, plus a :class:`RunnerInfo` describing
what it is and which batch sizes it accepts.

As in Polygraphy (``backend/base/runner.py``: ``infer`` checks the feed, then calls the
subclass's ``infer_impl``), the public :meth:`Runner.infer` checks the input against what
the runner declares (batch range, dtype, shape) for every backend, then calls the
backend's :meth:`Runner._infer`. A wrong batch or dtype is then one ``UsageError`` line
whatever the backend, instead of a silent cast (float into a uint8 graph wraps around) or
a backend's multi-line error.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any

import numpy as np

from ..errors import UsageError


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


@dataclass(frozen=True)
class InputSpec:
    """What :meth:`Runner.infer` accepts besides the batch range (kept out of RunnerInfo, whose
    dict is part of the reports)."""

    dtype: np.dtype[Any]  # float32, or uint8 for graphs that normalise pixels in-graph
    layout: str  # NCHW | NHWC
    dims: tuple[int | None, int | None, int | None]  # after the batch; None: any extent

    @classmethod
    def of(cls, pixels: bool, size: int | None, channels: int | None = 3) -> InputSpec:
        """float32 NCHW, or uint8 NHWC pixels; ``size`` None when the runner takes any size."""
        if pixels:
            return cls(np.dtype(np.uint8), "NHWC", (size, size, channels))
        return cls(np.dtype(np.float32), "NCHW", (channels, size, size))

    def shape_text(self) -> str:
        letters = self.layout[1:]
        return "(N, " + ", ".join(str(d) if d else c for d, c in zip(self.dims, letters, strict=True)) + ")"


# Eager PyTorch and TorchScript take any spatial size the model's pooling allows.
FLOAT_NCHW_ANY_SIZE = InputSpec.of(pixels=False, size=None)


class Runner(ABC):
    info: RunnerInfo
    input_spec: InputSpec = FLOAT_NCHW_ANY_SIZE
    # Why the batch range is what it is, in the batch error (TensorRT: its optimisation profile).
    batch_reason: str = ""

    def infer(self, x: np.ndarray) -> np.ndarray:
        """Run a float32 NCHW batch (uint8 NHWC pixels for artifacts that normalise in-graph);
        return float32 logits of shape (N, classes). The input is checked first (UsageError)."""
        self.check_input(x)
        return self._infer(x)

    @abstractmethod
    def _infer(self, x: np.ndarray) -> np.ndarray:
        """The backend's run of an input :meth:`check_input` accepted."""

    @property
    def name(self) -> str:
        """How errors name the runner: its artifact's file name, or the backend label."""
        artifact = self.info.artifact
        return artifact.replace("\\", "/").rsplit("/", 1)[-1] if artifact else self.info.label

    def check_input(self, x: Any) -> None:
        """Refuse (UsageError, one line) a batch outside the runner's range, another dtype, or
        another shape than it declares."""
        spec = self.input_spec
        if not isinstance(x, np.ndarray):
            raise UsageError(f"{self.name} takes a numpy array, got {type(x).__name__}")
        if x.ndim != 4:
            raise UsageError(
                f"{self.name} takes a 4-D {spec.layout} batch {spec.shape_text()}, got shape {tuple(x.shape)}"
            )
        n = int(x.shape[0])
        lo, hi = self.info.min_batch, self.info.max_batch
        if n < max(lo, 1) or (hi is not None and n > hi):
            span = f"{lo}-{hi}" if hi is not None else f"{max(lo, 1)} or more"
            why = f" ({self.batch_reason})" if self.batch_reason else ""
            raise UsageError(f"{self.name} accepts batch {span}{why}, got {n}")
        if x.dtype != spec.dtype:
            raise UsageError(f"{self.name} takes {spec.dtype} {spec.layout} input, got {x.dtype}")
        if any(want is not None and got != want for got, want in zip(x.shape[1:], spec.dims, strict=True)):
            raise UsageError(
                f"{self.name} takes {spec.layout} input of shape {spec.shape_text()}, got {tuple(x.shape)}"
            )

    def close(self) -> None:  # noqa: B027 - most runners hold nothing to release
        """Release sessions or device memory."""

    def __enter__(self) -> Runner:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
