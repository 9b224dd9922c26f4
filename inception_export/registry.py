"""Model registry: one :class:`ModelSpec` per architecture, looked up by name or alias.

Modelled on timm's ``default_cfg`` and torchvision's weight metadata: everything a
deployment needs to know about a model (input size, preprocessing, cost, checkpoint
layout) lives in one declarative record, so the rest of the package never branches on
model names.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .errors import UsageError

if TYPE_CHECKING:  # only for the builder's type: the device role imports this module without torch
    from torch import nn

ColourOrder = Literal["RGB", "BGR"]

# Inputs up to this many times a model's default side are accepted. Activations grow with
# the square of the side: `inspect -m v3 --input-size 1196` (4x) peaks at 0.71 GB RSS
# (measured, /usr/bin/time -v), while 10000 px would need ~70x that per image and used to
# run to 3 GB and die. A model that needs another bound sets ModelSpec.max_size.
MAX_SIZE_FACTOR = 4


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes the tensor the checkpoint expects.

    ``value_range`` is the range pixels are scaled to *before* ``(x - mean) / std``.
    """

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    colour_order: ColourOrder
    value_range: tuple[float, float]
    resize: int
    crop: int
    interpolation: str = "bilinear"

    def normalised_bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel (low, high) of the normalised tensor for in-range pixels."""
        lo, hi = self.value_range
        low = tuple((lo - m) / s for m, s in zip(self.mean, self.std, strict=True))
        high = tuple((hi - m) / s for m, s in zip(self.mean, self.std, strict=True))
        return low, high


@dataclass(frozen=True)
class KnownCheckpoint:
    """A published checkpoint recognised by content, with the recipe it was trained for.

    ``sha256_prefix`` is what the publisher's file name carries (torchvision names files
    ``NAME-<first 8 hex digits of the sha256>.pth`` and checks downloads against it), so the
    file is recognised whatever it is called now. As torchvision's weight enums do, the
    recipe sets ``transform_input`` and the preprocessing.
    """

    sha256_prefix: str
    file_name: str
    source: str
    transform_input: bool
    preprocessing: Preprocessing

    def __post_init__(self) -> None:
        if len(self.sha256_prefix) < 8 or any(c not in "0123456789abcdef" for c in self.sha256_prefix):
            raise ValueError(f"sha256 prefix {self.sha256_prefix!r}: at least 8 lower-case hex digits")


@dataclass(frozen=True)
class ModelSpec:
    """Static description of one architecture (shared by every checkpoint of it)."""

    name: str
    aliases: tuple[str, ...]
    description: str
    builder: Callable[..., nn.Module]
    default_size: int
    min_size: int
    preprocessing: Preprocessing
    params: int
    gmacs: float
    layout: str
    classifier_key: str
    aux_prefixes: tuple[str, ...] = ()
    supports_transform_input: bool = False
    # Rejects sizes >= min_size at which the graph still cannot run (returns a reason).
    size_check: Callable[[int], str | None] | None = None
    notes: str = ""
    # Largest input side accepted; 0 means MAX_SIZE_FACTOR x default_size (see max_input_size).
    max_size: int = 0
    # Published checkpoints recognised by content hash, with their recipe (see KnownCheckpoint).
    known_checkpoints: tuple[KnownCheckpoint, ...] = ()

    @property
    def max_input_size(self) -> int:
        return self.max_size or MAX_SIZE_FACTOR * self.default_size

    def check_size(self, size: int) -> None:
        if size < self.min_size:
            raise UsageError(
                f"input size {size} is below {self.name}'s minimum of {self.min_size}x{self.min_size}"
            )
        if size > self.max_input_size:
            raise UsageError(
                f"input size {size} is above {self.name}'s maximum of {self.max_input_size}x"
                f"{self.max_input_size} ({MAX_SIZE_FACTOR}x its {self.default_size} default: activation "
                "memory grows with the square of the size, and the checkpoint was trained near the default)"
            )
        if self.size_check is not None:
            reason = self.size_check(size)
            if reason:
                raise UsageError(reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "description": self.description,
            "default_size": self.default_size,
            "min_size": self.min_size,
            "max_size": self.max_input_size,
            "preprocessing": asdict(self.preprocessing),
            "params": self.params,
            "gmacs": self.gmacs,
            "layout": self.layout,
            "classifier_key": self.classifier_key,
            "aux_prefixes": list(self.aux_prefixes),
            "supports_transform_input": self.supports_transform_input,
            "notes": self.notes,
            "known_checkpoints": [
                {
                    "sha256_prefix": k.sha256_prefix,
                    "file_name": k.file_name,
                    "source": k.source,
                    "transform_input": k.transform_input,
                }
                for k in self.known_checkpoints
            ],
        }


_REGISTRY: dict[str, ModelSpec] = {}
_ALIASES: dict[str, str] = {}


def register(spec: ModelSpec) -> ModelSpec:
    for key in (spec.name, *spec.aliases):
        if key in _ALIASES:
            raise ValueError(f"model name {key!r} registered twice")
        _ALIASES[key] = spec.name
    _REGISTRY[spec.name] = spec
    return spec


def _ensure_loaded() -> None:
    # Model modules register themselves on import; importing here keeps the registry
    # usable from any entry point without import-order surprises.
    from .full import models  # noqa: F401


def model_key(name: str) -> str:
    """How a model name is looked up: case, surrounding blanks and ``-``/``_`` do not matter."""
    return name.strip().lower().replace("-", "_")


def get_spec(name: str | ModelSpec) -> ModelSpec:
    """The spec of a model name or alias; a spec already resolved (at the CLI or API edge) is
    passed through, so functions down the line take either without looking it up again."""
    if isinstance(name, ModelSpec):
        return name
    _ensure_loaded()
    key = model_key(name)
    if key not in _ALIASES:
        known = ", ".join(
            f"{s.name} ({'/'.join(s.aliases)})" if s.aliases else s.name for s in _REGISTRY.values()
        )
        raise UsageError(f"unknown model {name!r}; known models: {known}")
    return _REGISTRY[_ALIASES[key]]


def list_specs() -> list[ModelSpec]:
    _ensure_loaded()
    return list(_REGISTRY.values())


# Every spec's to_dict(), in list order, for the device role: the model files define torch
# modules, so without torch they cannot be imported. tests/test_models_catalogue.py keeps it
# equal to the specs; `python tools/models_catalogue.py` rewrites it.
CATALOGUE = Path(__file__).parent / "catalogue.json"


def torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def spec_dicts() -> list[dict[str, Any]]:
    """What ``models`` shows: from the specs, or from the catalogue where torch is absent."""
    if torch_available():
        return [s.to_dict() for s in list_specs()]
    import json

    rows: list[dict[str, Any]] = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    return rows


# Checkpoints added at run time (a site's own published weights; the tests' generated ones),
# looked up exactly like the ones the model files declare.
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
