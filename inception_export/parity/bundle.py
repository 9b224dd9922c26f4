"""The golden bundle: the gate's inputs and eager PyTorch's logits, computed once in CI.

A TensorRT engine is built on the device it runs on, where PyTorch, this package's model
code and the checkpoint are usually absent. The bundle carries what the gate needs from
them: the golden inputs in every form the released artifacts take (float32 NCHW, and
uint8 NHWC pixels for artifacts that normalise in-graph), eager PyTorch's float32 logits
for each, and the facts an artifact must match (model, classes, input size, preprocessing,
transform_input, weights sha256, tolerance profile, tool version).

Format: numpy's ``.npz`` layout (a zip of ``.npy`` arrays, read with
``np.load(allow_pickle=False)``), the metadata a JSON document in a uint8 array. The zip is
written with fixed timestamps so the same inputs give the same bytes, and every array's
sha256 is recorded in the metadata, so corruption is caught even where the zip's CRC is not
checked. This module needs numpy only: the device reads bundles with it
(:class:`~.golden_reference.GoldenReference`); CI makes them in :mod:`.eager`.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__, jsonout
from ..atomic import write_bytes_atomic
from ..errors import ArtifactError, UsageError
from ..hashing import file_sha256
from ..release_manifest import MANIFEST, peek_manifest
from ..seed import recorded_source
from ..text import describe_kind, first_line, printable
from .reference import Reference, ReferenceSet
from .tolerances import (
    ACCURACY_DROP,
    CHECKS,
    LIMIT_NAMES,
    PROFILES,
    Limits,
    beyond_bound,
    bound_message,
    check_limit,
)

BUNDLE_FORMAT = "inception-export/golden-bundle"
BUNDLE_SCHEMA = 1
BUNDLE_NAME = "golden.npz"
FORMS = ("float", "pixels")  # float32 NCHW inputs; uint8 NHWC pixels
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the zip epoch: no build time in the file


def _array_sha256(a: np.ndarray) -> str:
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` archive, byte-for-byte reproducible (sorted entries, fixed timestamps)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            npy = io.BytesIO()
            np.lib.format.write_array(npy, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            # Level 1: the random inputs barely compress at any level (v3's bundle is 3 % larger
            # than at the default 6), and the default took 0.3 s of every release's 12.
            zf.writestr(info, npy.getvalue(), compresslevel=1)
    return buf.getvalue()


def profile_label(profile: str) -> str:
    """A profile's name for the record: the built-in name, or a file's name (never a host path)."""
    return profile if profile in PROFILES else Path(profile).name


@dataclass(frozen=True)
class GoldenBundle:
    meta: dict[str, Any]
    sets: dict[str, ReferenceSet]  # by form: "float", "pixels"
    path: Path
    sha256: str
    size_bytes: int

    @property
    def model(self) -> str:
        return str(self.meta["model"])

    @property
    def aliases(self) -> list[str]:
        return [str(a) for a in self.meta.get("aliases", [])]

    @property
    def num_classes(self) -> int:
        return int(self.meta["num_classes"])

    @property
    def input_size(self) -> int:
        return int(self.meta["input_size"])

    @property
    def transform_input(self) -> bool:
        return bool(self.meta["transform_input"])

    @property
    def profile(self) -> str:
        return str(self.meta["tolerance_profile"]["name"])

    @property
    def limits(self) -> dict[str, Limits]:
        # A bundle made before accuracy_drop existed gets its precision's default (not Limits'
        # 1.0, which is looser than FP32's bound of 0).
        recorded = self.meta["tolerance_profile"]["limits"].items()
        return {p: Limits(**{"accuracy_drop": ACCURACY_DROP[p], **v}) for p, v in recorded}

    @property
    def beyond_bound(self) -> list[str]:
        """The recorded limits looser than the built-in bound (``tolerances.bound``)."""
        return beyond_bound(self.limits)

    def info(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "sha256": self.sha256,
            "bytes": self.size_bytes,
            "tool": self.meta["tool"],
            "versions": self.meta.get("versions", {}),
            "forms": sorted(self.sets),
            "input_size": self.input_size,
        }


def bundle_metadata(
    reference: Reference,
    *,
    input_size: int,
    aliases: list[str],
    preprocessing: dict[str, Any],
    profile: str,
    limits: dict[str, Limits],
    versions: dict[str, str],
    allow_loose_limits: bool = False,
) -> dict[str, Any]:
    """What the device needs to refuse a mismatch, with no registry, model code or checkpoint.

    Limits looser than the built-in bound are refused (the device would refuse the bundle)
    unless ``allow_loose_limits``: then the gate there needs --allow-loose-limits too."""
    beyond = beyond_bound(limits)
    if beyond and not allow_loose_limits:
        raise UsageError(bound_message("the golden bundle's tolerance profile", beyond))
    weights = dict(reference.weights)
    source = str(weights.get("path", ""))
    return {
        "format": BUNDLE_FORMAT,
        "schema": BUNDLE_SCHEMA,
        "tool": f"inception-export {__version__}",
        "versions": versions,
        "model": reference.model,
        "aliases": aliases,
        "num_classes": reference.num_classes,
        "input_size": input_size,
        "preprocessing": dict(preprocessing, transform_input=reference.transform_input),
        "transform_input": reference.transform_input,
        "weights": {
            "source": recorded_source(source),
            "sha256": weights.get("sha256"),
        },
        "tolerance_profile": {
            "name": profile_label(profile),
            "limits": {p: lim.to_dict() for p, lim in limits.items()},
        },
        "reference": reference.description,
    }


def encode_bundle(meta: dict[str, Any], sets: dict[str, ReferenceSet]) -> bytes:
    """The bundle's bytes: ``meta`` plus, per form, inputs, logits, names, kinds and input hashes."""
    arrays: dict[str, np.ndarray] = {}
    record = dict(meta, sets={})
    for form, s in sets.items():
        if form not in FORMS:
            raise ValueError(f"unknown golden input form {form!r}")
        arrays[f"{form}_inputs"] = s.feed
        arrays[f"{form}_logits"] = np.asarray(s.logits, dtype=np.float32)
        record["sets"][form] = {"names": s.names, "kinds": s.kinds, "inputs": s.inputs}
    record["arrays"] = {name: _array_sha256(a) for name, a in sorted(arrays.items())}
    arrays["meta"] = np.frombuffer(jsonout.dumps(record, sort_keys=True).encode(), dtype=np.uint8)
    return npz_bytes(arrays)


