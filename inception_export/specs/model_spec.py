"""What a model is, as data: the types every spec in this package is made of.

Modelled on timm's ``default_cfg`` and torchvision's weight metadata: everything a
deployment needs to know about a model (input size, preprocessing, cost, checkpoint
layout) lives in one declarative record, so the rest of the package never branches on
model names. Torch-free, so the device role reads the same specs as the full role; the
``nn.Module`` that a spec names is the full role's (``full/models``, by ``name``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ..errors import UsageError

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
