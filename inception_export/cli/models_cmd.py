"""``inception-export models``: the registry as a table or JSON."""

from __future__ import annotations

from rich.table import Table

from ..console import emit_json, err
from ..registry import list_specs
from .app import command
from .options import JsonOpt


@command("models")
def models(json_out: JsonOpt = False) -> None:
    """List the models, their input sizes, preprocessing, cost and checkpoint layout."""
    specs = list_specs()
    if json_out:
        emit_json([s.to_dict() for s in specs])
        return
    table = Table(title="Inception models")
    for col in ("name", "aliases", "size (min)", "params", "GMACs", "preprocessing", "layout"):
        table.add_column(col)
    for s in specs:
        p = s.preprocessing
        pre = (
            f"{p.colour_order} {p.value_range[0]:g}-{p.value_range[1]:g}, "
            f"mean {', '.join(f'{m:g}' for m in p.mean)}, std {', '.join(f'{v:g}' for v in p.std)}, "
            f"resize {p.resize} crop {p.crop}"
        )
        table.add_row(
            s.name,
            ", ".join(s.aliases),
            f"{s.default_size} ({s.min_size})",
            f"{s.params:,}",
            f"{s.gmacs:.3f}",
            pre,
            s.layout,
        )
    err.print(table)
