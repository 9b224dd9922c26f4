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

from ..errors import ArtifactError, UsageError
from ..text import printable
from .labels import labels_text
from .source import SAFE_NAME, artifact_path, artifacts, copy_verified

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
# The batch a release's engine serves by default (release.ENGINE_MAX_BATCH): a dynamic ONNX or
# TorchScript model gets the same max_batch_size, so every model of a repository takes the same
# requests. release.py imports torch at module level, hence the copy.
DEFAULT_MAX_BATCH = 8
# How long the dynamic batcher may hold a request to fill a batch: Triton's documented
# starting point; a deployment tunes it with perf_analyzer.
MAX_QUEUE_DELAY_US = 100
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


def _image(entry: dict[str, Any], path: Path) -> tuple[str, str, int]:
    """(Triton data type, FORMAT_*, input size) the release manifest records for the input."""
    inp = entry.get("input") or {}
    layout, dtype, shape = inp.get("layout"), inp.get("dtype"), inp.get("shape")
    if (
        layout not in ("NCHW", "NHWC")
        or dtype not in _DTYPES
        or not isinstance(shape, list)
        or len(shape) != 4
    ):
        raise ArtifactError(f"{path}: the release manifest's input record is incomplete")
    size = shape[1] if layout == "NHWC" else shape[2]
    if not isinstance(size, int) or size < 1:
        raise ArtifactError(f"{path}: the release manifest's input size '{printable(size)}' is not a size")
    return _DTYPES[dtype], f"FORMAT_{layout}", size


def _onnx_model(
    name: str, entry: dict[str, Any], path: Path, classes: int, asked: int | None, default: int
) -> TritonModel:
    (in_name, in_elem, in_dims), (out_name, out_elem, out_dims) = _onnx_io(path)
    dtype, fmt, size = _image(entry, path)
    image = [size, size, 3] if fmt == "FORMAT_NHWC" else [3, size, size]
    in_type = _triton_type(path, in_elem)
    if len(in_dims) != 4 or in_dims[1:] != image or in_type != dtype:
        raise ArtifactError(
            f"{path}: input {in_type} {in_dims} is not the {dtype} {image} its release manifest records"
        )
    if out_dims[1:] != [classes]:
        raise ArtifactError(f"{path}: output {out_dims} does not end in the manifest's {classes} classes")
    batch = in_dims[0]
    mbs, preferred = _batching(path.name, batch, None, batch, asked, engine=False, default=default)
    keep = 1 if mbs else 0  # a batching model's dims leave the batch dimension out
    return TritonModel(
        name=name,
        fmt="onnx",
        platform=PLATFORMS["onnx"][1],
        source=path,
        sha256=str(entry.get("sha256")),
        model_file=PLATFORMS["onnx"][2],
        max_batch_size=mbs,
        input=Tensor(in_name, in_type, tuple(int(d or 0) for d in in_dims[keep:]), fmt),
        output=Tensor(out_name, _triton_type(path, out_elem), tuple(int(d or 0) for d in out_dims[keep:])),
        preferred_batch_sizes=preferred,
    )


def _engine_model(
    name: str, entry: dict[str, Any], path: Path, classes: int, asked: int | None, default: int
) -> TritonModel:
    from ..tensorrt.manifest import read_manifest

    meta = read_manifest(path)
    if meta is None:
        raise ArtifactError(
            f"{path}: TensorRT engine without its manifest {path.name}.json (its profile and "
            "TensorRT version go into the config)"
        )
    dtype, fmt, size = _image(entry, path)
    try:
        profile = meta["profiles"][0]
        lo, opt, hi = (int(profile[k][0]) for k in ("min", "opt", "max"))
        shape = [int(d) for d in profile["max"][1:]]
        in_name, out_name = str(meta["input_name"]), str(meta["output_names"][0])
        version = str(meta["tensorrt_version"])
        gpu = meta.get("gpu") or {}
    except (KeyError, IndexError, TypeError, ValueError):
        raise ArtifactError(f"{path.name}.json: the engine manifest lacks its profile or I/O names") from None
    image = [size, size, 3] if fmt == "FORMAT_NHWC" else [3, size, size]
    if shape != image or _DTYPES.get(str(meta.get("input_dtype"))) != dtype:
        raise ArtifactError(
            f"{path.name}.json: engine input {meta.get('input_dtype')} {shape} is not the "
            f"{dtype} {image} its release manifest records"
        )
    mbs, preferred = _batching(f"{path.name} (engine)", lo, opt, hi, asked, engine=True)
    out_type = _DTYPES.get(str((entry.get("output") or {}).get("dtype")), "TYPE_FP32")
    built_on = (
        f" on {printable(gpu.get('name'))} (compute capability {printable(gpu.get('compute_capability'))})"
    )
    major_minor = ".".join(version.split(".")[:2])
    return TritonModel(
        name=name,
        fmt="tensorrt",
        platform=PLATFORMS["tensorrt"][1],
        source=path,
        sha256=str(entry.get("sha256")),
        model_file=PLATFORMS["tensorrt"][2],
        max_batch_size=mbs,
        input=Tensor(in_name, dtype, tuple([lo, *image] if mbs == 0 else image), fmt),
        output=Tensor(out_name, out_type, (lo, classes) if mbs == 0 else (classes,)),
        preferred_batch_sizes=preferred,
        comments=(
            f"TensorRT {printable(version)} built this plan{built_on}, profile batch {lo}..{hi} (opt {opt}).",
            f"A plan loads only under the TensorRT it was built with: serve it from the Triton release "
            f"that ships TensorRT {printable(major_minor)}, on a GPU of that compute capability.",
        ),
    )


