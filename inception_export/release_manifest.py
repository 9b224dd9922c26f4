"""The release manifest (``manifest.json`` in the directory ``release`` writes): its name, its
bound, its one reader, and the weights it was made from. Torch-free: ``release`` (full role)
writes it, the deployments (``deploy triton``, ``deploy deepstream``) and the golden bundle's
check read it.

A manifest is JSON anyone can edit, and nothing re-hashes it: :func:`read_release` refuses one
whose fields are not of their JSON type or whose names are not plain names, and
:class:`ReleaseManifest` holds its words. Those are claims: what the release's files are is
``deploy/verify.py``'s (:class:`deploy.verify.ModelFacts`), compared with them word by word.
Both are a :class:`ReleaseModel`, so what needs only the model's identity (the weights check)
takes either.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ArtifactError, UsageError, WeightsError
from .reading import read_regular
from .seed import seed_of, source_seed
from .text import printable

MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 64 << 20
# The gate's report a release writes beside its manifest. A fixed name: the manifest is not
# trusted to name files to read.
GATE_REPORT = "parity.json"
# Names that become directory and model names in a deployment (Triton's model name, the
# DeepStream file names): a manifest could otherwise name "../x" or a control character.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


# The JSON type of each manifest field a deployment reads (full/release.py: _manifest writes
# them): a hand-edited manifest is refused at the reader, one line naming the field, instead of
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


@dataclass(frozen=True)
class ReleaseModel:
    """The model a release holds, by the words that rebuild it: its name, input size, classes,
    ``transform_input`` and the weights it was made from (a checkpoint's sha256, or the seed of
    synthetic weights)."""

    model: str
    input_size: int
    num_classes: int
    transform_input: bool
    weights_sha256: str
    seed: int | None  # synthetic weights: their seed; None: a checkpoint


@dataclass(frozen=True)
class ReleaseManifest(ReleaseModel):
    """A release manifest as read: the model as its words give it (claims, until
    ``deploy/verify.py`` compares them with the files), and the document itself for the readers
    of its artifact entries."""

    directory: Path
    sha256: str  # of the manifest's bytes, as read: what a deployment records it was made from
    doc: dict[str, Any]  # every field of its JSON type (see _TOP), names plain

    @property
    def path(self) -> Path:
        return self.directory / MANIFEST


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


def _check_types(doc: dict[str, Any], path: Path) -> None:
    """Every field a deployment reads, of its JSON type (ArtifactError, exit 2, naming it)."""
    missing = [key for key in _REQUIRED if key not in doc]
    if missing:
        raise ArtifactError(f"{path}: no {', '.join(missing)}; not a release manifest of this tool")
    _check_fields(doc, _TOP, _INNER, f"{path}: field ")
    for i, entry in enumerate(doc["artifacts"]):
        if not isinstance(entry, dict):
            raise ArtifactError(f"{path}: artifact {i} is not a table")
        _check_fields(entry, _ENTRY, _ENTRY_INNER, f"{path}: artifact {i}: field ")


def _check_names(doc: dict[str, Any], path: Path) -> None:
    """The model and file names are plain names, the class count a count."""
    model = doc["model"]
    if not SAFE_NAME.fullmatch(model):
        raise ArtifactError(f"{path}: model name '{printable(model)}' is not a plain name")
    classes = doc["num_classes"]
    if not 1 <= classes <= 1_000_000:
        raise ArtifactError(f"{path}: num_classes '{printable(classes)}' is not a class count")
    for entry in doc["artifacts"]:
        if not isinstance(entry.get("file"), str):
            raise ArtifactError(f"{path}: an artifact entry without a file name")
        if not SAFE_NAME.fullmatch(entry["file"]):
            raise ArtifactError(f"{path}: artifact file '{printable(entry['file'])}' is not a plain name")


def _read_doc(release_dir: Path) -> tuple[dict[str, Any], bytes]:
    """The manifest's document and bytes: bounded, a regular file, strict JSON, schema 1."""
    path = Path(release_dir) / MANIFEST
    where = f"--release {release_dir}"
    if not Path(release_dir).is_dir():
        raise ArtifactError(f"{where}: not a directory (give the directory `release` wrote)")
    try:
        data = read_regular(path, MAX_MANIFEST_BYTES, "release manifest")
        doc = json.loads(data.decode("utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{where}: no {MANIFEST}; give the directory `release` wrote") from None
    except UsageError as exc:  # a FIFO or a device in its place, or too large
        raise ArtifactError(str(exc)) from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ArtifactError(f"{path}: unreadable release manifest ({type(exc).__name__})") from None
    if not isinstance(doc, dict) or doc.get("schema") != 1 or not isinstance(doc.get("artifacts"), list):
        raise ArtifactError(f"{path}: not a release manifest of this tool")
    return doc, data


def _weights(doc: dict[str, Any], path: Path) -> tuple[str, int | None]:
    """(sha256, seed) of the weights the manifest says made the release."""
    weights = _table(doc, "weights", path)
    source, sha = weights.get("source"), weights.get("sha256")
    if not isinstance(source, str) or not isinstance(sha, str):
        raise ArtifactError(f"{path}: no weights source/sha256; cannot tell which weights made it")
    source_seed(source, path)  # a synthetic source holds its seed, though the sha256 says which
    return sha, seed_of(sha, path)


def model_words(doc: dict[str, Any], path: Path) -> ReleaseModel:
    """The model as a manifest document read by :func:`read_release` gives it (a deployment
    passes on the document, with its own artifacts added)."""
    return _model(doc, path)


def _table(doc: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = doc.get(key)
    if not isinstance(value, dict):
        raise ArtifactError(f"{path}: no valid {key!r}; not a release manifest of this tool")
    return value


def _model(doc: dict[str, Any], path: Path) -> ReleaseModel:
    sha, seed = _weights(doc, path)
    return ReleaseModel(
        model=doc["model"],
        input_size=doc["input_size"],
        num_classes=doc["num_classes"],
        transform_input=bool(_table(doc, "preprocessing", path).get("transform_input", False)),
        weights_sha256=sha,
        seed=seed,
    )


def read_release(release_dir: Path) -> ReleaseManifest:
    """The release manifest of ``release_dir``, every field a deployment relies on checked
    (ArtifactError, exit 2, for anything missing, mistyped or unreadable)."""
    doc, data = _read_doc(release_dir)
    path = Path(release_dir) / MANIFEST
    _check_types(doc, path)
    _check_names(doc, path)
    return ReleaseManifest(
        **vars(_model(doc, path)),
        directory=Path(release_dir),
        sha256=hashlib.sha256(data).hexdigest(),
        doc=doc,
    )


def peek_manifest(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path`` if there is a readable one, else None: for the readers that
    only ask whether a directory holds a release (and which files it lists), never refuse."""
    try:
        doc = json.loads(read_regular(path, MAX_MANIFEST_BYTES, "release manifest"))
    except (OSError, ValueError, RecursionError, UsageError):
        return None
    return doc if isinstance(doc, dict) else None


def own_manifest(directory: Path) -> dict[str, Any] | None:
    """``directory/manifest.json`` if it is a release manifest of this tool: only such a
    directory is ever replaced (with --force); a web app's manifest.json is not one."""
    doc = peek_manifest(directory / MANIFEST)
    if doc is None:
        return None
    versions = doc.get("versions")
    ours = (
        doc.get("schema") == 1
        and isinstance(versions, dict)
        and "inception_export" in versions
        and isinstance(doc.get("artifacts"), list)
    )
    return doc if ours else None


def check_weights_file(weights: Path | None) -> None:
    """``--weights``, when given, is a file (a checkpoint), refused before it is read."""
    if weights is None:
        return
    if Path(weights).is_dir():
        raise UsageError(f"--weights {weights} is a directory; give a checkpoint file")
    if not Path(weights).is_file():
        raise UsageError(f"--weights {weights}: no such file")


def check_weights(
    model: ReleaseModel, weights: Path | None, release_dir: Path, *, needed: str | None = None
) -> None:
    """``--weights`` must be the checkpoint the release was made from (by sha256), and is
    refused for a release of synthetic weights. ``needed`` names what rebuilds the release's
    model (an export, a gate): a release made from a checkpoint then needs ``--weights``."""
    from .registry import checkpoint_sha256  # cached: the model is built from the same file

    if weights is None:
        if needed is not None and model.seed is None:
            raise WeightsError(
                f"{needed}: rebuilding the release's model needs the checkpoint it was made from "
                f"(sha256 {printable(model.weights_sha256)[:12]}…): give --weights FILE"
            )
        return
    check_weights_file(weights)
    if model.seed is not None:
        raise WeightsError(
            f"--weights {weights}: the release {release_dir} was made from synthetic weights "
            f"(seed {model.seed}); drop --weights"
        )
    digest = checkpoint_sha256(Path(weights))
    if digest != model.weights_sha256:
        raise WeightsError(
            f"--weights {weights}: sha256 {digest[:12]}… is not the release's weights "
            f"({printable(model.weights_sha256)[:12]}…); give the checkpoint the release was made from"
        )
