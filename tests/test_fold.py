"""BN folding (export/fold.py): the copy it returns shares nothing with the model it was given.

The copy is made without copying the tensors folding replaces (copying them cost ~0.4 s of a
v3 release), so these check what that must not change: the caller's model is untouched, no
tensor of the result is one of the model's, and each folded weight is the float64 product
rounded once.
"""

from __future__ import annotations

import torch
from conftest import synthetic_model

from inception_export.full.export.fold import fold_batchnorm


def _storages(module: torch.nn.Module) -> set[int]:
    return {t.untyped_storage().data_ptr() for t in module.state_dict().values() if t.numel()}


def test_fold_shares_nothing_and_leaves_the_model_as_it_was() -> None:
    model = synthetic_model("v1")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for dtype in (None, torch.float64):
        folded, count = fold_batchnorm(model, dtype)
        assert count == 57
        assert not _storages(folded) & _storages(model)
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
        # Changing the copy in place leaves the model alone.
        with torch.no_grad():
            for p in folded.parameters():
                p.add_(1)
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


def test_folded_weights_are_the_float64_product_rounded_once() -> None:
    model = synthetic_model("v1")
    folded, _ = fold_batchnorm(model)
    unit, unit_folded = model.conv1, folded.conv1
    bn = unit.bn
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    w = (unit.conv.weight.double() * scale.view(-1, 1, 1, 1)).float()
    b = ((-bn.running_mean.double()) * scale + bn.bias.double()).float()
    assert torch.equal(unit_folded.conv.weight, w) and torch.equal(unit_folded.conv.bias, b)
    assert isinstance(unit_folded.bn, torch.nn.Identity)
