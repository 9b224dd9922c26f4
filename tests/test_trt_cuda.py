"""The torch-free device memory path (tensorrt/cuda.py) against the installed cuda-python.

cuda-python's bindings are compiled modules without type information, so mypy cannot check
their use; this checks every runtime function the runner calls exists, and, on a machine
without a GPU, that a real call comes back as the one-line error the CLI shows.
"""

from __future__ import annotations

import pytest

from inception_export.errors import BackendUnavailable
from inception_export.tensorrt import cuda

rt = cuda.cudart()
pytestmark = pytest.mark.skipif(
    rt is None,
    reason="cuda-python is not installed (pip install cuda-python); it is the runner's torch-free path",
)


def test_runtime_functions_exist() -> None:
    missing = [fn for fn in cuda.RUNTIME_FUNCTIONS if not hasattr(rt, fn)]
    assert not missing, missing
    assert rt is not None
    kinds = rt.cudaMemcpyKind
    assert {"cudaMemcpyHostToDevice", "cudaMemcpyDeviceToHost"} <= set(kinds.__members__)
    assert int(rt.cudaError_t.cudaSuccess) == 0


@pytest.mark.skipif(
    cuda.device_count() > 0, reason="a GPU is visible: the no-device error path does not apply"
)
def test_no_device_is_one_clear_error() -> None:
    assert cuda.device_count() == 0
    # A real call into the CUDA runtime: no driver or device comes back as an error code.
    with pytest.raises(BackendUnavailable, match=r"^CUDA cudaGetDeviceCount failed: .+ \(cudaError"):
        cuda._call(rt, "cudaGetDeviceCount")
    with pytest.raises(BackendUnavailable, match="CUDA cudaStreamCreate failed"):
        cuda.CudaStream()
    with pytest.raises(BackendUnavailable, match="cudaGetDeviceProperties failed"):
        cuda.device_info(0)


@pytest.mark.gpu
@pytest.mark.skipif(cuda.device_count() == 0, reason="no CUDA GPU visible to cuda-python")
def test_round_trip_through_device_memory() -> None:
    import numpy as np

    host = np.arange(1000, dtype=np.float32)
    back = np.empty_like(host)
    stream = cuda.CudaStream()
    try:
        ptr = stream.alloc(host.nbytes)
        stream.to_device(ptr, host)
        stream.to_host(back, ptr)
        stream.synchronize()
    finally:
        stream.close()
    assert np.array_equal(back, host)
    info = cuda.device_info(0)
    assert info.compute_capability[0] >= 5 and info.name