def write_bundle(path: Path, meta: dict[str, Any], sets: dict[str, ReferenceSet]) -> tuple[str, int]:
    """Write the bundle atomically; returns its sha256 and size in bytes."""
    data = encode_bundle(meta, sets)
    write_bytes_atomic(path, data)
    return hashlib.sha256(data).hexdigest(), len(data)


def _check_manifest(path: Path, sha256: str) -> None:
    """Refuse a bundle that differs from what the ``manifest.json`` beside it recorded.

    Beside the path given and beside the file it resolves to: a symlink from elsewhere
    (``/opt/gate/golden.npz -> releases/7/golden.npz``) must not step around the release's
    record.
    """
    real = path.resolve()
    for where in dict.fromkeys([path, real]):
        _check_one_manifest(where, sha256)


def _check_one_manifest(path: Path, sha256: str) -> None:
    manifest = path.parent / MANIFEST
    # Not ours to judge unless readable: only a manifest that names this bundle is checked.
    doc = peek_manifest(manifest) if manifest.is_file() else None
    entry = doc.get("golden") if doc is not None else None
    if not isinstance(entry, dict) or entry.get("file") != path.name:
        return
    want = str(entry.get("sha256"))
    if want != sha256:
        raise ArtifactError(
            f"{path}: sha256 {sha256[:12]}... differs from {manifest} ({want[:12]}...): "
            "the bundle was replaced or corrupted after the release"
        )


def _corrupt(path: Path, why: str) -> ArtifactError:
    return ArtifactError(f"{path}: corrupt or truncated golden bundle ({why})")


# What a bundle may ask of the machine that reads it, checked against the metadata and each
# zip member's declared size before anything is decompressed: a small file must not expand
# into gigabytes (an edge device has 8 GB). The gate's own bundles hold 13 inputs (~14 MB
# of float32 for v3 at 299x299).
MAX_INPUTS = 1000
MAX_INPUT_SIZE = 1024
MAX_CLASSES = 100_000


