"""Verify from the engine inspector's report that convolutions really run in FP16.

The report is ``IEngineInspector.get_engine_information(LayerInformationFormat.JSON)`` of an
engine built with ``ProfilingVerbosity.DETAILED``: ``{"Layers": [...], "Bindings": [...]}``
where each layer has ``Name``, ``LayerType`` (the implementation: ``CaskConvolution``,
``CaskGemmConvolution``, ``Reformat``...), usually ``ParameterType`` (``Convolution``,
``Pooling``...), ``Inputs``/``Outputs`` (each with a ``Format/Datatype`` string such as
``"Row major linear FP32"``, ``"Channel major FP16 format where channel % 8 == 0"`` or, for
kgen kernels, just ``"Half"``/``"Float"``) and, for convolutions, ``Weights``/``Bias`` with a
``Type`` (``"Half"``, ``"Float"``). With layer-names-only verbosity the layers are plain strings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
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


def datatype_of(desc: str) -> str | None:
    """Normalised element type named by a ``Format/Datatype`` string or weight ``Type``."""
    for token in _TOKEN_RE.findall(desc):
        dtype = _DTYPE_TOKENS.get(token.lower())
        if dtype is not None:
            return dtype
    return None


@dataclass(frozen=True)
class LayerPrecision:
    name: str
    layer_type: str
    parameter_type: str
    input_types: tuple[str, ...]
    output_types: tuple[str, ...]
    weight_type: str | None

    @property
    def is_convolution(self) -> bool:
        kinds = f"{self.parameter_type} {self.layer_type}".lower()
        return "convolution" in kinds

    @property
    def datatypes(self) -> set[str]:
        out = set(self.input_types) | set(self.output_types)
        if self.weight_type:
            out.add(self.weight_type)
        return out

    @property
    def runs_fp16(self) -> bool:
        return self.datatypes == {"fp16"}


@dataclass(frozen=True)
class PrecisionReport:
    layers: int
    convolutions: int
    fp16_convolutions: int
    non_fp16: tuple[str, ...]  # "name (types)" of convolutions not in FP16

    def to_dict(self) -> dict[str, Any]:
        return {
            "layers": self.layers,
            "convolutions": self.convolutions,
            "fp16_convolutions": self.fp16_convolutions,
            "non_fp16": list(self.non_fp16),
        }


def _tensor_types(tensors: Any) -> tuple[str, ...]:
    if not isinstance(tensors, list):
        return ()
    out = []
    for t in tensors:
        if isinstance(t, Mapping):
            dtype = datatype_of(str(t.get("Format/Datatype", "")))
            if dtype is not None:
                out.append(dtype)
    return tuple(out)


def parse_layers(report: str | Mapping[str, Any]) -> list[LayerPrecision]:
    """Per-layer element types from the inspector's JSON (text or already decoded)."""
    if isinstance(report, str):
        try:
            doc: Any = json.loads(report)
        except json.JSONDecodeError as exc:
            raise ArtifactError(f"engine inspector report is not JSON ({exc.msg})") from None
    else:
        doc = report
    layers = doc.get("Layers") if isinstance(doc, Mapping) else None
    if not isinstance(layers, list):
        raise ArtifactError("engine inspector report has no 'Layers' list")
    out = []
    for raw in layers:
        if not isinstance(raw, Mapping):
            raise ArtifactError(
                "engine inspector report has layer names only; the engine must be built with "
                "ProfilingVerbosity.DETAILED (trtexec --profilingVerbosity=detailed) to verify precision"
            )
        weights = raw.get("Weights")
        wtype = datatype_of(str(weights.get("Type", ""))) if isinstance(weights, Mapping) else None
        out.append(
            LayerPrecision(
                name=str(raw.get("Name", "?")),
                layer_type=str(raw.get("LayerType", "")),
                parameter_type=str(raw.get("ParameterType", "")),
                input_types=_tensor_types(raw.get("Inputs")),
                output_types=_tensor_types(raw.get("Outputs")),
                weight_type=wtype,
            )
        )
    return out


def summarize(layers: list[LayerPrecision]) -> PrecisionReport:
    convs = [la for la in layers if la.is_convolution]
    bad = tuple(
        f"{la.name} ({'/'.join(sorted(la.datatypes)) or 'unknown'})" for la in convs if not la.runs_fp16
    )
    return PrecisionReport(len(layers), len(convs), len(convs) - len(bad), bad)


def verify_fp16_convolutions(report: str | Mapping[str, Any]) -> PrecisionReport:
    """The summary, or GateFailure (exit 1) naming the first convolution not running in FP16."""
    summary = summarize(parse_layers(report))
    if summary.convolutions == 0:
        raise GateFailure(
            "engine inspector reports no convolution layers, so FP16 execution cannot be verified"
        )
    if summary.non_fp16:
        more = f" and {len(summary.non_fp16) - 1} more" if len(summary.non_fp16) > 1 else ""
        raise GateFailure(
            f"--fp16 engine runs convolution {summary.non_fp16[0]}{more} outside FP16 "
            f"({summary.fp16_convolutions}/{summary.convolutions} convolutions in FP16)"
        )
    return summary
