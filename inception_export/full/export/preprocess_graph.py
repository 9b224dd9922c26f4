"""In-graph preprocessing for edge deployments: uint8 NHWC pixels in, the model's input out.

The image is expected already resized/cropped and in the colour order the checkpoint was
trained with (``spec.preprocessing.colour_order``); the graph does the rest. Scaling to
``value_range`` and ``(x - mean) / std`` are folded into one per-channel multiply-add,
computed in float64 here, so the result differs from the float pipeline by float32
rounding only. torchvision's ``transform_input`` stays inside the model and so runs after
this, as it does in the float pipeline.
"""

from __future__ import annotations

import torch
from torch import nn

from ...registry import Preprocessing


class UInt8Preprocess(nn.Module):
    scale: torch.Tensor
    shift: torch.Tensor

    def __init__(self, pre: Preprocessing) -> None:
        super().__init__()
        lo, hi = pre.value_range
        mean = torch.tensor(pre.mean, dtype=torch.float64)
        std = torch.tensor(pre.std, dtype=torch.float64)
        scale = (hi - lo) / 255.0 / std
        shift = (lo - mean) / std
        self.register_buffer("scale", scale.float().view(1, 3, 1, 1))
        self.register_buffer("shift", shift.float().view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Cast first: TensorRT's ONNX parser takes uint8 only as a network input or output ("does
        # not support UINT8 types for intermediate tensors"), so a Transpose on the pixels refuses
        # the whole graph. Contiguous: the permuted (channels-last) strides otherwise reach the
        # flatten before the classifier, which the exporter writes as an as_strided gather over
        # Shape(input), a Shape of the uint8 input that onnx-tensorrt's table does not list.
        return x.float().permute(0, 3, 1, 2).contiguous() * self.scale + self.shift
