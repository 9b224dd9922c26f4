"""An ONNX file read once: what its graph computes in and takes (:class:`OnnxFacts`, the facts
``facts.py`` judges artifacts by) and what it says about itself (:class:`OnnxSummary`: its
``metadata_props`` and names, which ``metadata.py`` reads records from), both from one parse
per file version. Torch-free.

Precision of an ONNX graph, in order:

* ``int8``: most of its Conv/Gemm/MatMul layers take DequantizeLinear outputs (explicit quantization,
  whoever placed the QDQ pairs: this tool, onnxruntime's quantizer or NVIDIA's ModelOpt);
* ``fp16``: its Conv/Gemm/MatMul layers compute in half: they take float16 initializers or
  constants, float16 graph inputs or Casts to float16 (an FP16 graph with float32 I/O, with or
  without layers kept in float32);
* ``fp32``: otherwise.

Only the main graph's nodes on a path to an output count (see :func:`graph_facts`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .reading import check_fits_memory

QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})
# The layers that hold a CNN's weights: what computes in INT8 or FP16 when the graph does.
COMPUTE_OPS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul"})
_COMPUTE = "Conv/Gemm/MatMul"
# onnx.TensorProto's element types, by number (importing onnx here would be fine, but the
# numbers are the file format's and never change).
_FLOAT, _UINT8, _INT8, _FLOAT16 = 1, 2, 3, 10
_DTYPES = {_FLOAT: "float32", _UINT8: "uint8", _INT8: "int8", _FLOAT16: "float16", 11: "float64"}


@dataclass(frozen=True)
class OnnxFacts:
    """What an ONNX graph computes in and what it takes, read from one parse of it."""

    precision: str  # fp32 | fp16 | int8
    evidence: str  # why: what in the graph says so, for messages and reports
    input_dtype: str | None  # the single input's element type ("float32", "uint8", ...)
    input_shape: tuple[int | str, ...]  # dims: an int where fixed, the symbol (or "?") where not
    output_shape: tuple[int | str, ...]
    inputs: int
    outputs: int
    opset: int | None = None  # the default domain's, from the model's opset_import

    @property
    def layout(self) -> str | None:
        """``NHWC`` for uint8 pixels (embedded preprocessing), ``NCHW`` for a float image input."""
        if len(self.input_shape) != 4:
            return None
        return "NHWC" if self.input_dtype == "uint8" else "NCHW"

    @property
    def input_size(self) -> int | None:
        """The fixed spatial size of a square image input, if the graph declares one."""
        if self.layout is None:
            return None
        h, w = (self.input_shape[1], self.input_shape[2]) if self.layout == "NHWC" else self.input_shape[2:]
        return h if isinstance(h, int) and h == w else None

    @property
    def batch(self) -> int | None:
        """The input's fixed batch, or None when it is dynamic."""
        first = self.input_shape[0] if self.input_shape else None
        return first if isinstance(first, int) else None

    @property
    def num_classes(self) -> int | None:
        last = self.output_shape[-1] if self.output_shape else None
        return last if isinstance(last, int) else None


