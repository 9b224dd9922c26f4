"""A Triton Inference Server model repository from a release: one model per artifact.

``OUT/<model>-<platform>-<precision>/config.pbtxt``, ``…/1/model.{onnx,plan,pt}`` and
``…/labels.txt``. Every number in a config is read off the artifact itself (the ONNX graph's
inputs and outputs) or off the record written when it was built (the engine's manifest: its
optimization profile and TensorRT version), never assumed, because a ``max_batch_size`` or
dims that disagree with the model is the mistake hand-written configs make. The schema is
Triton's ``model_config.proto`` (``inference.ModelConfig``), written as protobuf text.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ArtifactError, BackendUnavailable, GateFailure, UsageError
from ..release_manifest import SAFE_NAME
from ..tensorrt.config import DEFAULT_MAX_BATCH  # what an engine serves unasked, `trt` and `release`
from ..tensorrt.config import PRECISIONS as ENGINE_PRECISIONS
from ..text import printable
from .labels import labels_text
from .source import artifacts, copy_verified
from .verify import Verified, gate_report, verify_entry

# The release's artifact format -> (the name users pick it by, Triton's platform, the
# default model file name Triton looks for in a version directory).
PLATFORMS = {
    "onnx": ("onnx", "onnxruntime_onnx", "model.onnx"),
    "tensorrt": ("plan", "tensorrt_plan", "model.plan"),
    "torchscript": ("libtorch", "pytorch_libtorch", "model.pt"),
}
CHOICES = tuple(short for short, _, _ in PLATFORMS.values())
LABELS = "labels.txt"
VERSION = "1"
# How long the dynamic batcher may hold a request to fill a batch: Triton's documented
# starting point; a deployment tunes it with perf_analyzer.
MAX_QUEUE_DELAY_US = 100
# Triton's onnxruntime backend (src/onnxruntime.cc) maps optimization.graph.level -1 to
# ORT_ENABLE_BASIC, 1 to ORT_ENABLE_EXTENDED, 2 to ORT_DISABLE_ALL and anything else, or no
# level, to ORT_ENABLE_ALL. Every enabled level runs onnxruntime's WeightBiasQuantization,
# which requantizes the float16 bias beside a QDQ Conv to int32 in float16 and overflows on a
# large bias (docs/int8.md; onnxruntime 1.31.1). TensorRT keeps biases in float, and so does the
# gate's CPU check (runners/onnxruntime_runner.py), so an INT8 model is served unoptimized.
ORT_DISABLE_ALL_LEVEL = 2
# The libtorch backend binds tensors by position, named by its convention.
LIBTORCH_INPUT, LIBTORCH_OUTPUT = "INPUT__0", "OUTPUT__0"

_ONNX_TYPES = {1: "TYPE_FP32", 2: "TYPE_UINT8", 10: "TYPE_FP16"}
_DTYPES = {"float32": "TYPE_FP32", "uint8": "TYPE_UINT8", "float16": "TYPE_FP16"}


@dataclass(frozen=True)
class Tensor:
    name: str
    data_type: str  # Triton's DataType enum name
    dims: tuple[int, ...]  # without the batch dimension when the model batches
    format: str | None = None  # FORMAT_NCHW / FORMAT_NHWC for an image input
    label_filename: str | None = None


@dataclass(frozen=True)
class TritonModel:
    name: str
    fmt: str
    platform: str
    source: Path
    sha256: str
    model_file: str
    max_batch_size: int  # 0: the model does not batch; dims then include the batch dimension
    input: Tensor
    output: Tensor
    preferred_batch_sizes: tuple[int, ...] = ()
    comments: tuple[str, ...] = field(default=())
    graph_level: int | None = None  # optimization { graph { level } } for onnxruntime_onnx


def parse_platforms(text: str | None) -> set[str] | None:
    """``--platform onnx,plan,libtorch``: None (every artifact the release has) when not given."""
    if text is None:
        return None
    asked = {p.strip() for p in text.split(",") if p.strip()}
    unknown = sorted(asked - set(CHOICES))
    if unknown or not asked:
        raise UsageError(
            f"--platform '{printable(text)}': choose from {', '.join(CHOICES)} (comma-separated)"
        )
    return asked


def _batching(
    what: str,
    lo: int | None,
    opt: int | None,
    hi: int | None,
    asked: int | None,
    *,
    engine: bool,
    default: int = DEFAULT_MAX_BATCH,
) -> tuple[int, tuple[int, ...]]:
    """(max_batch_size, preferred batch sizes) for a model serving batches ``lo..hi``
    (None: any batch). Triton sends every batch from 1 to max_batch_size."""
    if asked is not None and asked < 1:
        raise UsageError(f"--max-batch must be at least 1, got {asked}")
    if lo is not None and hi is not None and lo == hi:
        # One fixed batch: Triton batches only a model whose batch dimension is free, so this
        # one is declared non-batching, its batch in the dims, and each request carries it all.
        if asked is not None and asked != hi:
            raise UsageError(
                f"--max-batch {asked}: {what} takes batch {hi} only (a fixed batch); "
                f"ask for {hi} or re-export it with a dynamic batch"
            )
        return 0, ()
    if lo is not None and lo > 1:
        raise UsageError(
            f"{what} serves batches {lo}..{hi} only, but Triton sends any batch from 1 to "
            "max_batch_size; rebuild it with --min-batch 1"
        )
    if asked is not None and hi is not None and asked > hi:
        raise UsageError(
            f"--max-batch {asked}: {what} serves batches up to {hi} (its optimization profile); "
            f"ask for at most {hi} or rebuild it with --max-batch {asked}"
        )
    size = asked if asked is not None else (hi if hi is not None else default)
    preferred = {b for b in (2, 4, 8, 16, 32, 64, 128, 256) if b <= size} | ({size} if size > 1 else set())
    if engine and opt is not None and 1 < opt <= size:
        preferred.add(opt)  # the batch the engine's kernels were tuned for
    return size, tuple(sorted(preferred))


def check_engine_batch(lo: int, opt: int, hi: int) -> None:
    """Refuse an engine profile Triton cannot serve (``release --deploy triton`` asks first)."""
    _batching("the engine (--min/--max-batch)", lo, opt, hi, None, engine=True)


def _onnx_io(path: Path) -> tuple[tuple[str, int, list[int | None]], tuple[str, int, list[int | None]]]:
    """(name, elem type, dims with None for a symbolic dim) of the graph's input and first output."""
    import onnx

    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception:  # protobuf raises DecodeError and friends
        raise ArtifactError(f"{path}: not a readable ONNX model") from None
    if len(graph.input) != 1 or not graph.output:
        raise ArtifactError(f"{path}: expected one input and an output, found {len(graph.input)} inputs")

    def describe(value: Any) -> tuple[str, int, list[int | None]]:
        t = value.type.tensor_type
        dims = [int(d.dim_value) if d.HasField("dim_value") else None for d in t.shape.dim]
        return value.name, int(t.elem_type), dims

    return describe(graph.input[0]), describe(graph.output[0])


