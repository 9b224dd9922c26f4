"""``inception-export models``: the registry as a table or JSON."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.table import Table
from rich.text import Text

from ..console import emit_json, out
from ..registry import ModelSpec, list_specs
from .boundary import command
from .options import JsonOpt


@command("models")
def models(json_out: JsonOpt = False) -> None:
    """List the models, their input sizes, preprocessing, cost and checkpoint layout."""
    specs = list_specs()
    if json_out:
        emit_json([s.to_dict() for s in specs])
        return
    out.print(models_table(specs))


def models_table(specs: Sequence[ModelSpec]) -> Table:
    """One row per model, aliases and layout stacked under the name so it reads at 80 columns."""
    table = Table(title="Inception models", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("model", overflow="fold")
    table.add_column("input\n(min)", overflow="fold")
    table.add_column("params", justify="right", no_wrap=True)
    table.add_column("GMACs", justify="right", no_wrap=True)
    table.add_column("preprocessing", overflow="fold")
    for spec in specs:
        s = spec.to_dict()
        p = s["preprocessing"]
        lo, hi = p["value_range"]
        pre = (
            f"{p['colour_order']} {lo:g}-{hi:g}, resize {p['resize']} crop {p['crop']}\n"
            f"mean {', '.join(f'{m:g}' for m in p['mean'])}\nstd {', '.join(f'{v:g}' for v in p['std'])}"
        )
        name = Text(s["name"])
        if s["aliases"]:
            name.append("\n" + ", ".join(s["aliases"]), style="dim")
        name.append(f"\n{s['layout']} layout", style="dim")
        table.add_row(
            name, f"{s['default_size']} ({s['min_size']})", f"{s['params']:,}", f"{s['gmacs']:.3f}", pre
        )
    return table