def _dims(value_info: Any) -> tuple[int | str, ...]:
    shape = value_info.type.tensor_type.shape
    return tuple(int(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?") for d in shape.dim)


@dataclass(frozen=True)
class OnnxSummary:
    """What an ONNX file says about itself: its ``metadata_props`` (the record) and its names."""

    metadata_props: dict[str, str]
    names: tuple[str, ...]  # node and initializer names
    nodes: int


@dataclass(frozen=True)
class FedInput:
    """A graph input that is not an initializer: what a caller (an engine build) feeds."""

    name: str
    dims: tuple[int | str | None, ...]  # an int where fixed, the symbol (or None) where not
    elem_type: int  # onnx.TensorProto's element type (0: undefined)


@dataclass(frozen=True)
class ParsedOnnx:
    facts: OnnxFacts
    summary: OnnxSummary
    fed_inputs: tuple[FedInput, ...] = ()


def parse_onnx(path: Path) -> ParsedOnnx | None:
    """The facts and summary of an ONNX file (None if it does not parse), parsed once per file
    version; refused (exit 2) before loading when it cannot fit in memory."""
    parsed = parse_onnx_or_why(path)
    return parsed if isinstance(parsed, ParsedOnnx) else None


def parse_onnx_or_why(path: Path) -> ParsedOnnx | str:
    """:func:`parse_onnx`, with the name of the error that stopped the parse in place of None."""
    st = Path(path).stat()
    check_fits_memory(Path(path), "ONNX")
    return _parse(str(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _parse(path: str, _mtime_ns: int, _size: int) -> ParsedOnnx | str:
    import onnx

    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and friends
        return type(exc).__name__
    graph = model.graph
    opsets = [int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")]
    summary = OnnxSummary(
        metadata_props={p.key: p.value for p in model.metadata_props},
        names=tuple([n.name for n in graph.node] + [i.name for i in graph.initializer]),
        nodes=len(graph.node),
    )
    facts = dataclasses.replace(graph_facts(graph), opset=opsets[0] if opsets else None)
    return ParsedOnnx(facts, summary, _fed_inputs(graph))


def _fed_inputs(graph: Any) -> tuple[FedInput, ...]:
    # Older exporters list initializers among the graph inputs too; those are not fed.
    initializers = {i.name for i in graph.initializer}
    return tuple(
        FedInput(
            v.name,
            tuple(
                int(d.dim_value) if d.HasField("dim_value") else (d.dim_param or None)
                for d in v.type.tensor_type.shape.dim
            ),
            int(v.type.tensor_type.elem_type),
        )
        for v in graph.input
        if v.name not in initializers
    )


def graph_facts(graph: Any) -> OnnxFacts:
    """The facts of a loaded ``onnx.GraphProto``.

    Precision evidence counts only what computes the outputs: the main graph's nodes on a path
    to an output, and only where a Conv, Gemm or MatMul (the layers that carry the weights)
    takes it: a DequantizeLinear output for INT8; a float16 weight, constant or input, or a
    Cast to float16, for FP16. A QuantizeLinear on a dead branch, QDQ inside a subgraph, a lone
    Cast to float16 on the logits or a float16 ``value_info`` annotation (a hint, not a
    computation) would otherwise buy an FP32 graph INT8's or FP16's limits; uncounted, the
    graph is held to the tighter limits.
    """
    counts = _count(graph)
    qdq_all = sum(1 for n in _all_nodes(graph) if n.op_type in QDQ_OPS)  # subgraphs, dead branches
    precision, evidence = _precision(counts, qdq_all)
    inputs, outputs = list(graph.input), list(graph.output)
    return OnnxFacts(
        precision=precision,
        evidence=evidence,
        input_dtype=_DTYPES.get(inputs[0].type.tensor_type.elem_type, "other") if len(inputs) == 1 else None,
        input_shape=_dims(inputs[0]) if len(inputs) == 1 else (),
        output_shape=_dims(outputs[0]) if len(outputs) == 1 else (),
        inputs=len(inputs),
        outputs=len(outputs),
    )


@dataclass(frozen=True)
class _Counts:
    """What the live part of a graph holds, for its precision and the evidence behind it."""

    compute: int  # live Conv/Gemm/MatMul layers
    dq_fed: int  # of them, fed by a DequantizeLinear
    half_fed: int  # of them, fed float16 values
    qdq: int  # live QuantizeLinear/DequantizeLinear nodes
    f16_init: int  # float16 weights and constants the live nodes read
    f16_cast: int  # live Casts to float16
    f16_io: int  # float16 graph inputs and outputs

    @property
    def few_dq(self) -> bool:
        # Most weight layers, not one: a single QDQ pair on one conv of an FP32 graph (its other
        # layers off by 10 %) bought INT8's limits for all of it. Tools that quantize (this one,
        # ModelOpt, onnxruntime) leave the odd layer in float (the classifier, a first conv).
        return self.dq_fed > 0 and 2 * self.dq_fed < self.compute


def _count(graph: Any) -> _Counts:
    live = _live_nodes(graph)
    needed = {name for n in live for name in n.input}
    producer = {out: n for n in live for out in n.output if out}
    half_inits = {i.name for i in graph.initializer if i.data_type == _FLOAT16 and i.name in needed}
    half_inputs = {v.name for v in graph.input if v.type.tensor_type.elem_type == _FLOAT16}

    def made_by(name: str, *ops: str) -> Any:
        node = producer.get(name)
        return node if node is not None and node.op_type in ops else None

    def half(name: str) -> bool:
        node = made_by(name, "Cast", "Constant")
        in_half = node is not None and (
            _casts_to(node, _FLOAT16) if node.op_type == "Cast" else _constant_type(node) == _FLOAT16
        )
        return in_half or name in half_inits or name in half_inputs

    compute = [n for n in live if n.op_type in COMPUTE_OPS]
    return _Counts(
        compute=len(compute),
        dq_fed=sum(1 for n in compute if any(made_by(x, "DequantizeLinear") for x in n.input if x)),
        half_fed=sum(1 for n in compute if any(half(x) for x in n.input if x)),
        qdq=sum(1 for n in live if n.op_type in QDQ_OPS),
        f16_init=len(half_inits)
        + sum(1 for n in live if n.op_type == "Constant" and _constant_type(n) == _FLOAT16),
        f16_cast=sum(1 for n in live if n.op_type == "Cast" and _casts_to(n, _FLOAT16)),
        f16_io=sum(
            1 for v in list(graph.input) + list(graph.output) if v.type.tensor_type.elem_type == _FLOAT16
        ),
    )


def _precision(c: _Counts, qdq_all: int) -> tuple[str, str]:
    """(precision, evidence) from what the live graph holds."""
    if c.dq_fed and not c.few_dq:
        precision, evidence = (
            "int8",
            f"{c.qdq} QuantizeLinear/DequantizeLinear nodes, {c.dq_fed} {_COMPUTE} fed by them",
        )
    elif c.half_fed:
        parts = [
            f"{c.f16_init} float16 weights" if c.f16_init else "",
            f"{c.f16_cast} Casts to float16" if c.f16_cast else "",
            f"{c.f16_io} float16 inputs/outputs" if c.f16_io else "",
        ]
        precision = "fp16"
        evidence = f"{', '.join(p for p in parts if p)}; {c.half_fed} {_COMPUTE} in float16"
    else:
        precision, evidence = "fp32", f"no {_COMPUTE} takes a DequantizeLinear output or float16 values"
    if c.few_dq:
        evidence += (
            f"; only {c.dq_fed} of {c.compute} {_COMPUTE} take a DequantizeLinear output "
            "(INT8 needs most of them)"
        )
    elif precision != "int8" and qdq_all:
        evidence += (
            f"; {qdq_all} QuantizeLinear/DequantizeLinear ignored (no {_COMPUTE} on the path takes one)"
        )
    if precision == "fp32" and (c.f16_init or c.f16_cast or c.f16_io):
        evidence += f"; float16 values ignored (no {_COMPUTE} takes them)"
    return precision, evidence


def _live_nodes(graph: Any) -> list[Any]:
    """The main graph's nodes that an output depends on (a subgraph's outer-scope reads count)."""
    producer = {out: i for i, n in enumerate(graph.node) for out in n.output if out}
    wanted = [o.name for o in graph.output]
    seen: set[str] = set()
    live: set[int] = set()
    while wanted:
        name = wanted.pop()
        if name in seen:
            continue
        seen.add(name)
        i = producer.get(name)
        if i is None or i in live:
            continue
        live.add(i)
        node = graph.node[i]
        wanted.extend(x for x in node.input if x)
        for attr in node.attribute:
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                wanted.extend(x for n in _all_nodes(sub) for x in n.input if x)
    return [graph.node[i] for i in sorted(live)]


def _constant_type(node: Any) -> int | None:
    for a in node.attribute:
        if a.name == "value" and a.HasField("t"):
            return int(a.t.data_type)
    return None


def _casts_to(node: Any, dtype: int) -> bool:
    return any(a.name == "to" and a.i == dtype for a in node.attribute)


def _all_nodes(graph: Any) -> Iterator[Any]:
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _all_nodes(attr.g)
            for sub in attr.graphs:
                yield from _all_nodes(sub)