def _triton_type(path: Path, elem: int) -> str:
    if elem not in _ONNX_TYPES:
        raise ArtifactError(f"{path}: tensor type {elem} is not one a release writes")
    return _ONNX_TYPES[elem]


def _image(v: Verified) -> tuple[str, str, int]:
    """(Triton data type, FORMAT_*, input size) of the artifact's input, as the file is."""
    if v.dtype not in _DTYPES or v.layout not in ("NCHW", "NHWC"):
        raise ArtifactError(f"{v.path}: input {v.dtype} {v.layout} is not one Triton is given here")
    return _DTYPES[v.dtype], f"FORMAT_{v.layout}", v.input_size


def _format(fmt: str, max_batch_size: int) -> str | None:
    """Triton accepts FORMAT_NCHW/NHWC only on 3 dims (model_config_utils.cc: "model input
    NHWC/NCHW require 3 dims"): a non-batching model's dims hold the batch, so it gets none."""
    return fmt if max_batch_size else None


def _layout_note(fmt: str, max_batch_size: int, batch: int | None) -> tuple[str, ...]:
    if max_batch_size:
        return ()
    layout = fmt.removeprefix("FORMAT_")
    notes: tuple[str, ...] = (
        f"Input layout {layout}, its fixed batch {batch} in the dims (Triton takes a format on 3 dims).",
    )
    if batch != 1:
        notes += (
            "Triton's classification extension reads this non-batching output as one vector of "
            f"{batch} x classes: its labels name the first image's classes only; read the logits.",
        )
    return notes


_INT8_NOTE = (
    "INT8: onnxruntime's graph optimizations off (level 2): every level it has requantizes the QDQ",
    "biases in float16, which overflows on a large bias (docs/int8.md).",
)


