"""The metadata record every artifact carries: its keys, where it is stored, and the one reader.

One JSON document, written three ways so a deployment can always find it: ONNX
``metadata_props`` (the whole record under ``inception_export``, plus flat keys such as
``precision`` and ``input_size`` that generic tools read), a TorchScript extra file, and a
sidecar ``<artifact>.json``. Nothing time- or host-dependent goes in (no timestamps, no
absolute paths), so the same inputs give the same bytes.

Both roles read it: the exporter (``export/metadata.py`` builds the record from a model) and
the device, which has no torch, so this module imports neither torch nor the exporter. What
the code reads from a record goes through :class:`ArtifactMeta`, whose fields are checked
once here: a record is input like any other, and a wrong type is one ``error:`` line, not a
traceback further down.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import jsonout
from .errors import ArtifactError, UsageError
from .onnx_graph import OnnxSummary, parse_onnx
from .reading import read_regular
from .text import clip, printable

METADATA_KEY = "inception_export"
TORCHSCRIPT_EXTRA = "inception_export.json"
SCHEMA_VERSION = 1
# A record is a few kB (the layer map of the largest model ~40 kB); a sidecar or an extra
# file claiming more is not ours, and is not read into memory.
MAX_RECORD_BYTES = 16 << 20
_UNREADABLE_ONNX = "unreadable inception_export metadata in the ONNX file"
_UNREADABLE_TS = "unreadable inception_export metadata in the TorchScript archive"


class MissingMetadata(ArtifactError):
    """The artifact carries no record at all (a file another tool made), as opposed to a
    record that is there but unreadable, which is refused."""


def sidecar_path(artifact: Path) -> Path:
    return artifact.with_name(artifact.name + ".json")


def to_json(meta: dict[str, Any]) -> str:
    """The sidecar's and the TorchScript extra file's text (strict JSON, sorted, one trailing newline)."""
    return jsonout.dumps(meta, indent=2, sort_keys=True) + "\n"


def flat_props(meta: dict[str, Any]) -> dict[str, str]:
    """String key/values for ONNX ``metadata_props``: the full record plus top-level keys."""
    props = {METADATA_KEY: jsonout.dumps(meta, sort_keys=True)}
    for key, value in meta.items():
        props[key] = value if isinstance(value, str) else jsonout.dumps(value, sort_keys=True)
    return props


# --- the typed record -------------------------------------------------------------------------


def _bad(source: object, key: str, value: Any, want: str) -> ArtifactError:
    shown = printable(json.dumps(value))[:60] if _jsonable(value) else type(value).__name__
    return ArtifactError(f"{source}: metadata field {key} is {shown}, not {want}")


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def _opt_str(record: dict[str, Any], key: str, source: object) -> str | None:
    value = record.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _bad(source, key, value, "a string")


def _opt_int(record: dict[str, Any], key: str, source: object) -> int | None:
    value = record.get(key)
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise _bad(source, key, value, "a whole number")


def _flag(record: dict[str, Any], key: str, source: object) -> bool:
    value = record.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    raise _bad(source, key, value, "true or false")


def _table(record: dict[str, Any], key: str, source: object) -> dict[str, Any]:
    value = record.get(key)
    if value is None or isinstance(value, dict):
        return dict(value or {})
    raise _bad(source, key, value, "a table")


def _schema(record: dict[str, Any], source: object) -> None:
    """A record of a later schema may mean something else by the same keys: refused, not guessed."""
    value = record.get("schema")
    if value is None or (
        isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= SCHEMA_VERSION
    ):
        return
    raise _bad(source, "schema", value, f"{SCHEMA_VERSION}, the schema this version reads")


def _preprocessing(record: dict[str, Any], source: object) -> dict[str, Any]:
    table = _table(record, "preprocessing", source)
    # Read as a switch (trt's re-export flags, deploy's reference model): "yes" is no switch.
    value = table.get("transform_input")
    if value is None or isinstance(value, bool):
        return table
    raise _bad(source, "preprocessing.transform_input", value, "true or false")


def _names(record: dict[str, Any], key: str, source: object) -> tuple[str, ...]:
    value = record.get(key)
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _bad(source, key, value, "a list of names")


def _pairs(record: dict[str, Any], key: str, source: object) -> tuple[tuple[str, str], ...]:
    value = record.get(key)
    if value is None:
        return ()
    if isinstance(value, list) and all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(v, str) for v in p) for p in value
    ):
        return tuple((a, b) for a, b in value)
    raise _bad(source, key, value, "a list of [layer, tensor] pairs")


@dataclass(frozen=True)
class ArtifactMeta:
    """What this package reads from an artifact's record (metadata, sidecar or TensorRT
    manifest). ``None``/empty where the record does not say; ``record`` is the whole
    document as read, for the reports, which show it unchanged."""

    record: dict[str, Any] = field(default_factory=dict, repr=False)
    format: str | None = None
    model: str | None = None
    precision: str | None = None
    input_size: int | None = None
    num_classes: int | None = None
    embedded_preprocessing: bool = False  # the graph takes uint8 NHWC pixels
    inferred: bool = False  # no record: facts read off the artifact itself
    opset: int | None = None
    artifact_sha256: str | None = None
    engine_sha256: str | None = None
    preprocessing: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, Any] = field(default_factory=dict)
    layer_outputs: tuple[tuple[str, str], ...] = ()  # (module path, ONNX tensor) of each layer
    float32_nodes: tuple[str, ...] = ()  # nodes an FP16 graph computes in float32
    keep_fp32: tuple[str, ...] = ()  # layers --keep-fp32 asked for

    @classmethod
    def from_record(cls, record: Any, source: object = "artifact") -> ArtifactMeta:
        """Check and type a record; ArtifactError (exit 2, one line) naming the first wrong field."""
        if not isinstance(record, dict):
            raise ArtifactError(f"{source}: its inception_export metadata is not a JSON object")
        _schema(record, source)
        return cls(
            record=record,
            format=_opt_str(record, "format", source),
            model=_opt_str(record, "model", source),
            precision=_opt_str(record, "precision", source),
            input_size=_opt_int(record, "input_size", source),
            num_classes=_opt_int(record, "num_classes", source),
            embedded_preprocessing=_flag(record, "embedded_preprocessing", source),
            inferred=_flag(record, "inferred", source),
            opset=_opt_int(record, "opset", source),
            artifact_sha256=_opt_str(record, "artifact_sha256", source),
            engine_sha256=_opt_str(record, "engine_sha256", source),
            preprocessing=_preprocessing(record, source),
            weights=_table(record, "weights", source),
            layer_outputs=_pairs(record, "layer_outputs", source),
            float32_nodes=_names(record, "float32_nodes", source),
            keep_fp32=_names(record, "keep_fp32", source),
        )

    def to_dict(self) -> dict[str, Any]:
        return self.record

    def pick(self, *keys: str) -> dict[str, Any]:
        """The record's values of those ``keys`` it has, as written (to carry them into a manifest)."""
        return {k: self.record[k] for k in keys if k in self.record}


