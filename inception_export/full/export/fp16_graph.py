"""The FP16 graph derived from the FP32 graph, instead of a second trace of ``model.half()``.

Tracing the half model again costs a full ``torch.export`` (3.8 s of a v3 release); the
float16 graph torch writes for these networks is the FP32 graph with every weight rounded
to float16, a Cast to float16 where the network's input enters and a Cast back to float32
after the logits. This module makes exactly that graph from the FP32 one:

* weights are rounded the way ``nn.Module.half()`` rounds them: torch converts float64
  through float32 (``c10::Half`` is constructed from a float), so rounding the FP32 graph's
  float32 initializers once to float16 gives the same bits (``tests/test_fp16_graph.py``
  checks every weight against the traced export, and onnxruntime's outputs);
* only graphs made of ops whose float16 form torch exports as the same op are derived
  (:data:`SAFE_OPS`). Where torch decomposes an op and computes part of it in float32 (the
  adaptive pools of AlexNet and VGG at sizes other than 224), :func:`derive_fp16` returns
  ``None`` and the caller traces the half model as before; so do ``--keep-fp32`` exports,
  whose kept layers need their own Casts.

Nodes outside the network (the embedded preprocessing, ``pre``) stay float32 as in the
traced graph; the network is every node the exporter scoped under ``net``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# Ops that torch exports with the same node in float16 as in float32 (no upcast inside).
SAFE_OPS = frozenset(
    {
        "Conv",
        "Relu",
        "MaxPool",
        "AveragePool",
        "GlobalAveragePool",
        "Concat",
        "Gemm",
        "MatMul",
        "Reshape",
        "Flatten",
        "Gather",
        "Mul",
        "Add",
        "ReduceMean",
    }
)
NET_SCOPE = "net"
FLOAT = TensorProto.FLOAT
FLOAT16 = TensorProto.FLOAT16


def _scope(node: onnx.NodeProto) -> str:
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":
            try:
                scopes = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError):
                return ""
            return str(scopes[1]).split(".", 1)[0] if len(scopes) > 1 else ""
    return ""


def _float_tensors(model: onnx.ModelProto) -> set[str]:
    graph = model.graph
    typed = [*graph.value_info, *graph.input, *graph.output]
    out = {v.name for v in typed if v.type.tensor_type.elem_type == FLOAT}
    out |= {i.name for i in graph.initializer if i.data_type == FLOAT}
    return out


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name_N`` for the first N that is not taken yet (then taken)."""
    candidate, i = name, 0
    while candidate in taken:
        i += 1
        candidate = f"{name}_{i}"
    taken.add(candidate)
    return candidate


@dataclass(frozen=True)
class _Derivable:
    """What :func:`derive_fp16` needs to know of an FP32 graph it can derive from."""

    in_net: list[bool]  # per node: scoped under the network (not the embedded preprocessing)
    floats: set[str]  # float32 tensors of the FP32 graph
    net_float_out: set[str]  # float tensors the network's nodes make: float16 in the derived graph
    half_inits: set[str]  # float32 weights only the network reads: rounded to float16
    output: str  # the logits


def derive_fp16(fp32: onnx.ModelProto) -> onnx.ModelProto | None:
    """The float16-compute graph of ``fp32`` (float32 input and output), or ``None`` where
    torch's own half export would differ from a plain rounding of this graph."""
    found = _derivable(fp32)
    if found is None:
        return None
    model = onnx.ModelProto()
    model.CopyFrom(fp32)
    g = model.graph
    taken = {o for n in g.node for o in n.output} | {i.name for i in g.input}
    taken |= {i.name for i in g.initializer} | {n.name for n in g.node}
    _round_weights(g, found)
    casts_after = _cast_entering(g, found, taken)
    back = _cast_logits_back(g, found.output, taken)
    ordered = list(casts_after.get(-1, []))
    for i, node in enumerate(list(g.node)):
        ordered.append(node)
        ordered.extend(casts_after.get(i, []))
    ordered.append(back)
    del g.node[:]
    g.node.extend(ordered)
    return model


