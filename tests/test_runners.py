"""Runners side by side, opened by one factory, inputs checked in the base class.

Every backend refuses a batch outside its range, another dtype or another shape with one
``UsageError`` line (exit 2 at the CLI) before its own code runs, and no runner changes the
module its caller handed it. The artifacts are tiny graphs made here (onnx.helper, a traced
module), run by the real onnxruntime and torch: the checks are the point, not the model.
TensorRT's case is in tests/test_tensorrt.py (``test_runner_matches_torch``, GPU only).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from inception_export.errors import UsageError
from inception_export.full.runners.torch_runner import TorchRunner
from inception_export.runners.base import Runner
from inception_export.runners.factory import model_runner, open_runner

SIZE = 8
W = np.arange(12, dtype=np.float32).reshape(4, 3, 1, 1) / 10.0
B = np.array([0.5, -0.5, 1.0, 0.0], np.float32)


def _save(path: Path, nodes: list[onnx.NodeProto], inp: onnx.ValueInfoProto, out: onnx.ValueInfoProto,
          inits: list[onnx.TensorProto]) -> Path:  # fmt: skip
    graph = helper.make_graph(nodes, "g", [inp], [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def float_graph(path: Path, batch: int | str) -> Path:
    """float32 NCHW -> 1x1 conv -> global average: logits = W @ mean(x) + b."""
    nodes = [
        helper.make_node("Conv", ["input", "W", "B"], ["c"]),
        helper.make_node("GlobalAveragePool", ["c"], ["p"]),
        helper.make_node("Flatten", ["p"], ["logits"]),
    ]
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, SIZE, SIZE])
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 4])
    return _save(path, nodes, inp, out, [numpy_helper.from_array(W, "W"), numpy_helper.from_array(B, "B")])


def pixel_graph(path: Path) -> Path:
    """uint8 NHWC pixels (dynamic batch) -> mean of each channel, the way in-graph preprocessing
    graphs take their input."""
    nodes = [
        helper.make_node("Cast", ["input"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["f", "axes"], ["logits"], keepdims=0),
    ]
    inp = helper.make_tensor_value_info("input", TensorProto.UINT8, ["batch", SIZE, SIZE, 3])
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])
    return _save(path, nodes, inp, out, [numpy_helper.from_array(np.array([1, 2], np.int64), "axes")])


def expected(x: np.ndarray) -> np.ndarray:
    return np.asarray(x.astype(np.float64).mean(axis=(2, 3)) @ W[:, :, 0, 0].T.astype(np.float64) + B)


def refuses(runner: Runner, x: object, pattern: str) -> None:
    with pytest.raises(UsageError, match=pattern) as info:
        runner.infer(x)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.bn = nn.BatchNorm2d(4)
        with torch.no_grad():
            self.conv.weight.copy_(torch.from_numpy(W))
            self.conv.bias.copy_(torch.from_numpy(B))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x)).mean(dim=(2, 3))


def test_onnxruntime_checks_batch_dtype_and_shape(tmp_path: Path) -> None:
    path = float_graph(tmp_path / "fixed2.onnx", batch=2)
    x = np.random.default_rng(0).standard_normal((2, 3, SIZE, SIZE)).astype(np.float32)
    with open_runner(path, "onnx", SIZE, "fp32") as runner:
        assert (runner.info.min_batch, runner.info.max_batch) == (2, 2)
        np.testing.assert_allclose(runner.infer(x), expected(x), rtol=1e-5, atol=1e-6)
        refuses(runner, x[:1], r"^fixed2\.onnx accepts batch 2-2 \(its fixed batch dimension\), got 1$")
        refuses(runner, np.concatenate([x, x]), "accepts batch 2-2 .* got 4$")
        refuses(runner, x.astype(np.float64), r"^fixed2\.onnx takes float32 NCHW input, got float64$")
        refuses(runner, x[:, :, :4], r"shape \(N, 3, 8, 8\), got \(2, 3, 4, 8\)$")
        refuses(runner, x[0], r"takes a 4-D NCHW batch \(N, 3, 8, 8\), got shape \(3, 8, 8\)$")
        refuses(runner, x.tolist(), "takes a numpy array, got list$")


def test_onnxruntime_pixels_refuse_floats(tmp_path: Path) -> None:
    # Before the base-class check a float batch was cast to uint8 without a word (wrapping).
    path = pixel_graph(tmp_path / "pixels.onnx")
    px = np.random.default_rng(1).integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    with open_runner(path, "onnx", SIZE, "fp32") as runner:
        np.testing.assert_allclose(runner.infer(px), px.astype(np.float64).mean(axis=(1, 2)), rtol=1e-6)
        refuses(runner, px.astype(np.float32), r"^pixels\.onnx takes uint8 NHWC input, got float32$")
        refuses(runner, px.transpose(0, 3, 1, 2), r"shape \(N, 8, 8, 3\), got \(3, 3, 8, 8\)$")
        refuses(runner, px[:0], "accepts batch 1 or more, got 0$")


def test_torch_checks_dtype_and_batch() -> None:
    model = Tiny().eval()
    x = np.random.default_rng(2).standard_normal((3, 3, SIZE, SIZE)).astype(np.float32)
    runner = model_runner(model, "torch", SIZE, "fp32")
    # BN at its initial statistics (mean 0, var 1) is the identity up to its epsilon.
    np.testing.assert_allclose(runner.infer(x), expected(x) / np.sqrt(1 + 1e-5), rtol=1e-5, atol=1e-5)
    # Eager PyTorch takes any spatial size (the gate's reference runs at the artifact's size).
    assert runner.infer(np.zeros((1, 3, 2 * SIZE, SIZE), np.float32)).shape == (1, 4)
    refuses(runner, x.astype(np.float64), r"^torch-fp32 takes float32 NCHW input, got float64$")
    refuses(runner, x[:0], "^torch-fp32 accepts batch 1 or more, got 0$")
    refuses(runner, x[:, :2], r"shape \(N, 3, H, W\), got \(3, 2, 8, 8\)$")


def test_torchscript_checks_dtype_and_batch(tmp_path: Path) -> None:
    path = tmp_path / "tiny.pt"
    with torch.no_grad():
        torch.jit.trace(Tiny().eval(), torch.zeros(1, 3, SIZE, SIZE)).save(str(path))
    x = np.random.default_rng(3).standard_normal((2, 3, SIZE, SIZE)).astype(np.float32)
    with open_runner(path, "torchscript", SIZE, "fp32") as runner:
        assert runner.info.backend == "torchscript"
        np.testing.assert_allclose(runner.infer(x), expected(x) / np.sqrt(1 + 1e-5), rtol=1e-5, atol=1e-5)
        refuses(runner, (x * 255).astype(np.uint8), r"^tiny\.pt takes float32 NCHW input, got uint8$")
        refuses(runner, x[:0], r"^tiny\.pt accepts batch 1 or more, got 0$")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
def test_cudagraph_checks_its_captured_batch() -> None:
    runner = model_runner(Tiny().eval(), "cudagraph", SIZE, "fp32", "cuda", batch=2)
    x = np.random.default_rng(4).standard_normal((2, 3, SIZE, SIZE)).astype(np.float32)
    assert runner.infer(x).shape == (2, 4)
    refuses(runner, x[:1], r"accepts batch 2-2 \(the batch its CUDA graph was captured for\), got 1$")
    refuses(runner, x.astype(np.float16), "takes float32 NCHW input, got float16$")


def test_factory_refuses_an_unknown_format_or_backend(tmp_path: Path) -> None:
    path = float_graph(tmp_path / "m.onnx", batch="batch")
    with pytest.raises(UsageError, match="no runner for artifact format 'tflite'"):
        open_runner(path, "tflite", SIZE, "fp32")
    with pytest.raises(UsageError, match="unknown eager backend 'jax'"):
        model_runner(Tiny(), "jax", SIZE, "fp32")


def test_torch_runner_leaves_the_callers_model_alone() -> None:
    # TorchRunner used to call model.to(device, dtype).eval(): an fp16 runner turned the caller's
    # (shared) fp32 model into fp16 under the exporters and the other runners.
    model = Tiny().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    runner = TorchRunner(model, SIZE, precision="fp16")
    assert next(runner.model.parameters()).dtype == torch.float16
    after = model.state_dict()
    assert {k: v.dtype for k, v in after.items()} == {k: v.dtype for k, v in before.items()}
    assert all(torch.equal(after[k], before[k]) for k in before)
    assert next(model.parameters()).dtype == torch.float32

    # eval() is a change too: a model in training mode stays in it.
    training = Tiny().train()
    fp32 = TorchRunner(training, SIZE)
    assert training.training and training.bn.training and not fp32.model.training

    # Nothing to change (eval, fp32, on the CPU): the module itself, no copy of its weights.
    assert TorchRunner(model, SIZE).model is model


def test_thread_start_failure_is_a_resource_error_not_the_artifact() -> None:
    from inception_export.errors import ResourceError
    from inception_export.runners.onnxruntime_runner import load_error

    # The text onnxruntime gave under memory pressure: ~200 characters of source location first.
    text = (
        "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Exception during initialization: "
        "/onnxruntime_src/onnxruntime/core/platform/posix/env.cc:183 "
        "onnxruntime::{anonymous}::PosixThread::PosixThread(const char*, int, unsigned int (*)(int, "
        "Eigen::ThreadPoolInterface*), Eigen::ThreadPoolInterface*, const onnxruntime::ThreadOptions&) "
        "pthread_create failed, error code: 11 error msg: Resource temporarily unavailable"
    )
    exc = load_error("m.onnx", RuntimeError(text))
    assert isinstance(exc, ResourceError)
    assert "cannot load" not in str(exc)
    assert "pthread_create failed, error code: 11 error msg: Resource temporarily unavailable" in str(exc)
    other = load_error(
        "m.onnx", RuntimeError("[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model failed")
    )
    assert "onnxruntime cannot load it" in str(other)
