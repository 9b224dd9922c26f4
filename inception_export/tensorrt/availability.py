"""Is a real TensorRT (with its builder) and a CUDA GPU here? One line saying what is missing.

``tensorrt-stubs`` installs a ``tensorrt`` namespace package of ``.pyi`` files, so a bare
``import tensorrt`` proves nothing: a real install is recognised by ``tensorrt.Builder``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import BackendUnavailable
from .manifest import RuntimeEnv

INSTALL_TENSORRT = (
    "pip install tensorrt --extra-index-url https://pypi.nvidia.com "
    "(NVIDIA's package index), or on Jetson use the TensorRT that ships with JetPack"
)
INSTALL_GPU = (
    "run on a machine with an NVIDIA GPU and its driver, with cuda-python (pip install cuda-python) "
    "or a CUDA build of torch"
)


def tensorrt_module() -> ModuleType | None:
    """The real ``tensorrt`` module, or None (absent, stubs only, or its libraries fail to load)."""
    try:
        trt = importlib.import_module("tensorrt")
    except Exception:  # a broken install raises ImportError, OSError or RuntimeError
        return None
    return trt if hasattr(trt, "Builder") else None


def tensorrt_available() -> bool:
    return tensorrt_module() is not None


def tensorrt_version() -> str | None:
    trt = tensorrt_module()
    return str(getattr(trt, "__version__", "unknown")) if trt is not None else None


def _torch_cuda() -> ModuleType | None:
    """``torch`` when it is installed with CUDA; None otherwise (the device role has no torch)."""
    try:
        torch = importlib.import_module("torch")
        return torch if torch.cuda.is_available() else None
    except Exception:  # absent, or a CUDA build without a driver raising instead of saying False
        return None


def gpu_available() -> bool:
    from .cuda import cudart, device_count

    # cuda-python first: asking torch would import it, which the device role does not have.
    if cudart() is not None:
        return device_count() > 0
    return _torch_cuda() is not None


def missing_reason() -> str | None:
    """One line naming what TensorRT needs and is not here, with how to get it; None if all is here."""
    has_trt, has_gpu = tensorrt_available(), gpu_available()
    if has_trt and has_gpu:
        return None
    if not has_trt and not has_gpu:
        return (
            "TensorRT and a CUDA GPU are missing: install TensorRT with "
            f"{INSTALL_TENSORRT}, and {INSTALL_GPU}"
        )
    if not has_trt:
        return f"TensorRT is not installed (no TensorRT builder found): {INSTALL_TENSORRT}"
    return f"TensorRT is installed but no CUDA GPU is visible: {INSTALL_GPU}"


def require_tensorrt() -> ModuleType:
    """The real ``tensorrt`` module; BackendUnavailable (exit 2, one line) when it or the GPU is missing."""
    reason = missing_reason()
    trt = tensorrt_module()
    if reason is not None or trt is None:
        raise BackendUnavailable(reason or "TensorRT is not available")
    return trt


def runtime_env(engine_sha256: str | None = None) -> RuntimeEnv:
    """The running TensorRT and GPU (device 0), for building or checking a manifest."""
    from .cuda import cudart, device_info

    trt = require_tensorrt()
    torch = None if cudart() is not None else _torch_cuda()
    if torch is not None:
        major, minor = torch.cuda.get_device_capability(0)
        name, cc, cuda = torch.cuda.get_device_name(0), (int(major), int(minor)), torch.version.cuda
    else:
        info = device_info(0)
        name, cc, cuda = info.name, info.compute_capability, info.cuda_version
    return RuntimeEnv(
        tensorrt_version=str(trt.__version__),
        gpu_name=name,
        compute_capability=cc,
        engine_sha256=engine_sha256,
        cuda_version=cuda,
    )
