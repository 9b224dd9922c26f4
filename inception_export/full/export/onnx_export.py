"""ONNX export: BN folded in float64, torch's dynamo exporter, metadata in ``metadata_props``."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import Tensor, nn

from ...errors import ArtifactError
from ...metadata import flat_props
from ...registry import ModelSpec
from ...text import first_line
from .common import get_model, quiet_tracing, strip_build_attrs, uses_transform_input
from .fold import fold_batchnorm
from .fp16 import HalfCompute, float32_nodes
from .keep_fp32 import KeepPlan, auto_keep, describe_auto_plan, plan_keep
from .layers import layer_paths, resolve_modules
from .metadata import build_metadata
from .onnx_map import layer_outputs
from .options import ExportOptions
from .preprocess_graph import UInt8Preprocess
from .sanitize import sanitize_onnx
from .write import ExportResult, check_outputs, write_artifact

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


def _keep_plan(net: nn.Module, options: ExportOptions) -> KeepPlan:
    """Which layers stay float32 in an FP16 graph (none unless ``--keep-fp32`` names some)."""
    if not options.keep_fp32:
        return KeepPlan()
    if options.keep_fp32 == ("auto",):
        folded64, _ = fold_batchnorm(net, torch.float64)
        plan = auto_keep(net, folded64, options.spec, options.size, images=options.images)
        # Say what was decided: a silent "auto" left users guessing whether it did anything.
        warnings.warn(describe_auto_plan(plan), stacklevel=2)
        return plan
    return plan_keep(net, resolve_modules(net, list(options.keep_fp32), options.spec.name))


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


def _finish(
    proto: onnx.ModelProto,
    output: Path,
    options: ExportOptions,
    *,
    net: nn.Module,
    plan: KeepPlan,
    n_folded: int,
    float16_from: str | None,
    extra_meta: dict[str, Any] | None = None,
) -> ExportResult:
    """Metadata, checks and the atomic write of a graph ``trace_onnx`` (or ``derive_fp16``,
    or the INT8 quantizer) made."""
    meta = _metadata(proto, options, net, plan, n_folded, float16_from, extra_meta)
    return embed_and_write(proto, output, meta, options.precision)


def _metadata(
    proto: onnx.ModelProto,
    options: ExportOptions,
    net: nn.Module,
    plan: KeepPlan,
    n_folded: int,
    float16_from: str | None,
    extra_meta: dict[str, Any] | None,
) -> dict[str, Any]:
    """The artifact's metadata record: the model's, plus what this graph is and how it was made."""
    size, batch, embed = options.size, options.batch, options.embed_preprocessing
    # Before anything strips the exporter's per-node scopes: localize needs this map.
    outputs_map = layer_outputs(proto, layer_paths(net))

    batch_dim: Any = batch if batch else "batch"
    extra: dict[str, Any] = {
        "opset": options.opset,
        "batch": batch if batch else "dynamic",
        "input": {
            "name": INPUT_NAME,
            "dtype": "uint8" if embed else "float32",
            "layout": "NHWC" if embed else "NCHW",
            "shape": [batch_dim, size, size, 3] if embed else [batch_dim, 3, size, size],
        },
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": [batch_dim, None]},
        "compute_dtype": "float16" if options.half else "float32",
        "float32_nodes": float32_nodes(proto) if options.half else [],
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
        spec=options.spec,
        model=net,
        fmt="onnx",
        precision=options.precision,
        input_size=size,
        transform_input=uses_transform_input(net),
        seed=options.seed,
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


def write_float_onnx(
    options: ExportOptions, output: Path, *, force: bool = False, model_obj: nn.Module | None = None
) -> ExportResult:
    """The FP32 or FP16 ONNX ``options`` ask for, at ``output`` (INT8 is :mod:`.int8`'s)."""
    check_outputs(output, force)
    net = get_model(options, model_obj)
    plan = _keep_plan(net, options)
    wrapper, n_folded = _fold_and_wrap(
        net, options.spec, half=options.half, embed=options.embed_preprocessing, plan=plan
    )
    proto = _trace(wrapper, options)
    float16_from = FLOAT16_TRACED if options.half else None
    return _finish(proto, output, options, net=net, plan=plan, n_folded=n_folded, float16_from=float16_from)


def _trace(wrapper: nn.Module, options: ExportOptions) -> onnx.ModelProto:
    return trace_onnx(wrapper, options.size, options.batch, options.embed_preprocessing, options.opset)


def export_onnx_pair(
    model: str | ModelSpec,
    fp32_output: Path,
    fp16_output: Path,
    *,
    force: bool = False,
    model_obj: nn.Module | None = None,
    **options: Any,
) -> tuple[ExportResult, ExportResult]:
    """The FP32 and the FP16 ONNX of one model (what ``release`` ships), traced once;
    ``options`` as for :func:`.entry.export_onnx` (its precision is fp16)."""
    checked = ExportOptions.create(model, precision="fp16", model_obj=model_obj, **options)
    return write_onnx_pair(checked, Path(fp32_output), Path(fp16_output), force=force, model_obj=model_obj)


def write_onnx_pair(
    options: ExportOptions,
    fp32_output: Path,
    fp16_output: Path,
    *,
    force: bool = False,
    model_obj: nn.Module | None = None,
) -> tuple[ExportResult, ExportResult]:
    """The FP32 ONNX and the FP16 one ``options`` (precision fp16) ask for.

    The FP16 graph is derived from the FP32 one (:func:`.fp16_graph.derive_fp16`: the same
    graph and weight bits as tracing ``model.half()``, without a second 4-s trace); graphs
    where torch's half export differs (float32 islands in a decomposed op) and ``keep_fp32``
    exports are traced as :func:`write_float_onnx` does.
    """
    from .fp16_graph import derive_fp16

    fp32_options = replace(options, precision="fp32", keep_fp32=())
    check_outputs(fp32_output, force)
    check_outputs(fp16_output, force)
    net = get_model(options, model_obj)
    if options.keep_fp32:
        fp32 = write_float_onnx(fp32_options, fp32_output, force=force, model_obj=net)
        return fp32, write_float_onnx(options, fp16_output, force=force, model_obj=net)
    wrapper, n_folded = _fold_and_wrap(
        net, options.spec, half=False, embed=options.embed_preprocessing, plan=KeepPlan()
    )
    proto32 = _trace(wrapper, options)
    proto16 = derive_fp16(proto32)
    if proto16 is not None:
        _check_graph(proto16, options.opset)
    made: dict[str, Any] = {"net": net, "plan": KeepPlan(), "n_folded": n_folded}
    fp32 = _finish(proto32, fp32_output, fp32_options, float16_from=None, **made)
    if proto16 is None:
        return fp32, write_float_onnx(options, fp16_output, force=force, model_obj=net)
    return fp32, _finish(proto16, fp16_output, options, float16_from=FLOAT16_DERIVED, **made)
