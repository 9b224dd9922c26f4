"""Deterministic golden inputs for the gate, each recorded by name and content hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UsageError
from ..images import list_images, read_image

if TYPE_CHECKING:
    from ..registry import ModelSpec

# The inputs' seed, not the weights' (synthetic.DEFAULT_SEED, the same number): --seed changes the
# weights and never the golden inputs, so reports stay comparable across seeds.
GOLDEN_SEED = 20261123
# scikit-image ships these photographs inside the package: real images, no download.
SAMPLE_PHOTOS = ("astronaut", "chelsea", "coffee")


@dataclass(frozen=True)
class GoldenSet:
    names: list[str]
    kinds: list[str]
    batch: np.ndarray  # (N, 3, S, S) float32, what eager PyTorch sees
    # (N, S, S, 3) uint8 for artifacts that normalise in-graph; batch == normalise(pixels).
    pixels: np.ndarray | None = None

    def describe(self) -> list[dict[str, str]]:
        return [
            {"name": n, "kind": k, "sha256": hashlib.sha256(x.tobytes()).hexdigest()[:16]}
            for n, k, x in zip(self.names, self.kinds, self.batch, strict=True)
        ]


MAX_SAMPLES = 500


def check_samples(samples: int) -> None:
    """``--samples``, refused before any work when it cannot be right (memory: N x 3 x S x S floats)."""
    if samples < 1:
        raise UsageError(f"--samples must be at least 1, got {samples}")
    if samples > MAX_SAMPLES:
        raise UsageError(f"--samples {samples}: at most {MAX_SAMPLES} seeded random inputs")


def check_inputs(samples: int, images: Path | None) -> None:
    """Everything about the golden inputs that can be refused before the model is built."""
    check_samples(samples)
    if images is not None:
        list_images(images)


def _photos(images: Path | None) -> list[tuple[str, np.ndarray]]:
    if images is None:
        import skimage.data

        return [(f"skimage:{name}", getattr(skimage.data, name)()) for name in SAMPLE_PHOTOS]
    return [(p.name, read_image(p)) for p in list_images(images)]


def golden_inputs(spec: ModelSpec, size: int, samples: int = 6, images: Path | None = None) -> GoldenSet:
    """Seeded random tensors in the normalised range, edge cases, and real photographs."""
    from .preprocess import preprocess_image  # torch (resizing): not needed to read a bundle

    check_samples(samples)
    low, high = (
        np.asarray(b, dtype=np.float32).reshape(1, 3, 1, 1) for b in spec.preprocessing.normalised_bounds()
    )
    rng = np.random.default_rng(GOLDEN_SEED)
    rand = rng.uniform(0.0, 1.0, (samples, 3, size, size)).astype(np.float32) * (high - low) + low
    names = [f"random-{i}" for i in range(samples)]
    kinds = ["random"] * samples
    shape = (1, 3, size, size)
    edge = {
        "zeros": np.zeros(shape, np.float32),
        "constant-mid": np.broadcast_to((low + high) / 2, shape).astype(np.float32),
        "saturated-low": np.broadcast_to(low, shape).astype(np.float32),
        "saturated-high": np.broadcast_to(high, shape).astype(np.float32),
    }
    batch = [rand, *edge.values()]
    names += list(edge)
    kinds += ["edge"] * len(edge)
    for name, img in _photos(images):
        batch.append(preprocess_image(img, spec.preprocessing, size)[None])
        names.append(name)
        kinds.append("photo")
    return GoldenSet(names, kinds, np.ascontiguousarray(np.concatenate(batch)))


def golden_pixels(spec: ModelSpec, size: int, samples: int = 6, images: Path | None = None) -> GoldenSet:
    """The uint8 counterpart for ``--embed-preprocessing`` artifacts: seeded random pixels,
    black / mid-grey / white images, and the photographs resized and cropped to uint8."""
    from ..images import normalise
    from .preprocess import resize_crop

    check_samples(samples)
    rng = np.random.default_rng(GOLDEN_SEED)
    pixels = [rng.integers(0, 256, (samples, size, size, 3), dtype=np.uint8)]
    names = [f"random-{i}" for i in range(samples)]
    kinds = ["random"] * samples
    for name, value in (("black", 0), ("mid-grey", 128), ("white", 255)):
        pixels.append(np.full((1, size, size, 3), value, dtype=np.uint8))
        names.append(name)
        kinds.append("edge")
    for name, img in _photos(images):
        pixels.append(resize_crop(img, spec.preprocessing, size)[None])
        names.append(name)
        kinds.append("photo")
    stacked = np.ascontiguousarray(np.concatenate(pixels))
    return GoldenSet(names, kinds, normalise(stacked, spec.preprocessing), stacked)
