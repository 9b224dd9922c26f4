"""``localize``: which layer of an ONNX artifact first drifts from eager PyTorch.

Eager PyTorch (float32, CPU) runs the golden inputs with a forward hook on every layer
(see :mod:`inception_export.full.export.layers`); the artifact runs them in onnxruntime with
every layer's output exposed as an extra graph output of an in-memory copy (the file is never
changed). The tensor of each layer comes from the ``layer_outputs`` map the exporter stored in
the artifact's metadata (:mod:`inception_export.full.export.onnx_map`). Inputs go one at a
time, so only one input's
intermediate tensors are ever held; per-layer sums are accumulated in float64.

The first divergent layer is the first, in eager execution order, whose relative L2 error
over all inputs exceeds the ``rel_l2`` limit of the artifact's precision in the tolerance
profile (the limit the gate applies to the logits), or that produces NaN/Inf: errors only
grow downstream of it, and every layer before it is within what the precision allows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...console import expect_steps
from ...errors import ArtifactError, UsageError
from ...facts import PrecisionFact, artifact_precision
from ...metadata import NO_METADATA, ArtifactMeta, read_metadata
from ...parity.tolerances import DEFAULT_PROFILE, ToleranceProfile
from ...reading import check_fits_memory
from ...registry import ModelSpec, get_spec
from ...text import describe_kind, first_line

FP16_MAX = 65504.0
Progress = Callable[[str], None]


@dataclass
class LayerError:
    layer: str
    tensor: str
    rel_l2: float
    max_abs: float
    max_activation: float  # eager, max |output| over the inputs
    artifact_max_activation: float
    nonfinite: int
    diverges: bool

    def to_dict(self, fp16: bool) -> dict[str, Any]:
        d: dict[str, Any] = {
            "layer": self.layer,
            "tensor": self.tensor,
            "rel_l2": _num(self.rel_l2),
            "max_abs": _num(self.max_abs),
            "max_activation": _num(self.max_activation),
            "artifact_max_activation": _num(self.artifact_max_activation),
            "nonfinite": self.nonfinite,
            "diverges": self.diverges,
        }
        if fp16:
            # How far the layer is from float16's largest value (overflow headroom).
            d["fp16_headroom"] = _num(FP16_MAX / self.max_activation) if self.max_activation > 0 else None
        return d


def _num(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf" if x < 0 else "nan")


@dataclass
class LocalizeReport:
    model: str
    artifact: str
    precision: str
    profile: str
    rel_l2_limit: float
    inputs: list[dict[str, str]]
    layers: list[LayerError] = field(default_factory=list)
    seconds: float = 0.0
    precision_evidence: str = ""  # what in the graph says so (the precision is read from it)
    limits_beyond_bound: list[str] = field(default_factory=list)  # only with --allow-loose-limits

    @property
    def first_divergent(self) -> LayerError | None:
        return next((lay for lay in self.layers if lay.diverges), None)

    @property
    def exit_code(self) -> int:
        return 0 if self.first_divergent is None else 1

    def to_dict(self) -> dict[str, Any]:
        first = self.first_divergent
        fp16 = self.precision == "fp16"
        return {
            "first_divergent": first.layer if first else None,
            "model": self.model,
            "artifact": self.artifact,
            "precision": self.precision,
            "precision_from": "graph",
            "precision_evidence": self.precision_evidence,
            "tolerance_profile": self.profile,
            "limits": {"rel_l2": self.rel_l2_limit},
            "limits_within_bound": not self.limits_beyond_bound,
            "limits_beyond_bound": self.limits_beyond_bound,
            "reference": "eager PyTorch, float32, CPU; metrics computed in float64",
            "inputs": self.inputs,
            "layers": [lay.to_dict(fp16) for lay in self.layers],
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 3),
        }


def _open_onnx(path: Path) -> tuple[ArtifactMeta, list[tuple[str, str]]]:
    from ...artifacts import detect_format

    fmt = detect_format(path)
    if fmt != "onnx":
        word = {"torchscript": "a TorchScript archive", "tensorrt": "a TensorRT engine"}[fmt]
        raise ArtifactError(
            f"{path}: localize takes ONNX artifacts (FP32 or FP16, from inception-export onnx); "
            f"this is {word}"
        )
    check_external_data(path)
    try:
        meta = read_metadata(path)
    except ArtifactError:
        meta = NO_METADATA
    pairs = meta.layer_outputs
    if not pairs:
        raise ArtifactError(
            f"{path}: no layer map in its metadata (an ONNX not exported by this version of "
            "inception-export); re-export it with `inception-export onnx` to localize"
        )
    return meta, list(pairs)


def check_external_data(path: Path) -> None:
    """Refuse (exit 2) external-data references that onnx would refuse or that leave the
    model's directory, before anything slow: a relative path below the directory, a
    regular file, the range inside it."""
    import onnx
    from onnx.external_data_helper import ExternalDataInfo, _get_all_tensors, uses_external_data

    check_fits_memory(path, "ONNX")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and friends
        why = first_line(str(exc)) or type(exc).__name__
        raise ArtifactError(f"{path}: not a readable ONNX file ({why})") from None
    base = path.resolve().parent
    for tensor in _get_all_tensors(proto):
        if not uses_external_data(tensor):
            continue
        info = ExternalDataInfo(tensor)
        where = f"{path}: tensor {tensor.name!r} keeps its data in {info.location!r}"
        loc = Path(info.location)
        target = (base / loc).resolve()
        if not info.location or loc.is_absolute() or ".." in loc.parts or not target.is_relative_to(base):
            raise ArtifactError(f"{where}, outside the model's directory; refusing to read it")
        if not target.is_file():
            what = "not found" if not target.exists() else describe_kind(target)
            raise ArtifactError(f"{where}: {what}")
        offset, length = int(info.offset or 0), info.length
        size = target.stat().st_size
        end = offset + int(length) if length is not None else offset
        if offset < 0 or (length is not None and int(length) < 0) or end > size:
            raise ArtifactError(
                f"{where} at offset {offset}, length {length}: past the end of the file ({size} bytes)"
            )


def _session(path: Path, tensors: list[str], threads: int | None, precision: str = "fp32") -> Any:
    import onnx
    import onnxruntime as ort

    from ...runners.onnxruntime_runner import disabled_optimizers

    try:
        proto = onnx.load(str(path))
    except Exception as exc:  # onnx refuses bad external data with several exception types
        why = first_line(str(exc)) or type(exc).__name__
        raise ArtifactError(f"{path}: cannot read it with its external data ({why})") from None
    types = {v.name: v.type.tensor_type.elem_type for v in proto.graph.value_info}
    types.update({v.name: v.type.tensor_type.elem_type for v in proto.graph.output})
    missing = [t for t in tensors if t not in types]
    if missing:
        raise ArtifactError(
            f"{path}: its layer map names tensors the graph does not have ({', '.join(missing[:3])}); "
            "was the graph edited after export?"
        )
    present = {o.name for o in proto.graph.output}
    for name in tensors:
        if name not in present:
            proto.graph.output.append(onnx.helper.make_tensor_value_info(name, types[name], None))
            present.add(name)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    # localize alternates eager PyTorch and onnxruntime input by input; spinning onnxruntime
    # workers would keep the cores busy while torch runs (see benchmarks/README.md).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(
            proto.SerializeToString(),
            sess_options=opts,
            providers=["CPUExecutionProvider"],
            disabled_optimizers=disabled_optimizers(precision),
        )
    except Exception as exc:  # onnxruntime raises several unrelated exception types
        from ...runners.onnxruntime_runner import load_error

        raise load_error(path, exc) from None


def _check_session_input(artifact: Path, session: Any, pixels: bool, size: int) -> None:
    """Refuse (exit 2) a graph whose input is not what its metadata says localize must feed:
    uint8 NHWC pixels or float32 NCHW at ``size``, a batch localize can repeat one input to."""
    from ...bounds import MAX_BATCH

    given = session.get_inputs()[0]
    want_type, want = ("tensor(uint8)", (size, size, 3)) if pixels else ("tensor(float)", (3, size, size))
    said = "uint8 pixels (embedded preprocessing)" if pixels else "float32 NCHW input"
    shape = list(given.shape)
    if given.type != want_type:
        raise ArtifactError(f"{artifact}: its metadata says {said}, but its graph takes {given.type}")
    fixed = [d if isinstance(d, int) else None for d in shape]
    if len(shape) != 4 or any(d is not None and d != w for d, w in zip(fixed[1:], want, strict=True)):
        raise ArtifactError(
            f"{artifact}: its graph takes input of shape {shape}, its metadata says {said} of size {size}"
        )
    if fixed[0] is not None and not 1 <= fixed[0] <= MAX_BATCH:
        raise ArtifactError(
            f"{artifact}: its batch is fixed at {fixed[0]}; localize runs batches of 1 to {MAX_BATCH}"
        )


class _Acc:
    __slots__ = ("diff2", "max_abs", "max_art", "max_ref", "nonfinite", "ref2")

    def __init__(self) -> None:
        self.diff2 = self.ref2 = self.max_abs = self.max_ref = self.max_art = 0.0
        self.nonfinite = 0

    def add(self, ref: np.ndarray, out: np.ndarray) -> None:
        r = ref.astype(np.float64, copy=False)
        o = out.astype(np.float64, copy=False)
        if r.shape != o.shape:
            raise ArtifactError(f"layer output shape {o.shape} differs from eager {r.shape}")
        bad = int((~np.isfinite(o)).sum())
        self.nonfinite += bad
        self.ref2 += float(np.square(r).sum())
        self.max_ref = max(self.max_ref, float(np.abs(r).max(initial=0.0)))
        if bad:
            self.max_abs = self.diff2 = self.max_art = math.inf
            return
        d = o - r
        self.diff2 += float(np.square(d).sum())
        self.max_abs = max(self.max_abs, float(np.abs(d).max(initial=0.0)))
        self.max_art = max(self.max_art, float(np.abs(o).max(initial=0.0)))

    def rel_l2(self) -> float:
        if self.nonfinite:
            return math.inf
        if self.ref2 == 0.0:
            return 0.0 if self.diff2 == 0.0 else math.inf
        return math.sqrt(self.diff2 / self.ref2)


def _checked_artifact(
    artifact: Path, spec: ModelSpec, limits: dict[str, Any]
) -> tuple[ArtifactMeta, list[tuple[str, str]], PrecisionFact]:
    """The artifact's metadata, layer map and precision (read from the graph, as the gate reads
    it: a record may not pick the limit), refused before anything slow when they cannot be
    compared with ``spec``."""
    meta, pairs = _open_onnx(artifact)
    fact = artifact_precision(artifact, "onnx", meta)
    if fact.precision not in limits:
        raise ArtifactError(f"{artifact}: no {fact.precision} limits in the tolerance profile")
    if meta.model is not None and get_spec(meta.model).name != spec.name:
        # Before building the reference model: a wrong --model fails in a second.
        raise ArtifactError(f"{artifact}: artifact is for model {meta.model}, not {spec.name}")
    return meta, pairs, fact


def _reference_net(
    artifact: Path,
    spec: ModelSpec,
    meta: ArtifactMeta,
    pairs: list[tuple[str, str]],
    weights: Path | None,
    transform_input: bool,
    reference_model: Any,
) -> tuple[Any, dict[str, Any], int]:
    """The eager model, its modules by path and the input size, checked against the artifact."""
    from ..build import build_model, load_report

    net = reference_model or build_model(spec.name, weights, transform_input=transform_input)
    classes, num_classes = meta.num_classes, load_report(net).num_classes
    if classes is not None and classes != num_classes:
        raise ArtifactError(f"{artifact}: artifact has {classes} classes, the weights have {num_classes}")
    size = meta.input_size or spec.default_size
    spec.check_size(size)
    modules = dict(net.named_modules())
    unknown = [layer for layer, _ in pairs if layer not in modules]
    if unknown:
        raise ArtifactError(f"{artifact}: layers {', '.join(unknown[:3])} are not in {spec.name}")
    return net, modules, size


def _accumulate(
    artifact: Path,
    net: Any,
    modules: dict[str, Any],
    pairs: list[tuple[str, str]],
    gold: Any,
    pixels: bool,
    session: Any,
    step: Progress,
) -> tuple[dict[str, _Acc], list[str]]:
    """Run the inputs one at a time through both sides; per-layer sums and the eager order."""
    import torch

    from ...runners.onnxruntime_runner import run_session

    feed = gold.pixels if gold.pixels is not None else gold.batch
    input_name = session.get_inputs()[0].name
    # A fixed-batch artifact (--batch N) gets the one input repeated N times; row 0 is used.
    dim0 = session.get_inputs()[0].shape[0]
    fixed_batch = dim0 if isinstance(dim0, int) and dim0 > 1 else 1
    names = list(dict.fromkeys(t for _, t in pairs))

    captured: dict[str, np.ndarray] = {}
    order: list[str] = []
    handles = []
    for layer, _ in pairs:

        def hook(_m: Any, _i: Any, out: Any, layer: str = layer) -> None:
            captured[layer] = out.detach().float().numpy()
            if layer not in order:
                order.append(layer)

        handles.append(modules[layer].register_forward_hook(hook))
    accs = {layer: _Acc() for layer, _ in pairs}
    try:
        for i in range(len(gold.batch)):
            step(f"input {i + 1}/{len(gold.batch)}: {gold.names[i]}")
            captured.clear()
            with torch.inference_mode():
                net(torch.from_numpy(np.ascontiguousarray(gold.batch[i : i + 1], dtype=np.float32)))
            x = np.repeat(feed[i : i + 1], fixed_batch, axis=0)
            x = np.ascontiguousarray(x, dtype=np.uint8 if pixels else np.float32)
            got = run_session(session, artifact, names, {input_name: x})
            outs = {n: o[:1] for n, o in zip(names, got, strict=True)}
            for layer, tensor in pairs:
                if layer in captured:
                    accs[layer].add(captured[layer], outs[tensor])
            del outs
    finally:
        for h in handles:
            h.remove()
    return accs, order


def _layer_errors(
    accs: dict[str, _Acc], order: list[str], pairs: list[tuple[str, str]], limit: float
) -> list[LayerError]:
    """One row per layer that ran, in eager execution order; divergent above ``limit``."""
    tensor_of = dict(pairs)
    rows = []
    for layer in order:
        acc = accs[layer]
        rel = acc.rel_l2()
        rows.append(
            LayerError(
                layer=layer,
                tensor=tensor_of[layer],
                rel_l2=rel,
                max_abs=acc.max_abs,
                max_activation=acc.max_ref,
                artifact_max_activation=acc.max_art,
                nonfinite=acc.nonfinite,
                diverges=not rel <= limit,
            )
        )
    return rows


def localize(
    model: str,
    artifact: Path,
    *,
    weights: Path | None = None,
    transform_input: bool = False,
    images: Path | None = None,
    samples: int = 6,
    profile: ToleranceProfile = DEFAULT_PROFILE,
    progress: Progress | None = None,
    reference_model: Any = None,
    threads: int | None = None,
) -> LocalizeReport:
    """Per-layer error of an ONNX artifact against eager PyTorch, in execution order; a layer
    diverges past ``profile``'s ``rel_l2`` (read at the edge: ``ToleranceProfile.parse``).

    ``threads``: for torch and onnxruntime (default: their own, all cores). On a machine
    other jobs already load, 1 can be several times faster (no spinning worker threads).
    """
    import torch

    from ..golden import check_inputs, golden_inputs, golden_pixels

    t0 = time.perf_counter()
    step = progress or (lambda _msg: None)
    spec = get_spec(model)
    artifact = Path(artifact)
    limits = profile.limits
    check_inputs(samples, images)
    meta, pairs, fact = _checked_artifact(artifact, spec, limits)
    precision = fact.precision
    step("reference model")
    net, modules, size = _reference_net(
        artifact, spec, meta, pairs, weights, transform_input, reference_model
    )
    pixels = meta.embedded_preprocessing
    step("golden inputs")
    gold = (golden_pixels if pixels else golden_inputs)(spec, size, samples, images)
    expect_steps(progress, 1 + len(gold.batch))  # load artifact + one per input (--images counts)
    step("load artifact")
    if threads is not None:
        if threads < 1:
            raise UsageError(f"--threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)
    session = _session(artifact, [t for _, t in pairs], threads, precision)
    _check_session_input(artifact, session, pixels, size)
    accs, order = _accumulate(artifact, net, modules, pairs, gold, pixels, session, step)
    limit = float(limits[precision].rel_l2)
    report = LocalizeReport(
        model=spec.name,
        artifact=str(artifact),
        precision=precision,
        profile=profile.name,
        rel_l2_limit=limit,
        inputs=gold.describe(),
        layers=_layer_errors(accs, order, pairs, limit),
        precision_evidence=fact.evidence,
        limits_beyond_bound=list(profile.beyond),
    )
    if not report.layers:
        raise UsageError(f"{artifact}: none of its mapped layers ran in eager {spec.name}")
    report.seconds = time.perf_counter() - t0
    return report
