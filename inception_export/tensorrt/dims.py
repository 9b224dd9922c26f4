"""TensorRT ``Dims`` as a plain tuple."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tensorrt as trt


def dims_tuple(dims: trt.Dims) -> tuple[int, ...]:
    # Dims supports len() and indexing but (per its 10.x signatures) not iteration.
    return tuple(int(dims[i]) for i in range(len(dims)))
