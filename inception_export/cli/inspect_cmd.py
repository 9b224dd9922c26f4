"""``inception-export inspect``: build a model (optionally from a checkpoint) and run it once."""

from __future__ import annotations

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from ..console import emit_json, out
from ..registry import get_spec
from ..seed import DEFAULT_SEED
from ..text import printable
from .boundary import command
from .options import (
    InputSizeOpt,
    JsonOpt,
    ModelOpt,
    SeedOpt,
    TransformInputOpt,
    WeightsOpt,
    checkpoint_transform_input,
)


@command("inspect")
def inspect(
    model: ModelOpt,
    weights: WeightsOpt = None,
    transform_input: TransformInputOpt = None,
    input_size: InputSizeOpt = None,
    seed: SeedOpt = DEFAULT_SEED,
    json_out: JsonOpt = False,
) -> None:
    """Load a model and its checkpoint, run one seeded input, and report what was loaded."""
    import torch  # here, not at the top: the device role imports every command without torch

    from ..full.build import build_model, example_input, load_report
    from ..full.profile import count_macs, count_params

    spec = get_spec(model)
    size = input_size or spec.default_size
    spec.check_size(size)
    ti = checkpoint_transform_input(spec.name, weights, transform_input)
    net = build_model(spec.name, weights, transform_input=ti, seed=seed)
    report = load_report(net)
    with torch.inference_mode():
        logits = net(example_input(spec, batch=1, size=size))
    finite = bool(torch.isfinite(logits).all())
    info = {
        "model": spec.name,
        "weights": report.path,
        "weights_sha256": report.sha256,
        "num_classes": report.num_classes,
        "dropped_aux_keys": len(report.dropped_aux),
        "transform_input": ti,
        "input_size": size,
        "params": count_params(net),
        "gmacs": round(count_macs(net, size) / 1e9, 4),
        "output_shape": list(logits.shape),
        "logits_finite": finite,
        "top5": torch.topk(logits[0], min(5, logits.shape[1])).indices.tolist(),
    }
    if json_out:
        emit_json(info)
    else:
        # Long values (a path, a sha256) fold onto the next line at 80 columns, never "…".
        table = Table(show_header=False, box=box.SIMPLE)
        table.add_column("field", no_wrap=True)
        table.add_column("value", overflow="fold")
        for k, v in info.items():
            table.add_row(k, Text(printable(v)))  # a path is text, not markup or escapes
        out.print(table)
    if not finite:
        raise typer.Exit(1)
