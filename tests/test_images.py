"""Reading the images a user points the tool at (images.py: ``--images``, labelled folders,
calibration): sizes bounded before decoding, every PIL mode read as RGB or refused in one line,
an image folder bounded and a FIFO in it refused."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import cli, one_error

from inception_export.errors import UsageError
from inception_export.images import read_image


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims ``width`` x ``height`` (8-bit grey) with a token IDAT: the
    size PIL's open() sees, without gigabytes on disk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


def test_images_that_would_exhaust_memory_are_refused(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # 900 M pixels: PIL's own guard raised DecompressionBombError (exit 3); at 90 M it printed
    # its warning on stderr before our refusal.
    for pixels in (30_000, 9_500):
        bomb = tmp_path / f"bomb{pixels}.png"
        _png_header_only(bomb, pixels, pixels)
        with pytest.raises(UsageError, match="larger than 64,000,000 pixels"):
            read_image(bomb)
    # A 1,000,000 x 1 strip: the short side resized to the model's made a 64 GB tensor.
    strip = tmp_path / "strip.png"
    _png_header_only(strip, 1_000_000, 1)
    with pytest.raises(UsageError, match="more than 100:1"):
        read_image(strip)
    assert capfd.readouterr().err == ""


def test_grayscale_alpha_16_bit_and_cmyk_images(tmp_path: Path) -> None:
    from PIL import Image

    from inception_export.errors import UsageError
    from inception_export.images import read_image

    Image.new("LA", (16, 12), (100, 50)).save(tmp_path / "la.png")
    la = read_image(tmp_path / "la.png")
    assert la.shape == (12, 16, 3) and la.dtype == np.uint8 and (la == 100).all()
    grey16 = (np.arange(32 * 32).reshape(32, 32) * 60).astype(np.uint16)
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    got = read_image(tmp_path / "g16.png")
    assert got.shape == (32, 32, 3)
    assert np.abs(got[..., 0].astype(int) - np.round(grey16 / 257.0)).max() == 0  # scaled, not all-255
    Image.new("CMYK", (8, 8), (0, 255, 0, 0)).save(tmp_path / "c.jpg")
    with pytest.raises(UsageError, match="CMYK image; convert it to RGB first"):
        read_image(tmp_path / "c.jpg")


def test_images_dir_is_bounded_and_fifos_refused(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from inception_export.images import MAX_IMAGES

    many = case["dir"] / "many"
    many.mkdir()
    for i in range(MAX_IMAGES + 1):
        (many / f"{i:05d}.png").touch()
    code, _, err = cli("parity", "-m", "v1", "--images", many, case["good"], capsys=capsys)
    assert code == 2 and f"at most {MAX_IMAGES}" in one_error(err)
    fifo_dir = case["dir"] / "fifo"
    fifo_dir.mkdir()
    os.mkfifo(fifo_dir / "photo.png")
    code, _, err = cli("parity", "-m", "v1", "--images", fifo_dir, case["good"], capsys=capsys)
    assert code == 2 and "FIFO" in one_error(err)