def _derivable(fp32: onnx.ModelProto) -> _Derivable | None:
    """The graph's float tensors by role, or ``None`` where it cannot be derived from."""
    graph = fp32.graph
    if len(graph.output) != 1 or graph.output[0].type.tensor_type.elem_type != FLOAT:
        return None
    floats = _float_tensors(fp32)
    in_net = [_scope(n) == NET_SCOPE for n in graph.node]
    net_float_out: set[str] = set()
    for node, net in zip(graph.node, in_net, strict=True):
        made = [o for o in node.output if o in floats]
        # Integer shape arithmetic is unchanged by the precision; the embedded preprocessing
        # stays float32.
        if not made or not net:
            continue
        if node.op_type not in SAFE_OPS:
            return None
        net_float_out.update(made)
    output = graph.output[0].name
    if not net_float_out or output not in net_float_out:
        return None
    consumers: dict[str, list[bool]] = {}
    for node, net in zip(graph.node, in_net, strict=True):
        for name in node.input:
            consumers.setdefault(name, []).append(net)
    half_inits = {
        i.name for i in graph.initializer if i.data_type == FLOAT and any(consumers.get(i.name, []))
    }
    if any(not all(consumers[n]) for n in half_inits):
        return None  # a weight shared by the float32 preprocessing and the network
    return _Derivable(in_net, floats, net_float_out, half_inits, output)


def _round_weights(g: onnx.GraphProto, found: _Derivable) -> None:
    for init in g.initializer:
        if init.name in found.half_inits:
            # float32 -> float16 with round-to-nearest-even, as torch's .half() does.
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name))
    for vi in g.value_info:
        # The exporter types the initializers in value_info too.
        if vi.name in found.net_float_out or vi.name in found.half_inits:
            vi.type.tensor_type.elem_type = FLOAT16


def _cast_entering(g: onnx.GraphProto, found: _Derivable, taken: set[str]) -> dict[int, list[onnx.NodeProto]]:
    """Float32 tensors entering the network (the graph input, or the preprocessing's result)
    get one Cast to float16 each, to be placed right after they are produced (by node index;
    -1 is before every node)."""
    entering: dict[str, str] = {}
    for node, net in zip(g.node, found.in_net, strict=True):
        if not net:
            continue
        for name in node.input:
            if name in found.floats and name not in found.net_float_out and name not in found.half_inits:
                entering.setdefault(name, "")
    produced_at = {o: i for i, n in enumerate(g.node) for o in n.output}
    casts_after: dict[int, list[onnx.NodeProto]] = {}
    for src in entering:
        dst = unique_name(f"{src}_float16", taken)
        entering[src] = dst
        cast = helper.make_node("Cast", [src], [dst], name=unique_name(f"node_{dst}", taken), to=FLOAT16)
        casts_after.setdefault(produced_at.get(src, -1), []).append(cast)
        g.value_info.append(helper.make_tensor_value_info(dst, FLOAT16, None))
    for node, net in zip(g.node, found.in_net, strict=True):
        if net:
            for k, name in enumerate(node.input):
                if name in entering:
                    node.input[k] = entering[name]
    return casts_after


def _cast_logits_back(g: onnx.GraphProto, output: str, taken: set[str]) -> onnx.NodeProto:
    """The logits leave the network in float16 and are cast back to float32 under their name.
    Named as torch names it in its half export (the producing node's name less "node_"), so
    the layer map in the metadata (``layer_outputs``) is the traced export's too."""
    producer = next(n for n in g.node if output in n.output)
    base = producer.name.removeprefix("node_") if producer.name.startswith("node_") else ""
    logits16 = unique_name(base or f"{output}_float16", taken)
    for node in g.node:
        for k, name in enumerate(node.output):
            if name == output:
                node.output[k] = logits16
        for k, name in enumerate(node.input):
            if name == output:
                node.input[k] = logits16
    g.value_info.append(helper.make_tensor_value_info(logits16, FLOAT16, None))
    return helper.make_node("Cast", [logits16], [output], name=unique_name(f"node_{output}", taken), to=FLOAT)
