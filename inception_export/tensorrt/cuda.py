"""CUDA without torch: device query, memory and streams through cuda-python's runtime bindings.

The device role (a Jetson building and gating engines) has no PyTorch, so the TensorRT
runner and the manifest's GPU facts cannot come from ``torch.cuda`` there. cuda-python
(``pip install cuda-python``, or its ``cuda-bindings`` part; the major version must match the
CUDA of the driver, 12 on JetPack 6) gives the CUDA runtime API: ``cuda.bindings.runtime`` in
12.6.1 and later, ``cuda.cudart`` before. Every call returns ``(cudaError_t, *results)``.

The bindings are compiled modules without type information, so they are imported through
``importlib`` (typed ``Any``); what is used here is checked against the installed package by
``tests/test_trt_cuda.py`` where cuda-python is installed. Not yet run on a GPU.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from ..errors import BackendUnavailable

INSTALL_CUDA_PYTHON = (
    "pip install cuda-python (its major version matching the driver's CUDA, 12 on JetPack 6)"
)
# What the runner and the GPU query use; the test checks each exists in the installed bindings.
RUNTIME_FUNCTIONS = (
    "cudaGetDeviceCount",
    "cudaGetDeviceProperties",
    "cudaRuntimeGetVersion",
    "cudaGetErrorString",
    "cudaMalloc",
    "cudaFree",
    "cudaMemcpyAsync",
    "cudaStreamCreate",
    "cudaStreamSynchronize",
    "cudaStreamDestroy",
)


def cudart() -> ModuleType | None:
    """cuda-python's runtime module, or None where cuda-python is not installed."""
    for name in ("cuda.bindings.runtime", "cuda.cudart"):
        try:
            return importlib.import_module(name)
        except Exception:  # ImportError, or a broken install's OSError
            continue
    return None


def _call(rt: Any, fn: str, *args: Any) -> Any:
    """Call ``rt.fn(*args)``; the single result (or tuple of them), or BackendUnavailable naming the error."""
    out = getattr(rt, fn)(*args)
    err, rest = out[0], out[1:]
    if err != rt.cudaError_t.cudaSuccess:
        _, text = rt.cudaGetErrorString(err)
        msg = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
        raise BackendUnavailable(f"CUDA {fn} failed: {msg} ({getattr(err, 'name', err)})")
    if not rest:
        return None
    return rest[0] if len(rest) == 1 else rest


def device_count() -> int:
    """Visible CUDA devices per cuda-python; 0 without cuda-python, a driver or a GPU."""
    rt = cudart()
    if rt is None:
        return 0
    try:
        return int(_call(rt, "cudaGetDeviceCount"))
    except Exception:  # no driver, no device: CUDA says so through an error code
        return 0


@dataclass(frozen=True)
class DeviceInfo:
    name: str
    compute_capability: tuple[int, int]
    cuda_version: str | None


def device_info(device: int = 0) -> DeviceInfo:
    rt = cudart()
    if rt is None:
        raise BackendUnavailable(f"no CUDA runtime bindings to query the GPU: {INSTALL_CUDA_PYTHON}")
    prop = _call(rt, "cudaGetDeviceProperties", device)
    name = prop.name.decode(errors="replace") if isinstance(prop.name, bytes) else str(prop.name)
    version = int(_call(rt, "cudaRuntimeGetVersion"))  # 12060 -> "12.6"
    return DeviceInfo(
        name.rstrip("\x00"), (int(prop.major), int(prop.minor)), f"{version // 1000}.{version % 1000 // 10}"
    )


class CudaStream:
    """A CUDA stream and device buffers, for the runner where torch is absent."""

    def __init__(self) -> None:
        rt = cudart()
        if rt is None:
            raise BackendUnavailable(
                f"TensorRT needs device memory: {INSTALL_CUDA_PYTHON}, or a CUDA build of torch"
            )
        self._rt: Any = rt
        self._stream: Any = _call(rt, "cudaStreamCreate")
        self._buffers: list[Any] = []

    @property
    def handle(self) -> int:
        """The ``cudaStream_t`` as the integer ``execute_async_v3`` takes."""
        return int(self._stream)

    def alloc(self, nbytes: int) -> int:
        ptr = _call(self._rt, "cudaMalloc", max(1, int(nbytes)))
        self._buffers.append(ptr)
        return int(ptr)

    def to_device(self, dst: int, host: np.ndarray) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        _call(self._rt, "cudaMemcpyAsync", dst, host.ctypes.data, host.nbytes, kind, self._stream)

    def to_host(self, host: np.ndarray, src: int) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        _call(self._rt, "cudaMemcpyAsync", host.ctypes.data, src, host.nbytes, kind, self._stream)

    def synchronize(self) -> None:
        _call(self._rt, "cudaStreamSynchronize", self._stream)

    def free_buffers(self) -> None:
        while self._buffers:
            _call(self._rt, "cudaFree", self._buffers.pop())

    def close(self) -> None:
        self.free_buffers()
        if self._stream is not None:
            _call(self._rt, "cudaStreamDestroy", self._stream)
            self._stream = None
