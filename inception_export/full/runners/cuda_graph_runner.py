"""Eager PyTorch replayed from a CUDA graph (benchmarks only: it skips kernel launch overhead)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...runners.base import InputSpec, Runner, RunnerInfo
from .torch_runner import exact_fp32, private_model


class CudaGraphRunner(Runner):
    """Eager model captured once into a CUDA graph for a fixed batch (replay skips launch overhead)."""

    def __init__(self, model: nn.Module, input_size: int, batch: int, precision: str) -> None:
        self.dtype = torch.float16 if precision == "fp16" else torch.float32
        self.model = private_model(model, torch.device("cuda"), self.dtype)
        self.static_in = torch.zeros(batch, 3, input_size, input_size, device="cuda", dtype=self.dtype)
        # Kernels are chosen at capture: TF32 off for an fp32 claim (see exact_fp32).
        with exact_fp32(torch.device("cuda"), self.dtype):
            self._capture(batch, input_size, precision)

    def _capture(self, batch: int, input_size: int, precision: str) -> None:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.inference_mode(), torch.cuda.stream(side):
            for _ in range(3):  # warm-up outside the graph: cuDNN picks its algorithms here
                self.model(self.static_in)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(self.graph):
            self.static_out = self.model(self.static_in)
        self.info = RunnerInfo("cudagraph", precision, "cuda", input_size, batch, batch)
        # The captured graph reads one static buffer: that batch and size only.
        self.input_spec = InputSpec.of(pixels=False, size=input_size)
        self.batch_reason = "the batch its CUDA graph was captured for"

    def _infer(self, x: np.ndarray) -> np.ndarray:
        self.static_in.copy_(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
        self.graph.replay()
        return np.asarray(self.static_out.float().cpu().numpy(), dtype=np.float32)
