"""Verify from the engine inspector's report that every convolution runs in the type the ONNX asks.

The report is ``EngineInspector.get_engine_information(LayerInformationFormat.JSON)`` of an
engine built with ``ProfilingVerbosity.DETAILED``. Its shapes, all accepted here:

- TensorRT 10.x: ``{"Layers": [...], "Bindings": ["input", ...]}``; each tensor of a layer's
  ``Inputs``/``Outputs`` has a ``"Format/Datatype"`` string (``"Row major linear FP32"``,
  ``"Channel major FP16 format where channel % 8 == 0"``, ``"Half"``...).
- TensorRT 11.x: engine I/O moves to ``"I/O Tensors"`` (objects with ``DataType``/``Format``),
  and a tensor may carry separate ``"DataType"`` and ``"Format"`` keys.
- A dynamic-shape engine inspected without an execution context reports
  ``"Format/Datatype": "N/A due to dynamic shapes"``: such a type is *unreadable*, and an
  unreadable convolution fails verification rather than passing on its weights alone
  (the builder sets a context at the profile's opt shape, as trtexec and Polygraphy do).

Convolutions are recognised by what the report says about them, not by one spelling:
``ParameterType``/``ConvParameterType`` of ``Convolution``, an implementation named
``...Convolution``, or conv fields (``ConvWeights``, ``Kernel`` with ``OutMaps``), so fused
``ConvActPool`` (conv -> relu -> maxpool) layers count too.

What each convolution must run in comes from the ONNX: float32 exactly for the Conv nodes the
ONNX metadata lists in ``float32_nodes`` (an FP16 graph that keeps some layers in float32);
float16 for every other one in an FP16 engine; float32 everywhere in an FP32 engine. A
TensorRT layer is named after the ONNX nodes it runs (``"node_conv2d_3 + node_relu_3"``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ArtifactError, GateFailure

# Tokens TensorRT uses for element types in format descriptions and weight types.
_DTYPE_TOKENS: dict[str, str] = {
    "half": "fp16",
    "fp16": "fp16",
    "float": "fp32",
    "fp32": "fp32",
    "bfloat16": "bf16",
    "bf16": "bf16",
    "fp8": "fp8",
    "fp4": "fp4",
    "int8": "int8",
    "int4": "int4",
    "int32": "int32",
    "int64": "int64",
    "uint8": "uint8",
    "bool": "bool",
    "double": "fp64",
}
_TOKEN_RE = re.compile(r"[A-Za-z]+[0-9]*")
# An ONNX node name as TensorRT repeats it in layer names ("node_conv2d_3", "/stem/conv/Conv").
_NODE_NAME_RE = re.compile(r"[\w./:\-]+")
UNREADABLE = "unreadable"
QUANTIZED = frozenset({"int8", "fp8", "int4", "fp4"})
_TYPE_KEYS = ("Format/Datatype", "DataType", "Datatype", "Format")
_WEIGHT_KEYS = ("Weights", "ConvWeights", "KernelWeights")


def datatype_of(desc: str) -> str | None:
    """Normalised element type named by a ``Format/Datatype`` string or weight ``Type``."""
    for token in _TOKEN_RE.findall(desc):
        dtype = _DTYPE_TOKENS.get(token.lower())
        if dtype is not None:
            return dtype
    return None


def tensor_type(tensor: Any) -> str:
    """The element type of one report tensor, or UNREADABLE ("N/A due to dynamic shapes", none)."""
    if not isinstance(tensor, Mapping):
        return UNREADABLE
    for key in _TYPE_KEYS:
        value = tensor.get(key)
        if isinstance(value, str):
            dtype = datatype_of(value)
            if dtype is not None:
                return dtype
    return UNREADABLE


@dataclass(frozen=True)
class LayerPrecision:
    name: str
    layer_type: str
    parameter_type: str
    input_types: tuple[str, ...]
    output_types: tuple[str, ...]
    weight_type: str | None
    is_convolution: bool
    onnx_nodes: frozenset[str] = field(default_factory=frozenset)
    # TensorRT 11 lists a layer's constant operands (its weights) as "Constants" tensors.
    constant_types: tuple[str, ...] = ()
    is_matrix_multiply: bool = False

    @property
    def datatypes(self) -> set[str]:
        out = set(self.input_types) | set(self.output_types) | set(self.constant_types)
        if self.weight_type:
            out.add(self.weight_type)
        return out

    @property
    def readable(self) -> bool:
        """Both sides listed and every type named (weights, when present, too)."""
        return bool(self.input_types) and bool(self.output_types) and UNREADABLE not in self.datatypes

    @property
    def compute_type(self) -> str:
        """The type the layer computes in.

        TensorRT fuses a Cast into the layer beside it (the stem's float32 input into an FP16
        convolution, the border of a kept-float32 layer), so inputs and outputs may differ while
        the computation has one type: the weights' where the report gives them (10.x ``Weights``,
        11.x ``Constants``). Without them, a quantized input decides: an INT8 convolution or matrix
        multiply reads int8 and writes the float type of the DequantizeLinear TensorRT fused into
        it, so its output type says nothing about its compute. Else the one type of all its
        tensors, else that of its outputs (a fused input Cast).
        """
        if not self.readable:
            return UNREADABLE
        if self.weight_type is not None:
            return self.weight_type
        constants = set(self.constant_types)
        if len(constants) == 1:
            return constants.pop()
        quantized = set(self.input_types) & QUANTIZED
        if len(quantized) == 1:
            return quantized.pop()
        both = set(self.input_types) | set(self.output_types)
        if len(both) == 1:
            return both.pop()
        outs = set(self.output_types)
        return outs.pop() if len(outs) == 1 else "mixed"

    def runs_in(self, dtype: str) -> bool:
        return self.compute_type == dtype

    def describe(self) -> str:
        types = "/".join(sorted(self.datatypes)) or "no types"
        return f"{self.name} ({types})"


@dataclass(frozen=True)
class PrecisionReport:
    layers: int
    convolutions: int
    fp16_convolutions: int
    fp32_convolutions: int
    mismatched: tuple[str, ...]  # "name (types, expected X)"
    unreadable: tuple[str, ...]  # convolutions whose types the report does not give
    expected_float32: tuple[str, ...]  # ONNX Conv nodes the graph keeps in float32
    missing_float32: tuple[str, ...]  # of those, the ones no engine layer names
    io_tensors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.convolutions > 0 and not (self.mismatched or self.unreadable or self.missing_float32)

    def to_dict(self) -> dict[str, Any]:
        return {
            "layers": self.layers,
            "convolutions": self.convolutions,
            "fp16_convolutions": self.fp16_convolutions,
            "fp32_convolutions": self.fp32_convolutions,
            "mismatched": list(self.mismatched),
            "unreadable": list(self.unreadable),
            "expected_float32": list(self.expected_float32),
            "missing_float32": list(self.missing_float32),
        }


def _tensor_types(tensors: Any) -> tuple[str, ...]:
    if not isinstance(tensors, list):
        return ()
    return tuple(tensor_type(t) for t in tensors)


def _is_convolution(raw: Mapping[str, Any]) -> bool:
    kinds = " ".join(str(raw.get(k, "")) for k in ("ParameterType", "ConvParameterType", "LayerType"))
    if "convolution" in kinds.lower():
        return True
    if any(k in raw for k in ("ConvWeights", "ConvKernel", "ConvOutMaps")):
        return True
    return "Kernel" in raw and "OutMaps" in raw


def _is_matrix_multiply(raw: Mapping[str, Any]) -> bool:
    # 10.x and 11.x: LayerType "CaskGemmMatrixMultiply" (or "MatrixMultiply"), ParameterType
    # "MatrixMultiply"; a Gemm TensorRT ran as a 1x1 convolution is a convolution instead.
    kinds = " ".join(str(raw.get(k, "")) for k in ("ParameterType", "LayerType"))
    return "matrixmultiply" in kinds.lower()


def _weight_type(raw: Mapping[str, Any]) -> str | None:
    for key in _WEIGHT_KEYS:
        weights = raw.get(key)
        if isinstance(weights, Mapping):
            return datatype_of(str(weights.get("Type", ""))) or UNREADABLE
    return None


def _onnx_nodes(raw: Mapping[str, Any]) -> frozenset[str]:
    # "node_conv2d_3 + node_relu_3", "PWN(node_relu_3)", Metadata "[ONNX Layer: node_conv2d_3]".
    text = f"{raw.get('Name', '')} {raw.get('Metadata', '')}"
    return frozenset(_NODE_NAME_RE.findall(text))


def load_report(report: str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(report, str):
        try:
            doc: Any = json.loads(report)
        except json.JSONDecodeError as exc:
            raise ArtifactError(f"engine inspector report is not JSON ({exc.msg})") from None
    else:
        doc = report
    if not isinstance(doc, Mapping):
        raise ArtifactError("engine inspector report is not a JSON object")
    return doc


def parse_layers(report: str | Mapping[str, Any]) -> list[LayerPrecision]:
    """Per-layer element types from the inspector's JSON (text or already decoded)."""
    doc = load_report(report)
    layers = doc.get("Layers")
    if not isinstance(layers, list):
        raise ArtifactError("engine inspector report has no 'Layers' list")
    out = []
    for raw in layers:
        if not isinstance(raw, Mapping):
            raise ArtifactError(
                "engine inspector report has layer names only; the engine must be built with "
                "ProfilingVerbosity.DETAILED (trtexec --profilingVerbosity=detailed) to verify precision"
            )
        out.append(
            LayerPrecision(
                name=str(raw.get("Name", "?")),
                layer_type=str(raw.get("LayerType", "")),
                parameter_type=str(raw.get("ParameterType", raw.get("ConvParameterType", ""))),
                input_types=_tensor_types(raw.get("Inputs")),
                output_types=_tensor_types(raw.get("Outputs")),
                weight_type=_weight_type(raw),
                is_convolution=_is_convolution(raw),
                onnx_nodes=_onnx_nodes(raw),
                constant_types=_tensor_types(raw.get("Constants")),
                is_matrix_multiply=_is_matrix_multiply(raw),
            )
        )
    return out


