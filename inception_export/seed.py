"""The seed of the synthetic weights: its default and its bounds, torch-free (the CLI and the
device role read it; ``full/synthetic.py`` draws the weights from it)."""

from __future__ import annotations

from pathlib import Path

from .errors import ArtifactError, UsageError
from .text import printable

# The one seed of the synthetic weights: every command's and function's default (the shared
# reference data was made with it).
DEFAULT_SEED = 20261123


MAX_SEED = 2**63 - 1


def check_seed(seed: int) -> None:
    """``--seed``: numpy's generators take a non-negative integer."""
    if not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed must be a whole number from 0 to {MAX_SEED}, got {seed}")


# How synthetic weights are named wherever weights are recorded (the load report, the
# metadata record, the golden bundle, the release manifest): a source and a sha256 that both
# carry the seed, since no file exists to name or hash. Written and read only here.
_SOURCE_PREFIX = "synthetic:seed="
_SHA256_PREFIX = "synthetic-"
# A seed is at most MAX_SEED: 19 digits.
_MAX_DIGITS = len(str(MAX_SEED)) + 1


def synthetic_source(seed: int) -> str:
    """The weights' ``source`` (the load report's path) of synthetic weights."""
    return f"{_SOURCE_PREFIX}{seed}"


def synthetic_sha256(seed: int) -> str:
    """The weights' ``sha256`` of synthetic weights: the seed in place of a file's hash."""
    return f"{_SHA256_PREFIX}{seed}"


def is_synthetic(source: str) -> bool:
    """Whether a weights source (a load report's path, a record's ``source``) names synthetic weights."""
    return source.startswith("synthetic:")


def recorded_source(path: str) -> str:
    """What a record says the weights came from: the synthetic source as it is, a checkpoint by
    its file name (no machine path in a file the tool writes)."""
    return path if is_synthetic(path) else Path(path).name


def seed_of(sha256: str, where: object) -> int | None:
    """The seed a recorded weights ``sha256`` names (None: a checkpoint's hash); ArtifactError
    (exit 2) for a synthetic name that holds no seed."""
    if not sha256.startswith(_SHA256_PREFIX):
        return None
    return _digits(sha256.removeprefix(_SHA256_PREFIX), f"{where}: weights {printable(sha256)!r}")


def source_seed(source: str, where: object) -> int | None:
    """The seed a recorded weights ``source`` names (None: a checkpoint's file name);
    ArtifactError (exit 2) for a synthetic source that holds no seed."""
    if not source.startswith(_SOURCE_PREFIX):
        return None
    return _digits(source.removeprefix(_SOURCE_PREFIX), f"{where}: weights source '{printable(source)}'")


def _digits(digits: str, what: str) -> int:
    if not digits.isdigit() or len(digits) > _MAX_DIGITS:
        raise ArtifactError(f"{what} is not a synthetic seed")
    return int(digits)