def check_bundle_classes(num_classes: int, weights: object) -> None:
    """Refuse (exit 2), before any inference, weights whose bundle ``parity --golden`` would refuse."""
    if not 1 <= num_classes <= MAX_CLASSES:
        raise UsageError(
            f"{weights}: {num_classes:,} classes; a golden bundle holds at most {MAX_CLASSES:,} "
            "(its logits are read whole on the device)"
        )


MAX_ARRAY_BYTES = 1 << 30  # all arrays together, decompressed
MAX_META_BYTES = 16 << 20
_NPY_HEADER = 1 << 16  # numpy's header, padded; a larger one is not numpy's


def _need(path: Path, ok: bool, why: str) -> None:
    if not ok:
        raise _corrupt(path, why)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _str_list(x: Any) -> bool:
    return isinstance(x, list) and all(isinstance(v, str) for v in x)


def _check_record(path: Path, meta: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], np.dtype[Any]]]:
    """Type-check the metadata record; returns each array's shape and dtype it allows."""
    _need(path, isinstance(meta.get("tool"), str), "the record names no tool")
    model = meta.get("model")
    _need(path, isinstance(model, str) and bool(model.strip()), "the record names no model")
    _need(path, _str_list(meta.get("aliases", [])), "aliases are not a list of names")
    for key in ("versions", "weights", "preprocessing"):
        _need(path, isinstance(meta.get(key, {}), dict), f"{key} is not a table")
    classes: Any = meta.get("num_classes")
    size: Any = meta.get("input_size")
    _need(
        path,
        _is_int(classes) and 1 <= classes <= MAX_CLASSES,
        f"num_classes {classes!r} is not a whole number from 1 to {MAX_CLASSES}",
    )
    _need(
        path,
        _is_int(size) and 1 <= size <= MAX_INPUT_SIZE,
        f"input_size {size!r} is not a whole number from 1 to {MAX_INPUT_SIZE}",
    )
    _need(path, isinstance(meta.get("transform_input"), bool), "transform_input is not true or false")
    _check_tolerances(path, meta.get("tolerance_profile"))
    hashes: Any = meta.get("arrays")
    sets: Any = meta.get("sets")
    _need(
        path,
        isinstance(hashes, dict) and all(isinstance(v, str) for v in hashes.values()),
        "no table of array hashes",
    )
    _need(path, isinstance(sets, dict) and bool(sets), "no golden inputs")
    shapes: dict[str, tuple[tuple[int, ...], np.dtype[Any]]] = {}
    total = 0
    for form, rec in sets.items():
        _need(path, form in FORMS, f"unknown input form '{printable(form)}'")
        _need(path, isinstance(rec, dict), f"{form} set is not a table")
        names = rec.get("names")
        _need(
            path,
            _str_list(names) and _str_list(rec.get("kinds")),
            f"{form} names or kinds are not lists of names",
        )
        _need(path, isinstance(rec.get("inputs"), list), f"{form} inputs are not a list")
        n = len(names)
        _need(path, n >= 1, f"the {form} set holds no golden inputs")
        if n > MAX_INPUTS:
            raise ArtifactError(
                f"{path}: {n} golden inputs in the {form} set; the gate reads at most {MAX_INPUTS}"
            )
        feed = (n, 3, size, size) if form == "float" else (n, size, size, 3)
        shapes[f"{form}_inputs"] = (feed, np.dtype(np.float32 if form == "float" else np.uint8))
        shapes[f"{form}_logits"] = ((n, classes), np.dtype(np.float32))
        total += int(np.prod(feed)) * shapes[f"{form}_inputs"][1].itemsize + n * classes * 4
    if total > MAX_ARRAY_BYTES:
        raise ArtifactError(
            f"{path}: the bundle's arrays would take {total / 2**20:.0f} MiB; "
            f"the gate reads at most {MAX_ARRAY_BYTES >> 20} MiB"
        )
    return shapes


