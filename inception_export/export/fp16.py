"""Float16 compute with float32 I/O: ``model.half()`` inside a Cast-in/Cast-out wrapper.

Chosen over onnxconverter-common and ModelOpt AutoCast (see docs/export.md): the same
graph (two boundary Casts, every Conv/Relu/Pool/Gemm and initializer in float16), the same
error, no extra dependency, and the weights are rounded once from the float64-folded values
instead of being clamped to +-1e-7 the way onnxconverter-common does with tiny weights.
"""

from __future__ import annotations

import onnx
from torch import Tensor, nn


class HalfCompute(nn.Module):
    """float32 in -> float16 network -> float32 out; ``pre`` (if any) stays float32."""

    def __init__(self, net: nn.Module, pre: nn.Module | None = None) -> None:
        super().__init__()
        self.pre = pre if pre is not None else nn.Identity()
        self.net = net.half()

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.pre(x).half()).float()


def float32_nodes(model: onnx.ModelProto) -> list[str]:
    """``op_type:name`` of every non-Cast node that produces a float32 tensor.

    For an FP16 export this is what TensorRT's strongly typed network will run in float32;
    it is recorded in the metadata so nothing is kept in float32 silently.
    """
    inferred = onnx.shape_inference.infer_shapes(model)
    dtypes: dict[str, int] = {}
    for vi in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]:
        dtypes[vi.name] = vi.type.tensor_type.elem_type
    for init in inferred.graph.initializer:
        dtypes[init.name] = init.data_type
    out = []
    for node in inferred.graph.node:
        if node.op_type == "Cast":
            continue
        if any(dtypes.get(o) == onnx.TensorProto.FLOAT for o in node.output):
            out.append(f"{node.op_type}:{node.name}")
    return out
