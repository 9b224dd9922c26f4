"""The DeepStream artifact: ONNX FP32 that takes nvinfer's scaled input and ends in a softmax.

nvinfer's classifier reads its output layer as probabilities, so the graph ends in a float32
softmax; its input is ``net-scale-factor * (pixel - offsets[c])`` (see :mod:`.nvinfer`),
which the model's recipe reaches by folding ``1/std[c]`` into the first convolution or by
leaving torchvision's ``transform_input`` out. Both are recorded under ``deepstream`` in the
artifact's metadata.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ...deploy.nvinfer import INPUT_NAME, OUTPUT_NAME, NvinferScaling
from ...errors import ArtifactError
from ...registry import ModelSpec
from ..export.common import strip_build_attrs
from ..export.fold import fold_batchnorm
from ..export.metadata import build_metadata
from ..export.onnx_export import embed_and_write, trace_onnx
from ..export.write import ExportResult
from ..models.layers import TorchvisionTransformInput

EXPORTER = "torch.onnx.export(dynamo=True)"


class _Probabilities(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return torch.softmax(self.net(x), dim=1)


def _drop_transform_input(net: nn.Module) -> int:
    count = 0
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, TorchvisionTransformInput):
                setattr(parent, name, nn.Identity())
                count += 1
    return count


def _first_conv(net: nn.Module, size: int) -> tuple[str, nn.Conv2d]:
    """The convolution that reads the model's input itself (found by running it once): only
    there does scaling an input channel equal scaling that channel of the input."""
    names = {id(m): n for n, m in net.named_modules()}
    seen: list[tuple[nn.Module, Tensor]] = []

    def hook(module: nn.Module, args: tuple[Tensor, ...]) -> None:
        seen.append((module, args[0]))

    handles = [m.register_forward_pre_hook(hook) for m in net.modules() if isinstance(m, nn.Conv2d)]
    x = torch.zeros(1, 3, size, size)
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    if not seen or seen[0][1] is not x or not isinstance(seen[0][0], nn.Conv2d):
        raise ArtifactError(
            "cannot fold 1/std into the first convolution: no convolution reads the input itself"
        )
    conv = seen[0][0]
    assert isinstance(conv, nn.Conv2d)
    if conv.in_channels != 3 or conv.groups != 1 or conv.padding_mode != "zeros":
        raise ArtifactError(
            "cannot fold 1/std into the first convolution: it is not a plain 3-channel, zero-padded one"
        )
    return names[id(conv)], conv


def deepstream_module(net: nn.Module, size: int, scaling: NvinferScaling) -> tuple[nn.Module, dict[str, Any]]:
    """A copy of ``net`` (BN folded) that takes nvinfer's scaled input and returns probabilities,
    and the facts about what was folded, for the metadata."""
    folded, n_folded = fold_batchnorm(net)
    strip_build_attrs(folded)
    facts: dict[str, Any] = {"bn_folded": n_folded}
    if scaling.drops_transform_input:
        if not _drop_transform_input(folded):
            raise ArtifactError("the scaling absorbs transform_input, but the model has none")
        facts["transform_input"] = "absorbed by nvinfer's scaling (module left out)"
    elif any(isinstance(m, TorchvisionTransformInput) for m in folded.modules()):
        raise ArtifactError("the model has transform_input but the scaling does not absorb it")
    if scaling.first_conv_scale is not None:
        name, conv = _first_conv(folded, size)
        scale = torch.tensor(scaling.first_conv_scale, dtype=torch.float64).view(1, 3, 1, 1)
        # In float64 then rounded once: the folded weights stay within a float32 rounding.
        conv.weight = nn.Parameter((conv.weight.detach().double() * scale).float(), requires_grad=False)
        facts["std_folded_into"] = {"layer": name, "input_channel_scale": list(scaling.first_conv_scale)}
    return _Probabilities(folded).eval(), facts


def global_average_pool(proto: Any) -> int:
    """Rewrite each ReduceMean over the two spatial axes of a 4-D tensor, dimensions kept, as
    GlobalAveragePool (the same mean); returns how many. From opset 18 ReduceMean takes its axes
    as an input, which TensorRT 8.6's parser (DeepStream 6.3 and 7.0) does not read;
    GlobalAveragePool reads the same in every TensorRT."""
    import onnx
    from onnx import numpy_helper

    graph = proto.graph
    inits = {i.name: i for i in graph.initializer}
    ranks = {
        v.name: len(v.type.tensor_type.shape.dim)
        for v in onnx.shape_inference.infer_shapes(proto).graph.value_info
    }
    done = 0
    for node in graph.node:
        keep = next((a.i for a in node.attribute if a.name == "keepdims"), 1)
        if node.op_type != "ReduceMean" or keep != 1 or len(node.input) != 2 or node.input[1] not in inits:
            continue
        rank = ranks.get(node.input[0])
        axes = {int(a) % rank for a in numpy_helper.to_array(inits[node.input[1]]).ravel()} if rank else None
        if rank != 4 or axes != {2, 3}:
            continue
        node.op_type = "GlobalAveragePool"
        del node.input[1:]
        del node.attribute[:]
        done += 1
    used = {i for n in graph.node for i in n.input}
    for name in [n for n in inits if n not in used]:
        graph.initializer.remove(inits[name])
    return done


def export_deepstream_onnx(
    net: nn.Module,
    spec: ModelSpec,
    output: Path,
    *,
    size: int,
    batch: int | None,
    opset: int,
    scaling: NvinferScaling,
    transform_input: bool,
    seed: int,
    labels_sha256: str | None = None,
) -> ExportResult:
    """Trace the DeepStream module to ONNX at ``output`` (plus its sidecar)."""
    wrapper, facts = deepstream_module(net, size, scaling)
    proto = trace_onnx(wrapper, size, batch, False, opset, output_name=OUTPUT_NAME)
    pooled = global_average_pool(proto)
    if proto.graph.node[-1].op_type != "Softmax":
        raise ArtifactError(f"exported graph ends in {proto.graph.node[-1].op_type}, not Softmax")
    dim0: Any = batch if batch else "batch"
    s = scaling
    extra: dict[str, Any] = {
        "opset": opset,
        "batch": batch if batch else "dynamic",
        "input": {"name": INPUT_NAME, "dtype": "float32", "layout": "NCHW", "shape": [dim0, 3, size, size]},
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": [dim0, None], "values": "softmax"},
        "compute_dtype": "float32",
        "embedded_preprocessing": False,
        "bn_folded": facts["bn_folded"],
        "exporter": EXPORTER,
        "deepstream": {
            "input_scaling": "net-scale-factor * (pixel - offsets[c]), pixels 0..255",
            "net_scale_factor": s.net_scale_factor,
            "offsets": list(s.offsets),
            "model_color_format": s.color_format,
            "std_folded_into": facts.get("std_folded_into"),
            "transform_input": facts.get("transform_input"),
            "how": s.describe(),
            # The label file written with it: nvinfer names class i by its i-th label.
            "labels_sha256": labels_sha256,
            # Spatial means written as GlobalAveragePool (see global_average_pool).
            "global_average_pool": pooled,
        },
    }
    meta = build_metadata(
        spec=spec,
        model=net,
        fmt="onnx",
        precision="fp32",
        input_size=size,
        transform_input=transform_input,
        seed=seed,
        extra=extra,
    )
    meta["output"]["shape"][1] = meta["num_classes"]
    return embed_and_write(proto, output, meta, "fp32")
