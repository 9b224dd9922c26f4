"""A release as the input of a deployment package: its manifest, its artifacts, its weights.

Everything here is read as hostile: a manifest is JSON anyone can edit, so the file names it
gives are plain names inside the release, and the sha256 it records is checked on every
artifact copied out of it and on the weights offered to export one it lacks.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
from pathlib import Path
from typing import Any

from ..errors import ArtifactError, UsageError, WeightsError
from ..hashing import file_sha256
from ..reading import read_regular
from ..text import describe_kind, printable

MANIFEST = "manifest.json"  # release.MANIFEST (release.py imports torch at module level)
MAX_MANIFEST_BYTES = 64 << 20
# Names that become directory and model names in a deployment (Triton's model name, the
# DeepStream file names): a manifest could otherwise name "../x" or a control character.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


# The JSON type of each manifest field a deployment reads (release.py: _manifest writes them):
# a hand-edited manifest is refused at the reader, one line naming the field, instead of
# failing (exit 3) where a later reader calls .get() on a string or int() on a list.
_Kind = tuple[type, ...]
_TABLE, _TEXT, _COUNT, _SWITCH, _LIST, _NONE = (dict,), (str,), (int,), (bool,), (list,), (type(None),)
_REQUIRED = {"model": _TEXT, "input_size": _COUNT, "num_classes": _COUNT, "artifacts": _LIST}
_TOP: dict[str, _Kind] = {
    **_REQUIRED,
    "schema": _COUNT,
    "preprocessing": _TABLE,
    "weights": _TABLE,
    "versions": _TABLE,
    "tensorrt": _TEXT,
    "engine_batch": _TABLE + _NONE,
    "golden": _TABLE,
    "gate": _TABLE,
}
_INNER: dict[str, dict[str, _Kind]] = {
    "preprocessing": {"transform_input": _SWITCH},
    "weights": {"source": _TEXT, "sha256": _TEXT},
    "engine_batch": {"min": _COUNT, "opt": _COUNT, "max": _COUNT},
    "gate": {"passed": _SWITCH, "profile": _TEXT},
}
_ENTRY: dict[str, _Kind] = {
    "file": _TEXT,
    "sha256": _TEXT,
    "format": _TEXT,
    "precision": _TEXT,
    "input": _TABLE,
    "output": _TABLE,
    "opset": _COUNT + _NONE,
    "gate": _TABLE,
}
_ENTRY_INNER: dict[str, dict[str, _Kind]] = {
    "input": {"name": _TEXT, "shape": _LIST, "layout": _TEXT, "dtype": _TEXT, "batch": _TEXT + _LIST},
    "output": {"name": _TEXT, "shape": _LIST, "dtype": _TEXT},
    "gate": {"passed": _SWITCH},
}
_WORDS = {dict: "a table", str: "a string", int: "a whole number", bool: "true or false", list: "a list"}


def _is(value: Any, kind: _Kind) -> bool:
    # JSON's true/false are Python ints too: a count is never a bool.
    return isinstance(value, kind) and not (isinstance(value, bool) and bool not in kind)


def _check_fields(
    doc: dict[str, Any], kinds: dict[str, _Kind], inner: dict[str, dict[str, _Kind]], where: str
) -> None:
    for key, kind in kinds.items():
        if key in doc and not _is(doc[key], kind):
            shown = printable(json.dumps(doc[key]))[:40]
            words = " or ".join(_WORDS.get(k, "null") for k in kind)
            raise ArtifactError(f"{where}{key} is {shown}, not {words}")
        if isinstance(doc.get(key), dict):
            _check_fields(doc[key], inner.get(key, {}), {}, f"{where}{key}.")


def check_manifest_types(doc: dict[str, Any], path: Path) -> None:
    """Every field a deployment reads, of its JSON type (ArtifactError, exit 2, naming it)."""
    missing = [key for key in _REQUIRED if key not in doc]
    if missing:
        raise ArtifactError(f"{path}: no {', '.join(missing)}; not a release manifest of this tool")
    _check_fields(doc, _TOP, _INNER, f"{path}: field ")
    for i, entry in enumerate(doc["artifacts"]):
        if not isinstance(entry, dict):
            raise ArtifactError(f"{path}: artifact {i} is not a table")
        _check_fields(entry, _ENTRY, _ENTRY_INNER, f"{path}: artifact {i}: field ")


def load_release(release_dir: Path) -> dict[str, Any]:
    """The release manifest of ``release_dir``, with the fields a deployment relies on checked."""
    path = Path(release_dir) / MANIFEST
    where = f"--release {release_dir}"
    if not Path(release_dir).is_dir():
        raise UsageError(f"{where}: not a directory (give the directory `release` wrote)")
    try:
        doc = json.loads(read_regular(path, MAX_MANIFEST_BYTES, "release manifest").decode("utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{where}: no {MANIFEST}; give the directory `release` wrote") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ArtifactError(f"{path}: unreadable release manifest ({type(exc).__name__})") from None
    if not isinstance(doc, dict) or doc.get("schema") != 1 or not isinstance(doc.get("artifacts"), list):
        raise ArtifactError(f"{path}: not a release manifest of this tool")
    check_manifest_types(doc, path)
    model = doc.get("model")
    if not isinstance(model, str) or not SAFE_NAME.fullmatch(model):
        raise ArtifactError(f"{path}: model name '{printable(model)}' is not a plain name")
    classes = doc.get("num_classes")
    if not isinstance(classes, int) or isinstance(classes, bool) or not 1 <= classes <= 1_000_000:
        raise ArtifactError(f"{path}: num_classes '{printable(classes)}' is not a class count")
    for entry in doc["artifacts"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise ArtifactError(f"{path}: an artifact entry without a file name")
        if not SAFE_NAME.fullmatch(entry["file"]):
            raise ArtifactError(f"{path}: artifact file '{printable(entry['file'])}' is not a plain name")
    return doc


def artifacts(manifest: dict[str, Any], fmt: str) -> list[dict[str, Any]]:
    """The manifest's entries of format ``fmt`` (``onnx``, ``tensorrt``, ``torchscript``)."""
    return [a for a in manifest["artifacts"] if a.get("format") == fmt]


