"""Which tensor of an exported ONNX graph is which layer's output.

torch's dynamo exporter records each node's module scope in the node's metadata
(``pkg.torch.onnx.name_scopes``), but that metadata is debugging data that shipped artifacts
should not carry (it includes stack traces with absolute paths). So the mapping is computed
once, at export time, from those scopes, and stored compactly in the artifact's own metadata
(``layer_outputs``: ``[[module path, tensor name], ...]`` in graph order). It survives
stripping the per-node metadata, and ``localize`` needs nothing else from the graph.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import onnx

SCOPES_KEY = "pkg.torch.onnx.name_scopes"
# The export wrappers (_Float32, HalfCompute) hold the model as ``net``.
NET_PREFIX = "net."


def node_scopes(node: onnx.NodeProto) -> set[str]:
    """The module scopes the exporter recorded on ``node`` (empty when absent or unreadable)."""
    for prop in node.metadata_props:
        if prop.key == SCOPES_KEY:
            try:
                return {str(s) for s in json.loads(prop.value.replace("'", '"'))}
            except ValueError:
                return set()
    return set()


def layer_outputs(proto: onnx.ModelProto, layers: Iterable[str]) -> list[list[str]]:
    """``[[layer, tensor]]`` for each layer whose nodes produce exactly one tensor used outside them.

    A layer's nodes are those whose scope list contains ``net.<layer>``; its output is the
    tensor those nodes produce that something outside them (or the graph output) consumes.
    """
    wanted = {NET_PREFIX + name: name for name in layers}
    members: dict[str, list[onnx.NodeProto]] = {}
    for node in proto.graph.node:
        for scope in node_scopes(node) & wanted.keys():
            members.setdefault(wanted[scope], []).append(node)
    graph_outputs = {o.name for o in proto.graph.output}
    consumed_by: dict[str, list[int]] = {}
    for i, node in enumerate(proto.graph.node):
        for name in node.input:
            consumed_by.setdefault(name, []).append(i)
    index = {id(n): i for i, n in enumerate(proto.graph.node)}
    found: list[tuple[int, str, str]] = []
    for layer, nodes in members.items():
        inside = {index[id(n)] for n in nodes}
        outs = [
            t
            for n in nodes
            for t in n.output
            if t in graph_outputs or any(c not in inside for c in consumed_by.get(t, []))
        ]
        if len(outs) == 1:
            found.append((max(inside), layer, outs[0]))
    return [[layer, tensor] for _, layer, tensor in sorted(found)]
