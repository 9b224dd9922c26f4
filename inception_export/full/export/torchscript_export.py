"""TorchScript export: scripted, frozen, metadata as an embedded extra file."""

from __future__ import annotations

import io
from pathlib import Path

import torch
from torch import nn

from ...metadata import TORCHSCRIPT_EXTRA, to_json
from ...registry import ModelSpec
from ...seed import DEFAULT_SEED
from .common import get_model, quiet_tracing, strip_build_attrs, uses_transform_input
from .fold import fold_batchnorm
from .metadata import build_metadata
from .options import ExportOptions
from .sanitize import sanitize_torchscript
from .write import ExportResult, check_outputs, write_artifact


def export_torchscript(
    model: str | ModelSpec,
    output: Path,
    *,
    weights: Path | None = None,
    transform_input: bool = False,
    input_size: int | None = None,
    force: bool = False,
    seed: int = DEFAULT_SEED,
    model_obj: nn.Module | None = None,
) -> ExportResult:
    """Export a frozen TorchScript module loadable with plain ``torch.jit.load``.

    ``input_size`` is recorded only: the scripted graph accepts any size the model does.
    """
    options = ExportOptions.create(
        model,
        weights=weights,
        transform_input=transform_input,
        input_size=input_size,
        seed=seed,
        model_obj=model_obj,
    )
    return write_torchscript(options, Path(output), force=force, model_obj=model_obj)


def write_torchscript(
    options: ExportOptions, output: Path, *, force: bool = False, model_obj: nn.Module | None = None
) -> ExportResult:
    """The TorchScript of the model ``options`` describe (its precision is always FP32)."""
    check_outputs(output, force)
    net = get_model(options, model_obj)
    size = options.size
    # Folding in float64 first keeps the frozen weights closer to eager than freeze's
    # own float32 conv-BN folding would.
    folded, n_folded = fold_batchnorm(net)
    strip_build_attrs(folded)
    with quiet_tracing():
        frozen = torch.jit.freeze(torch.jit.script(folded.eval()))
    meta = build_metadata(
        spec=options.spec,
        model=net,
        fmt="torchscript",
        precision="fp32",
        input_size=size,
        transform_input=uses_transform_input(net),
        seed=options.seed,
        extra={
            "input": {"name": "x", "dtype": "float32", "layout": "NCHW", "shape": ["batch", 3, size, size]},
            "output": {"name": "logits", "dtype": "float32", "shape": ["batch", None]},
            "frozen": True,
            "bn_folded": n_folded,
            "exporter": "torch.jit.freeze(torch.jit.script(model))",
        },
    )
    meta["output"]["shape"][1] = meta["num_classes"]
    # Saved to memory, not to the temporary file: the archive's top-level folder is named
    # after the file, and a random temporary name would make the bytes irreproducible.
    buf = io.BytesIO()
    torch.jit.save(frozen, buf, _extra_files={TORCHSCRIPT_EXTRA: to_json(meta)})
    digest = write_artifact(output, sanitize_torchscript(buf.getvalue()), meta)
    return ExportResult(path=output, format="torchscript", precision="fp32", sha256=digest, metadata=meta)
