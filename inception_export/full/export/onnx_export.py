"""ONNX export: BN folded in float64, torch's dynamo exporter, metadata in ``metadata_props``."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import Tensor, nn

from ...errors import ArtifactError, UsageError
from ...metadata import flat_props
from ...registry import ModelSpec
from ...seed import DEFAULT_SEED
from ...text import first_line
from .common import get_model, quiet_tracing, resolve, strip_build_attrs, uses_transform_input
from .fold import fold_batchnorm
from .fp16 import HalfCompute, float32_nodes
from .keep_fp32 import KeepPlan, auto_keep, describe_auto_plan, plan_keep
from .layers import layer_paths, resolve_modules
from .metadata import build_metadata
from .onnx_map import layer_outputs
from .preprocess_graph import UInt8Preprocess
from .sanitize import sanitize_onnx
from .write import ExportResult, check_outputs, write_artifact

# 18 is the opset torch's exporter writes natively (it cannot go lower: asking for 17
# silently yields 18), TensorRT 10.0's parser reads up to 20 and onnxruntime >= 1.14 reads it.
DEFAULT_OPSET = 18
MIN_OPSET = 18
# TensorRT 10.x's ONNX parser stops at 22; higher opsets would only help onnxruntime.
MAX_OPSET = 22
PRECISIONS = ("fp32", "fp16")
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
# Ops that must not survive into a deployment graph: folded, eval-only or no-ops.
FORBIDDEN_OPS = frozenset({"BatchNormalization", "Dropout", "Identity"})
EXPORTER = "torch.onnx.export(dynamo=True)"
# How an FP16 graph was made (metadata ``float16_from``); both give the same graph and weights.
FLOAT16_TRACED = "traced model.half()"
FLOAT16_DERIVED = "derived from the FP32 graph (weights rounded as model.half() rounds them)"


class _Float32(nn.Module):
    def __init__(self, net: nn.Module, pre: nn.Module | None) -> None:
        super().__init__()
        self.pre = pre if pre is not None else nn.Identity()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.pre(x))


def check_opset(opset: int) -> None:
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise UsageError(
            f"opset {opset} is out of range: supported {MIN_OPSET}-{MAX_OPSET} "
            f"(torch's exporter writes >= {MIN_OPSET}; TensorRT 10.x reads <= {MAX_OPSET})"
        )


def _check_graph(proto: onnx.ModelProto, opset: int, output_name: str = OUTPUT_NAME) -> None:
    written = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if written != opset:
        raise ArtifactError(f"the exporter wrote opset {written}, not the {opset} asked for")
    stray = sorted({n.op_type for n in proto.graph.node} & FORBIDDEN_OPS)
    if stray:
        raise ArtifactError(f"exported graph still has {', '.join(stray)} nodes")
    names = ([i.name for i in proto.graph.input], [o.name for o in proto.graph.output])
    if names != ([INPUT_NAME], [output_name]):
        raise ArtifactError(f"exported graph has inputs/outputs {names}, expected {INPUT_NAME}/{output_name}")


def _keep_names(keep_fp32: str | Sequence[str] | None) -> list[str]:
    if keep_fp32 is None:
        return []
    items = keep_fp32.split(",") if isinstance(keep_fp32, str) else list(keep_fp32)
    return [i.strip() for i in items if i.strip()]


def _keep_plan(net: nn.Module, spec: Any, size: int, names: list[str], images: Path | None) -> KeepPlan:
    if names == ["auto"]:
        folded64, _ = fold_batchnorm(net, torch.float64)
        plan = auto_keep(net, folded64, spec, size, images=images)
        # Say what was decided: a silent "auto" left users guessing whether it did anything.
        warnings.warn(describe_auto_plan(plan), stacklevel=2)
        return plan
    if "auto" in names:
        raise UsageError("--keep-fp32 takes 'auto' or a list of layers, not both")
    return plan_keep(net, resolve_modules(net, names, spec.name))


def _check_args(
    model: str | ModelSpec,
    output: Path,
    precision: str,
    keep_names: list[str],
    opset: int | None,
    batch: int | None,
    input_size: int | None,
    model_obj: nn.Module | None,
    force: bool,
) -> tuple[Any, int, int]:
    if precision not in PRECISIONS:
        raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if keep_names and precision != "fp16":
        raise UsageError("--keep-fp32 applies to FP16 exports only (--precision fp16)")
    opset = DEFAULT_OPSET if opset is None else int(opset)
    check_opset(opset)
    if batch is not None and batch < 1:
        raise UsageError(f"batch must be a positive integer or dynamic, got {batch}")
    spec, size = resolve(model, model_obj, input_size)
    check_outputs(Path(output), force)
    return spec, size, opset


def _fold_and_wrap(
    net: nn.Module, spec: Any, *, half: bool, embed: bool, plan: KeepPlan
) -> tuple[nn.Module, int]:
    """The module torch traces, and how many batch norms were folded: BN folded into the convs,
    the uint8 preprocessing in front if embedded, and for FP16 the float16 compute wrapper."""
    # FP16: folded weights stay float64 here and are rounded once, to float16 or (kept) float32.
    folded, n_folded = fold_batchnorm(net, torch.float64 if half else None)
    strip_build_attrs(folded)
    pre = UInt8Preprocess(spec.preprocessing) if embed else None
    wrapper: nn.Module = HalfCompute(folded, pre, plan.float32_out) if half else _Float32(folded, pre)
    return wrapper, n_folded


def trace_onnx(
    wrapper: nn.Module, size: int, batch: int | None, embed: bool, opset: int, output_name: str = OUTPUT_NAME
) -> onnx.ModelProto:
    """``wrapper`` traced to a sanitised, checked ONNX graph (one input, one output)."""
    wrapper.eval()
    # Trace at batch 2 when dynamic: batch 1 would let torch.export specialise the dimension.
    b = batch or 2
    shape = (b, size, size, 3) if embed else (b, 3, size, size)
    example = torch.zeros(shape, dtype=torch.uint8 if embed else torch.float32)
    dynamic = None if batch else ({0: torch.export.Dim("batch")},)
    with quiet_tracing(), torch.no_grad():
        program = torch.onnx.export(
            wrapper,
            (example,),
            None,
            input_names=[INPUT_NAME],
            output_names=[output_name],
            opset_version=opset,
            dynamic_shapes=dynamic,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    if program is None:  # only the legacy exporter returns None
        raise ArtifactError("torch.onnx.export returned no program")
    proto = program.model_proto
    sanitize_onnx(proto)  # no stack traces with this machine's paths in a shipped artifact
    _check_graph(proto, opset, output_name)
    return proto


def _finish(proto: onnx.ModelProto, output: Path, *, precision: str, **facts: Any) -> ExportResult:
    """Metadata (:func:`_metadata`'s ``facts``), checks and the atomic write of a graph
    ``trace_onnx`` (or ``derive_fp16``) made."""
    return embed_and_write(proto, output, _metadata(proto, precision=precision, **facts), precision)


def _metadata(
    proto: onnx.ModelProto,
    *,
    net: nn.Module,
    spec: Any,
    size: int,
    precision: str,
    opset: int,
    batch: int | None,
    embed: bool,
    plan: KeepPlan,
    n_folded: int,
    seed: int,
    float16_from: str | None,
    extra_meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The artifact's metadata record: the model's, plus what this graph is and how it was made."""
    half = precision == "fp16"
    # Before anything strips the exporter's per-node scopes: localize needs this map.
    outputs_map = layer_outputs(proto, layer_paths(net))

    batch_dim: Any = batch if batch else "batch"
    extra: dict[str, Any] = {
        "opset": opset,
        "batch": batch if batch else "dynamic",
        "input": {
            "name": INPUT_NAME,
            "dtype": "uint8" if embed else "float32",
            "layout": "NHWC" if embed else "NCHW",
            "shape": [batch_dim, size, size, 3] if embed else [batch_dim, 3, size, size],
        },
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": [batch_dim, None]},
        "compute_dtype": "float16" if half else "float32",
        "float32_nodes": float32_nodes(proto) if half else [],
        "keep_fp32": plan.layers,
        "keep_fp32_reasons": plan.reasons,
        "layer_outputs": outputs_map,
        "embedded_preprocessing": embed,
        "bn_folded": n_folded,
        "exporter": EXPORTER,
    }
    if float16_from is not None:
        extra["float16_from"] = float16_from
    extra.update(extra_meta or {})
    meta = build_metadata(
        spec=spec,
        model=net,
        fmt="onnx",
        precision=precision,
        input_size=size,
        transform_input=uses_transform_input(net),
        seed=seed,
        extra=extra,
    )
    meta["output"]["shape"][1] = meta["num_classes"]
    return meta


def embed_and_write(
    proto: onnx.ModelProto, output: Path, meta: dict[str, Any], precision: str
) -> ExportResult:
    """The metadata into ``metadata_props``, onnx's full check, then the atomic write."""
    del proto.metadata_props[:]
    for key, value in sorted(flat_props(meta).items()):
        proto.metadata_props.add(key=key, value=value)
    data = proto.SerializeToString(deterministic=True)
    try:
        # The bytes that are written, not the proto: the checker would serialise it again.
        onnx.checker.check_model(data, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ArtifactError(f"exported graph fails onnx.checker: {first_line(str(exc))}") from None
    digest = write_artifact(output, data, meta)
    return ExportResult(path=output, format="onnx", precision=precision, sha256=digest, metadata=meta)


def export_onnx(
    model: str | ModelSpec,
    output: Path,
    *,
    weights: Path | None = None,
    transform_input: bool = False,
    precision: str = "fp32",
    opset: int | None = None,
    batch: int | None = None,
    input_size: int | None = None,
    embed_preprocessing: bool = False,
    force: bool = False,
    seed: int = DEFAULT_SEED,
    model_obj: nn.Module | None = None,
    keep_fp32: str | Sequence[str] | None = None,
    keep_fp32_images: Path | None = None,
) -> ExportResult:
    """Export ``model`` to ONNX at ``output`` (plus ``<output>.json``); see docs/export.md.

    ``keep_fp32`` (FP16 only): ``"auto"`` or module paths (a list, or one comma-separated
    string) of layers that stay float32 inside the float16 graph; ``keep_fp32_images`` adds
    photographs to the golden inputs ``auto`` measures on.
    """
    keep_names = _keep_names(keep_fp32)
    spec, size, opset = _check_args(
        model, output, precision, keep_names, opset, batch, input_size, model_obj, force
    )
    output = Path(output)
    net = get_model(model, model_obj, weights, transform_input, seed)
    half = precision == "fp16"
    plan = _keep_plan(net, spec, size, keep_names, keep_fp32_images) if keep_names else KeepPlan()
    wrapper, n_folded = _fold_and_wrap(net, spec, half=half, embed=embed_preprocessing, plan=plan)
    proto = trace_onnx(wrapper, size, batch, embed_preprocessing, opset)
    return _finish(
        proto,
        output,
        net=net,
        spec=spec,
        size=size,
        precision=precision,
        opset=opset,
        batch=batch,
        embed=embed_preprocessing,
        plan=plan,
        n_folded=n_folded,
        seed=seed,
        float16_from=FLOAT16_TRACED if half else None,
    )


def export_onnx_pair(
    model: str | ModelSpec,
    fp32_output: Path,
    fp16_output: Path,
    *,
    weights: Path | None = None,
    transform_input: bool = False,
    opset: int | None = None,
    batch: int | None = None,
    input_size: int | None = None,
    embed_preprocessing: bool = False,
    force: bool = False,
    seed: int = DEFAULT_SEED,
    model_obj: nn.Module | None = None,
    keep_fp32: str | Sequence[str] | None = None,
    keep_fp32_images: Path | None = None,
) -> tuple[ExportResult, ExportResult]:
    """The FP32 and the FP16 ONNX of one model (what ``release`` ships), traced once.

    The FP16 graph is derived from the FP32 one (:func:`.fp16_graph.derive_fp16`: the same
    graph and weight bits as tracing ``model.half()``, without a second 4-s trace); graphs
    where torch's half export differs (float32 islands in a decomposed op) and ``keep_fp32``
    exports are traced as :func:`export_onnx` does. Arguments as for :func:`export_onnx`.
    """
    from .fp16_graph import derive_fp16

    options: dict[str, Any] = {
        "weights": weights,
        "transform_input": transform_input,
        "opset": opset,
        "batch": batch,
        "input_size": input_size,
        "embed_preprocessing": embed_preprocessing,
        "force": force,
        "seed": seed,
    }
    keep_names = _keep_names(keep_fp32)
    spec, size, opset = _check_args(
        model, fp32_output, "fp32", [], opset, batch, input_size, model_obj, force
    )
    _check_args(model, fp16_output, "fp16", keep_names, opset, batch, input_size, model_obj, force)
    net = get_model(model, model_obj, weights, transform_input, seed)
    fp16_traced = {"keep_fp32": keep_fp32, "keep_fp32_images": keep_fp32_images, **options}
    if keep_names:
        fp32 = export_onnx(model, fp32_output, precision="fp32", model_obj=net, **options)
        return fp32, export_onnx(model, fp16_output, precision="fp16", model_obj=net, **fp16_traced)
    wrapper, n_folded = _fold_and_wrap(net, spec, half=False, embed=embed_preprocessing, plan=KeepPlan())
    proto32 = trace_onnx(wrapper, size, batch, embed_preprocessing, opset)
    proto16 = derive_fp16(proto32)
    if proto16 is not None:
        _check_graph(proto16, opset)
    common: dict[str, Any] = {
        "net": net,
        "spec": spec,
        "size": size,
        "opset": opset,
        "batch": batch,
        "embed": embed_preprocessing,
        "plan": KeepPlan(),
        "n_folded": n_folded,
        "seed": seed,
    }
    fp32 = _finish(proto32, Path(fp32_output), precision="fp32", float16_from=None, **common)
    if proto16 is None:
        return fp32, export_onnx(model, fp16_output, precision="fp16", model_obj=net, **fp16_traced)
    fp16 = _finish(proto16, Path(fp16_output), precision="fp16", float16_from=FLOAT16_DERIVED, **common)
    return fp32, fp16
