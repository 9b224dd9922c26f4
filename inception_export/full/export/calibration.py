"""The calibration set of an INT8 export: the user's images, read and preprocessed with the
model's own recipe (the same reading and resize/crop/normalise ``--images`` gets in the gate),
recorded by count and content hash so that an artifact says what its scales came from."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import UsageError
from ...images import IMAGE_SUFFIXES, MAX_IMAGE_BYTES, read_image
from ...registry import ModelSpec
from ...text import describe_kind

# Activation ranges settle after a few dozen images (docs/int8.md); each one is held in
# memory as 3 x S x S floats and run through an augmented graph that outputs every tensor.
DEFAULT_SAMPLES = 64
MAX_SAMPLES = 1000


@dataclass(frozen=True)
class CalibrationSet:
    names: list[str]
    batch: np.ndarray  # (N, 3, S, S) float32, what the network sees
    sha256: str  # over the files' names and bytes, in the order used
    found: int | None = None  # image files in the directory (None: not read from one)
    samples: int | None = None  # --calibration-samples, the most it takes

    def to_dict(self) -> dict[str, Any]:
        if self.found is None:
            return {"count": len(self.names), "sha256": self.sha256}
        return {"count": len(self.names), "found": self.found, "samples": self.samples, "sha256": self.sha256}


def describe(record: dict[str, Any], limit: str = "--calibration-samples {samples}") -> str:
    """How many images an artifact's scales come from, and why that many (``CalibrationSet.to_dict``,
    as the metadata records it): the user's folder may hold more than the limit takes. ``limit``
    says where the most taken came from (a command without --calibration-samples names its default)."""
    count, found = record["count"], record.get("found")
    if found is None:
        return f"calibration: {count} images"
    why = "evenly spaced by name" if count < found else "all there are"
    return f"calibration: {count} of {found} images ({why}; {limit.format(samples=record['samples'])})"


def check_samples(samples: int) -> None:
    if samples < 1:
        raise UsageError(f"--calibration-samples must be at least 1, got {samples}")
    if samples > MAX_SAMPLES:
        raise UsageError(f"--calibration-samples {samples}: at most {MAX_SAMPLES}")


def list_calibration(directory: Path, samples: int = DEFAULT_SAMPLES) -> list[Path]:
    """The image files of ``--calibration DIR`` that will be used (sorted by name, evenly spaced
    when there are more than ``samples``); refused (exit 2) before any is decoded."""
    return _calibration_files(directory, samples)[0]


def _calibration_files(directory: Path, samples: int) -> tuple[list[Path], int]:
    """The files used, and how many image files the directory holds."""
    check_samples(samples)
    where = f"--calibration {directory}"
    if not directory.is_dir():
        what = "not found" if not directory.exists() else f"{describe_kind(directory)}, not a directory"
        raise UsageError(f"{where}: {what}")
    try:
        files = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    except OSError as exc:
        raise UsageError(f"{where}: cannot list it ({exc.strerror or type(exc).__name__})") from None
    if not files:
        raise UsageError(f"{where}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    found = len(files)
    if len(files) > samples:
        # Evenly spaced rather than the first N: a folder sorted by class would otherwise
        # calibrate on the first classes only.
        picks = np.linspace(0, len(files) - 1, samples).round().astype(int)
        files = [files[i] for i in dict.fromkeys(picks.tolist())]
    for p in files:
        if not p.is_file():  # a FIFO would block the read, a device never end
            raise UsageError(f"{where}: {p.name} is {describe_kind(p)}, not a regular file")
        if p.stat().st_size > MAX_IMAGE_BYTES:
            raise UsageError(f"{where}: {p.name} is larger than {MAX_IMAGE_BYTES >> 20} MiB")
    return files, found


def read_calibration(
    directory: Path, spec: ModelSpec, size: int, samples: int = DEFAULT_SAMPLES
) -> CalibrationSet:
    """Read and preprocess the calibration images (exit 2 on any that cannot be read)."""
    from ..preprocess import preprocess_image

    files, found = _calibration_files(Path(directory), samples)
    digest = hashlib.sha256()
    rows = []
    for p in files:
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise UsageError(
                f"--calibration: cannot read {p.name} ({exc.strerror or type(exc).__name__})"
            ) from None
        digest.update(os.fsencode(p.name) + b"\0" + hashlib.sha256(data).digest())
        rows.append(preprocess_image(read_image(p), spec.preprocessing, size))
    batch = np.ascontiguousarray(np.stack(rows))
    return CalibrationSet([p.name for p in files], batch, digest.hexdigest(), found, samples)
