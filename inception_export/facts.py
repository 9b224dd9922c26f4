"""What an artifact *is*, read from the artifact itself: never from its metadata or a manifest.

A record (embedded metadata, sidecar, release manifest) is text anyone can edit; the gate's
limits and the deployment packages must rest on what the file computes. This module reads
those facts off the ONNX graph (its nodes, initializer dtypes, input and output tensors), and
:func:`check_claim` refuses a record that says otherwise. Torch-free: the device role uses it.

Precision of an ONNX graph, in order:

* ``int8``: most of its Conv/Gemm/MatMul layers take DequantizeLinear outputs (explicit quantization,
  whoever placed the QDQ pairs: this tool, onnxruntime's quantizer or NVIDIA's ModelOpt);
* ``fp16``: its Conv/Gemm/MatMul layers compute in half: they take float16 initializers or
  constants, float16 graph inputs or Casts to float16 (an FP16 graph with float32 I/O, with or
  without layers kept in float32);
* ``fp32``: otherwise.

Only the main graph's nodes on a path to an output count (see :func:`graph_facts`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ArtifactError
from .reading import check_fits_memory
from .text import first_line, printable

if TYPE_CHECKING:
    from .metadata import ArtifactMeta

QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})
# The layers that hold a CNN's weights: what computes in INT8 or FP16 when the graph does.
COMPUTE_OPS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul"})
_COMPUTE = "Conv/Gemm/MatMul"
# onnx.TensorProto's element types, by number (importing onnx here would be fine, but the
# numbers are the file format's and never change).
_FLOAT, _UINT8, _INT8, _FLOAT16 = 1, 2, 3, 10
_DTYPES = {_FLOAT: "float32", _UINT8: "uint8", _INT8: "int8", _FLOAT16: "float16", 11: "float64"}


@dataclass(frozen=True)
class OnnxFacts:
    """What an ONNX graph computes in and what it takes, read from one parse of it."""

    precision: str  # fp32 | fp16 | int8
    evidence: str  # why: what in the graph says so, for messages and reports
    qdq_nodes: int
    float16_initializers: int
    float16_casts: int
    input_dtype: str | None  # the single input's element type ("float32", "uint8", ...)
    input_shape: tuple[int | str, ...]  # dims: an int where fixed, the symbol (or "?") where not
    output_shape: tuple[int | str, ...]
    inputs: int
    outputs: int
    opset: int | None = None  # the default domain's, from the model's opset_import

    @property
    def layout(self) -> str | None:
        """``NHWC`` for uint8 pixels (embedded preprocessing), ``NCHW`` for a float image input."""
        if len(self.input_shape) != 4:
            return None
        return "NHWC" if self.input_dtype == "uint8" else "NCHW"

    @property
    def input_size(self) -> int | None:
        """The fixed spatial size of a square image input, if the graph declares one."""
        if self.layout is None:
            return None
        h, w = (self.input_shape[1], self.input_shape[2]) if self.layout == "NHWC" else self.input_shape[2:]
        return h if isinstance(h, int) and h == w else None

    @property
    def batch(self) -> int | None:
        """The input's fixed batch, or None when it is dynamic."""
        first = self.input_shape[0] if self.input_shape else None
        return first if isinstance(first, int) else None

    @property
    def num_classes(self) -> int | None:
        last = self.output_shape[-1] if self.output_shape else None
        return last if isinstance(last, int) else None


