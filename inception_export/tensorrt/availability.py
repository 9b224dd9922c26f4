"""Is a real TensorRT (with its builder) and a CUDA GPU here? One line saying what is missing.

``tensorrt-stubs`` installs a ``tensorrt`` namespace package of ``.pyi`` files, so a bare
``import tensorrt`` proves nothing: a real install is recognised by ``tensorrt.Builder``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import BackendUnavailable
from .manifest import RuntimeEnv, current_platform

INSTALL_TENSORRT = (
    "pip install tensorrt --extra-index-url https://pypi.nvidia.com "
    "(NVIDIA's package index), or on Jetson use the TensorRT that ships with JetPack"
)
INSTALL_GPU = (
    "run on a machine with an NVIDIA GPU and its driver, with cuda-bindings matching the driver's CUDA "
    "(JetPack 6: pip install 'cuda-bindings>=12.6,<13'; JetPack 7 or x86_64 CUDA 13: "
    "pip install 'cuda-bindings>=13,<14') or a CUDA build of torch"
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


def cuda_python_usable() -> bool:
    """cuda-python is installed and sees a GPU (bindings too new for the driver see none)."""
    from .cuda import device_count

    return device_count() > 0


def gpu_problem() -> str | None:
    """None when a CUDA GPU is usable (through cuda-python, else torch); else why not, in one line."""
    from .cuda import cudart
    from .cuda import gpu_problem as cuda_python_problem

    # cuda-python first: asking torch would import it, which the device role does not have.
    count, why = cuda_python_problem()
    if count > 0:
        return None
    if _torch_cuda() is not None:
        return None
    if cudart() is None:
        return f"no CUDA GPU is visible: {INSTALL_GPU}"
    return f"no usable CUDA GPU: {why}"


def gpu_available() -> bool:
    return gpu_problem() is None


def missing_reason() -> str | None:
    """One line naming what TensorRT needs and is not here, with how to get it; None if all is here."""
    has_trt, gpu = tensorrt_available(), gpu_problem()
    if has_trt and gpu is None:
        return None
    if not has_trt and gpu is not None:
        return f"TensorRT is not installed ({INSTALL_TENSORRT}), and {gpu}"
    if not has_trt:
        return f"TensorRT is not installed (no TensorRT builder found): {INSTALL_TENSORRT}"
    return f"TensorRT is installed but {gpu}"


def require_tensorrt() -> ModuleType:
    """The real ``tensorrt`` module; BackendUnavailable (exit 2, one line) when it or the GPU is missing."""
    reason = missing_reason()
    trt = tensorrt_module()
    if reason is not None or trt is None:
        raise BackendUnavailable(reason or "TensorRT is not available")
    return trt


def _tensorrt_cuda() -> str | None:
    """The CUDA major TensorRT was built for, from its wheel's name (tensorrt-cu12-libs: "12").

    JetPack's TensorRT is a system package without such a name: None there (the driver's CUDA
    is recorded beside it).
    """
    from importlib import metadata

    for dist in metadata.distributions():
        name = str(dist.metadata["Name"] or "").lower().replace("_", "-")
        if name.startswith("tensorrt-cu") and name.endswith("-libs"):
            return name.removeprefix("tensorrt-cu").removesuffix("-libs")
    return None


def runtime_env(engine_sha256: str | None = None) -> RuntimeEnv:
    """The running TensorRT and GPU (device 0), for building or checking a manifest."""
    from .cuda import device_info, driver_version

    trt = require_tensorrt()
    torch = None if cuda_python_usable() else _torch_cuda()
    integrated: bool | None
    if torch is not None:
        props = torch.cuda.get_device_properties(0)
        name, cc = str(props.name), (int(props.major), int(props.minor))
        integrated = bool(getattr(props, "is_integrated", False))
        driver = driver_version()
    else:
        info = device_info(0)
        name, cc, integrated, driver = info.name, info.compute_capability, info.integrated, info.cuda_version
    return RuntimeEnv(
        tensorrt_version=str(trt.__version__),
        gpu_name=name,
        compute_capability=cc,
        engine_sha256=engine_sha256,
        cuda_version=_tensorrt_cuda() or (str(torch.version.cuda) if torch is not None else None),
        platform=current_platform(),
        integrated=integrated,
        cuda_driver_version=driver,
    )
