"""Float16 compute with float32 I/O: ``model.half()`` inside a Cast-in/Cast-out wrapper.

Chosen over onnxconverter-common and ModelOpt AutoCast (see docs/export.md): the same
graph (two boundary Casts, every Conv/Relu/Pool/Gemm and initializer in float16), the same
error, no extra dependency, and the weights are rounded once from the float64-folded values
instead of being clamped to +-1e-7 the way onnxconverter-common does with tiny weights.

Layers named in ``keep`` stay float32 inside the float16 graph (``--keep-fp32``): each is
wrapped in :class:`KeepFloat32`, which casts its input to float32 and its output back to
float16, so the exported graph carries the Casts at the layer's borders and every node has
one consistent type (what TensorRT 11's strongly typed networks require: per-layer precision
flags no longer exist there).
"""

from __future__ import annotations

from collections.abc import Mapping

import onnx
import torch
from torch import Tensor, nn


class KeepFloat32(nn.Module):
    """Run ``inner`` in float32 inside a float16 network.

    ``float32_out``: leave the output float32 (its consumers are kept layers too, and the
    values would overflow float16 on the way between them).
    """

    def __init__(self, inner: nn.Module, float32_out: bool = False) -> None:
        super().__init__()
        self.inner = inner.float()
        self.float32_out = float32_out

    def forward(self, x: Tensor) -> Tensor:
        # dtype is static under export: no Cast node when the input already is float32.
        if x.dtype != torch.float32:
            x = x.float()
        y = self.inner(x)
        return y if self.float32_out else y.half()


def _set_submodule(root: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, leaf = path.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, module)


class HalfCompute(nn.Module):
    """float32 in -> float16 network -> float32 out; ``pre`` (if any) stays float32.

    ``keep`` maps module paths of ``net`` to whether their output stays float32; those
    modules keep float32 weights (rounded once from ``net``'s values, which may be float64).
    """

    def __init__(
        self, net: nn.Module, pre: nn.Module | None = None, keep: Mapping[str, bool] | None = None
    ) -> None:
        super().__init__()
        self.pre = pre if pre is not None else nn.Identity()
        kept = {path: net.get_submodule(path) for path in (keep or {})}
        # Take the kept modules out before .half() so their weights are rounded to float32
        # straight from the folded values, not via float16.
        for path in kept:
            _set_submodule(net, path, nn.Identity())
        self.net = net.half()
        for path, module in kept.items():
            _set_submodule(self.net, path, KeepFloat32(module, bool((keep or {})[path])))

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