def _torchscript_model(
    name: str, entry: dict[str, Any], path: Path, classes: int, asked: int | None, default: int
) -> TritonModel:
    from ..artifacts import read_metadata

    dtype, fmt, size = _image(entry, path)
    meta = read_metadata(path)
    if meta.input_size not in (None, size) or fmt != "FORMAT_NCHW" or dtype != "TYPE_FP32":
        raise ArtifactError(
            f"{path}: TorchScript metadata (input size {printable(meta.input_size)}) disagrees "
            "with the release manifest's float32 NCHW input"
        )
    mbs, preferred = _batching(path.name, None, None, None, asked, engine=False, default=default)
    return TritonModel(
        name=name,
        fmt="torchscript",
        platform=PLATFORMS["torchscript"][1],
        source=path,
        sha256=str(entry.get("sha256")),
        model_file=PLATFORMS["torchscript"][2],
        max_batch_size=mbs,
        input=Tensor(LIBTORCH_INPUT, "TYPE_FP32", (3, size, size), fmt),
        output=Tensor(LIBTORCH_OUTPUT, "TYPE_FP32", (classes,)),
        preferred_batch_sizes=preferred,
    )


def _engine_max_batch(manifest: dict[str, Any]) -> int | None:
    """The largest batch of the release's engine, as its manifest records it (None: no engine)."""
    for entry in artifacts(manifest, "tensorrt"):
        batch = entry.get("batch")
        if isinstance(batch, list) and len(batch) == 2 and all(isinstance(b, int) and b >= 1 for b in batch):
            return int(batch[1]) if batch[0] != batch[1] else None
    return None


_BUILDERS = {"onnx": _onnx_model, "tensorrt": _engine_model, "torchscript": _torchscript_model}


def plan_models(
    release_dir: Path,
    manifest: dict[str, Any],
    *,
    platforms: set[str] | None = None,
    max_batch: int | None = None,
    exported: dict[str, Path] | None = None,
) -> list[TritonModel]:
    """One model per artifact of the asked platforms (all when None), every check done
    before anything is written. ``exported``: TorchScript made for this deployment (file name
    -> path outside the release)."""
    wanted = set(CHOICES) if platforms is None else platforms
    classes = int(manifest["num_classes"])
    # A model that takes any batch is given the engine's largest, so every model of the
    # repository takes the requests the engine takes.
    default = _engine_max_batch(manifest) or DEFAULT_MAX_BATCH
    models = []
    for fmt, (short, _platform, _file) in PLATFORMS.items():
        entries = artifacts(manifest, fmt)
        if short in wanted and not entries and platforms is not None:
            hint = {
                "tensorrt": "build one where TensorRT and a GPU exist (release --trt)",
                "torchscript": "make the release with --torchscript, or pass --weights W to export one",
                "onnx": "make the release again",
            }[fmt]
            raise ArtifactError(f"--release {release_dir}: no {fmt} artifact for Triton's {short}; {hint}")
        if short not in wanted:
            continue
        for entry in entries:
            precision = str(entry.get("precision"))
            name = f"{manifest['model']}-{short}-{precision}"
            if not SAFE_NAME.fullmatch(name):
                raise ArtifactError(
                    f"{entry['file']}: precision '{printable(precision)}' is not a plain name"
                )
            made = (exported or {}).get(entry["file"]) if fmt == "torchscript" else None
            path = made or artifact_path(release_dir, entry)
            models.append(_BUILDERS[fmt](name, entry, path, classes, max_batch, default))
    if not models:
        raise ArtifactError(f"--release {release_dir}: no artifact Triton can serve")
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise ArtifactError(f"--release {release_dir}: two artifacts would be the same Triton model")
    return models


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
    return "\n".join(lines) + "\n"


def write_triton(
    release_dir: Path,
    out_dir: Path,
    manifest: dict[str, Any],
    *,
    class_names: list[str],
    platforms: set[str] | None = None,
    max_batch: int | None = None,
    weights: Path | None = None,
) -> list[Path]:
    """Write the model repository into the (staged, empty) ``out_dir``; the files written.

    ``--platform libtorch`` for a release without TorchScript exports and gates one from
    ``weights`` (checked against the manifest by the caller) or the release's synthetic seed."""
    if len(class_names) != int(manifest["num_classes"]):
        raise UsageError(f"{len(class_names)} class names for a model of {manifest['num_classes']} classes")
    exported: dict[str, Path] = {}
    scratch = out_dir / ".export"
    if platforms is not None and "libtorch" in platforms and not artifacts(manifest, "torchscript"):
        if platforms - {"libtorch"}:  # refuse the other platforms' problems before the slow export
            plan_models(release_dir, manifest, platforms=platforms - {"libtorch"}, max_batch=max_batch)
        from .extra import export_torchscript_for

        scratch.mkdir()
        what = f"--release {release_dir}: no TorchScript artifact for Triton's libtorch"
        path, entry = export_torchscript_for(manifest, scratch, weights, what)
        manifest = {**manifest, "artifacts": [*manifest["artifacts"], entry]}
        exported[entry["file"]] = path
    try:
        return _write_models(
            out_dir,
            plan_models(release_dir, manifest, platforms=platforms, max_batch=max_batch, exported=exported),
            labels_text(class_names),
        )
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
