"""``build_model``: the one way models are made, from synthetic weights or a checkpoint."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from ..errors import UsageError, WeightsError
from ..registry import ModelSpec, checkpoint_sha256, get_spec, resolve_transform_input
from ..seed import DEFAULT_SEED, check_seed, synthetic_sha256, synthetic_source
from .checkpoint import LoadReport, fit_state_dict, infer_num_classes, read_state_dict
from .models import builder
from .synthetic import synthetic_state_dict

# Attribute set on every built model so exporters can record where weights came from.
REPORT_ATTR = "inception_export_load_report"


def _instantiate(spec: ModelSpec, num_classes: int, transform_input: bool) -> nn.Module:
    if transform_input and not spec.supports_transform_input:
        raise UsageError(
            f"transform_input is for torchvision's v1/v3 checkpoints; {spec.name} does not use it"
        )
    if num_classes < 1:
        raise UsageError(f"num_classes must be positive, got {num_classes}")
    return builder(spec.name)(num_classes=num_classes, transform_input=transform_input)


def build_model(
    name: str | ModelSpec,
    weights: str | Path | None = None,
    *,
    transform_input: bool | None = None,
    num_classes: int | None = None,
    seed: int = DEFAULT_SEED,
) -> nn.Module:
    """Build an eval-mode, aux-free, float32 CPU model that returns a logits Tensor.

    ``weights`` is a checkpoint path (``.pth``/``.pt``/``.bin`` or ``.safetensors``) in the
    layout the spec names; ``None`` gives the deterministic synthetic weights for ``seed``.
    ``num_classes`` defaults to the checkpoint's classifier size (1000 without weights).
    ``transform_input`` ``None`` (the default) takes it from a recognised published
    checkpoint (torchvision's v1/v3, by content hash, see ``ModelSpec.known_checkpoints``)
    and is False otherwise; an explicit value that contradicts such a checkpoint is refused.
    """
    spec = get_spec(name)
    check_seed(seed)
    # A recognised published checkpoint decides transform_input (note: when not given;
    # refused when contradicted), as torchvision's weight enums do.
    ti, _known = resolve_transform_input(spec, weights, transform_input)
    if weights is None:
        model = _instantiate(spec, num_classes or 1000, ti)
        layout = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
        model.load_state_dict(synthetic_state_dict(layout, seed), strict=True)
        report = LoadReport(
            path=synthetic_source(seed), sha256=synthetic_sha256(seed), num_classes=num_classes or 1000
        )
    else:
        path = Path(weights)
        state = read_state_dict(path)
        inferred = infer_num_classes(spec, state, path)
        if num_classes is not None and num_classes != inferred:
            raise WeightsError(
                f"{path}: checkpoint has {inferred} classes but num_classes={num_classes} was asked for"
            )
        model = _instantiate(spec, inferred, ti)
        dropped = fit_state_dict(spec, model, state, path)
        report = LoadReport(
            path=str(path), sha256=checkpoint_sha256(path), dropped_aux=dropped, num_classes=inferred
        )
        if dropped:
            warnings.warn(
                f"{path.name}: dropped {len(dropped)} auxiliary-head keys "
                f"({', '.join(sorted({k.split('.')[0] for k in dropped}))}); inference does not use them",
                stacklevel=2,
            )
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    setattr(model, REPORT_ATTR, report)
    model.spec = spec  # type: ignore[assignment]
    return model.float()


def load_report(model: nn.Module) -> LoadReport:
    report = getattr(model, REPORT_ATTR, None)
    if not isinstance(report, LoadReport):
        raise UsageError("model was not made by build_model")
    return report


def example_input(spec: ModelSpec, batch: int = 1, size: int | None = None, seed: int = 0) -> torch.Tensor:
    """A seeded input in the model's normalised range."""
    s = size or spec.default_size
    gen = torch.Generator().manual_seed(seed)
    return torch.empty(batch, 3, s, s).uniform_(-2.0, 2.0, generator=gen)
