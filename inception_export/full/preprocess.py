"""Image -> model input, following each spec's preprocessing (resize, crop, range, order, norm).

Split in two so the uint8 stage can feed artifacts that normalise in-graph
(``--embed-preprocessing``) while the float stage feeds everything else.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..images import normalise
from ..registry import Preprocessing


def resize_crop(image: np.ndarray, pre: Preprocessing, size: int) -> np.ndarray:
    """HWC uint8 RGB (or grey) image -> uint8 (size, size, 3) in the checkpoint's colour order.

    Resize keeps the spec's resize/crop ratio (256 -> 224 style) with the spec's
    interpolation (bilinear for torchvision, bicubic for timm's Inceptions), antialiased as
    torchvision's transforms do on tensors, then a centre crop.
    """
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = image[..., :3]
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float()[None]
    h, w = x.shape[-2:]
    short = round(size * pre.resize / pre.crop)
    scale = short / min(h, w)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    x = F.interpolate(x, size=(new_h, new_w), mode=pre.interpolation, align_corners=False, antialias=True)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    x = x[0, :, top : top + size, left : left + size]
    if pre.colour_order == "BGR":
        x = x.flip(0)
    return x.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def preprocess_image(image: np.ndarray, pre: Preprocessing, size: int) -> np.ndarray:
    """HWC uint8 image -> float32 (3, size, size), normalised as the checkpoint expects."""
    return normalise(resize_crop(image, pre, size)[None], pre)[0]
