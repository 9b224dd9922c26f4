"""The seed of the synthetic weights: its default and its bounds, torch-free (the CLI and the
device role read it; ``full/synthetic.py`` draws the weights from it)."""

from __future__ import annotations

from .errors import UsageError

# The one seed of the synthetic weights: every command's and function's default (the shared
# reference data was made with it).
DEFAULT_SEED = 20261123


MAX_SEED = 2**63 - 1


def check_seed(seed: int) -> None:
    """``--seed``: numpy's generators take a non-negative integer."""
    if not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed must be a whole number from 0 to {MAX_SEED}, got {seed}")