def _onnx_model(name: str, v: Verified, classes: int, asked: int | None, default: int) -> TritonModel:
    path = v.path
    (in_name, in_elem, in_dims), (out_name, out_elem, out_dims) = _onnx_io(path)
    dtype, fmt, size = _image(v)
    image = [size, size, 3] if fmt == "FORMAT_NHWC" else [3, size, size]
    in_type = _triton_type(path, in_elem)
    if len(in_dims) != 4 or in_dims[1:] != image or in_type != dtype:
        raise ArtifactError(f"{path}: input {in_type} {in_dims} is not a {dtype} {image} image")
    if out_dims[1:] != [classes]:
        raise ArtifactError(f"{path}: output {out_dims} does not end in the manifest's {classes} classes")
    batch = in_dims[0]
    mbs, preferred = _batching(path.name, batch, None, batch, asked, engine=False, default=default)
    keep = 1 if mbs else 0  # a batching model's dims leave the batch dimension out
    int8 = v.precision == "int8"  # read from the graph (its QDQ nodes), not the manifest's word
    return TritonModel(
        name=name,
        fmt="onnx",
        platform=PLATFORMS["onnx"][1],
        source=path,
        sha256=v.sha256,
        model_file=PLATFORMS["onnx"][2],
        max_batch_size=mbs,
        input=Tensor(in_name, in_type, tuple(int(d or 0) for d in in_dims[keep:]), _format(fmt, mbs)),
        output=Tensor(out_name, _triton_type(path, out_elem), tuple(int(d or 0) for d in out_dims[keep:])),
        preferred_batch_sizes=preferred,
        comments=(*_layout_note(fmt, mbs, batch), *(_INT8_NOTE if int8 else ())),
        graph_level=ORT_DISABLE_ALL_LEVEL if int8 else None,
    )


def _engine_model(name: str, v: Verified, classes: int, asked: int | None, default: int) -> TritonModel:
    path, meta = v.path, v.engine or {}
    dtype, fmt, size = _image(v)
    assert v.batch is not None  # an engine's profile (verify.py)
    lo, opt, hi = v.batch
    try:
        in_name, out_name = str(meta["input_name"]), str(meta["output_names"][0])
        version = str(meta["tensorrt_version"])
        gpu = meta.get("gpu") or {}
    except (KeyError, IndexError, TypeError, ValueError):
        raise ArtifactError(f"{path.name}.json: the engine manifest lacks its profile or I/O names") from None
    image = [size, size, 3] if fmt == "FORMAT_NHWC" else [3, size, size]
    mbs, preferred = _batching(f"{path.name} (engine)", lo, opt, hi, asked, engine=True)
    out_type = _DTYPES.get(str(meta.get("output_dtype")), "TYPE_FP32")
    built_on = (
        f" on {printable(gpu.get('name'))} (compute capability {printable(gpu.get('compute_capability'))})"
    )
    major_minor = ".".join(version.split(".")[:2])
    return TritonModel(
        name=name,
        fmt="tensorrt",
        platform=PLATFORMS["tensorrt"][1],
        source=path,
        sha256=v.sha256,
        model_file=PLATFORMS["tensorrt"][2],
        max_batch_size=mbs,
        input=Tensor(in_name, dtype, tuple([lo, *image] if mbs == 0 else image), _format(fmt, mbs)),
        output=Tensor(out_name, out_type, (lo, classes) if mbs == 0 else (classes,)),
        preferred_batch_sizes=preferred,
        comments=(
            *_layout_note(fmt, mbs, lo),
            f"TensorRT {printable(version)} built this plan{built_on}, profile batch {lo}..{hi} (opt {opt}).",
            f"A plan loads only under the TensorRT it was built with: serve it from the Triton release "
            f"that ships TensorRT {printable(major_minor)}, on a GPU of that compute capability.",
        ),
    )


def _torchscript_model(name: str, v: Verified, classes: int, asked: int | None, default: int) -> TritonModel:
    dtype, fmt, size = _image(v)
    if fmt != "FORMAT_NCHW" or dtype != "TYPE_FP32":
        raise ArtifactError(f"{v.path}: TorchScript takes float32 NCHW here, not {dtype} {fmt}")
    mbs, preferred = _batching(v.path.name, None, None, None, asked, engine=False, default=default)
    return TritonModel(
        name=name,
        fmt="torchscript",
        platform=PLATFORMS["torchscript"][1],
        source=v.path,
        sha256=v.sha256,
        model_file=PLATFORMS["torchscript"][2],
        max_batch_size=mbs,
        input=Tensor(LIBTORCH_INPUT, "TYPE_FP32", (3, size, size), fmt),
        output=Tensor(LIBTORCH_OUTPUT, "TYPE_FP32", (classes,)),
        preferred_batch_sizes=preferred,
    )