NO_METADATA = ArtifactMeta()


def parse_record(
    text: str | bytes, source: object, unreadable: str = "unreadable inception_export metadata"
) -> dict[str, Any]:
    """A record's JSON text as a dict; ArtifactError for anything else (deep nesting included)."""
    try:
        record = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ArtifactError(f"{source}: {unreadable}") from None
    if not isinstance(record, dict):
        raise ArtifactError(f"{source}: its inception_export metadata is not a JSON object")
    return record


def onnx_summary(path: Path) -> OnnxSummary | None:
    """What an ONNX file says about itself (None if it does not parse), parsed once per file
    version (with its graph's facts: ``onnx_graph.parse_onnx``)."""
    parsed = parse_onnx(path)
    return parsed.summary if parsed is not None else None


def record_from_props(props: dict[str, str], source: object) -> ArtifactMeta:
    """The record an ONNX file's ``metadata_props`` carry (:data:`NO_METADATA` for a foreign file)."""
    if METADATA_KEY not in props:
        return NO_METADATA
    return ArtifactMeta.from_record(parse_record(props[METADATA_KEY], source, _UNREADABLE_ONNX), source)


# --- the reader -------------------------------------------------------------------------------


def _read_bounded(path: Path) -> bytes:
    try:
        return read_regular(path, MAX_RECORD_BYTES, "metadata file")
    except UsageError as exc:
        raise ArtifactError(str(exc)) from None
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read it ({exc.strerror or type(exc).__name__})") from None


