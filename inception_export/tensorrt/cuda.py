"""CUDA without torch: device query, memory and streams through cuda-python's runtime bindings.

The device role (a Jetson building and gating engines) has no PyTorch, so the TensorRT
runner and the manifest's GPU facts cannot come from ``torch.cuda`` there. cuda-python
(``pip install cuda-python``, or its ``cuda-bindings`` part; the major version must match the
CUDA of the driver, 12 on JetPack 6) gives the CUDA runtime API: ``cuda.bindings.runtime`` in
12.6.1 and later, ``cuda.cudart`` before. Every call returns ``(cudaError_t, *results)``.

The bindings are compiled modules without type information, so they are imported through
``importlib`` (typed ``Any``); what is used here is checked against the installed package by
``tests/test_tensorrt_cuda.py`` where cuda-python is installed. Not yet run on a GPU.

The bindings link the CUDA runtime of their own version statically: cuda-bindings 13.x needs
a driver of CUDA 13 or newer, which JetPack 6 (CUDA 12.6) does not have, and
``cudaGetDeviceCount`` then fails with ``cudaErrorInsufficientDriver``. :func:`gpu_problem`
names that cause (and a missing driver) rather than reporting "no GPU".
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from ..errors import BackendUnavailable

# cuda-bindings carries the CUDA runtime of its own major version: it must not be newer than the
# driver's CUDA. JetPack 6 is CUDA 12.6 (TensorRT 10.3); TensorRT 11 on Jetson needs JetPack 7.2.2+.
INSTALL_BY_PLATFORM = (
    ("JetPack 6 (CUDA 12.6)", "pip install 'cuda-bindings>=12.6,<13'"),
    ("JetPack 7, or x86_64 with a CUDA 13 driver", "pip install 'cuda-bindings>=13,<14'"),
    ("x86_64 with a CUDA 12 driver", "pip install 'cuda-bindings>=12,<13'"),
)
INSTALL_CUDA_PYTHON = "; ".join(f"{where}: {line}" for where, line in INSTALL_BY_PLATFORM)
# What the runner and the GPU query use; the test checks each exists in the installed bindings.
RUNTIME_FUNCTIONS = (
    "cudaGetDeviceCount",
    "cudaGetDeviceProperties",
    "cudaRuntimeGetVersion",
    "cudaDriverGetVersion",
    "cudaGetErrorString",
    "cudaMalloc",
    "cudaFree",
    "cudaMemcpyAsync",
    "cudaStreamCreate",
    "cudaStreamSynchronize",
    "cudaStreamDestroy",
    "cudaStreamBeginCapture",
    "cudaStreamEndCapture",
    "cudaGraphInstantiate",
    "cudaGraphLaunch",
    "cudaGraphExecDestroy",
    "cudaGraphDestroy",
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


def version_text(version: int) -> str:
    """CUDA's integer version as text: 12060 -> "12.6"."""
    return f"{version // 1000}.{version % 1000 // 10}"


def bindings_version() -> str:
    from importlib import metadata

    for dist in ("cuda-bindings", "cuda-python"):
        try:
            return f"{dist} {metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return "cuda-python"


def install_line(driver_version: int) -> str:
    """The cuda-bindings that fit a driver of this CUDA version (all of them when unknown)."""
    major = driver_version // 1000
    if major == 12:
        return "pip install 'cuda-bindings>=12,<13' (JetPack 6: 'cuda-bindings>=12.6,<13')"
    if major >= 13:
        return f"pip install 'cuda-bindings>={major},<{major + 1}'"
    return INSTALL_CUDA_PYTHON


def explain_failure(error: Any, runtime_version: int, driver_version: int, bindings: str) -> str:
    """Why cudaGetDeviceCount failed, from the CUDA error and the two versions (one line).

    ``driver_version`` is what ``cudaDriverGetVersion`` gives: 0 when no driver is loaded.
    """
    name = str(getattr(error, "name", error))
    if driver_version == 0:
        return (
            f"no NVIDIA driver is installed or loadable ({bindings}: cudaDriverGetVersion gives 0, "
            f"cudaGetDeviceCount {name}); install the GPU's driver (on Jetson, JetPack)"
        )
    runtime, driver = version_text(runtime_version), version_text(driver_version)
    if name == "cudaErrorNoDevice":
        return f"the NVIDIA driver (CUDA {driver}) sees no GPU ({name}); check CUDA_VISIBLE_DEVICES"
    if name == "cudaErrorInsufficientDriver":
        return (
            f"{bindings} carries the CUDA {runtime} runtime but the NVIDIA driver supports CUDA {driver} "
            f"at most ({name}); install bindings that match the driver: {install_line(driver_version)}"
        )
    return f"cudaGetDeviceCount failed with {name} ({bindings}, CUDA runtime {runtime}, driver CUDA {driver})"


def _probe(rt: Any) -> tuple[int, str | None]:
    """(visible devices, why none) through cuda-python's runtime."""
    err, count = rt.cudaGetDeviceCount()
    if err == rt.cudaError_t.cudaSuccess:
        return int(count), None if int(count) > 0 else "the NVIDIA driver reports no CUDA device"
    rerr, runtime = rt.cudaRuntimeGetVersion()
    derr, driver = rt.cudaDriverGetVersion()
    ok = rt.cudaError_t.cudaSuccess
    return 0, explain_failure(err, int(runtime) if rerr == ok else 0, int(driver) if derr == ok else 0,
                              bindings_version())  # fmt: skip


def device_count() -> int:
    """Visible CUDA devices per cuda-python; 0 without cuda-python, a driver or a GPU."""
    return gpu_problem()[0]


