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

import onnx
import torch
from torch import Tensor, nn

from ..errors import ArtifactError
from ..export.common import quiet_tracing, strip_build_attrs
from ..export.fold import fold_batchnorm
from ..export.metadata import build_metadata
from ..export.sanitize import sanitize_onnx
from ..export.write import ExportResult, write_artifact
from ..metadata import flat_props
from ..models.layers import TorchvisionTransformInput
from ..registry import ModelSpec
from ..text import first_line
from .nvinfer import INPUT_NAME, OUTPUT_NAME, NvinferScaling

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
) -> ExportResult:
    """Trace the DeepStream module to ONNX at ``output`` (plus its sidecar)."""
    wrapper, facts = deepstream_module(net, size, scaling)
    b = batch or 2  # batch 1 would let torch.export specialise a dynamic dimension
    example = torch.zeros(b, 3, size, size)
    dynamic = None if batch else ({0: torch.export.Dim("batch")},)
    with quiet_tracing(), torch.no_grad():
        program = torch.onnx.export(
            wrapper,
            (example,),
            None,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=opset,
            dynamic_shapes=dynamic,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    if program is None:
        raise ArtifactError("torch.onnx.export returned no program")
    proto = program.model_proto
    sanitize_onnx(proto)
    names = ([i.name for i in proto.graph.input], [o.name for o in proto.graph.output])
    if names != ([INPUT_NAME], [OUTPUT_NAME]):
        raise ArtifactError(f"exported graph has inputs/outputs {names}, expected {INPUT_NAME}/{OUTPUT_NAME}")
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
    del proto.metadata_props[:]
    for key, value in sorted(flat_props(meta).items()):
        proto.metadata_props.add(key=key, value=value)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ArtifactError(f"exported graph fails onnx.checker: {first_line(str(exc))}") from None
    digest = write_artifact(output, proto.SerializeToString(deterministic=True), meta)
    return ExportResult(path=output, format="onnx", precision="fp32", sha256=digest, metadata=meta)
