"""Reading users' image files, torch-free: the golden gate, labelled accuracy and calibration
all read ``--images`` through here (the device role included), and :func:`normalise` turns
uint8 pixels into the float tensor a checkpoint expects."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import UsageError
from .text import describe_kind, first_line

if TYPE_CHECKING:
    from .registry import Preprocessing

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}

# `--images` files are read whole into memory (photos of a few MB each) and each becomes one
# golden input: more than this is refused rather than streamed (the bundle holds at most
# 1,000 inputs, parity/bundle.py: MAX_INPUTS).
MAX_IMAGES = 500
MAX_IMAGE_BYTES = 64 << 20
MAX_IMAGE_PIXELS = 64_000_000
# The short side is resized to the model's size, so a 1,000,000 x 1 strip would become a
# 342,000,000 x 342 image (64 GB of floats). Panoramas are ~10:1; nothing a classifier takes is 100:1.
MAX_ASPECT_RATIO = 100


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


def normalise(pixels: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """uint8 NHWC (already in the checkpoint's colour order) -> float32 NCHW, computed in float64."""
    lo, hi = pre.value_range
    x = pixels.astype(np.float64).transpose(0, 3, 1, 2) / 255.0 * (hi - lo) + lo
    mean = np.asarray(pre.mean, dtype=np.float64).reshape(1, 3, 1, 1)
    std = np.asarray(pre.std, dtype=np.float64).reshape(1, 3, 1, 1)
    return np.ascontiguousarray(((x - mean) / std).astype(np.float32))
