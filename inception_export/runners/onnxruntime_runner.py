"""onnxruntime runner: CPU provider always, CUDA where the machine has it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ArtifactError, BackendUnavailable
from ..text import clip
from .base import Runner, RunnerInfo


def _dim_bound(dim: object) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


class OnnxRuntimeRunner(Runner):
    def __init__(
        self,
        path: str | Path,
        device: str = "cpu",
        threads: int | None = None,
        precision: str | None = None,
        spin: bool = True,
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
        if not spin:
            # Idle workers sleep instead of spinning between runs: the same arithmetic, but a
            # few runs on a shared 2-core machine no longer burn the cores the next one needs
            # (the device gate on v3: ~27 % less CPU time under load).
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        except Exception as exc:  # onnxruntime raises several unrelated exception types
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ArtifactError(f"{path}: onnxruntime cannot load it ({clip(msg)})") from None
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
