"""Deterministic golden inputs for the gate, each recorded by name and content hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UsageError
from ..text import describe_kind, first_line

if TYPE_CHECKING:
    from ..registry import ModelSpec

# The inputs' seed, not the weights' (synthetic.DEFAULT_SEED, the same number): --seed changes the
# weights and never the golden inputs, so reports stay comparable across seeds.
GOLDEN_SEED = 20261123
# scikit-image ships these photographs inside the package: real images, no download.
SAMPLE_PHOTOS = ("astronaut", "chelsea", "coffee")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


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


# `--images` files are read whole into memory (photos of a few MB each) and each becomes one
# golden input: more than this is refused rather than streamed (the bundle holds at most
# 1,000 inputs, parity/bundle.py: MAX_INPUTS).
MAX_IMAGES = 500
MAX_IMAGE_BYTES = 64 << 20
MAX_IMAGE_PIXELS = 64_000_000
# The short side is resized to the model's size, so a 1,000,000 x 1 strip would become a
# 342,000,000 x 342 image (64 GB of floats). Panoramas are ~10:1; nothing a classifier takes is 100:1.
MAX_ASPECT_RATIO = 100


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


def list_images(images: Path) -> list[Path]:
    """The image files of ``--images DIR``, each a regular file, at most :data:`MAX_IMAGES`."""
    if not images.is_dir():
        what = "not found" if not images.exists() else f"{describe_kind(images)}, not a directory"
        raise UsageError(f"--images {images}: {what}")
    files = sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UsageError(f"--images {images}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    if len(files) > MAX_IMAGES:
        raise UsageError(
            f"--images {images}: {len(files)} image files; the gate takes at most {MAX_IMAGES} "
            "(each becomes a golden input held in memory): pick a representative subset"
        )
    for p in files:
        # Checked before any is read: a FIFO would block the read, a device never end.
        if not p.is_file():
            raise UsageError(f"--images: {p} is {describe_kind(p)}, not a regular file")
        if p.stat().st_size > MAX_IMAGE_BYTES:
            raise UsageError(f"--images: {p} is larger than {MAX_IMAGE_BYTES >> 20} MiB")
    return files


def read_image(path: Path) -> np.ndarray:
    """An image file as uint8 RGB (H, W, 3), converted the way torchvision's loader does
    (``PIL.Image.convert("RGB")``: palette, grey and grey+alpha expand, alpha is dropped);
    16-bit images are scaled to 8 bits, not clipped; CMYK and other colour spaces that need
    a colour profile to convert are refused."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        # PIL's own decompression-bomb guard warns (on stderr) or raises inside open(), before
        # the size is known here: this function's limit below is the one that applies.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError:
        raise UsageError(f"{path}: larger than {MAX_IMAGE_PIXELS:,} pixels") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        why = first_line(str(exc)) or type(exc).__name__
        raise UsageError(f"{path}: cannot read image ({why})") from None
    try:
        with im:
            if im.width * im.height > MAX_IMAGE_PIXELS:
                raise UsageError(f"{path}: {im.width}x{im.height} is larger than {MAX_IMAGE_PIXELS:,} pixels")
            if max(im.width, im.height) > MAX_ASPECT_RATIO * max(1, min(im.width, im.height)):
                raise UsageError(
                    f"{path}: {im.width}x{im.height} is more than {MAX_ASPECT_RATIO}:1; resizing its short "
                    "side to the model's input would make it enormous: crop it first"
                )
            mode = im.mode
            if mode in ("CMYK", "LAB", "HSV"):
                raise UsageError(
                    f"{path}: a {mode} image; convert it to RGB first (its colours cannot be "
                    "converted correctly without its colour profile)"
                )
            if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
                grey = np.asarray(im).astype(np.float64)
                # 16-bit samples span 0..65535: scale to 0..255 (taking them as 8-bit would
                # saturate the whole image to white).
                u8 = np.clip(np.round(grey / 257.0), 0, 255).astype(np.uint8)
                return np.ascontiguousarray(np.repeat(u8[..., None], 3, axis=2))
            if mode == "F":
                raise UsageError(f"{path}: a floating-point image; save it as 8-bit RGB first")
            # A writable copy: PIL's buffer is read-only, and torch warns about those.
            return np.array(im.convert("RGB"), dtype=np.uint8)
    except UsageError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        why = first_line(str(exc)) or type(exc).__name__
        raise UsageError(f"{path}: cannot read image ({why})") from None


def golden_inputs(spec: ModelSpec, size: int, samples: int = 6, images: Path | None = None) -> GoldenSet:
    """Seeded random tensors in the normalised range, edge cases, and real photographs."""
    from ..preprocess import preprocess_image  # torch (resizing): not needed to read a bundle

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
    from ..preprocess import normalise, resize_crop

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