def gpu_problem() -> tuple[int, str | None]:
    """(devices cuda-python sees, one line saying why there are none, or None when there are some)."""
    rt = cudart()
    if rt is None:
        return 0, f"cuda-python is not installed: {INSTALL_CUDA_PYTHON}"
    try:
        return _probe(rt)
    except Exception as exc:  # a bindings build that cannot even load its runtime
        return 0, f"{bindings_version()} cannot query CUDA ({type(exc).__name__}: {exc})"


def driver_version() -> str | None:
    """The CUDA version the driver supports ("12.6"): what TensorRT's own runtime runs on."""
    rt = cudart()
    if rt is None:
        return None
    try:
        version = int(_call(rt, "cudaDriverGetVersion"))
    except Exception:
        return None
    return version_text(version) if version else None


@dataclass(frozen=True)
class DeviceInfo:
    name: str
    compute_capability: tuple[int, int]
    cuda_version: str | None  # the driver's CUDA (the bindings' static runtime says nothing of TensorRT's)
    integrated: bool | None = None  # True on Jetson (the GPU shares the SoC's memory)


def device_info(device: int = 0) -> DeviceInfo:
    rt = cudart()
    if rt is None:
        raise BackendUnavailable(f"no CUDA runtime bindings to query the GPU: {INSTALL_CUDA_PYTHON}")
    prop = _call(rt, "cudaGetDeviceProperties", device)
    name = prop.name.decode(errors="replace") if isinstance(prop.name, bytes) else str(prop.name)
    integrated = getattr(prop, "integrated", None)
    return DeviceInfo(
        name.rstrip("\x00"),
        (int(prop.major), int(prop.minor)),
        driver_version(),
        None if integrated is None else bool(integrated),
    )


class CudaStream:
    """A CUDA stream, its device buffers and an optional CUDA graph, for the runner where torch is absent.

    Buffers are kept by name and reused across calls (grown only when a bigger batch comes):
    a cudaMalloc/cudaFree per call would be timed by ``bench`` as TensorRT latency.
    """

    def __init__(self) -> None:
        rt = cudart()
        if rt is None:
            raise BackendUnavailable(
                f"TensorRT needs device memory: {INSTALL_CUDA_PYTHON}, or a CUDA build of torch"
            )
        self._rt: Any = rt
        self._stream: Any = _call(rt, "cudaStreamCreate")
        self._buffers: dict[str, tuple[int, int]] = {}  # name -> (pointer, bytes)
        self._graph: Any = None
        self._graph_exec: Any = None

    @property
    def handle(self) -> int:
        """The ``cudaStream_t`` as the integer ``execute_async_v3`` takes."""
        return int(self._stream)

    def buffer(self, name: str, nbytes: int) -> tuple[int, bool]:
        """(device pointer of at least ``nbytes`` for ``name``, whether it is a new allocation)."""
        ptr, size = self._buffers.get(name, (0, 0))
        if ptr and size >= nbytes:
            return ptr, False
        if ptr:
            self.drop_graph()  # the captured graph points at the old buffer
            _call(self._rt, "cudaFree", ptr)
            del self._buffers[name]
        size = max(1, int(nbytes))
        ptr = int(_call(self._rt, "cudaMalloc", size))
        self._buffers[name] = (ptr, size)
        return ptr, True

    def to_device(self, dst: int, host: np.ndarray) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        _call(self._rt, "cudaMemcpyAsync", dst, host.ctypes.data, host.nbytes, kind, self._stream)

    def to_host(self, host: np.ndarray, src: int) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        _call(self._rt, "cudaMemcpyAsync", host.ctypes.data, src, host.nbytes, kind, self._stream)

    def synchronize(self) -> None:
        _call(self._rt, "cudaStreamSynchronize", self._stream)

    @property
    def has_graph(self) -> bool:
        return self._graph_exec is not None

    def capture(self, enqueue: Any) -> None:
        """Record what ``enqueue()`` puts on the stream as a CUDA graph (trtexec's --useCudaGraph)."""
        self.drop_graph()
        mode = self._rt.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
        _call(self._rt, "cudaStreamBeginCapture", self._stream, mode)
        try:
            enqueue()
        except BaseException:
            # The capture must end, or the stream stays capturing; but a failure inside it has
            # invalidated the capture, so EndCapture's own error (or its partial graph) must not
            # replace the reason enqueue gave.
            self._abandon_capture()
            raise
        self._graph = _call(self._rt, "cudaStreamEndCapture", self._stream)
        self._graph_exec = _call(self._rt, "cudaGraphInstantiate", self._graph, 0)

    def _abandon_capture(self) -> None:
        out = self._rt.cudaStreamEndCapture(self._stream)
        if out[0] == self._rt.cudaError_t.cudaSuccess and len(out) > 1 and out[1]:
            self._rt.cudaGraphDestroy(out[1])

    def launch(self) -> None:
        _call(self._rt, "cudaGraphLaunch", self._graph_exec, self._stream)

    def drop_graph(self) -> None:
        if self._graph_exec is not None:
            _call(self._rt, "cudaGraphExecDestroy", self._graph_exec)
            self._graph_exec = None
        if self._graph is not None:
            _call(self._rt, "cudaGraphDestroy", self._graph)
            self._graph = None

    def free_buffers(self) -> None:
        self.drop_graph()
        while self._buffers:
            _, (ptr, _size) = self._buffers.popitem()
            _call(self._rt, "cudaFree", ptr)

    def close(self) -> None:
        self.free_buffers()
        if self._stream is not None:
            _call(self._rt, "cudaStreamDestroy", self._stream)
            self._stream = None