def io_tensor_names(report: str | Mapping[str, Any]) -> tuple[str, ...]:
    """Engine I/O names: 10.x ``Bindings`` (strings) or 11.x ``I/O Tensors`` (objects)."""
    doc = load_report(report)
    raw = doc.get("I/O Tensors", doc.get("Bindings", []))
    if not isinstance(raw, list):
        return ()
    return tuple(str(t.get("Name", "?")) if isinstance(t, Mapping) else str(t) for t in raw)


# ONNX ops TensorRT may run as a convolution: a Gemm/MatMul classifier becomes a 1x1
# CaskConvolution, so a kept-float32 classifier must be expected in float32 there too.
CONV_LIKE_OPS = ("Conv", "Gemm", "MatMul")


def float32_convolutions(float32_nodes: Iterable[str], ops: tuple[str, ...] = ("Conv",)) -> tuple[str, ...]:
    """ONNX node names of ``ops`` from the metadata's ``float32_nodes`` (``"Conv:node_conv2d_3"``)."""
    out = []
    for entry in float32_nodes:
        op, sep, name = str(entry).partition(":")
        if sep and op in ops and name:
            out.append(name)
    return tuple(sorted(set(out)))


def summarize(
    layers: Sequence[LayerPrecision],
    precision: str = "fp16",
    float32_convs: Iterable[str] = (),
    io_tensors: tuple[str, ...] = (),
    float32_other: Iterable[str] = (),
) -> PrecisionReport:
    """Each convolution against the type it must run in (see the module docstring).

    ``float32_convs`` must each be found in a convolution layer; ``float32_other`` (kept
    Gemm/MatMul nodes) set the expectation of a convolution that runs them, when there is one.
    """
    keep = frozenset(float32_convs) if precision == "fp16" else frozenset()
    keep_any = keep | (frozenset(float32_other) if precision == "fp16" else frozenset())
    convs = [la for la in layers if la.is_convolution]
    mismatched, unreadable = [], []
    for la in convs:
        want = "fp32" if precision == "fp32" or la.onnx_nodes & keep_any else "fp16"
        if not la.readable:
            unreadable.append(la.describe())
        elif not la.runs_in(want):
            mismatched.append(f"{la.describe()[:-1]}, computes in {la.compute_type}, expected {want})")
    named = frozenset().union(*(la.onnx_nodes for la in convs)) if convs else frozenset()
    return PrecisionReport(
        layers=len(layers),
        convolutions=len(convs),
        fp16_convolutions=sum(la.runs_in("fp16") for la in convs),
        fp32_convolutions=sum(la.runs_in("fp32") for la in convs),
        mismatched=tuple(mismatched),
        unreadable=tuple(unreadable),
        expected_float32=tuple(sorted(keep)),
        missing_float32=tuple(sorted(keep - named)),
        io_tensors=io_tensors,
    )


