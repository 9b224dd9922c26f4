"""Eager PyTorch and TorchScript runners (CPU, or CUDA where present)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ... import interrupts
from ...console import stdout_to_stderr
from ...errors import ArtifactError, ArtifactRunFailure
from ...runners.base import Runner, RunnerInfo
from ...text import clip


@contextmanager
def exact_fp32(device: torch.device, dtype: torch.dtype) -> Iterator[None]:
    """float32 means float32 on a GPU too: cuDNN's default lets convolutions round their inputs
    to TF32 (10-bit mantissa) on Ampere and newer. Measured on an H200 (torch 2.11, v3 on the
    golden set): relative L2 4.1e-7 against float64 with TF32 off, 5.8e-4 with it on, 58x the
    FP32 limit, so an FP32 gate on CUDA would fail a correct artifact (or, worse, a reference
    run this way would widen what passes). Restored afterwards: the caller's settings are theirs."""
    if device.type != "cuda" or dtype != torch.float32:
        yield
        return
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def private_model(model: nn.Module, device: torch.device, dtype: torch.dtype) -> nn.Module:
    """``model`` on ``device`` in ``dtype``, in eval mode, without changing the caller's module.

    ``Module.to`` and ``eval`` work in place: a runner that cast the shared fp32 CPU model to
    fp16 (or moved it to the GPU) changed it under the exporters and the other runners. The
    module is copied when anything would change, and used as it is otherwise (the CPU fp32
    reference of a 138 M-parameter model is not copied).
    """
    tensors = [*model.parameters(), *model.buffers()]
    moves = any(
        t.device.type != device.type or (device.index is not None and t.device.index != device.index)
        for t in tensors
    )
    casts = any(t.is_floating_point() and t.dtype != dtype for t in tensors)
    if moves or casts or any(m.training for m in model.modules()):
        model = copy.deepcopy(model)
    return model.to(device, dtype).eval()


class TorchRunner(Runner):
    """Eager PyTorch: the reference every artifact is compared with. The caller's module is
    never changed (see :func:`private_model`)."""

    backend = "torch"

    def __init__(self, model: nn.Module, input_size: int, device: str = "cpu", precision: str = "fp32"):
        self.device = torch.device(device)
        self.dtype = torch.float16 if precision == "fp16" else torch.float32
        self.model = private_model(model, self.device, self.dtype)
        self.info = RunnerInfo(self.backend, precision, self.device.type, input_size)

    @torch.inference_mode()
    def _infer(self, x: np.ndarray) -> np.ndarray:
        inp = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device, self.dtype)
        with exact_fp32(self.device, self.dtype):
            out = self.model(inp)
        return out.float().cpu().numpy()


class TorchScriptRunner(TorchRunner):
    backend = "torchscript"

    def __init__(self, path: str | Path, input_size: int, device: str = "cpu", precision: str = "fp32"):
        try:
            # An archive is code: whatever it prints while loading or running goes to stderr,
            # so stdout stays the command's result (pure JSON with --json).
            with stdout_to_stderr():
                module = torch.jit.load(str(path), map_location=device)
        except Exception as exc:  # torch raises RuntimeError/ValueError variants for bad archives
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ArtifactError(f"{path}: not a loadable TorchScript archive ({clip(msg)})") from None
        # The archive was loaded for this runner alone: converted in place, no copy.
        self.device = torch.device(device)
        self.dtype = torch.float16 if precision == "fp16" else torch.float32
        self.model = module.to(self.device, self.dtype).eval()
        self.info = RunnerInfo(self.backend, precision, self.device.type, input_size, artifact=str(path))

    def _infer(self, x: np.ndarray) -> np.ndarray:
        with stdout_to_stderr():
            try:
                return super()._infer(x)
            except (RuntimeError, torch.jit.Error, TypeError, ValueError, IndexError) as exc:
                # The archive's code failed on this input (a constant of another dtype, a shape it
                # does not take, its own raise): the artifact is at fault, as with onnxruntime's
                # failing node; an interrupt or the allocator's failure stays what it is.
                text = " ".join(str(exc).split()) or type(exc).__name__
                if interrupts.pending() is not None or "allocate" in text:
                    raise
                raise ArtifactRunFailure(
                    f"{self.info.artifact}: TorchScript cannot run it ({clip(text)})"
                ) from None