def _check_tolerances(path: Path, profile: Any) -> None:
    """The recorded limits, validated exactly as a ``--tolerance-profile`` file is: an
    ``Infinity`` limit would pass any artifact."""
    _need(path, isinstance(profile, dict), "no tolerance profile")
    _need(path, isinstance(profile.get("name"), str), "the tolerance profile has no name")
    limits = profile.get("limits")
    _need(
        path,
        isinstance(limits, dict)
        # int8 is optional too: bundles made before the INT8 profile lack it.
        and {"fp32", "fp16"} <= set(limits) <= {"fp32", "fp16", "int8"}
        # accuracy_drop is optional: bundles made before it existed lack it.
        and all(isinstance(v, dict) and set(CHECKS) <= set(v) <= set(LIMIT_NAMES) for v in limits.values()),
        "incomplete tolerance profile",
    )
    for precision, values in limits.items():
        for key, value in values.items():
            try:
                check_limit(path, precision, key, value)
            except UsageError as exc:
                raise ArtifactError(f"{exc} (a tolerance limit recorded in the golden bundle)") from None


def _read_member(
    path: Path,
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    shape: tuple[int, ...] | None,
    dtype: np.dtype[Any],
) -> np.ndarray:
    """One ``.npy`` member, its declared size and header checked before its data is read.

    ``shape=None``: any 1-D length up to :data:`MAX_META_BYTES` (the metadata record).
    """
    name = info.filename
    nbytes = MAX_META_BYTES if shape is None else int(np.prod(shape)) * dtype.itemsize
    limit = nbytes + _NPY_HEADER
    if info.file_size > limit:
        raise _corrupt(path, f"{printable(name)} declares {info.file_size} bytes, the record allows {nbytes}")
    buf = bytearray(limit + 1)
    with zf.open(info) as fh:
        got = fh.readinto(buf)  # type: ignore[attr-defined]  # ZipExtFile is a BufferedIOBase
    if got > limit:
        raise _corrupt(path, f"{printable(name)} holds more than its declared size")
    data = memoryview(buf)[:got]
    fp = io.BytesIO(data)
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        header = np.lib.format.read_array_header_1_0(fp)
    elif version == (2, 0):
        header = np.lib.format.read_array_header_2_0(fp)
    else:
        raise _corrupt(path, f"{printable(name)}: npy format {version}")
    got_shape, fortran, got_dtype = header
    meta_ok = len(got_shape) == 1 and got_shape[0] <= MAX_META_BYTES
    ok_shape = meta_ok if shape is None else got_shape == shape
    if got_dtype != dtype or fortran or not ok_shape:
        want = "1-D" if shape is None else str(shape)
        raise _corrupt(path, f"{printable(name)} is {got_dtype} {got_shape}, the record says {dtype} {want}")
    count = int(np.prod(got_shape))
    if got - fp.tell() != count * dtype.itemsize:
        held, header_says = got - fp.tell(), count * dtype.itemsize
        raise _corrupt(path, f"{printable(name)} holds {held} bytes of data, its header {header_says}")
    return np.frombuffer(buf, dtype=dtype, count=count, offset=fp.tell()).reshape(got_shape)


def _require_regular(path: Path, what: str) -> None:
    if not path.exists():
        raise ArtifactError(f"{what} not found: {path}")
    if not path.is_file():
        raise ArtifactError(f"{what} {path} is {describe_kind(path)}, not a regular file")


def load_bundle(path: Path, *, allow_loose_limits: bool = False) -> GoldenBundle:
    """Read and verify a bundle; ArtifactError (exit 2, one line) for anything that is not intact,
    or whose limits are looser than the built-in bound (unless ``allow_loose_limits``).

    Nothing is decompressed before the metadata says how large it may be: each member's
    declared size and ``.npy`` header must match the record, and the record's sizes are capped.
    """
    path = Path(path)
    _require_regular(path, "golden bundle")
    size = path.stat().st_size
    if size > MAX_ARRAY_BYTES + MAX_META_BYTES + (1 << 20):
        raise ArtifactError(f"{path}: {size >> 20} MiB is larger than any golden bundle the gate reads")
    sha256 = file_sha256(path)
    _check_manifest(path, sha256)
    try:
        with zipfile.ZipFile(path) as zf:
            meta, arrays = _read_bundle(path, zf)
    except ArtifactError:
        raise
    except Exception as exc:  # zipfile, zlib and numpy raise many unrelated types for bad bytes
        raise _corrupt(path, f"{type(exc).__name__}: {first_line(str(exc), 80)}") from None
    try:
        sets = _read_sets(path, meta, arrays)
        bundle = GoldenBundle(meta, sets, path, sha256, size)
        bundle.limits  # noqa: B018 - builds the recorded tolerance profile
    except (KeyError, TypeError, ValueError) as exc:
        why = f"{type(exc).__name__} {first_line(str(exc), 80)}"
        raise _corrupt(path, f"incomplete metadata: {why}") from None
    beyond = bundle.beyond_bound
    if beyond and not allow_loose_limits:
        raise ArtifactError(bound_message(f"golden bundle {path}", beyond))
    return bundle


