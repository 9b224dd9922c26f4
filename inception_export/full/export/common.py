"""Steps every exporter shares: building the model, quiet tracing."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

from torch import nn

from ..build import build_model
from ..models.layers import TorchvisionTransformInput

if TYPE_CHECKING:
    from .options import ExportOptions


def get_model(options: ExportOptions, model_obj: nn.Module | None) -> nn.Module:
    """The caller's model, else the one ``options`` describe."""
    if model_obj is not None:
        return model_obj
    return build_model(
        options.spec, options.weights, transform_input=options.transform_input, seed=options.seed
    )


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
