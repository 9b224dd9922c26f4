"""What a release's artifacts are, read from the files, and the release manifest's words checked
against it.

A release manifest is JSON anyone can edit, and nothing re-hashes it: so a deployment package
rests on what each file is. Its sha256 must be the manifest's; its format is judged from its
bytes (``artifacts.detect_format``); precision, layout, input size and batch come from the ONNX
graph (``facts.onnx_facts``), a TorchScript archive's tensors and embedded record
(``facts.torchscript_facts``), or an engine's own manifest whose engine sha256 is this file's;
the model's name from the record inside the (hashed) file. A manifest word that disagrees is
refused with one line naming both (exit 2). The release's gate verdict (the manifest's record
and ``parity.json``) says whether an artifact may be packaged at all. Torch-free.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..artifacts import detect_format
from ..errors import ArtifactError, UsageError
from ..facts import check_claim, engine_precision, onnx_facts, torchscript_facts
from ..hashing import file_sha256
from ..metadata import embedded_record
from ..reading import check_fits_memory, read_regular
from ..release_manifest import GATE_REPORT, ReleaseModel
from ..seed import seed_of
from ..text import printable
from .source import artifact_path

MAX_REPORT_BYTES = 64 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Verified:
    """One artifact of a release, as the file is (every field read from it)."""

    file: str
    path: Path
    sha256: str  # the file's, equal to the release manifest's
    format: str  # onnx | torchscript | tensorrt
    precision: str  # fp32 | fp16 | int8
    model: str
    dtype: str  # the input's element type: float32 | uint8
    layout: str  # NCHW | NHWC
    input_size: int
    batch: tuple[int, int, int] | None  # (min, opt, max) the artifact serves; None: any batch
    engine: dict[str, Any] | None = None  # an engine's own manifest (sha-checked)
    num_classes: int | None = None  # from the graph's output, the archive's record, the engine's manifest
    gate_failure: str | None = None  # why the release's gate failed it (None: it passed)


def disagree(
    path: Path, field: str, claimed: object, actual: object, evidence: str = "", *, who: str = ""
) -> None:
    """The release manifest's ``field`` (or ``who``'s) must say what the artifact is
    (ArtifactError naming both; a missing word disagrees too)."""
    check_claim(
        path,
        field,
        claimed,
        actual,
        evidence,
        who=who or "the release manifest",
        required=True,
        remedy="refused: the file decides (make the release again)",
    )


def check_sha256(
    path: Path, recorded: object, what: str = "the artifact", *, digest: str | None = None
) -> str:
    """``path``'s sha256 (``digest``: of the bytes the caller read from it), which must be the
    one the release manifest records."""
    if not isinstance(recorded, str) or not _SHA256.fullmatch(recorded):
        raise ArtifactError(f"{path}: the release manifest records no sha256 for {what}")
    digest = digest or file_sha256(path)
    if digest != recorded:
        raise ArtifactError(
            f"{path}: sha256 {digest[:12]}… is not the release manifest's {recorded[:12]}…: "
            f"{what} changed after the release was made"
        )
    return digest


def _input_record(path: Path, entry: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(layout, dtype, shape) the release manifest gives the artifact's input."""
    inp = entry.get("input")
    if not isinstance(inp, dict):
        raise ArtifactError(f"{path}: the release manifest's input record is missing")
    return inp.get("layout"), inp.get("dtype"), inp.get("shape")


def _record_model(path: Path, fmt: str) -> tuple[str, dict[str, Any]]:
    """The model named by the record inside the (hashed) file, never its sidecar."""
    record = embedded_record(path)
    model = record.get("model") if isinstance(record, dict) else None
    if not isinstance(model, str):
        raise ArtifactError(
            f"{path}: no {fmt} metadata inside the file names its model; not an artifact a release made"
        )
    return model, record or {}


def _onnx(path: Path, entry: dict[str, Any], sha: str) -> Verified:
    facts = onnx_facts(path)
    if facts is None:
        raise ArtifactError(f"{path}: not a readable ONNX model")
    model, _record = _record_model(path, "ONNX")
    if facts.layout is None or facts.input_size is None or facts.input_dtype not in ("float32", "uint8"):
        raise ArtifactError(
            f"{path}: input {facts.input_dtype} {list(facts.input_shape)} is not a square image input"
        )
    b = facts.batch
    return Verified(
        entry["file"], path, sha, "onnx", facts.precision, model, facts.input_dtype, facts.layout,
        facts.input_size, None if b is None else (b, b, b), num_classes=facts.num_classes,
    )  # fmt: skip


