"""What a "layer" is, for localisation and ``--keep-fp32``: the modules whose outputs exist
both in eager PyTorch and in the exported graph.

BN is folded before export, so a ``conv``+``bn`` unit (torchvision's ``BasicConv2d``,
BN-Inception's ``ConvBNReLU``) is one Conv(+Relu) in ONNX: its *output* exists on both sides,
the conv's pre-BN output does not. Layers are therefore those units, plus every ``Linear``
and any bare ``Conv2d`` outside a unit, named by their module path
(``Mixed_6c.branch7x7dbl_4``, ``fc``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from torch import fx, nn

from ...errors import UsageError


def _is_unit(module: nn.Module) -> bool:
    return isinstance(getattr(module, "conv", None), nn.Conv2d) and hasattr(module, "bn")


def layer_paths(model: nn.Module) -> list[str]:
    """Module paths of the layers, in definition order."""
    units = {name for name, m in model.named_modules() if name and _is_unit(m)}
    out = []
    for name, module in model.named_modules():
        if not name:
            continue
        parent = name.rpartition(".")[0]
        if name in units or (isinstance(module, nn.Linear | nn.Conv2d) and parent not in units):
            out.append(name)
    return out


class _LayerTracer(fx.Tracer):
    def __init__(self, layers: set[str]) -> None:
        super().__init__()
        self.layers = layers

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return module_qualified_name in self.layers or super().is_leaf_module(m, module_qualified_name)


@dataclass(frozen=True)
class LayerGraph:
    order: list[str]  # layers in execution order
    # layer -> the layers that consume its output directly; None when something else
    # (a concat, a pool, the graph output) consumes it too.
    consumers: dict[str, list[str] | None]


def layer_graph(model: nn.Module) -> LayerGraph:
    """Execution order and direct consumers of each layer, from an FX trace with layers as leaves."""
    layers = set(layer_paths(model))
    graph = _LayerTracer(layers).trace(model)
    order: list[str] = []
    consumers: dict[str, list[str] | None] = {}
    for node in graph.nodes:
        if node.op != "call_module" or node.target not in layers:
            continue
        name = str(node.target)
        order.append(name)
        users = [u for u in node.users]
        if all(u.op == "call_module" and u.target in layers for u in users):
            consumers[name] = [str(u.target) for u in users]
        else:
            consumers[name] = None
    return LayerGraph(order, consumers)


def _unit_of(name: str, layers: list[str], model_name: str) -> str:
    """The unit that stays float32 for ``name``: a BN is folded into its conv, so ``conv1.bn``
    (or ``conv1.conv``) means the ``conv1`` unit; a module that holds no unit is refused."""
    if name in layers or any(layer.startswith(name + ".") for layer in layers):
        return name  # a unit, or a block of units
    outer = [layer for layer in layers if name.startswith(layer + ".")]
    if outer:
        from ...console import err

        err.print(
            f"[yellow]note:[/] --keep-fp32 {name}: kept as its unit {outer[-1]} "
            "(a batch norm is folded into its conv; the unit is what stays float32)"
        )
        return outer[-1]
    near = difflib.get_close_matches(name, layers, n=3, cutoff=0.5) or layers[:3]
    raise UsageError(
        f"--keep-fp32: {name!r} in {model_name} holds no layer that can stay float32 "
        f"(conv+bn units, Linear layers, bare convs), e.g. {', '.join(near)}"
    )


def resolve_modules(model: nn.Module, names: list[str], model_name: str) -> list[str]:
    """Check user-given module paths (``--keep-fp32 A,B``); unknown ones -> UsageError with near matches."""
    known = [n for n, _ in model.named_modules() if n]
    known_set = set(known)
    layers = layer_paths(model)
    out: list[str] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name not in known_set:
            near = difflib.get_close_matches(name, layers, n=3, cutoff=0.6) or difflib.get_close_matches(
                name, known, n=3, cutoff=0.6
            )
            hint = (
                f"; did you mean {', '.join(near)}?" if near else f"; layers are e.g. {', '.join(layers[:3])}"
            )
            raise UsageError(f"--keep-fp32: no layer {name!r} in {model_name}{hint}")
        name = _unit_of(name, layers, model_name)
        if name not in out:
            out.append(name)
    # A path inside another kept path is already covered by the outer one.
    return [n for n in out if not any(n.startswith(o + ".") for o in out if o != n)]
