"""TensorRT engines behind the :class:`~inception_export.runners.base.Runner` interface.

I/O is bound by tensor name (``set_tensor_address``) and run with ``execute_async_v3`` on a
torch CUDA stream; device buffers are torch CUDA tensors, so no pycuda/cuda-python is needed.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArtifactError, UsageError
from ..hashing import file_sha256
from ..runners.base import Runner, RunnerInfo
from .availability import require_tensorrt, runtime_env
from .dims import dims_tuple
from .manifest import check_manifest, read_manifest


def _torch_dtype(dtype: Any) -> Any:
    import tensorrt as trt
    import torch

    table = {
        trt.DataType.FLOAT: torch.float32,
        trt.DataType.HALF: torch.float16,
        trt.DataType.BF16: torch.bfloat16,
        trt.DataType.INT32: torch.int32,
        trt.DataType.INT64: torch.int64,
        trt.DataType.INT8: torch.int8,
        trt.DataType.UINT8: torch.uint8,
        trt.DataType.BOOL: torch.bool,
    }
    if dtype not in table:
        raise ArtifactError(f"engine tensor type {dtype} is not supported by the runner")
    return table[dtype]


class TensorRTRunner(Runner):
    """Run a serialized engine; the manifest beside it (if any) must match this TensorRT and GPU."""

    def __init__(self, path: str | Path, device: str = "cuda", *, verify_manifest: bool = True) -> None:
        if device != "cuda":
            raise UsageError("TensorRT engines run on a CUDA device only (device='cuda')")
        require_tensorrt()
        import tensorrt as trt
        import torch

        self.path = Path(path)
        if not self.path.is_file():
            raise ArtifactError(f"{self.path}: no such engine file")
        manifest = read_manifest(self.path)
        if manifest is not None and verify_manifest:
            check_manifest(manifest, runtime_env(file_sha256(self.path)))
        elif manifest is None:
            warnings.warn(
                f"{self.path.name} has no manifest beside it; loading without version/GPU checks",
                stacklevel=2,
            )
        self._logger = trt.Logger(trt.Logger.ERROR)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise ArtifactError(
                f"{self.path}: TensorRT cannot deserialize it (not an engine for this TensorRT version)"
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
        size = int(shape[2]) if shape[2] > 0 else int((manifest or {}).get("input_size", 0))
        self._in_dtype = _torch_dtype(self.engine.get_tensor_dtype(self.input_name))
        self.context = self.engine.create_execution_context()
        self.stream = torch.cuda.Stream()
        default_precision = "fp16" if self._in_dtype == torch.float16 else "fp32"
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
            detail=f"TensorRT {trt.__version__}",
        )

    def infer(self, x: np.ndarray) -> np.ndarray:
        import torch

        n = int(x.shape[0])
        lo, hi = self.info.min_batch, self.info.max_batch
        if n < lo or (hi is not None and n > hi):
            raise UsageError(f"{self.path.name} accepts batch {lo}-{hi} (its optimisation profile), got {n}")
        with torch.cuda.stream(self.stream):
            inp = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to("cuda", self._in_dtype)
            if not self.context.set_input_shape(self.input_name, tuple(inp.shape)):
                raise UsageError(f"{self.path.name} rejects input shape {tuple(inp.shape)}")
            self.context.set_tensor_address(self.input_name, int(inp.data_ptr()))
            outs = []
            for name in self.output_names:
                shape = dims_tuple(self.context.get_tensor_shape(name))
                dtype = _torch_dtype(self.engine.get_tensor_dtype(name))
                out = torch.empty(shape, dtype=dtype, device="cuda")
                self.context.set_tensor_address(name, int(out.data_ptr()))
                outs.append(out)
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise ArtifactError(f"{self.path.name}: TensorRT execution failed")
        self.stream.synchronize()
        return np.asarray(outs[0].float().cpu().numpy(), dtype=np.float32)

    def close(self) -> None:
        # Context before engine before runtime: TensorRT requires this destruction order.
        for attr in ("context", "engine", "_runtime"):
            if hasattr(self, attr):
                delattr(self, attr)
