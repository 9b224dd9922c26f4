"""The FP16 graph derived from the FP32 one is the graph torch's half export traces.

``release`` ships FP32 and FP16 ONNX; deriving the FP16 graph saves a second trace
(export/fp16_graph.py). These tests hold it to the traced export: every weight bit, every
node and attribute, the float32 nodes and onnxruntime's outputs on the golden inputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import synthetic_model
from onnx import helper, numpy_helper
from torch import nn

from inception_export import build_model, get_spec
from inception_export.full.export import export_onnx, export_onnx_pair
from inception_export.full.export.fp16 import HalfCompute, float32_nodes
from inception_export.full.export.fp16_graph import derive_fp16
from inception_export.full.export.onnx_export import FLOAT16_DERIVED, FLOAT16_TRACED, _Float32, trace_onnx
from inception_export.full.golden import golden_inputs, golden_pixels

# Full suite only: two traced exports per case to compare the derived FP16 graph with.
pytestmark = pytest.mark.slow

SMALL = 96


def _ops(model: onnx.ModelProto) -> list[tuple[str, list[tuple[str, object]]]]:
    return [
        (n.op_type, sorted((a.name, str(helper.get_attribute_value(a))) for a in n.attribute))
        for n in model.graph.node
    ]


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(sess.run(None, {"input": x})[0])


@pytest.mark.parametrize("embed", [False, True], ids=["float-input", "embedded-preprocessing"])
def test_derived_fp16_is_the_traced_half_export(embed: bool, tmp_path: Path) -> None:
    name = "googlenet"
    # transform_input adds float constants inside the network; the embedded preprocessing
    # adds float32 nodes before it that must stay float32.
    model = build_model(name, transform_input=True) if embed else synthetic_model(name)
    common = {"input_size": SMALL, "embed_preprocessing": embed, "model_obj": model}
    fp32, derived = export_onnx_pair(name, tmp_path / "a-fp32.onnx", tmp_path / "a-fp16.onnx", **common)
    traced = export_onnx(name, tmp_path / "t-fp16.onnx", precision="fp16", **common)
    assert derived.metadata["float16_from"] == FLOAT16_DERIVED
    assert traced.metadata["float16_from"] == FLOAT16_TRACED
    assert fp32.metadata["compute_dtype"] == "float32" and "float16_from" not in fp32.metadata

    d, t = onnx.load(str(derived.path)), onnx.load(str(traced.path))
    dw = {i.name: numpy_helper.to_array(i) for i in d.graph.initializer}
    tw = {i.name: numpy_helper.to_array(i) for i in t.graph.initializer}
    assert dw.keys() == tw.keys()
    assert sum(w.size for w in dw.values() if w.dtype == np.float16) > 6_000_000
    differ = sum(
        int(np.count_nonzero(np.atleast_1d(dw[k]).view(np.uint8) != np.atleast_1d(tw[k]).view(np.uint8)))
        for k in dw
        if dw[k].dtype == tw[k].dtype and dw[k].shape == tw[k].shape
    )
    assert [k for k in dw if dw[k].dtype != tw[k].dtype or dw[k].shape != tw[k].shape] == []
    assert differ == 0
    assert _ops(d) == _ops(t)
    assert derived.metadata["float32_nodes"] == traced.metadata["float32_nodes"]
    if embed:
        assert derived.metadata["float32_nodes"]  # the normalisation stays float32, listed
    # The keys every consumer reads are the same; only the provenance differs.
    same = {k: v for k, v in derived.metadata.items() if k != "float16_from"}
    assert same == {k: v for k, v in traced.metadata.items() if k != "float16_from"}

    spec = get_spec(name)
    gold = (golden_pixels if embed else golden_inputs)(spec, SMALL, samples=2)
    x = gold.pixels if embed else gold.batch
    assert x is not None
    assert np.array_equal(_run(d, x), _run(t, x))


class _UpsamplingPool(nn.Module):
    """A conv and an adaptive pool that upsamples (AlexNet's and VGG's at small sizes)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.pool = nn.AdaptiveAvgPool2d(7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(torch.relu(self.conv(x))).flatten(1)


def test_graphs_torch_keeps_partly_float32_are_traced_not_derived() -> None:
    torch.manual_seed(0)
    net = _UpsamplingPool().eval()
    half = trace_onnx(HalfCompute(_UpsamplingPool().eval()), 4, None, False, 18)
    # torch computes the decomposed pool's mean in float32 inside the half graph...
    assert float32_nodes(half)
    # ...which a rounding of the FP32 graph would not reproduce: no derivation.
    assert derive_fp16(trace_onnx(_Float32(net, None), 4, None, False, 18)) is None