def artifact_path(release_dir: Path, entry: dict[str, Any]) -> Path:
    path = Path(release_dir) / entry["file"]
    if not path.is_file():
        if os.path.lexists(path):
            raise ArtifactError(
                f"{path}: listed in the release manifest, but {describe_kind(path)}, not a regular file"
            )
        raise ArtifactError(f"{path}: listed in the release manifest but missing")
    return path


def copy_verified(src: Path, dst: Path, sha256: object) -> str:
    """Copy ``src`` to ``dst``, hashing the bytes as they are copied; refused (and ``dst``
    removed) when they are not the bytes the manifest recorded."""
    h = hashlib.sha256()
    # Opened without blocking and checked on the descriptor: a FIFO swapped in after the
    # artifact was verified would block the copy until a writer came.
    fd = os.open(src, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ArtifactError(f"{printable(str(src))}: {describe_kind(src)}, not a regular file")
    with os.fdopen(fd, "rb") as fin, open(dst, "xb") as fout:
        while chunk := fin.read(1 << 20):
            h.update(chunk)
            fout.write(chunk)
    digest = h.hexdigest()
    if digest != sha256:
        dst.unlink(missing_ok=True)
        raise ArtifactError(
            f"{src}: sha256 {digest[:12]}… is not the release manifest's {printable(sha256)[:12]}…: "
            "the artifact changed after the release was made"
        )
    shutil.copystat(src, dst)
    return digest


def check_weights(manifest: dict[str, Any], weights: Path | None) -> None:
    """``weights`` must be the checkpoint the release was made from (its sha256 is in the manifest)."""
    if weights is None:
        return
    recorded = (manifest.get("weights") or {}).get("sha256")
    if Path(weights).is_dir():
        raise UsageError(f"--weights {weights} is a directory; give a checkpoint file")
    if not Path(weights).is_file():
        raise UsageError(f"--weights {weights}: no such file")
    if isinstance(recorded, str) and recorded.startswith("synthetic-"):
        raise WeightsError(
            f"--weights {weights}: the release was made from synthetic weights, not a checkpoint; "
            "drop --weights"
        )
    digest = file_sha256(Path(weights))
    if digest != recorded:
        raise WeightsError(
            f"--weights {weights}: sha256 {digest[:12]}… is not the release's weights "
            f"({printable(recorded)[:12]}…); give the checkpoint the release was made from"
        )
