"""Fold every BatchNorm into the conv before it, in float64, on a copy of the model.

Exporters and TensorRT fold BN themselves, but in float32 and only when they recognise
the pattern; folding here makes the exported graph plain Conv+Relu whatever the exporter
does, and doing it in float64 keeps the folded weights within one float32 rounding of the
exact product. We walk modules (not ``state_dict`` keys) because BN-Inception renames its
keys through state-dict hooks.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import torch
from torch import nn


def _fold_pair(conv: nn.Conv2d, bn: nn.BatchNorm2d, dtype: torch.dtype) -> None:
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("cannot fold a BatchNorm without running statistics")
    # A float64 copy scaled in place: the same products as ``w * scale`` without a second
    # copy of the weights (the model's own tensors are only read).
    new_w = conv.weight.detach().to(torch.float64, copy=True)
    b = (
        conv.bias.detach().double()
        if conv.bias is not None
        else torch.zeros(new_w.shape[0], dtype=torch.float64)
    )
    gamma = bn.weight.detach().double() if bn.weight is not None else torch.ones_like(b)
    beta = bn.bias.detach().double() if bn.bias is not None else torch.zeros_like(b)
    scale = gamma / torch.sqrt(bn.running_var.detach().double() + bn.eps)
    new_w.mul_(scale.view(-1, *([1] * (new_w.dim() - 1))))
    new_b = (b - bn.running_mean.detach().double()) * scale + beta
    conv.weight = nn.Parameter(new_w.to(dtype), requires_grad=False)
    conv.bias = nn.Parameter(new_b.to(dtype), requires_grad=False)


def _pairs(model: nn.Module) -> Iterator[tuple[nn.Module, str, nn.Conv2d, nn.BatchNorm2d]]:
    """Each foldable (unit, BN's name, conv, BN) of ``model``, in module order."""
    for unit in model.modules():
        children = list(unit.named_children())
        for i, (name, bn) in enumerate(children):
            if not isinstance(bn, nn.BatchNorm2d):
                continue
            if isinstance(unit, nn.Sequential):
                conv = children[i - 1][1] if i else None
            else:
                conv = getattr(unit, "conv" + name[2:], None) if name.startswith("bn") else None
            if isinstance(conv, nn.Conv2d):
                yield unit, name, conv, bn


def fold_batchnorm(model: nn.Module, dtype: torch.dtype | None = None) -> tuple[nn.Module, int]:
    """Return a deep copy of ``model`` with each ``conv``+``bn`` unit folded, and the count.

    ``dtype`` (default: the conv's own) is what the folded float64 weights are rounded to,
    so an FP16 export rounds each weight once rather than via float32.

    A pair is a BatchNorm2d child ``bn<suffix>`` beside a Conv2d child ``conv<suffix>``
    (``conv``/``bn`` units, ``conv1``/``bn1`` pairs), or a BatchNorm2d right after a Conv2d
    in a Sequential (a ``downsample`` shortcut). The BN
    becomes an ``nn.Identity`` (which both exporters drop), so ``forward`` is unchanged.
    """
    # The copy shares the tensors that folding replaces (the pairs' weights, BN statistics):
    # copying nearly every weight of the model only to drop it cost ~0.4 s of a v3 release.
    # Nothing shared survives: each such tensor is replaced in, or dropped from, the copy.
    shared: dict[int, object] = {}
    for _, _, conv, bn in _pairs(model):
        for t in (*conv.parameters(recurse=False), *bn.parameters(recurse=False), *bn.buffers(recurse=False)):
            shared[id(t)] = t
    folded = copy.deepcopy(model, shared).eval()
    count = 0
    for unit, name, conv, bn in list(_pairs(folded)):
        _fold_pair(conv, bn, dtype or conv.weight.dtype)
        setattr(unit, name, nn.Identity())
        count += 1
    leftover = [n for n, m in folded.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if leftover:
        raise ValueError(f"BatchNorm layers outside a conv+bn unit cannot be folded: {leftover[:3]}")
    return folded, count
