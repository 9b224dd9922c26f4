"""float32 on a CUDA GPU means float32: eager and TorchScript runners switch cuDNN's TF32 off for
an fp32 claim (runners/torch_runner.py: exact_fp32). Runs where torch sees a CUDA device
(benchmarks/gpu_check.sh runs it on a lent GPU); skipped elsewhere with the reason."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import synthetic_model

from inception_export.full.runners.torch_runner import TorchRunner, exact_fp32
from inception_export.parity.metrics import compare

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device visible to torch"),
]


def test_fp32_runner_is_exact_even_with_tf32_enabled_by_the_caller() -> None:
    model = synthetic_model("v3")
    x = np.random.default_rng(0).uniform(-1, 1, (4, 3, 299, 299)).astype(np.float32)
    with torch.inference_mode():
        ref = model.double()(torch.from_numpy(x).double()).numpy()
    model.float()
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        out = TorchRunner(model, 299, device="cuda").infer(x)
        # The caller's TF32 setting is restored after the run.
        assert torch.backends.cudnn.allow_tf32 is True
        with torch.inference_mode():
            tf32 = model(torch.from_numpy(x).cuda()).float().cpu().numpy()
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
        model.cpu()
    # The FP32 profile's limit is 1e-5; with TF32 the same run measured 5.8e-4 on an H200.
    assert compare(ref, out).rel_l2 < 1e-5
    # The check can fail: the caller's TF32 run is far outside the FP32 limit.
    assert compare(ref, tf32).rel_l2 > 1e-5


def test_exact_fp32_leaves_fp16_and_cpu_alone() -> None:
    torch.backends.cudnn.allow_tf32 = True
    with exact_fp32(torch.device("cuda"), torch.float16):
        assert torch.backends.cudnn.allow_tf32 is True
    with exact_fp32(torch.device("cpu"), torch.float32):
        assert torch.backends.cudnn.allow_tf32 is True
    with exact_fp32(torch.device("cuda"), torch.float32):
        assert torch.backends.cudnn.allow_tf32 is False
    assert torch.backends.cudnn.allow_tf32 is True