def _first(items: tuple[str, ...]) -> str:
    more = f" and {len(items) - 1} more" if len(items) > 1 else ""
    return f"{items[0]}{more}"


def verify_precision(
    report: str | Mapping[str, Any], precision: str = "fp16", float32_nodes: Iterable[str] = ()
) -> PrecisionReport:
    """The summary, or GateFailure (exit 1) naming the first convolution that is not as the ONNX asks.

    ``float32_nodes`` is the ONNX metadata's list (``"OpType:node_name"``); only its Conv
    entries matter here.
    """
    doc = load_report(report)
    nodes = list(float32_nodes)
    summary = summarize(
        parse_layers(doc),
        precision,
        float32_convolutions(nodes),
        io_tensor_names(doc),
        float32_convolutions(nodes, CONV_LIKE_OPS),
    )
    if summary.convolutions == 0:
        raise GateFailure(
            "engine inspector reports no convolution layers, so the engine's precision cannot be verified"
        )
    if summary.unreadable:
        raise GateFailure(
            f"engine inspector gives no readable input/output type for convolution "
            f"{_first(summary.unreadable)} (a dynamic-shape engine must be inspected with an "
            "execution context whose input shapes are set), so its precision is not verified"
        )
    if summary.mismatched:
        raise GateFailure(
            f"{precision} engine runs convolution {_first(summary.mismatched)} "
            f"({summary.convolutions - len(summary.mismatched)}/{summary.convolutions} "
            "convolutions as the ONNX asks)"
        )
    if summary.missing_float32:
        raise GateFailure(
            f"the ONNX keeps convolution {_first(summary.missing_float32)} in float32 but no engine "
            "layer is named after it, so that cannot be verified"
        )
    return summary
