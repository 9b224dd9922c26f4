"""TensorRT engines behind the :class:`~inception_export.runners.base.Runner` interface.

I/O is bound by tensor name (``set_tensor_address``) and run with ``execute_async_v3``.
Device memory and the stream come from cuda-python (:mod:`inception_export.tensorrt.cuda`)
where it is installed, as on the device role that has no PyTorch; otherwise from torch's CUDA
allocator. Neither path has run on a GPU in this project's CI (there is none): see docs/tensorrt.md.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ArtifactError, UsageError
from ..hashing import file_sha256
from ..tensorrt.availability import require_tensorrt, runtime_env
from ..tensorrt.dims import dims_tuple
from ..tensorrt.manifest import check_manifest, read_manifest
from ..tensorrt.trt_log import first_error, make_logger
from ..text import describe_kind
from .base import InputSpec, Runner, RunnerInfo

if TYPE_CHECKING:
    import tensorrt as trt


def _np_dtype(dtype: Any) -> np.dtype[Any]:
    import tensorrt as trt

    table = {
        trt.DataType.FLOAT: np.float32,
        trt.DataType.HALF: np.float16,
        trt.DataType.INT32: np.int32,
        trt.DataType.INT64: np.int64,
        trt.DataType.INT8: np.int8,
        trt.DataType.UINT8: np.uint8,
        trt.DataType.BOOL: np.bool_,
    }
    if dtype not in table:
        raise ArtifactError(f"engine tensor type {dtype} is not supported by the runner")
    return np.dtype(table[dtype])


def _bind(context: trt.IExecutionContext, name: str, ptr: int) -> None:
    # set_tensor_address returns False (and logs) for an unknown name or a misaligned address.
    if not context.set_tensor_address(name, ptr):
        raise ArtifactError(f"TensorRT refused the device address of tensor {name}")


class _CudaPythonIO:
    """Buffers, stream and CUDA graph from cuda-python: what the torch-free device role uses.

    Buffers live as long as the runner; a shape change re-binds them (and re-captures the graph).
    """

    def __init__(self, cuda_graph: bool = False) -> None:
        from ..tensorrt.cuda import CudaStream

        self.stream = CudaStream()
        self.name = "cuda-python" + (", CUDA graph" if cuda_graph else "")
        self.cuda_graph = cuda_graph
        self._shapes: dict[str, tuple[int, ...]] = {}

    def run(
        self, context: trt.IExecutionContext, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]
    ) -> None:
        shapes = {n: a.shape for n, a in (inputs | outputs).items()}
        rebound = shapes != self._shapes
        ptrs = {}
        for name, host in (inputs | outputs).items():
            ptr, new = self.stream.buffer(name, host.nbytes)
            ptrs[name] = ptr
            if new or rebound:
                _bind(context, name, ptr)
                rebound = True
        if rebound:
            self.stream.drop_graph()
            self._shapes = shapes
        for name, host in inputs.items():
            self.stream.to_device(ptrs[name], host)

        def enqueue() -> None:
            if not context.execute_async_v3(self.stream.handle):
                raise ArtifactError("TensorRT execution failed")

        if not self.cuda_graph:
            enqueue()
        elif self.stream.has_graph:
            self.stream.launch()
        else:
            # TensorRT allocates lazily on the first run after a shape change: run once, then capture.
            enqueue()
            self.stream.synchronize()
            self.stream.capture(enqueue)
            self.stream.launch()
        for name, host in outputs.items():
            self.stream.to_host(host, ptrs[name])
        self.stream.synchronize()

    def drop_graph(self) -> None:
        self.stream.drop_graph()

    def close(self) -> None:
        self.stream.close()


class _TorchIO:
    """Buffers and stream from torch's CUDA allocator, where cuda-python is not usable."""

    def __init__(self, cuda_graph: bool = False) -> None:
        import torch

        if cuda_graph:
            raise UsageError("CUDA graph capture of a TensorRT engine needs cuda-python (cuda-bindings)")
        self.stream = torch.cuda.Stream()
        self.name = "torch"
        self._dev: dict[str, Any] = {}

    def run(
        self, context: trt.IExecutionContext, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]
    ) -> None:
        import torch

        with torch.cuda.stream(self.stream):
            for name, host in (inputs | outputs).items():
                dev = self._dev.get(name)
                if dev is None or tuple(dev.shape) != host.shape:
                    # Reused while the shape holds: allocation is not part of what bench times.
                    dev = torch.empty(host.shape, dtype=torch.from_numpy(host[:0]).dtype, device="cuda")
                    self._dev[name] = dev
                    _bind(context, name, int(dev.data_ptr()))
            for name, host in inputs.items():
                self._dev[name].copy_(torch.from_numpy(host), non_blocking=False)
            if not context.execute_async_v3(self.stream.cuda_stream):
                raise ArtifactError("TensorRT execution failed")
        self.stream.synchronize()
        for name, host in outputs.items():
            host[...] = self._dev[name].cpu().numpy()

    def drop_graph(self) -> None:
        """No CUDA graph on this path (capture needs cuda-python)."""

    def close(self) -> None:
        self._dev.clear()


