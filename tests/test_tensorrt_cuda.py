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
        ptr, new = stream.buffer("x", host.nbytes)
        assert new and stream.buffer("x", host.nbytes // 2) == (ptr, False)  # reused, not reallocated
        stream.to_device(ptr, host)
        stream.to_host(back, ptr)
        stream.synchronize()
    finally:
        stream.close()
    assert np.array_equal(back, host)
    info = cuda.device_info(0)
    assert info.compute_capability[0] >= 5 and info.name


# ---------------------------------------------------------------- why no GPU


def test_insufficient_driver_names_both_versions_and_the_fix() -> None:
    # cuda-bindings 13.x on JetPack 6: the driver is CUDA 12.6, the bindings' runtime 13.5. The
    # error value is the real enum member cudaGetDeviceCount returns in that case.
    assert rt is not None
    err = rt.cudaError_t.cudaErrorInsufficientDriver
    line = cuda.explain_failure(err, 13050, 12060, "cuda-bindings 13.5.0")
    assert "cuda-bindings 13.5.0 carries the CUDA 13.5 runtime" in line
    assert "driver supports CUDA 12.6 at most (cudaErrorInsufficientDriver)" in line
    assert "pip install 'cuda-bindings>=12,<13'" in line and "JetPack 6" in line
    # An x86_64 CUDA 13.0 driver with bindings from a later 13.x needs 13.x bindings at most.
    newer = cuda.explain_failure(err, 13050, 13000, "cuda-bindings 13.5.0")
    assert "pip install 'cuda-bindings>=13,<14'" in newer
    assert "no NVIDIA driver" in cuda.explain_failure(err, 13050, 0, "cuda-bindings 13.5.0")
    nodev = cuda.explain_failure(rt.cudaError_t.cudaErrorNoDevice, 12090, 12060, "cuda-bindings 12.9.0")
    assert "sees no GPU" in nodev and "CUDA 12.6" in nodev


@pytest.mark.skipif(cuda.device_count() > 0, reason="a GPU is visible")
def test_no_driver_is_named_not_no_gpu() -> None:
    # This machine: cuda-bindings installed, no NVIDIA driver. The real calls give
    # cudaErrorInsufficientDriver with a driver version of 0.
    assert rt is not None
    _, drv = rt.cudaDriverGetVersion()
    if int(drv) != 0:
        pytest.skip("an NVIDIA driver is installed here")
    count, why = cuda.gpu_problem()
    assert count == 0 and why is not None
    assert why.startswith("no NVIDIA driver is installed or loadable"), why
    # The manifest's CUDA is the driver's (none here), never the bindings' own runtime (13.x here).
    assert cuda.driver_version() is None
    assert "cudaErrorInsufficientDriver" in why
    from inception_export.tensorrt.availability import missing_reason

    reason = missing_reason()
    assert reason is not None and "no NVIDIA driver" in reason, reason


class _CaptureRuntime:
    """cuda-python's runtime with the capture calls answered as CUDA answers them after a failure
    inside a capture (there is no GPU here): EndCapture reports the capture invalidated and hands
    back the partial graph; the calls made are recorded."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.cudaError_t = rt.cudaError_t
        self.cudaStreamCaptureMode = rt.cudaStreamCaptureMode
        self.cudaGetErrorString = rt.cudaGetErrorString

    def cudaStreamBeginCapture(self, *_: object) -> tuple[object]:
        self.calls.append("begin")
        return (rt.cudaError_t.cudaSuccess,)

    def cudaStreamEndCapture(self, *_: object) -> tuple[object, object]:
        self.calls.append("end")
        return (rt.cudaError_t.cudaErrorStreamCaptureInvalidated, None)


def test_a_failure_inside_cuda_graph_capture_is_the_error_reported() -> None:
    """EndCapture must run (or the stream stays capturing) but its own 'capture invalidated' must
    not replace why the capture failed; no graph is kept."""
    from inception_export.errors import ArtifactError

    stream = object.__new__(cuda.CudaStream)
    fake = _CaptureRuntime()
    stream._rt, stream._stream, stream._buffers, stream._graph, stream._graph_exec = fake, 1, {}, None, None

    def enqueue() -> None:
        raise ArtifactError("TensorRT execution failed")

    with pytest.raises(ArtifactError, match="TensorRT execution failed"):
        stream.capture(enqueue)
    assert fake.calls == ["begin", "end"] and not stream.has_graph
