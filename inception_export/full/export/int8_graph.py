"""INT8 by explicit quantization, the graph work: a QDQ graph that TensorRT's strongly typed
builder takes as it is.

TensorRT 11 has one INT8 path left: QuantizeLinear/DequantizeLinear pairs in the ONNX graph.
The graph work is onnxruntime's static quantizer (``quantize_static``, QDQ format), told to
place the pairs the way TensorRT's placement guide asks:

* weights int8, symmetric, per output channel (axis 0 for Conv and for the classifier's
  Gemm, whose weight is ``[out, in]`` with ``transB=1``), stored as int8 with a DequantizeLinear;
* activations int8, symmetric per tensor (``ActivationSymmetric``), zero points 0;
* QDQ on the inputs of every Conv and Gemm and on both inputs of every residual Add
  (``op_types_to_quantize``), never on their outputs (``OpTypesToExcludeOutputQuantization``):
  TensorRT fuses DQ -> Conv -> (Add) -> ReLU -> Q itself, and an extra pair on an output
  only adds a rounding;
* biases stay floating point (``QuantizeBias=False``): TensorRT folds them into the
  convolution and has no int32 DequantizeLinear;
* Concat: its inputs get no QDQ of their own (:data:`CONCAT_POLICY`, measured in docs/int8.md);
  the Concat runs in float16 and each consumer quantizes its output once.

Where this goes beyond onnxruntime (docs/int8.md): the float parts are then converted to
float16 here (:func:`to_float16`: the scales too, which needs opset 19), with float32 input
and output; the graph is checked for TensorRT's rules (:func:`check_qdq`); and layers INT8
cannot carry are left out of quantization (``--keep-fp16``), found by measurement
(:func:`auto_keep_fp16`).
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ...errors import ArtifactError
from .calibration import CalibrationSet
from .fp16_graph import unique_name
from .onnx_map import NET_PREFIX, node_scopes
from .options import DEFAULT_METHOD, INT8_MIN_OPSET

QUANTIZED_OPS = ("Conv", "Gemm", "Add")
CONCAT_POLICY = "no QDQ on concat inputs: the concat runs in float16, each consumer quantizes its output"
FLOAT, FLOAT16 = TensorProto.FLOAT, TensorProto.FLOAT16
FP16_MIN_NORMAL = 2.0**-14


def _method(name: str) -> Any:
    from onnxruntime.quantization import CalibrationMethod

    return {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }[name]


def _fixed_batch(model: onnx.ModelProto) -> int:
    """The batch an exported graph is fixed at (``--batch N``), 1 where it is dynamic."""
    dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    return int(dim.dim_value) if dim.HasField("dim_value") and dim.dim_value > 1 else 1


def _chunks(batch: np.ndarray, size: int) -> list[np.ndarray]:
    """``batch`` in feeds of exactly ``size`` rows, the graph's fixed batch: the last feed is
    filled with images from the start again, which widens no range (min/max) and weighs a
    few images twice in a histogram (percentile, entropy)."""
    n = len(batch)
    rows = np.resize(np.arange(n), -(-n // size) * size)  # 0..n-1, then 0, 1, ... again
    return [np.ascontiguousarray(batch[rows[i : i + size]], np.float32) for i in range(0, len(rows), size)]


def _reader(batch: np.ndarray, input_name: str, size: int = 1) -> Any:
    from onnxruntime.quantization import CalibrationDataReader

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            # A graph exported with a fixed batch takes only feeds of that batch (a feed of
            # one was onnxruntime's InvalidArgument: exit 3).
            self._feeds: Iterator[np.ndarray] = iter(_chunks(batch, size))

        def get_next(self) -> dict[str, np.ndarray] | None:
            feed = next(self._feeds, None)
            return None if feed is None else {input_name: feed}

    return _Reader()


def quantize(
    fp32: onnx.ModelProto,
    calibration: CalibrationSet,
    *,
    method: str = DEFAULT_METHOD,
    exclude_nodes: Sequence[str] = (),
    op_types: Sequence[str] = QUANTIZED_OPS,
) -> onnx.ModelProto:
    """The float32 QDQ graph of ``fp32`` (see the module docstring for the placement);
    ``op_types`` other than the default only for measuring a policy (benchmarks/int8_figures.py)."""
    import logging

    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    extra: dict[str, Any] = {
        "ActivationSymmetric": True,
        "WeightSymmetric": True,
        "QuantizeBias": False,
        "OpTypesToExcludeOutputQuantization": list(QUANTIZED_OPS),
        # ReLUs stay: the float16 graph must compute what the float one does, and TensorRT
        # fuses them; onnxruntime would drop them only for asymmetric activations anyway.
        "QDQKeepRemovableActivations": True,
    }
    if method == "percentile":
        extra["CalibPercentile"] = 99.999
    # quantize_static moves the weights of the model it is given to external data in its own
    # temporary directory (gone when it returns): give it a copy, the caller's graph stays whole.
    model = onnx.ModelProto()
    model.CopyFrom(fp32)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its "consider pre-processing" advice is for other graphs
    try:
        # Its histogram calibrators print progress with print(): stdout belongs to --json.
        with (
            contextlib.redirect_stdout(io.StringIO()),
            tempfile.TemporaryDirectory(prefix="inception-export-int8-") as tmp,
        ):
            out = Path(tmp) / "qdq.onnx"
            quantize_static(
                model,
                str(out),
                _reader(calibration.batch, fp32.graph.input[0].name, _fixed_batch(fp32)),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=list(op_types),
                per_channel=True,
                reduce_range=False,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=list(exclude_nodes),
                calibrate_method=_method(method),
                extra_options=extra,
            )
            qdq = onnx.load(str(out))
    finally:
        root.setLevel(level)
    _float_inputs_for(qdq, set(exclude_nodes))
    return qdq


def _float_inputs_for(model: onnx.ModelProto, excluded: set[str]) -> None:
    """Give the excluded (kept float16) nodes their float inputs back.

    onnxruntime shares one Q/DQ pair per tensor and rewires every consumer of a quantized
    tensor to its DequantizeLinear, the excluded ones too: a kept Conv would then still read
    an INT8-rounded activation. Its inputs are pointed back at the tensor the pair quantizes.
    """
    if not excluded:
        return
    producers = {o: n for n in model.graph.node for o in n.output}
    for node in model.graph.node:
        if node.name not in excluded:
            continue
        for k, name in enumerate(node.input):
            dq = producers.get(name)
            if dq is None or dq.op_type != "DequantizeLinear":
                continue
            q = producers.get(dq.input[0])
            if q is not None and q.op_type == "QuantizeLinear":
                node.input[k] = q.input[0]


def to_float16(qdq: onnx.ModelProto) -> onnx.ModelProto:
    """The QDQ graph with every float tensor in float16 (scales included), float32 I/O.

    Weight scales are rounded to float16 (relative change <= 2^-11, a tenth of INT8's own
    step); a scale below float16's normal range would lose bits, and is counted by
    :func:`check_qdq` and reported in the metadata (``subnormal_scales``).
    """
    for imp in qdq.opset_import:
        if imp.domain in ("", "ai.onnx") and imp.version < INT8_MIN_OPSET:
            raise ArtifactError(f"a float16 QDQ graph needs opset >= {INT8_MIN_OPSET}, got {imp.version}")
    model = onnx.ModelProto()
    model.CopyFrom(qdq)
    g = model.graph
    _halve_constants(g)
    _halve_types(g)
    taken = (
        {o for n in g.node for o in n.output} | {i.name for i in g.input} | {i.name for i in g.initializer}
    )
    taken |= {n.name for n in g.node}
    casts_in = _cast_inputs(g, taken)
    casts_out = _cast_outputs(g, taken)
    nodes = [*casts_in, *g.node, *casts_out]
    del g.node[:]
    g.node.extend(nodes)
    return model


def _half(tensor: onnx.TensorProto) -> onnx.TensorProto:
    return numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float16), tensor.name)


def _halve_constants(g: onnx.GraphProto) -> None:
    """Float32 initializers and Constant values rounded to float16; Casts to float32 cast to float16."""
    for init in g.initializer:
        if init.data_type == FLOAT:
            init.CopyFrom(_half(init))
    for node in g.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value" and attr.t.data_type == FLOAT:
                    attr.t.CopyFrom(_half(attr.t))
        if node.op_type == "Cast":
            for attr in node.attribute:
                if attr.name == "to" and attr.i == FLOAT:
                    attr.i = FLOAT16


def _halve_types(g: onnx.GraphProto) -> None:
    for vi in g.value_info:
        if vi.type.tensor_type.elem_type == FLOAT:
            vi.type.tensor_type.elem_type = FLOAT16


def _rename_uses(g: onnx.GraphProto, old: str, new: str, *, outputs: bool) -> None:
    """Every node reading ``old`` (and, with ``outputs``, writing it) uses ``new`` instead."""
    for node in g.node:
        if outputs:
            for k, name in enumerate(node.output):
                if name == old:
                    node.output[k] = new
        for k, name in enumerate(node.input):
            if name == old:
                node.input[k] = new


def _cast_inputs(g: onnx.GraphProto, taken: set[str]) -> list[onnx.NodeProto]:
    """Each float32 graph input enters through a Cast to float16 (the graph keeps float32 I/O)."""
    casts: list[onnx.NodeProto] = []
    for inp in g.input:
        if inp.type.tensor_type.elem_type != FLOAT:
            continue
        half = unique_name(f"{inp.name}_float16", taken)
        _rename_uses(g, inp.name, half, outputs=False)
        casts.append(
            helper.make_node("Cast", [inp.name], [half], name=unique_name(f"node_{half}", taken), to=FLOAT16)
        )
        g.value_info.append(helper.make_tensor_value_info(half, FLOAT16, None))
    return casts


def _cast_outputs(g: onnx.GraphProto, taken: set[str]) -> list[onnx.NodeProto]:
    """Each float32 graph output is made in float16 and cast back under its own name; the
    float16 tensor is named as torch names it in its half export (the producer less "node_")."""
    casts: list[onnx.NodeProto] = []
    for out in g.output:
        if out.type.tensor_type.elem_type != FLOAT:
            continue
        producer = next(n for n in g.node if out.name in n.output)
        base = producer.name.removeprefix("node_") if producer.name.startswith("node_") else ""
        half = unique_name(base or f"{out.name}_float16", taken)
        _rename_uses(g, out.name, half, outputs=True)
        g.value_info.append(helper.make_tensor_value_info(half, FLOAT16, None))
        casts.append(
            helper.make_node(
                "Cast", [half], [out.name], name=unique_name(f"node_{out.name}", taken), to=FLOAT
            )
        )
    return casts


@dataclass
class QdqSummary:
    """What :func:`check_qdq` found: counts TensorRT cares about, and the quantized nodes."""

    quantize_nodes: int = 0
    dequantize_nodes: int = 0
    int8_weights: int = 0
    subnormal_scales: int = 0
    quantized_adds: int = 0  # residual adds with QDQ on both inputs
    quantized_nodes: list[str] = field(default_factory=list)  # "Conv:node_conv2d" as float32_nodes
    float_nodes: list[str] = field(default_factory=list)  # Conv/Gemm left in float16

    def to_dict(self) -> dict[str, Any]:
        return {
            "quantize_nodes": self.quantize_nodes,
            "dequantize_nodes": self.dequantize_nodes,
            "int8_weights": self.int8_weights,
            "subnormal_scales": self.subnormal_scales,
            "quantized_adds": self.quantized_adds,
        }


def _dq_source(name: str, producers: dict[str, onnx.NodeProto]) -> onnx.NodeProto | None:
    node = producers.get(name)
    return node if node is not None and node.op_type == "DequantizeLinear" else None


def check_qdq(model: onnx.ModelProto, *, residual_adds: bool = True) -> QdqSummary:
    """Refuse (ArtifactError) a QDQ graph TensorRT would reject or compute differently:
    a non-zero or non-int8 zero point, a weight scale not per output channel (axis 0), an
    activation scale that is not one value; and list which Conv/Gemm are quantized."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    producers = {o: n for n in g.node for o in n.output}
    summary = QdqSummary()
    for node in g.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        if node.op_type == "QuantizeLinear":
            summary.quantize_nodes += 1
        else:
            summary.dequantize_nodes += 1
        if len(node.input) < 3 or node.input[2] not in inits:
            raise ArtifactError(f"{node.name}: no constant zero point (TensorRT needs int8 zero points of 0)")
        zp = inits[node.input[2]]
        if zp.data_type != TensorProto.INT8 or np.any(numpy_helper.to_array(zp) != 0):
            raise ArtifactError(f"{node.name}: zero point is not int8 0 (TensorRT rejects it)")
        scale = numpy_helper.to_array(inits[node.input[1]]).astype(np.float64)
        if np.any(~np.isfinite(scale)) or np.any(scale <= 0):
            raise ArtifactError(f"{node.name}: a scale that is not positive and finite")
        summary.subnormal_scales += int((scale < FP16_MIN_NORMAL).sum())
        weight = node.op_type == "DequantizeLinear" and node.input[0] in inits
        if weight:
            w = inits[node.input[0]]
            if w.data_type != TensorProto.INT8:
                raise ArtifactError(f"{node.name}: quantized weight is not int8")
            summary.int8_weights += 1
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            if scale.size != w.dims[0] or axis != 0:
                raise ArtifactError(f"{node.name}: weight scale is not per output channel (axis 0)")
        elif scale.size != 1:
            raise ArtifactError(f"{node.name}: activation scale is not per tensor")
    for node in g.node:
        if node.op_type in ("Conv", "Gemm"):
            ins = [_dq_source(node.input[k], producers) for k in (0, 1)]
            entry = f"{node.op_type}:{node.name}"
            if all(ins):
                summary.quantized_nodes.append(entry)
            elif any(ins):
                raise ArtifactError(f"{node.name}: only one of its inputs is quantized")
            else:
                summary.float_nodes.append(entry)
        elif node.op_type == "Add" and residual_adds:
            ins = [_dq_source(x, producers) for x in node.input]
            if any(ins) and not all(ins):
                raise ArtifactError(f"{node.name}: a residual add with QDQ on one input only")
            summary.quantized_adds += all(ins)
    if not summary.quantized_nodes:
        raise ArtifactError("no Conv or Gemm of the graph is quantized")
    return summary


def layer_nodes(fp32: onnx.ModelProto, layers: Sequence[str]) -> dict[str, list[str]]:
    """The Conv/Gemm node names of each layer (module path), from the exporter's node scopes."""
    out: dict[str, list[str]] = {layer: [] for layer in layers}
    wanted = {NET_PREFIX + layer: layer for layer in layers}
    for node in fp32.graph.node:
        if node.op_type not in ("Conv", "Gemm"):
            continue
        for scope in node_scopes(node) & wanted.keys():
            out[wanted[scope]].append(node.name)
    return out


def artifact_for_localize(proto: onnx.ModelProto, meta: dict[str, Any], directory: Path) -> Path:
    from ...metadata import METADATA_KEY, flat_props

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    del model.metadata_props[:]
    model.metadata_props.add(key=METADATA_KEY, value=flat_props(meta)[METADATA_KEY])
    path = directory / "int8-candidate.onnx"
    path.write_bytes(model.SerializeToString())
    return path
