"""What an engine build is asked for, validated before any work starts."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..bounds import MAX_BATCH, MAX_WORKSPACE_GIB, check_count
from ..errors import UsageError

HARDWARE_COMPAT = ("none", "ampere+")
PRECISIONS = ("fp16", "fp32", "int8")  # int8: a QDQ graph (export/int8.py)
LAYOUTS = ("NCHW", "NHWC")
MAX_OPT_LEVEL = 5
# The batch range an engine is built for when none is asked (`trt` and `release` alike): Triton
# configs serve up to DEFAULT_MAX_BATCH (deploy/triton.py), so an engine built on the device
# from a dynamic-batch ONNX serves every batch the release's configs send.
DEFAULT_MIN_BATCH = 1
DEFAULT_OPT_BATCH = 1
DEFAULT_MAX_BATCH = 8


@dataclass(frozen=True)
class EngineConfig:
    precision: str = "fp16"
    min_batch: int = 1
    opt_batch: int = 1
    max_batch: int = 1
    input_size: int = 299
    workspace_gib: float = 2.0
    opt_level: int = 3
    timing_cache: Path | None = None
    hardware_compat: str = "none"
    # The ONNX input's layout: NCHW float, or NHWC for a graph with embedded preprocessing (uint8 pixels).
    layout: str = "NCHW"

    def validate(self) -> None:
        if self.precision not in PRECISIONS:
            raise UsageError(f"precision must be fp16, fp32 or int8, got {self.precision!r}")
        if self.min_batch < 1:
            raise UsageError(f"--min-batch must be at least 1, got {self.min_batch}")
        check_count("--max-batch", self.max_batch, 1, MAX_BATCH)
        if not self.min_batch <= self.opt_batch <= self.max_batch:
            raise UsageError(
                "batch range must satisfy min <= opt <= max, got "
                f"--min-batch {self.min_batch} --opt-batch {self.opt_batch} --max-batch {self.max_batch}"
            )
        if not 0 <= self.opt_level <= MAX_OPT_LEVEL:
            raise UsageError(f"--opt-level must be between 0 and {MAX_OPT_LEVEL}, got {self.opt_level}")
        if not 0 < self.workspace_gib <= MAX_WORKSPACE_GIB:  # NaN and inf fail too
            raise UsageError(
                f"--workspace must be a positive number of GiB up to {MAX_WORKSPACE_GIB}, "
                f"got {self.workspace_gib:g}"
            )
        if self.hardware_compat not in HARDWARE_COMPAT:
            raise UsageError(
                f"--hardware-compat must be one of {', '.join(HARDWARE_COMPAT)}, got {self.hardware_compat!r}"
            )
        if self.layout not in LAYOUTS:
            raise UsageError(f"input layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")
        if self.input_size < 1:
            raise UsageError(f"input size must be positive, got {self.input_size}")

    @property
    def workspace_bytes(self) -> int:
        return int(self.workspace_gib * (1 << 30))

    @property
    def workspace_mib(self) -> int:
        return max(1, round(self.workspace_gib * 1024))

    def shape(self, batch: int) -> tuple[int, int, int, int]:
        s = self.input_size
        return (batch, s, s, 3) if self.layout == "NHWC" else (batch, 3, s, s)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["timing_cache"] = str(self.timing_cache) if self.timing_cache else None
        out["workspace_bytes"] = self.workspace_bytes
        return out
