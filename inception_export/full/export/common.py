"""Steps both exporters share: argument checks, building the model, quiet tracing."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

from torch import nn

from ...errors import UsageError
from ...registry import ModelSpec, get_spec
from ..build import build_model
from ..models.layers import TorchvisionTransformInput


def resolve(
    model: str | ModelSpec,
    model_obj: nn.Module | None,
    input_size: int | None,
) -> tuple[ModelSpec, int]:
    spec = get_spec(model)
    built_spec = getattr(model_obj, "spec", None)
    if isinstance(built_spec, ModelSpec) and built_spec.name != spec.name:
        raise UsageError(f"model_obj is a {built_spec.name}, not a {spec.name}")
    size = spec.default_size if input_size is None else int(input_size)
    spec.check_size(size)
    return spec, size


def get_model(
    model: str | ModelSpec,
    model_obj: nn.Module | None,
    weights: Path | None,
    transform_input: bool,
    seed: int,
) -> nn.Module:
    if model_obj is not None:
        return model_obj
    return build_model(model, weights, transform_input=transform_input, seed=seed)


def uses_transform_input(net: nn.Module) -> bool:
    # Read it off the module so the metadata is true even for a caller-built model_obj.
    return any(isinstance(m, TorchvisionTransformInput) for m in net.modules())


def strip_build_attrs(net: nn.Module) -> None:
    """Drop the Python-only attributes build_model adds (TorchScript cannot hold them)."""
    for attr in ("spec", "inception_export_load_report"):
        if attr in net.__dict__:
            delattr(net, attr)


@contextlib.contextmanager
def quiet_tracing() -> Iterator[None]:
    """Keep the exporters' progress prints and warnings off stdout/stderr.

    ``--json`` output must be the only thing on stdout; the exporter's own chatter (progress
    lines, "torchvision is not installed") says nothing a user can act on.
    """
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
