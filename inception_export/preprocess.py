"""Image -> model input, following each spec's preprocessing (resize, crop, range, order, norm)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .registry import Preprocessing


def preprocess_image(image: np.ndarray, pre: Preprocessing, size: int) -> np.ndarray:
    """HWC uint8 RGB (or grey) image -> float32 (3, size, size), normalised as the checkpoint expects.

    Resize keeps the spec's resize/crop ratio (256 -> 224 style), bilinear with antialias
    as torchvision's transforms do on tensors, then a centre crop.
    """
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = image[..., :3]
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div(255.0)[None]
    h, w = x.shape[-2:]
    short = round(size * pre.resize / pre.crop)
    scale = short / min(h, w)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    x = x[..., top : top + size, left : left + size]
    lo, hi = pre.value_range
    x = x * (hi - lo) + lo
    if pre.colour_order == "BGR":
        x = x.flip(1)
    mean = torch.tensor(pre.mean).view(1, 3, 1, 1)
    std = torch.tensor(pre.std).view(1, 3, 1, 1)
    return ((x - mean) / std)[0].numpy().astype(np.float32)
