"""Deterministic synthetic weights (the recipe of the shared reference data).

Each tensor is drawn from its own generator seeded by the checkpoint key, so any subset
of keys (a model without aux heads, say) gets exactly the values the full checkpoint
would have had. The scales keep eval-mode activations at realistic magnitudes.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from ..seed import DEFAULT_SEED

if TYPE_CHECKING:
    import torch

def synthetic_tensor(key: str, shape: tuple[int, ...], is_bn: bool, seed: int) -> torch.Tensor:
    import torch

    rng = np.random.default_rng(zlib.crc32(key.encode()) ^ seed)
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "num_batches_tracked":
        return torch.zeros(shape, dtype=torch.int64)
    if leaf == "running_mean":
        arr = rng.normal(0.0, 0.1, shape)
    elif leaf == "running_var":
        arr = rng.uniform(0.5, 1.5, shape)
    elif is_bn and leaf == "weight":
        arr = rng.uniform(0.8, 1.2, shape)
    elif is_bn and leaf == "bias":
        arr = rng.normal(0.0, 0.1, shape)
    elif len(shape) == 4:
        arr = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[1:])), shape)
    elif len(shape) == 2:
        arr = rng.normal(0.0, np.sqrt(1.0 / shape[1]), shape)
    else:
        arr = rng.normal(0.0, 0.01, shape)
    return torch.from_numpy(np.asarray(arr, dtype=np.float32))


def synthetic_state_dict(
    layout: Iterable[tuple[str, tuple[int, ...]]], seed: int = DEFAULT_SEED
) -> dict[str, torch.Tensor]:
    """Build a state_dict for ``(key, shape)`` rows in checkpoint naming."""
    rows = list(layout)
    keys = {key for key, _ in rows}
    out: dict[str, torch.Tensor] = {}
    for key, shape in rows:
        stem = key.rsplit(".", 1)[0]
        out[key] = synthetic_tensor(key, tuple(shape), f"{stem}.running_mean" in keys, seed)
    return out