def _dims(value_info: Any) -> tuple[int | str, ...]:
    shape = value_info.type.tensor_type.shape
    return tuple(int(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?") for d in shape.dim)


@functools.lru_cache(maxsize=8)
def _onnx_facts(path: str, _mtime_ns: int, _size: int) -> OnnxFacts | None:
    import onnx

    try:
        model = onnx.load(path, load_external_data=False)
    except Exception:  # protobuf raises DecodeError and friends
        return None
    opsets = [int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")]
    return dataclasses.replace(graph_facts(model.graph), opset=opsets[0] if opsets else None)


def graph_facts(graph: Any) -> OnnxFacts:
    """The facts of a loaded ``onnx.GraphProto``.

    Precision evidence counts only what computes the outputs: the main graph's nodes on a path
    to an output, and only where a Conv, Gemm or MatMul (the layers that carry the weights)
    takes it: a DequantizeLinear output for INT8; a float16 weight, constant or input, or a
    Cast to float16, for FP16. A QuantizeLinear on a dead branch, QDQ inside a subgraph, a lone
    Cast to float16 on the logits or a float16 ``value_info`` annotation (a hint, not a
    computation) would otherwise buy an FP32 graph INT8's or FP16's limits; uncounted, the
    graph is held to the tighter limits.
    """
    live = _live_nodes(graph)
    needed = {name for n in live for name in n.input}
    producer = {out: n for n in live for out in n.output if out}
    half_inits = {i.name for i in graph.initializer if i.data_type == _FLOAT16 and i.name in needed}
    half_inputs = {v.name for v in graph.input if v.type.tensor_type.elem_type == _FLOAT16}

    def made_by(name: str, *ops: str) -> Any:
        node = producer.get(name)
        return node if node is not None and node.op_type in ops else None

    def half(name: str) -> bool:
        node = made_by(name, "Cast", "Constant")
        in_half = node is not None and (
            _casts_to(node, _FLOAT16) if node.op_type == "Cast" else _constant_type(node) == _FLOAT16
        )
        return in_half or name in half_inits or name in half_inputs

    compute = [n for n in live if n.op_type in COMPUTE_OPS]
    dq_fed = sum(1 for n in compute if any(made_by(x, "DequantizeLinear") for x in n.input if x))
    half_fed = sum(1 for n in compute if any(half(x) for x in n.input if x))
    qdq = sum(1 for n in live if n.op_type in QDQ_OPS)
    f16_init = len(half_inits) + sum(
        1 for n in live if n.op_type == "Constant" and _constant_type(n) == _FLOAT16
    )
    f16_cast = sum(1 for n in live if n.op_type == "Cast" and _casts_to(n, _FLOAT16))
    f16_io = sum(
        1 for v in list(graph.input) + list(graph.output) if v.type.tensor_type.elem_type == _FLOAT16
    )
    # Most weight layers, not one: a single QDQ pair on one conv of an FP32 graph (its other
    # layers off by 10 %) bought INT8's limits for all of it. Tools that quantize (this one,
    # ModelOpt, onnxruntime) leave the odd layer in float (the classifier, a first conv).
    few_dq = dq_fed > 0 and 2 * dq_fed < len(compute)
    if dq_fed and not few_dq:
        precision, evidence = (
            "int8",
            f"{qdq} QuantizeLinear/DequantizeLinear nodes, {dq_fed} {_COMPUTE} fed by them",
        )
    elif half_fed:
        parts = [
            f"{f16_init} float16 weights" if f16_init else "",
            f"{f16_cast} Casts to float16" if f16_cast else "",
            f"{f16_io} float16 inputs/outputs" if f16_io else "",
        ]
        precision = "fp16"
        evidence = f"{', '.join(p for p in parts if p)}; {half_fed} {_COMPUTE} in float16"
    else:
        precision, evidence = "fp32", f"no {_COMPUTE} takes a DequantizeLinear output or float16 values"
    qdq_all = sum(1 for n in _all_nodes(graph) if n.op_type in QDQ_OPS)
    if few_dq:
        evidence += (
            f"; only {dq_fed} of {len(compute)} {_COMPUTE} take a DequantizeLinear output "
            "(INT8 needs most of them)"
        )
    elif precision != "int8" and qdq_all:
        evidence += (
            f"; {qdq_all} QuantizeLinear/DequantizeLinear ignored (no {_COMPUTE} on the path takes one)"
        )
    if precision == "fp32" and (f16_init or f16_cast or f16_io):
        evidence += f"; float16 values ignored (no {_COMPUTE} takes them)"
    inputs, outputs = list(graph.input), list(graph.output)
    return OnnxFacts(
        precision=precision,
        evidence=evidence,
        qdq_nodes=qdq,
        float16_initializers=f16_init,
        float16_casts=f16_cast,
        input_dtype=_DTYPES.get(inputs[0].type.tensor_type.elem_type, "other") if len(inputs) == 1 else None,
        input_shape=_dims(inputs[0]) if len(inputs) == 1 else (),
        output_shape=_dims(outputs[0]) if len(outputs) == 1 else (),
        inputs=len(inputs),
        outputs=len(outputs),
    )


def _live_nodes(graph: Any) -> list[Any]:
    """The main graph's nodes that an output depends on (a subgraph's outer-scope reads count)."""
    producer = {out: i for i, n in enumerate(graph.node) for out in n.output if out}
    wanted = [o.name for o in graph.output]
    seen: set[str] = set()
    live: set[int] = set()
    while wanted:
        name = wanted.pop()
        if name in seen:
            continue
        seen.add(name)
        i = producer.get(name)
        if i is None or i in live:
            continue
        live.add(i)
        node = graph.node[i]
        wanted.extend(x for x in node.input if x)
        for attr in node.attribute:
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                wanted.extend(x for n in _all_nodes(sub) for x in n.input if x)
    return [graph.node[i] for i in sorted(live)]


def _constant_type(node: Any) -> int | None:
    for a in node.attribute:
        if a.name == "value" and a.HasField("t"):
            return int(a.t.data_type)
    return None


def _casts_to(node: Any, dtype: int) -> bool:
    return any(a.name == "to" and a.i == dtype for a in node.attribute)


def _all_nodes(graph: Any) -> Iterator[Any]:
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _all_nodes(attr.g)
            for sub in attr.graphs:
                yield from _all_nodes(sub)


def onnx_facts(path: Path) -> OnnxFacts | None:
    """The facts of an ONNX file (None if it does not parse), parsed once per file version."""
    st = Path(path).stat()
    check_fits_memory(Path(path), "ONNX")
    return _onnx_facts(str(path), st.st_mtime_ns, st.st_size)


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
    ONNX graph (:func:`graph_facts`)."""
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
