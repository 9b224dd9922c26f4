"""Model registry: one :class:`ModelSpec` per architecture, looked up by name or alias.

As timm's ``_registry`` does for its model entrypoints, this module owns the lookup: the
specs themselves are torch-free data (``specs/``, listed in :data:`specs.SPECS`), so the
device role reads the same registry as the full role, and the ``nn.Module`` builders are
the full role's (``full/models``, found by spec name). Nothing here imports a model.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from .errors import UsageError
from .specs import SPECS
from .specs.model_spec import MAX_SIZE_FACTOR, ColourOrder, KnownCheckpoint, ModelSpec, Preprocessing

__all__ = [
    "MAX_SIZE_FACTOR",
    "ColourOrder",
    "KnownCheckpoint",
    "ModelSpec",
    "Preprocessing",
    "checkpoint_sha256",
    "get_spec",
    "known_checkpoints",
    "list_specs",
    "model_key",
    "recognise_checkpoint",
    "register",
    "register_checkpoint",
    "resolve_transform_input",
]

_REGISTRY: dict[str, ModelSpec] = {}
_ALIASES: dict[str, str] = {}


def register(spec: ModelSpec) -> ModelSpec:
    for key in (spec.name, *spec.aliases):
        if key in _ALIASES:
            raise ValueError(f"model name {key!r} registered twice")
        _ALIASES[key] = spec.name
    _REGISTRY[spec.name] = spec
    return spec


for _spec in SPECS:
    register(_spec)


def model_key(name: str) -> str:
    """How a model name is looked up: case, surrounding blanks and ``-``/``_`` do not matter."""
    return name.strip().lower().replace("-", "_")


def get_spec(name: str | ModelSpec) -> ModelSpec:
    """The spec of a model name or alias; a spec already resolved (at the CLI or API edge) is
    passed through, so functions down the line take either without looking it up again."""
    if isinstance(name, ModelSpec):
        return name
    key = model_key(name)
    if key not in _ALIASES:
        known = ", ".join(
            f"{s.name} ({'/'.join(s.aliases)})" if s.aliases else s.name for s in _REGISTRY.values()
        )
        raise UsageError(f"unknown model {name!r}; known models: {known}")
    return _REGISTRY[_ALIASES[key]]


def list_specs() -> list[ModelSpec]:
    return list(_REGISTRY.values())


# Checkpoints added at run time (a site's own published weights; the tests' generated ones),
# looked up exactly like the ones the specs declare.
_EXTRA_CHECKPOINTS: dict[str, list[KnownCheckpoint]] = {}


def register_checkpoint(model: str, known: KnownCheckpoint) -> None:
    spec = get_spec(model)
    if known.transform_input and not spec.supports_transform_input:
        raise ValueError(f"{spec.name} has no transform_input")
    _EXTRA_CHECKPOINTS.setdefault(spec.name, []).append(known)


def known_checkpoints(spec: ModelSpec) -> tuple[KnownCheckpoint, ...]:
    return (*spec.known_checkpoints, *_EXTRA_CHECKPOINTS.get(spec.name, ()))


def recognise_checkpoint(spec: ModelSpec, sha256: str) -> KnownCheckpoint | None:
    """The published checkpoint of ``spec`` whose hash ``sha256`` (full hex digest) is, if any."""
    digest = sha256.lower()
    return next((k for k in known_checkpoints(spec) if digest.startswith(k.sha256_prefix)), None)


# Hashing a 100 MB checkpoint takes a quarter of a second; the CLI resolves the recipe before
# building the model, which hashes the file again for its load report.
_HASHES: dict[tuple[str, int, int, int], str] = {}


def checkpoint_sha256(path: Path) -> str:
    from .hashing import file_sha256

    st = path.stat()
    key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = file_sha256(path)
    return _HASHES[key]


def resolve_transform_input(
    spec: ModelSpec, weights: str | Path | None, transform_input: bool | None
) -> tuple[bool, KnownCheckpoint | None]:
    """``transform_input`` for these weights: a recognised published checkpoint decides it.

    ``None`` means the caller did not say: a recognised checkpoint's recipe applies (with a
    ``note:``, as a warning), anything else gets False. An explicit value that contradicts a
    recognised checkpoint is refused: the gate would still pass (it compares with the same
    wrong model) while every prediction would be off.
    """
    known = None
    if weights is not None and Path(weights).is_file():
        known = recognise_checkpoint(spec, checkpoint_sha256(Path(weights)))
    if known is None:
        return bool(transform_input), None
    name = Path(weights).name if weights is not None else ""
    if transform_input is not None and transform_input != known.transform_input:
        flag = f"transform_input={transform_input} (--{'' if transform_input else 'no-'}transform-input)"
        raise UsageError(
            f"{flag} contradicts {name}: it is {known.source}'s {known.file_name} (sha256 "
            f"{known.sha256_prefix}...), trained with transform_input={known.transform_input}; "
            f"leave the flag out to use the checkpoint's recipe"
        )
    if transform_input is None:
        pre = known.preprocessing
        warnings.warn(
            f"{name} is {known.source}'s {known.file_name} (sha256 {known.sha256_prefix}...): "
            f"transform_input={known.transform_input}, preprocessing RGB mean {pre.mean} std {pre.std}, "
            f"resize {pre.resize} crop {pre.crop} {pre.interpolation}, as its weights were published",
            stacklevel=2,
        )
    return known.transform_input, known