def _engine_max_batch(verified: list[Verified]) -> int | None:
    """The largest batch of the release's engine, from its profile (None: no engine, or one batch)."""
    for v in verified:
        if v.format == "tensorrt" and v.gate_failure is None and v.batch is not None:
            lo, _opt, hi = v.batch
            return hi if lo != hi else None
    return None


_BUILDERS = {"onnx": _onnx_model, "tensorrt": _engine_model, "torchscript": _torchscript_model}


class NothingToPackage(ArtifactError):
    """Every artifact Triton could serve failed the release's gate (``release --deploy`` records
    that and keeps the failed release; ``deploy`` refuses, exit 2)."""

    def __init__(self, message: str, left_out: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.left_out = left_out


def left_out_record(v: Verified) -> dict[str, Any]:
    """An artifact not packaged, and why (deploy.json, the release manifest, a warning line)."""
    return {"file": v.file, "format": v.format, "precision": v.precision, "reason": v.gate_failure}


def plan_models(
    release_dir: Path,
    manifest: dict[str, Any],
    *,
    platforms: set[str] | None = None,
    max_batch: int | None = None,
    exported: dict[str, Path] | None = None,
) -> tuple[list[TritonModel], list[dict[str, Any]]]:
    """One model per artifact of the asked platforms (all when None) that the release's gate
    passed, every check done before anything is written, and the artifacts left out because
    the gate failed them. Every artifact is checked against its file (``verify.py``).
    ``exported``: artifacts from outside the release, gated against its golden bundle for this
    deployment (file name -> path): TorchScript exported here, an engine built on the device."""
    wanted = set(CHOICES) if platforms is None else platforms
    classes = int(manifest["num_classes"])
    report = gate_report(release_dir)
    verified = []
    for entry in manifest["artifacts"]:
        made = (exported or {}).get(entry["file"])
        verified.append(
            verify_entry(release_dir, manifest, entry, report, path=made, gated_here=made is not None)
        )
    # A model that takes any batch is given the engine's largest, so every model of the
    # repository takes the requests the engine takes.
    default = _engine_max_batch(verified) or DEFAULT_MAX_BATCH
    models: list[TritonModel] = []
    left_out: list[dict[str, Any]] = []
    for fmt, (short, _platform, _file) in PLATFORMS.items():
        found = [v for v in verified if v.format == fmt]
        if short in wanted and not found and platforms is not None:
            hint = {
                "tensorrt": "build one where TensorRT and a GPU exist (release --trt)",
                "torchscript": "make the release with --torchscript, or pass --weights W to export one",
                "onnx": "make the release again",
            }[fmt]
            raise ArtifactError(f"--release {release_dir}: no {fmt} artifact for Triton's {short}; {hint}")
        if short not in wanted:
            continue
        failed = [v for v in found if v.gate_failure is not None]
        left_out += [left_out_record(v) for v in failed]
        if platforms is not None and found and len(failed) == len(found):
            raise ArtifactError(
                f"--release {release_dir}: {', '.join(v.file for v in failed)} failed the release's gate; "
                f"nothing to serve as Triton's {short}"
            )
        for v in found:
            if v.gate_failure is None:
                name = f"{manifest['model']}-{short}-{v.precision}"
                models.append(_BUILDERS[fmt](name, v, classes, max_batch, default))
    if not models and left_out:
        raise NothingToPackage(
            f"--release {release_dir}: no artifact Triton can serve: "
            f"{', '.join(x['file'] for x in left_out)} failed the release's gate",
            left_out,
        )
    if not models:
        raise ArtifactError(f"--release {release_dir}: no artifact Triton can serve")
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise ArtifactError(f"--release {release_dir}: two artifacts would be the same Triton model")
    return models, left_out


def _dims(dims: tuple[int, ...]) -> str:
    return "[ " + ", ".join(str(d) for d in dims) + " ]"


def _tensor(t: Tensor) -> list[str]:
    lines = [f'    name: "{t.name}"', f"    data_type: {t.data_type}"]
    if t.format:
        lines.append(f"    format: {t.format}")
    lines.append(f"    dims: {_dims(t.dims)}")
    if t.label_filename:
        lines.append(f'    label_filename: "{t.label_filename}"')
    return ["  {", *lines, "  }"]


def render_config(model: TritonModel) -> str:
    """``config.pbtxt`` (protobuf text of ``inference.ModelConfig``)."""
    for text in (model.name, model.input.name, model.output.name):
        if not SAFE_NAME.fullmatch(text):  # quoted as-is below: no quote or backslash may get in
            raise ArtifactError(
                f"{model.source}: tensor or model name '{printable(text)}' is not a plain name"
            )
    output = Tensor(model.output.name, model.output.data_type, model.output.dims, label_filename=LABELS)
    lines = [f"# {model.name}: {model.source.name} (sha256 {model.sha256}) from an inception-export release."]
    lines += [f"# {c}" for c in model.comments]
    lines += [
        f'name: "{model.name}"',
        f'platform: "{model.platform}"',
        f"max_batch_size: {model.max_batch_size}",
        "input [",
        *_tensor(model.input),
        "]",
        "output [",
        *_tensor(output),
        "]",
    ]
    if model.max_batch_size > 1:
        lines.append("dynamic_batching {")
        if model.preferred_batch_sizes:
            lines.append(f"  preferred_batch_size: {_dims(model.preferred_batch_sizes)}")
        lines += [f"  max_queue_delay_microseconds: {MAX_QUEUE_DELAY_US}", "}"]
    if model.graph_level is not None:
        lines += ["optimization {", f"  graph {{ level: {model.graph_level} }}", "}"]
    return "\n".join(lines) + "\n"


def device_engine(
    release_dir: Path, manifest: dict[str, Any], engine: Path
) -> tuple[dict[str, Any], dict[str, Path]]:
    """``--engine FILE``: the release manifest with FILE as its TensorRT artifact (in place of any
    engine the release has), and FILE's path. FILE is an engine `trt --onnx` built (or
    `trt-manifest` adopted) on the device from one of the release's ONNX files: its manifest must
    record FILE's sha256 and that ONNX's, and the release's record of that ONNX gives the input
    the config declares."""
    from ..hashing import file_sha256
    from ..tensorrt.manifest import manifest_path, read_manifest

    where = f"--engine {engine}"
    if not engine.is_file():
        raise UsageError(f"{where}: no such file" if not engine.exists() else f"{where}: not a regular file")
    try:
        meta = read_manifest(engine)
    except ArtifactError:
        _refuse_a_model_file(engine, where)  # whose metadata sidecar is no engine manifest
        raise
    if meta is None:
        raise ArtifactError(
            f"{where}: no manifest {manifest_path(engine).name} beside it (`trt --onnx` writes one; "
            "`trt-manifest` adopts an engine built elsewhere)"
        )
    digest = file_sha256(engine)
    recorded = (meta.get("engine") or {}).get("sha256")
    if digest != recorded:
        raise ArtifactError(
            f"{where}: sha256 {digest[:12]}… is not the {printable(recorded)[:12]}… its manifest records: "
            "the engine changed after it was built"
        )
    onnx_sha = (meta.get("onnx") or {}).get("sha256")
    sources = [a for a in artifacts(manifest, "onnx") if a.get("sha256") == onnx_sha]
    if not sources or meta.get("model") != manifest["model"]:
        raise ArtifactError(
            f"{where}: built from an ONNX (sha256 {printable(onnx_sha)[:12]}…) that is not one of "
            f"--release {release_dir}; build it with `trt --onnx` from the release's ONNX"
        )
    try:
        profile = meta["profiles"][0]
        batch = [int(profile["min"][0]), int(profile["max"][0])]
    except (KeyError, IndexError, TypeError, ValueError):
        raise ArtifactError(f"{manifest_path(engine)}: the engine manifest lacks its profile") from None
    if meta.get("precision") not in ENGINE_PRECISIONS:
        raise ArtifactError(
            f"{manifest_path(engine)}: precision {printable(meta.get('precision'))!r} is not an engine's"
        )
    key = f"device:{engine.name}"  # never a release file's name (SAFE_NAME has no ':')
    side = manifest_path(engine)
    entry = {
        "file": key,
        "format": "tensorrt",
        "precision": meta.get("precision"),
        "sha256": digest,
        "input": {**(sources[0].get("input") or {}), "batch": batch},
        "output": sources[0].get("output"),
        # Its own manifest, which named this engine's sha256 above: verify.py reads it from there.
        "manifest": {"file": side.name, "sha256": file_sha256(side)},
    }
    kept = [a for a in manifest["artifacts"] if a.get("format") != "tensorrt"]
    # The release's engine range described the engine this one replaces.
    rest = {k: v for k, v in manifest.items() if k != "engine_batch"}
    return {**rest, "artifacts": [*kept, entry]}, {key: engine}


def gate_device_engine(release_dir: Path, manifest: dict[str, Any], engine: Path) -> None:
    """An engine from outside the release is packaged only once it passes the gate against the
    release's golden bundle, here, on the device that runs it (exit 2 where TensorRT cannot run,
    exit 1 when it fails): no verdict of the release covers it."""
    from ..artifacts import require_backend
    from ..parity.gate import run_golden_gate
    from .verify import bundle_path

    try:
        require_backend(engine, "tensorrt")
    except BackendUnavailable as exc:
        raise BackendUnavailable(
            f"--engine {engine}: it is gated against the release's golden bundle before it is packaged, "
            f"which needs TensorRT where deploy runs (on the device): {str(exc).split(': ', 1)[-1]}"
        ) from None
    report = run_golden_gate(bundle_path(release_dir, manifest), [engine])
    if not report.passed:
        failed = ", ".join(c.name for c in report.artifacts[0].failures)
        raise GateFailure(
            f"--engine {engine}: failed the gate against the release's golden bundle ({failed}); not packaged"
        )


def _refuse_a_model_file(path: Path, where: str) -> None:
    import zipfile

    from ..metadata import onnx_summary

    summary = None if zipfile.is_zipfile(path) else onnx_summary(path)
    kind = "a TorchScript archive" if summary is None and zipfile.is_zipfile(path) else None
    kind = "an ONNX file" if summary is not None and summary.nodes else kind
    if kind:
        raise UsageError(f"{where}: {kind}, not a TensorRT engine (`trt --onnx` builds one from the ONNX)")


def write_triton(
    release_dir: Path,
    out_dir: Path,
    manifest: dict[str, Any],
    *,
    class_names: list[str],
    platforms: set[str] | None = None,
    max_batch: int | None = None,
    weights: Path | None = None,
    engine: Path | None = None,
) -> tuple[list[Path], list[dict[str, Any]]]:
    """Write the model repository into the (staged, empty) ``out_dir``; the files written, and
    the artifacts left out (the release's gate failed them).

    ``--platform libtorch`` for a release without TorchScript exports and gates one from
    ``weights`` (checked against the manifest by the caller) or the release's synthetic seed.
    ``engine``: an engine built on the device from the release's ONNX (``device_engine``), gated
    here against the release's golden bundle before it is packaged."""
    if len(class_names) != int(manifest["num_classes"]):
        raise UsageError(f"{len(class_names)} class names for a model of {manifest['num_classes']} classes")
    exported: dict[str, Path] = {}
    if engine is not None:
        manifest, exported = device_engine(release_dir, manifest, engine)
    scratch = out_dir / ".export"
    if platforms is not None and "libtorch" in platforms and not artifacts(manifest, "torchscript"):
        if platforms - {"libtorch"}:  # refuse the other platforms' problems before the slow export
            others = platforms - {"libtorch"}
            plan_models(release_dir, manifest, platforms=others, max_batch=max_batch, exported=exported)
        from .extra import export_torchscript_for

        scratch.mkdir()
        what = f"--release {release_dir}: no TorchScript artifact for Triton's libtorch"
        path, entry = export_torchscript_for(release_dir, manifest, scratch, weights, what)
        manifest = {**manifest, "artifacts": [*manifest["artifacts"], entry]}
        exported[entry["file"]] = path
    try:
        models, left_out = plan_models(
            release_dir, manifest, platforms=platforms, max_batch=max_batch, exported=exported
        )
        if engine is not None:  # last: every other check first, the gate is the slow step
            gate_device_engine(release_dir, manifest, engine)
        return _write_models(out_dir, models, labels_text(class_names)), left_out
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _write_models(out_dir: Path, models: list[TritonModel], labels: str) -> list[Path]:
    written = []
    for model in models:
        version = out_dir / model.name / VERSION
        version.mkdir(parents=True)
        copy_verified(model.source, version / model.model_file, model.sha256)
        (out_dir / model.name / "config.pbtxt").write_text(render_config(model), encoding="utf-8")
        (out_dir / model.name / LABELS).write_text(labels, encoding="utf-8")
        written += [
            out_dir / model.name / "config.pbtxt",
            version / model.model_file,
            out_dir / model.name / LABELS,
        ]
    return written
