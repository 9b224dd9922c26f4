"""What an artifact *is*, read from the artifact itself: never from its metadata or a manifest.

A record (embedded metadata, sidecar, release manifest) is text anyone can edit; the gate's
limits and the deployment packages must rest on what the file computes. This module reads
those facts off the ONNX graph (its nodes, initializer dtypes, input and output tensors: the
rules are ``onnx_graph.py``'s, which parses each file once for this module and ``metadata.py``),
a TorchScript archive's pickles and an engine's manifest, and :func:`check_claim` refuses a
record that says otherwise. Torch-free: the device role uses it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ArtifactError
from .onnx_graph import OnnxFacts, parse_onnx
from .text import first_line, printable

if TYPE_CHECKING:
    from .metadata import ArtifactMeta


def onnx_facts(path: Path) -> OnnxFacts | None:
    """The facts of an ONNX file (None if it does not parse), parsed once per file version."""
    parsed = parse_onnx(path)
    return parsed.facts if parsed is not None else None


def check_claim(
    path: Path,
    field: str,
    claimed: object,
    actual: object,
    evidence: str = "",
    *,
    who: str = "its metadata",
    required: bool = False,
    remedy: str = "the file decides, so the record is wrong (re-export it, or remove the record)",
) -> None:
    """A record's ``field`` must say what the artifact is: ArtifactError (exit 2) naming both.
    A record that says nothing (None) is not a disagreement unless ``required`` (a release
    manifest must state every word a deployment reads: ``deploy/verify.disagree``)."""
    if (claimed is None and not required) or claimed == actual:
        return
    why = f" ({evidence})" if evidence else ""
    raise ArtifactError(
        f"{printable(str(path))}: {who} says {field} {_show(claimed)} but the artifact is "
        f"{_show(actual)}{why}; {remedy}"
    )


def _show(value: object) -> str:
    """A value as a message names it: text quoted, anything else as JSON would write it, so a
    string "224" and the number 224 do not read the same."""
    if isinstance(value, str):
        return repr(printable(value))
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError, RecursionError):
        text = str(type(value).__name__)
    return printable(first_line(text, 120))


# --- TorchScript: the dtypes of its stored tensors, read without running the archive -------------

# A TorchScript archive's pickles name each tensor's storage class (``torch HalfStorage``);
# reading the opcodes with pickletools runs nothing (loading the archive would run its code).
_STORAGE_PRECISION = {
    "FloatStorage": "fp32",
    "DoubleStorage": "fp32",
    "HalfStorage": "fp16",
    "BFloat16Storage": "fp16",
    "QInt8Storage": "int8",
    "QUInt8Storage": "int8",
}
# The pickles hold references to the tensors, not their bytes: a few MB at most.
MAX_PICKLE_BYTES = 64 << 20


@dataclass(frozen=True)
class TorchScriptFacts:
    precision: str
    evidence: str
    storages: tuple[str, ...]  # the storage classes of its tensors (``HalfStorage``, ...)


def torchscript_facts(path: Path) -> TorchScriptFacts:
    """The precision of a TorchScript archive's weights: the storage class holding most of their
    bytes, read from the pickles ``torch.jit.load`` reads and the sizes of the storages they name.

    By bytes, not by presence: one float16 buffer in an FP32 module (or a storage named and never
    used) would otherwise buy FP16's limits for the whole archive, as one QDQ pair would for an
    ONNX graph (``onnx_graph.graph_facts``)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            members = {info.filename: info for info in zf.infolist()}
            typed: dict[str, str] = {}  # ARCHIVE/data/KEY -> storage class
            for name, info in members.items():
                # Only the pickles torch.jit.load reads (ARCHIVE/data.pkl, ARCHIVE/constants.pkl):
                # a HalfStorage in a member it never loads (junk/data.pkl) bought FP16 limits.
                parts = name.split("/")
                if len(parts) != 2 or parts[1] not in ("data.pkl", "constants.pkl"):
                    continue
                if info.file_size > MAX_PICKLE_BYTES:
                    raise ArtifactError(f"{printable(str(path))}: {name} is larger than a TorchScript pickle")
                with zf.open(info) as fh:
                    data = fh.read(MAX_PICKLE_BYTES + 1)
                # data.pkl's storages are ARCHIVE/data/KEY, constants.pkl's ARCHIVE/constants/KEY.
                folder = "data" if parts[1] == "data.pkl" else "constants"
                for cls, key in _storages(data):
                    typed[f"{parts[0]}/{folder}/{key}"] = cls
    except ArtifactError:
        raise
    except Exception:  # zipfile, zlib and pickletools raise many unrelated types for bad bytes
        raise ArtifactError(f"{printable(str(path))}: unreadable TorchScript archive") from None
    weight: dict[str, int] = {}
    for member, cls in typed.items():
        kind = _STORAGE_PRECISION.get(cls)
        stored = members.get(member)
        if kind is not None and stored is not None:
            weight[kind] = weight.get(kind, 0) + stored.file_size
    storages = tuple(sorted(set(typed.values())))
    precision = max(weight, key=lambda k: (weight[k], k == "fp32")) if weight else "fp32"
    shown = ", ".join(f"{k} {b:,} bytes" for k, b in sorted(weight.items())) or "no floating-point tensors"
    return TorchScriptFacts(precision, f"tensors stored as {shown}", storages)


@dataclass(frozen=True)
class _Class:
    """A class a pickle names (GLOBAL), as data: nothing is imported."""

    module: str
    name: str