def _read_bundle(path: Path, zf: zipfile.ZipFile) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    infos = zf.infolist()
    names = [i.filename for i in infos]
    _need(path, len(set(names)) == len(names), "a member name appears twice")
    allowed = {"meta.npy"} | {f"{form}_{kind}.npy" for form in FORMS for kind in ("inputs", "logits")}
    unknown = sorted(set(names) - allowed)
    _need(path, not unknown, f"unexpected member {printable(unknown[0]) if unknown else ''}")
    members = {i.filename[: -len(".npy")]: i for i in infos}
    if "meta" not in members:
        raise _corrupt(path, "no metadata record")
    raw = _read_member(path, zf, members.pop("meta"), None, np.dtype(np.uint8))
    try:
        meta = json.loads(raw.tobytes().decode())
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _corrupt(path, "unreadable metadata record") from None
    if not isinstance(meta, dict) or meta.get("format") != BUNDLE_FORMAT:
        raise ArtifactError(f"{path}: not an inception-export golden bundle")
    schema = meta.get("schema")
    if schema != BUNDLE_SCHEMA:
        raise ArtifactError(
            f"{path}: golden bundle schema {printable(schema)} from {printable(meta.get('tool', '?'))}; "
            f"inception-export {__version__} reads schema {BUNDLE_SCHEMA}"
        )
    shapes = _check_record(path, meta)
    hashes = meta["arrays"]
    if set(hashes) != set(members) or set(members) != set(shapes):
        raise _corrupt(path, f"arrays {sorted(members)} but the record lists {printable(sorted(hashes))}")
    arrays = {}
    for name, info in members.items():
        shape, dtype = shapes[name]
        arrays[name] = _read_member(path, zf, info, shape, dtype)
    return meta, arrays


def _read_sets(path: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, ReferenceSet]:
    hashes = meta["arrays"]
    for name, a in arrays.items():
        if _array_sha256(a) != hashes[name]:
            raise _corrupt(path, f"{name} does not match its recorded sha256")
    sets: dict[str, ReferenceSet] = {}
    for form, rec in meta["sets"].items():
        feed, logits = arrays[f"{form}_inputs"], arrays[f"{form}_logits"]
        if not np.isfinite(logits).all():
            raise _corrupt(path, f"{form} logits are not finite float32")
        if feed.dtype.kind == "f" and not np.isfinite(feed).all():
            # No image preprocesses to NaN/Inf: the bundle is at fault, not the artifact given it.
            raise _corrupt(path, f"{form} inputs are not finite float32")
        n = len(rec["names"])
        if len(rec["kinds"]) != n or len(rec["inputs"]) != n:
            raise _corrupt(path, f"{form} names, kinds and inputs differ in length")
        sets[form] = ReferenceSet(list(rec["names"]), list(rec["kinds"]), feed, logits, list(rec["inputs"]))
    return sets


@dataclass(frozen=True)
class BundleResult:
    path: Path
    sha256: str
    size_bytes: int
    meta: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        sets = {
            form: {"inputs": len(rec["names"]), "kinds": sorted(set(rec["kinds"]))}
            for form, rec in self.meta.get("sets", {}).items()
        }
        keep = ("model", "num_classes", "input_size", "transform_input", "weights", "tolerance_profile")
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "bytes": self.size_bytes,
            "sets": sets,
            **{k: self.meta[k] for k in keep},
            "tool": self.meta["tool"],
            "versions": self.meta["versions"],
        }