def _from_torchscript(path: Path) -> dict[str, Any] | None:
    # Read the zip directly: loading the module just for its metadata would be slow, need
    # torch, and run the archive's code. The member's declared size is checked before reading.
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.filename.endswith(f"/extra/{TORCHSCRIPT_EXTRA}"):
                    if info.file_size > MAX_RECORD_BYTES:
                        break
                    with zf.open(info) as fh:
                        data = fh.read(MAX_RECORD_BYTES + 1)
                    if len(data) > MAX_RECORD_BYTES:
                        break
                    return parse_record(data, path, _UNREADABLE_TS)
            else:
                return None
    except ArtifactError:
        raise
    except Exception:  # zipfile and zlib raise many unrelated types for bad bytes
        raise ArtifactError(f"{path}: {_UNREADABLE_TS}") from None
    raise ArtifactError(f"{path}: its inception_export metadata is larger than {MAX_RECORD_BYTES >> 20} MiB")


def read_record(path: Path) -> dict[str, Any]:
    """The raw record of an artifact (ONNX, TorchScript) or of a sidecar ``.json`` file.

    Embedded first, then the sidecar. :class:`MissingMetadata` when there is none at all;
    ArtifactError when there is one that does not read (never silently skipped). ONNX is
    recognised by parsing it, not by its name or first byte.
    """
    path = Path(path)
    if path.suffix == ".json" and os.path.exists(path):
        return parse_record(_read_bounded(path), path, "not a JSON metadata file")
    if not path.is_file():
        raise ArtifactError(f"{path}: no such file")
    if zipfile.is_zipfile(path):
        record = _from_torchscript(path)
        if record is not None:
            return record
    else:
        summary = onnx_summary(path)
        if summary is None and path.suffix.lower() == ".onnx":
            raise ArtifactError(f"{path}: not a readable ONNX file")
        if summary is not None and METADATA_KEY in summary.metadata_props:
            return _embedded_onnx(summary.metadata_props, path)
    side = sidecar_path(path)
    if os.path.exists(side):  # a FIFO or device there is refused by the reader, not skipped
        return parse_record(_read_bounded(side), side, "not a JSON metadata file")
    raise MissingMetadata(f"{path}: no embedded inception_export metadata and no sidecar {side.name}")


def read_metadata(path: Path) -> ArtifactMeta:
    """The typed record of an artifact or sidecar (see :func:`read_record`)."""
    return ArtifactMeta.from_record(read_record(path), path)


def embedded_record(path: Path) -> dict[str, Any] | None:
    """The record inside an ONNX or TorchScript file itself, never its sidecar (None when the
    file carries none): what a hashed artifact says about itself, which an edit beside it
    cannot change."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        return _from_torchscript(path)
    summary = onnx_summary(path)
    if summary is None or METADATA_KEY not in summary.metadata_props:
        return None
    return _embedded_onnx(summary.metadata_props, path)


def _embedded_onnx(props: dict[str, str], path: Path) -> dict[str, Any]:
    """The ONNX's whole record, whose flat copies (what Netron, Triton's model analyzer and
    other generic tools show: ``model``, ``precision``, ``input_size``...) must say the same:
    an edited flat key would otherwise ship beside the record the gate read."""
    record = parse_record(props[METADATA_KEY], path, _UNREADABLE_ONNX)
    for key, value in record.items():
        if key not in props or isinstance(value, dict | list) or value is None:
            continue
        written = value if isinstance(value, str) else jsonout.dumps(value)
        if props[key] != written:
            raise ArtifactError(
                f"{printable(str(path))}: its metadata_props say {printable(key)} "
                f"'{clip(printable(props[key]), 80)}' but its inception_export record says "
                f"'{clip(printable(written), 80)}'; the record was edited (re-export it)"
            )
    return record
