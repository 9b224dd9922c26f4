"""Inception v2 (BN-Inception) in the Caffe-converted layout of ``pretrainedmodels``.

That checkpoint stores flat names (``inception_3a_1x1.weight`` for the conv,
``inception_3a_1x1_bn.weight`` for its BN), convs with biases, BN eps 1e-5, and expects
BGR input in [0, 255] minus the Caffe mean. Internally the net is built from nested
units (so TorchScript can compile the blocks); ``state_dict`` and ``load_state_dict``
translate to and from the flat checkpoint names through state-dict hooks.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .builders import register_builder

# name: (in, 1x1, 3x3_reduce, 3x3, double_reduce, double, pool_proj, pool)
# pool is "avg" or "max" for normal blocks; reduction blocks (no 1x1, stride 2) have None.
_BLOCKS: list[tuple[str, int, int, int, int, int, int, int, str | None]] = [
    ("inception_3a", 192, 64, 64, 64, 64, 96, 32, "avg"),
    ("inception_3b", 256, 64, 64, 96, 64, 96, 64, "avg"),
    ("inception_3c", 320, 0, 128, 160, 64, 96, 0, None),
    ("inception_4a", 576, 224, 64, 96, 96, 128, 128, "avg"),
    ("inception_4b", 576, 192, 96, 128, 96, 128, 128, "avg"),
    ("inception_4c", 576, 160, 128, 160, 128, 160, 128, "avg"),
    ("inception_4d", 608, 96, 128, 192, 160, 192, 128, "avg"),
    ("inception_4e", 608, 0, 128, 192, 192, 256, 0, None),
    ("inception_5a", 1056, 352, 192, 320, 160, 224, 128, "avg"),
    # The Caffe model max-pools in its last block; the checkpoint was trained that way.
    ("inception_5b", 1024, 352, 192, 320, 192, 224, 128, "max"),
]


class ConvBNReLU(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=True)
        self.bn = nn.BatchNorm2d(cout, eps=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


class InceptionBlock(nn.Module):
    def __init__(self, cin: int, c1: int, c3r: int, c3: int, cdr: int, cd: int, cp: int, pool: str) -> None:
        super().__init__()
        self.conv_1x1 = ConvBNReLU(cin, c1, 1)
        self.conv_3x3_reduce = ConvBNReLU(cin, c3r, 1)
        self.conv_3x3 = ConvBNReLU(c3r, c3, 3, padding=1)
        self.conv_double_3x3_reduce = ConvBNReLU(cin, cdr, 1)
        self.conv_double_3x3_1 = ConvBNReLU(cdr, cd, 3, padding=1)
        self.conv_double_3x3_2 = ConvBNReLU(cd, cd, 3, padding=1)
        self.pool: nn.Module = (
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True)
            if pool == "max"
            else nn.AvgPool2d(3, stride=1, padding=1, ceil_mode=True, count_include_pad=True)
        )
        self.conv_pool_proj = ConvBNReLU(cin, cp, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.conv_1x1(x)
        b3 = self.conv_3x3(self.conv_3x3_reduce(x))
        bd = self.conv_double_3x3_2(self.conv_double_3x3_1(self.conv_double_3x3_reduce(x)))
        bp = self.conv_pool_proj(self.pool(x))
        return torch.cat([b1, b3, bd, bp], 1)


class ReductionBlock(nn.Module):
    def __init__(self, cin: int, c3r: int, c3: int, cdr: int, cd: int) -> None:
        super().__init__()
        self.conv_3x3_reduce = ConvBNReLU(cin, c3r, 1)
        self.conv_3x3 = ConvBNReLU(c3r, c3, 3, stride=2, padding=1)
        self.conv_double_3x3_reduce = ConvBNReLU(cin, cdr, 1)
        self.conv_double_3x3_1 = ConvBNReLU(cdr, cd, 3, padding=1)
        self.conv_double_3x3_2 = ConvBNReLU(cd, cd, 3, stride=2, padding=1)
        self.pool = nn.MaxPool2d(3, stride=2, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.conv_3x3(self.conv_3x3_reduce(x))
        bd = self.conv_double_3x3_2(self.conv_double_3x3_1(self.conv_double_3x3_reduce(x)))
        return torch.cat([b3, bd, self.pool(x)], 1)


_FLAT_UNIT = re.compile(r"^(inception_\d[a-z])_(.+)$")


def to_checkpoint_key(key: str) -> str:
    """``inception_3a.conv_1x1.bn.weight`` -> ``inception_3a_1x1_bn.weight``."""
    parts = key.split(".")
    if len(parts) < 3 or parts[-2] not in ("conv", "bn"):
        return key
    unit = "_".join(parts[:-2]).replace("_conv_", "_")
    return f"{unit}{'_bn' if parts[-2] == 'bn' else ''}.{parts[-1]}"


def from_checkpoint_key(key: str) -> str:
    """Inverse of :func:`to_checkpoint_key`; leaves unknown keys alone."""
    unit, _, leaf = key.rpartition(".")
    if not unit or unit == "last_linear":
        return key
    kind = "conv"
    if unit.endswith("_bn"):
        unit, kind = unit[: -len("_bn")], "bn"
    match = _FLAT_UNIT.match(unit)
    path = f"{match.group(1)}.conv_{match.group(2)}" if match else unit
    return f"{path}.{kind}.{leaf}"


@register_builder("bn_inception")
class BNInception(nn.Module):
    if TYPE_CHECKING:  # TorchScript would try to resolve class-level annotations
        inception_3a: InceptionBlock
        inception_3b: InceptionBlock
        inception_3c: ReductionBlock
        inception_4a: InceptionBlock
        inception_4b: InceptionBlock
        inception_4c: InceptionBlock
        inception_4d: InceptionBlock
        inception_4e: ReductionBlock
        inception_5a: InceptionBlock
        inception_5b: InceptionBlock

    def __init__(self, num_classes: int = 1000, transform_input: bool = False) -> None:
        super().__init__()
        if transform_input:
            raise ValueError("transform_input applies to torchvision's v1/v3 checkpoints, not bn_inception")
        self.conv1_7x7_s2 = ConvBNReLU(3, 64, 7, stride=2, padding=3)
        self.pool1_3x3_s2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2_3x3_reduce = ConvBNReLU(64, 64, 1)
        self.conv2_3x3 = ConvBNReLU(64, 192, 3, padding=1)
        self.pool2_3x3_s2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        for name, cin, c1, c3r, c3, cdr, cd, cp, pool in _BLOCKS:
            block: nn.Module = (
                InceptionBlock(cin, c1, c3r, c3, cdr, cd, cp, pool)
                if pool is not None
                else ReductionBlock(cin, c3r, c3, cdr, cd)
            )
            self.add_module(name, block)
        # Global average pooling instead of Caffe's fixed 7x7 window: identical at 224,
        # and correct (not a silently wrong window) at every other size.
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.last_linear = nn.Linear(1024, num_classes)
        self._register_state_dict_hook(_flatten_keys)
        self._register_load_state_dict_pre_hook(_nest_keys)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1_3x3_s2(self.conv1_7x7_s2(x))
        x = self.pool2_3x3_s2(self.conv2_3x3(self.conv2_3x3_reduce(x)))
        x = self.inception_3c(self.inception_3b(self.inception_3a(x)))
        x = self.inception_4a(x)
        x = self.inception_4b(x)
        x = self.inception_4c(x)
        x = self.inception_4d(x)
        x = self.inception_4e(x)
        x = self.inception_5b(self.inception_5a(x))
        return self.last_linear(torch.flatten(self.global_pool(x), 1))


def _flatten_keys(module: nn.Module, state: dict[str, Any], prefix: str, local: Any) -> None:
    items = list(state.items())
    state.clear()
    for key, value in items:
        if key.startswith(prefix):
            key = prefix + to_checkpoint_key(key[len(prefix) :])
        state[key] = value


def _nest_keys(state: dict[str, Any], prefix: str, *args: Any) -> None:
    items = list(state.items())
    for key, _ in items:
        del state[key]
    for key, value in items:
        if key.startswith(prefix):
            key = prefix + from_checkpoint_key(key[len(prefix) :])
        state[key] = value
