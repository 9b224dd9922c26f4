"""onnxruntime runner: CPU provider always, CUDA where the machine has it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ArtifactError, BackendUnavailable, ResourceError
from ..text import clip, first_line
from .base import Runner, RunnerInfo

# What onnxruntime says when the machine, not the model, is the problem: its thread pool could
# not start threads (memory pressure, a thread limit) or an allocation failed.
RESOURCE_MARKERS = ("pthread_create", "Resource temporarily unavailable", "bad_alloc", "Failed to allocate")


def load_error(path: str | Path, exc: BaseException) -> Exception:
    """The error for an InferenceSession that did not start: the artifact's fault, or the machine's."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    for marker in RESOURCE_MARKERS:
        at = text.find(marker)
        if at >= 0:
            # Quote from the failing call on: the useful part sits after ~200 characters of
            # onnxruntime's source locations.
            return ResourceError(
                f"onnxruntime could not start for {path}: the machine is short of memory or threads "
                f"({clip(text[at:])}); free memory or pass fewer --threads, then retry"
            )
    return ArtifactError(f"{path}: onnxruntime cannot load it ({first_line(str(exc)) or type(exc).__name__})")


def _dim_bound(dim: object) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


class OnnxRuntimeRunner(Runner):
    def __init__(
        self,
        path: str | Path,
        device: str = "cpu",
        threads: int | None = None,
        precision: str | None = None,
    ) -> None:
        import onnxruntime as ort

        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise BackendUnavailable("onnxruntime has no CUDA provider here; install onnxruntime-gpu")
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        except Exception as exc:  # onnxruntime raises several unrelated exception types
            raise load_error(path, exc) from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ArtifactError(f"{path}: expected one input, found {len(inputs)}")
        self.input_name = inputs[0].name
        shape = inputs[0].shape
        self.channels_last = inputs[0].type == "tensor(uint8)"
        size_dim = shape[2] if not self.channels_last else shape[1]
        fixed_batch = _dim_bound(shape[0])
        meta = self.session.get_modelmeta().custom_metadata_map
        prec = precision or meta.get("precision", "fp32")
        self.info = RunnerInfo(
            backend="onnxruntime",
            precision=prec,
            device=device,
            input_size=int(size_dim) if isinstance(size_dim, int) else int(meta.get("input_size", 0)),
            min_batch=fixed_batch or 1,
            max_batch=fixed_batch,
            artifact=str(path),
            num_outputs=len(self.session.get_outputs()),
        )

    def infer(self, x: np.ndarray) -> np.ndarray:
        # uint8 NHWC for graphs with embedded preprocessing, float32 NCHW otherwise.
        dtype = np.uint8 if self.channels_last else np.float32
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(x, dtype=dtype)})
        return np.asarray(out[0], dtype=np.float32)