def _device_io(cuda_graph: bool = False) -> _CudaPythonIO | _TorchIO:
    from ..tensorrt.availability import cuda_python_usable

    # Bindings too new for the driver see no GPU: torch's CUDA (where installed) still works.
    return _CudaPythonIO(cuda_graph) if cuda_python_usable() else _TorchIO(cuda_graph)


class TensorRTRunner(Runner):
    """Run a serialized engine; the manifest beside it (if any) must match this TensorRT and GPU."""

    def __init__(
        self,
        path: str | Path,
        device: str = "cuda",
        *,
        verify_manifest: bool = True,
        cuda_graph: bool = False,
    ) -> None:
        if device != "cuda":
            raise UsageError("TensorRT engines run on a CUDA device only (device='cuda')")
        require_tensorrt()
        import tensorrt as trt

        self.path = Path(path)
        if not self.path.is_file():
            what = (
                "no such engine file"
                if not self.path.exists()
                else f"{describe_kind(self.path)}, not an engine file"
            )
            raise ArtifactError(f"{self.path}: {what}")
        manifest = read_manifest(self.path)
        if manifest is not None and verify_manifest:
            check_manifest(manifest, runtime_env(file_sha256(self.path)))
        elif manifest is None:
            warnings.warn(
                f"{self.path.name} has no manifest beside it; loading without version/GPU checks",
                stacklevel=2,
            )
        # TensorRT's errors are kept for the messages below, not printed as they come.
        self._logger = make_logger(show=False)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise ArtifactError(
                f"{self.path}: TensorRT {trt.__version__} cannot deserialize it: "
                f"{first_error(self._logger.errors)}"
            )
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.output_names = [n for n in names if n not in inputs]
        if len(inputs) != 1 or not self.output_names:
            raise ArtifactError(f"{self.path}: expected one input and at least one output tensor")
        self.input_name = inputs[0]
        shape = dims_tuple(self.engine.get_tensor_shape(self.input_name))
        if shape[0] > 0:
            min_batch = max_batch = int(shape[0])
        else:
            lo, _opt, hi = self.engine.get_tensor_profile_shape(self.input_name, 0)
            min_batch, max_batch = int(lo[0]), int(hi[0])
        self._in_dtype = _np_dtype(self.engine.get_tensor_dtype(self.input_name))
        # uint8 pixels NHWC (embedded preprocessing) or float NCHW, as the ONNX was.
        default_layout = "NHWC" if self._in_dtype == np.uint8 else "NCHW"
        layout = str((manifest or {}).get("input_layout", default_layout))
        h_axis = 1 if layout == "NHWC" else 2
        size = int(shape[h_axis]) if shape[h_axis] > 0 else int((manifest or {}).get("input_size", 0))
        self._out_dtypes = {n: _np_dtype(self.engine.get_tensor_dtype(n)) for n in self.output_names}
        self.context = self.engine.create_execution_context()
        if self.context is None:  # out of device memory, mostly: TensorRT logs why
            raise ArtifactError(
                f"{self.path}: TensorRT cannot create an execution context "
                f"({first_error(self._logger.errors)})"
            )
        self._io = _device_io(cuda_graph)
        default_precision = "fp16" if self._in_dtype == np.float16 else "fp32"
        precision = str((manifest or {}).get("precision", default_precision))
        self.info = RunnerInfo(
            backend="tensorrt",
            precision=precision,
            device="cuda",
            input_size=size,
            min_batch=min_batch,
            max_batch=max_batch,
            artifact=str(self.path),
            num_outputs=len(self.output_names),
            detail=f"TensorRT {trt.__version__}, device memory via {self._io.name}",
        )
        # Float32 in (cast to the engine's float16 input if it has one), or uint8 pixels.
        pixels = self._in_dtype == np.uint8
        dims = [d if d > 0 else None for d in shape[1:]] if len(shape) == 4 else [None, None, None]
        self.input_spec = InputSpec(
            InputSpec.of(pixels, None).dtype,
            "NHWC" if layout == "NHWC" else "NCHW",
            (dims[0], dims[1], dims[2]),
        )
        self.batch_reason = "its optimisation profile"

    def _infer(self, x: np.ndarray) -> np.ndarray:
        host_in = np.ascontiguousarray(x, dtype=self._in_dtype)
        if not self.context.set_input_shape(self.input_name, tuple(host_in.shape)):
            raise UsageError(f"{self.path.name} rejects input shape {tuple(host_in.shape)}")
        outputs = {
            name: np.empty(dims_tuple(self.context.get_tensor_shape(name)), dtype=self._out_dtypes[name])
            for name in self.output_names
        }
        try:
            self._io.run(self.context, {self.input_name: host_in}, outputs)
        except ArtifactError as exc:
            raise ArtifactError(f"{self.path.name}: {exc}") from None
        return np.asarray(outputs[self.output_names[0]], dtype=np.float32)

    def close(self) -> None:
        # A CUDA graph captured from the context's kernels goes first; then context before
        # engine before runtime: TensorRT requires this destruction order.
        if hasattr(self, "_io"):
            self._io.drop_graph()
        for attr in ("context", "engine", "_runtime"):
            if hasattr(self, attr):
                delattr(self, attr)
        if hasattr(self, "_io"):
            self._io.close()
            del self._io