def _storages(pickle: bytes) -> list[tuple[str, str]]:
    """(storage class, key) of every storage a TorchScript pickle names, from its persistent ids
    ``("storage", torch.XStorage, KEY, LOCATION, NUMEL)``, read opcode by opcode (nothing runs)."""
    import io
    import pickletools

    memo: dict[int, object] = {}
    last: object = None
    strings: list[str] = []
    pending: str | None = None  # a storage class whose key comes next
    found: list[tuple[str, str]] = []
    for op, arg, _pos in pickletools.genops(io.BytesIO(pickle)):
        name = op.name
        value: object = None
        if name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
            value = str(arg)
            strings.append(value)
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            value = memo.get(int(str(arg)))
        elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[int(str(arg))] = last
        elif name == "MEMOIZE":
            memo[len(memo)] = last
        elif name in ("GLOBAL", "STACK_GLOBAL"):
            module, _, cls = (str(arg) if name == "GLOBAL" else " ".join(strings[-2:])).partition(" ")
            value = _Class(module.strip(), cls.strip())
        if name in ("BINPUT", "LONG_BINPUT", "PUT", "MEMOIZE"):
            continue
        # A storage class (named by GLOBAL once, then fetched from the memo) and its key after it.
        if isinstance(value, _Class):
            storage = value.module == "torch" and value.name.endswith("Storage")
            pending = value.name if storage else None
        elif pending is not None and isinstance(value, str):
            found.append((pending, value))
            pending = None
        last = value
    return found


# --- the precision an artifact is gated in ------------------------------------------------------


@dataclass(frozen=True)
class PrecisionFact:
    """What an artifact computes in, where that was read, and why (for the gate's reports)."""

    precision: str
    source: str  # "graph" (ONNX), "tensors" (TorchScript), "manifest" (engine, sha256 checked)
    evidence: str


def _claimed_precision(path: Path, where: str, claimed: object) -> str:
    """A record's precision as a name this tool speaks; anything else is refused (exit 2)."""
    from .precision import PRECISIONS

    name = claimed.strip().lower() if isinstance(claimed, str) else None
    if name not in PRECISIONS:
        raise ArtifactError(
            f"{printable(str(path))}: {where} says precision {printable(repr(claimed))}, "
            f"which is none of {', '.join(PRECISIONS)}"
        )
    return name


def _record_claims(path: Path, fmt: str, meta: ArtifactMeta) -> list[tuple[str, object]]:
    """Every precision the artifact's records state: the record the gate read, the ONNX's flat
    ``precision`` property (what generic tools read) and a sidecar beside an embedded record."""
    from .metadata import onnx_summary, read_metadata, sidecar_path

    claims: list[tuple[str, object]] = []
    if not meta.inferred and "precision" in meta.record:
        claims.append(("its metadata", meta.record["precision"]))
    if fmt == "onnx":
        summary = onnx_summary(path)
        props = summary.metadata_props if summary is not None else {}
        if "precision" in props:
            claims.append(("its metadata_props", props["precision"]))
    side = sidecar_path(path)
    if fmt != "tensorrt" and not meta.inferred and side.is_file():
        try:
            sidecar = read_metadata(side)
        except ArtifactError:
            sidecar = None  # not the record the gate read; a broken one is not evidence either way
        if sidecar is not None and "precision" in sidecar.record:
            claims.append((f"its sidecar {side.name}", sidecar.record["precision"]))
    return claims


def artifact_precision(path: Path, fmt: str, meta: ArtifactMeta) -> PrecisionFact:
    """The precision ``path`` is gated in, read from the file (an engine: from its manifest,
    whose sha256 must be the engine's); a record saying otherwise is ArtifactError naming both."""
    if fmt == "onnx":
        facts = onnx_facts(path)
        if facts is None:
            raise ArtifactError(f"{printable(str(path))}: not a readable ONNX file")
        fact = PrecisionFact(facts.precision, "graph", facts.evidence)
    elif fmt == "torchscript":
        ts = torchscript_facts(path)
        fact = PrecisionFact(ts.precision, "tensors", ts.evidence)
    else:
        fact = engine_precision(path, meta.record)
    for where, claimed in _record_claims(path, fmt, meta):
        name = _claimed_precision(path, where, claimed)
        if name != fact.precision:
            check_claim(path, "precision", claimed, fact.precision, fact.evidence)
    return fact


def engine_precision(engine: Path, manifest: dict[str, Any]) -> PrecisionFact:
    """An engine's precision from its manifest, believed only when the manifest's sha256 is the
    engine file's (the builder and ``trt-manifest`` verify the precision with TensorRT's engine
    inspector before they write it, so the hash binds that verification to these bytes)."""
    from .hashing import file_sha256

    name = printable(str(engine))
    record = manifest.get("engine")
    recorded = record.get("sha256") if isinstance(record, dict) else None
    if not isinstance(recorded, str):
        raise ArtifactError(
            f"{name}: its manifest records no sha256 of the engine; rebuild it (or trt-manifest)"
        )
    actual = file_sha256(engine)
    if recorded.lower() != actual:
        raise ArtifactError(
            f"{name} does not match its manifest (sha256 {actual[:12]}..., manifest says "
            f"{printable(recorded[:12])}...): the engine was replaced or corrupted; rebuild it"
        )
    precision = _claimed_precision(engine, "its manifest", manifest.get("precision"))
    expect = manifest.get("precision_expectation")
    verified = expect.get("precision") if isinstance(expect, dict) else None
    if (
        verified is not None
        and _claimed_precision(engine, "its precision_expectation", verified) != precision
    ):
        raise ArtifactError(
            f"{name}: its manifest says precision {printable(repr(manifest.get('precision')))} but the "
            f"inspector verified {printable(repr(verified))}; the record is wrong (rebuild it)"
        )
    evidence = f"its manifest, whose sha256 {actual[:12]}... is the engine's"
    return PrecisionFact(precision, "manifest", evidence)
