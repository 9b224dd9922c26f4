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
INSTALL_GPU = "run on a machine with an NVIDIA GPU, its driver and a CUDA build of torch"


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


def gpu_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # a CUDA build without a driver can raise instead of returning False
        return False


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
    import torch

    trt = require_tensorrt()
    major, minor = torch.cuda.get_device_capability(0)
    return RuntimeEnv(
        tensorrt_version=str(trt.__version__),
        gpu_name=torch.cuda.get_device_name(0),
        compute_capability=(int(major), int(minor)),
        engine_sha256=engine_sha256,
        cuda_version=torch.version.cuda,
    )