def _torchscript(path: Path, entry: dict[str, Any], sha: str) -> Verified:
    facts = torchscript_facts(path)
    model, record = _record_model(path, "TorchScript")
    check_claim(path, "precision", record.get("precision"), facts.precision, facts.evidence)
    size = record.get("input_size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ArtifactError(f"{path}: the TorchScript's own record gives no input size")
    # An archive this tool exported takes float32 NCHW (its record says so; running it to
    # look would run its code).
    classes = record.get("num_classes")
    return Verified(
        entry["file"], path, sha, "torchscript", facts.precision, model, "float32", "NCHW", size, None,
        num_classes=classes if isinstance(classes, int) and not isinstance(classes, bool) else None,
    )  # fmt: skip


def _engine_manifest(path: Path, entry: dict[str, Any], sha: str) -> dict[str, Any]:
    """The engine's manifest: hashed by the release, and naming this engine by its sha256.
    The bytes hashed are the bytes parsed (read once), by the parser `parity` reads it with."""
    from ..tensorrt.manifest import MAX_MANIFEST_BYTES, manifest_path, parse_manifest

    side = manifest_path(path)
    try:
        data = read_regular(side, MAX_MANIFEST_BYTES, "engine manifest")
    except FileNotFoundError:
        raise ArtifactError(
            f"{path}: TensorRT engine without its manifest {side.name} (its profile and "
            "TensorRT version go into the config)"
        ) from None
    except (OSError, UsageError) as exc:
        raise ArtifactError(f"{side}: unreadable engine manifest ({printable(str(exc))})") from None
    recorded = (
        (entry.get("manifest") or {}).get("sha256") if isinstance(entry.get("manifest"), dict) else None
    )
    check_sha256(side, recorded, "its engine manifest", digest=hashlib.sha256(data).hexdigest())
    doc = parse_manifest(data, side)
    engine = doc.get("engine")
    if not isinstance(engine, dict) or engine.get("sha256") != sha:
        raise ArtifactError(f"{side}: describes another engine than {path.name} (its engine sha256 differs)")
    return doc


def _engine(path: Path, entry: dict[str, Any], sha: str) -> Verified:
    doc = _engine_manifest(path, entry, sha)
    try:
        profile = doc["profiles"][0]
        lo, opt, hi = (int(profile[k][0]) for k in ("min", "opt", "max"))
        size = int(doc["input_size"])
        fields = [doc["model"], doc["input_dtype"], doc["input_layout"]]
        image = [int(d) for d in profile["max"][1:]]
    except (KeyError, IndexError, TypeError, ValueError):
        raise ArtifactError(f"{path.name}.json: the engine manifest lacks its profile or input") from None
    if not all(isinstance(f, str) for f in fields):
        raise ArtifactError(f"{path.name}.json: the engine manifest's model or input is not text")
    model, dtype, layout = fields
    # As `parity` reads it: the manifest's word only where the inspector's verification agrees.
    precision = engine_precision(path, doc).precision
    want = [size, size, 3] if layout == "NHWC" else [3, size, size]
    if image != want or not 1 <= lo <= opt <= hi:
        raise ArtifactError(
            f"{path.name}.json: profile {lo}..{hi} of {image} is not a {size}px {layout} image"
        )
    classes = doc.get("num_classes")
    return Verified(
        entry["file"], path, sha, "tensorrt", precision, model, dtype, layout, size, (lo, opt, hi), doc,
        num_classes=classes if isinstance(classes, int) and not isinstance(classes, bool) else None,
    )  # fmt: skip


_READERS = {"onnx": _onnx, "torchscript": _torchscript, "tensorrt": _engine}


def _check_words(v: Verified, entry: dict[str, Any], manifest: dict[str, Any]) -> None:
    """Every word of the release manifest about ``v`` against what the file is."""
    p = v.path
    # Exactly: the name becomes the Triton model's, and a release writes the same in both.
    disagree(p, "model", manifest["model"], v.model, "the name inside the file")
    disagree(p, "precision", entry.get("precision"), v.precision, "read from the file")
    disagree(p, "num_classes", manifest["num_classes"], v.num_classes, "the artifact's output")
    layout, dtype, shape = _input_record(p, entry)
    disagree(p, "input layout", layout, v.layout)
    disagree(p, "input dtype", dtype, v.dtype)
    size = manifest.get("input_size")
    disagree(p, "input_size", size, v.input_size)
    if not isinstance(shape, list) or len(shape) != 4:
        raise ArtifactError(
            f"{p}: the release manifest's input shape {printable(str(shape))} is not NCHW/NHWC"
        )
    image = shape[1:3] if v.layout == "NHWC" else shape[2:]
    disagree(p, "input shape", image, [v.input_size, v.input_size])
    served = "dynamic" if v.batch is None else [v.batch[0], v.batch[2]]
    disagree(p, "input batch", (entry.get("input") or {}).get("batch"), served, "read from the file")
    if v.format == "onnx":
        fixed = shape[0] if isinstance(shape[0], int) and not isinstance(shape[0], bool) else "batch"
        disagree(p, "batch dimension", fixed, v.batch[0] if v.batch else "batch")
    if v.format == "tensorrt":
        assert v.batch is not None
        lo, opt, hi = v.batch
        engine_batch = manifest.get("engine_batch")
        if engine_batch is not None:
            disagree(
                p, "engine_batch", engine_batch, {"min": lo, "opt": opt, "max": hi}, "the engine's profile"
            )


def _gate_failure(entry: dict[str, Any], report: dict[str, bool]) -> str | None:
    """Why the release's gate failed the artifact (None: it passed), from the manifest's verdict
    and the gate's report: either saying failed is enough."""
    gate = entry.get("gate")
    passed = gate.get("passed") if isinstance(gate, dict) else None
    if not isinstance(passed, bool):
        raise ArtifactError(
            f"{printable(entry['file'])}: the release manifest has no gate verdict for it; "
            "only gated artifacts are packaged"
        )
    assert isinstance(gate, dict)
    checks = gate.get("failed_checks")
    failed = [str(c.get("name")) for c in checks if isinstance(c, dict)] if isinstance(checks, list) else []
    if not passed:
        return "it failed the release's gate" + (f" ({printable(', '.join(failed[:4]))})" if failed else "")
    if report.get(entry["file"]) is False:
        return f"it failed the release's gate ({GATE_REPORT} says so, though the manifest says passed)"
    return None


def gate_report(release_dir: Path) -> dict[str, bool]:
    """File name -> passed, from the release's ``parity.json`` (empty when it has none)."""
    path = Path(release_dir) / GATE_REPORT
    try:
        doc = json.loads(read_regular(path, MAX_REPORT_BYTES, "gate report").decode("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UsageError, UnicodeDecodeError, ValueError, RecursionError):
        raise ArtifactError(f"{path}: the release's gate report is unreadable") from None
    arts = doc.get("artifacts") if isinstance(doc, dict) else None
    if not isinstance(arts, list):
        raise ArtifactError(f"{path}: the release's gate report lists no artifacts")
    return {
        Path(a["path"]).name: a["passed"]
        for a in arts
        if isinstance(a, dict) and isinstance(a.get("path"), str) and isinstance(a.get("passed"), bool)
    }


def verify_entry(
    release_dir: Path,
    manifest: dict[str, Any],
    entry: dict[str, Any],
    report: dict[str, bool],
    *,
    path: Path | None = None,
    gated_here: bool = False,
) -> Verified:
    """``entry`` of the release manifest, checked against its file (``path``: made for this
    deployment, outside the release; ``gated_here``: its gate was run by the caller)."""
    path = path or artifact_path(release_dir, entry)
    # Before hashing: a sparse 300 GB file took minutes to hash on its way to a refusal, and
    # what does not fit in memory cannot be loaded by any runtime it would be packaged for.
    check_fits_memory(path, "artifact")
    sha = check_sha256(path, entry.get("sha256"))
    fmt = detect_format(path)
    disagree(path, "format", entry.get("format"), fmt, "judged from its bytes")
    verified = _READERS[fmt](path, entry, sha)
    _check_words(verified, entry, manifest)
    failure = None if gated_here else _gate_failure(entry, report)
    if failure is None:
        return verified
    return dataclasses.replace(verified, gate_failure=failure)


@dataclass(frozen=True)
class ModelFacts(ReleaseModel):
    """How to rebuild a release's model for an artifact ``deploy`` exports itself, from the
    release's golden bundle (the eager reference it was gated against, hashed by the manifest)
    cross-checked with the record inside its FP32 ONNX; never from the manifest's editable words
    (``release_manifest.ReleaseManifest``, the same :class:`ReleaseModel` as the manifest says it,
    each word of which :func:`model_facts` compares with these)."""

    bundle: Path  # golden.npz, sha-checked
    source: Verified  # the release's FP32 ONNX (batch, opset, layout), sha-checked
    opset: int | None


def bundle_path(release_dir: Path, manifest: dict[str, Any]) -> Path:
    from ..parity.bundle import BUNDLE_NAME

    golden = manifest.get("golden")
    path = Path(release_dir) / BUNDLE_NAME
    if not isinstance(golden, dict) or golden.get("file") != BUNDLE_NAME or not path.is_file():
        raise ArtifactError(
            f"--release {release_dir}: no golden bundle {BUNDLE_NAME} recorded in the manifest; an "
            "artifact exported for a deployment is gated against it (make the release again)"
        )
    check_sha256(path, golden.get("sha256"), "the golden bundle")
    return path


def _fp32_source(release_dir: Path, manifest: dict[str, Any]) -> tuple[Verified, dict[str, Any]]:
    """The release's FP32 ONNX (by its graph, not its entry's word) and the record inside it."""
    report = gate_report(release_dir)
    for entry in manifest["artifacts"]:
        if entry.get("format") != "onnx":
            continue
        v = verify_entry(release_dir, manifest, entry, report)
        if v.precision == "fp32":
            return v, embedded_record(v.path) or {}
    raise ArtifactError(f"--release {release_dir}: no FP32 ONNX artifact; the model's facts are read from it")


def model_facts(release_dir: Path, manifest: dict[str, Any]) -> ModelFacts:
    """The facts an export for a deployment is built from, each read from a hashed file and
    every copy of it compared (ArtifactError, exit 2, naming both on a disagreement)."""
    from ..parity.bundle import load_bundle

    path = bundle_path(release_dir, manifest)
    # Only the model's identity is read here, never its limits: a release made with
    # --allow-loose-limits is deployed like any other (its artifacts passed under them).
    bundle = load_bundle(path, allow_loose_limits=True)
    source, record = _fp32_source(release_dir, manifest)
    weights = bundle.meta.get("weights")
    sha = weights.get("sha256") if isinstance(weights, dict) else None
    if not isinstance(sha, str):
        raise ArtifactError(f"{path}: the golden bundle does not name its weights")
    pre = manifest.get("preprocessing")
    said = pre.get("transform_input") if isinstance(pre, dict) else None
    rec_pre = record.get("preprocessing")
    rec_ti = rec_pre.get("transform_input") if isinstance(rec_pre, dict) else None
    rec_weights = record.get("weights")
    rec_sha = rec_weights.get("sha256") if isinstance(rec_weights, dict) else None
    disagree(path, "model", manifest["model"], bundle.model, "the golden bundle's")
    inside = "the record inside it"
    disagree(source.path, "model", source.model, bundle.model, "the golden bundle's", who=inside)
    disagree(path, "input_size", manifest.get("input_size"), bundle.input_size, "the golden bundle's")
    disagree(
        source.path,
        "input size",
        source.input_size,
        bundle.input_size,
        "the golden bundle's",
        who="its graph",
    )
    disagree(path, "num_classes", manifest.get("num_classes"), bundle.num_classes, "the golden bundle's")
    disagree(path, "transform_input", said, bundle.transform_input, "the golden bundle's")
    disagree(
        source.path, "transform_input", rec_ti, bundle.transform_input, "the golden bundle's", who=inside
    )
    disagree(
        path, "weights sha256", (manifest.get("weights") or {}).get("sha256"), sha, "the golden bundle's"
    )
    disagree(source.path, "weights sha256", rec_sha, sha, "the golden bundle's", who=inside)
    seed = seed_of(sha, path)
    opset = onnx_facts(source.path)
    return ModelFacts(
        model=bundle.model,
        input_size=bundle.input_size,
        num_classes=bundle.num_classes,
        transform_input=bundle.transform_input,
        weights_sha256=sha,
        seed=seed,
        bundle=path,
        source=source,
        opset=opset.opset if opset is not None else None,
    )
