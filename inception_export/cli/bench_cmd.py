"""``inception-export bench``: interleaved latency/throughput of each backend x precision x batch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.table import Table

from ..atomic import check_apart, check_output
from ..console import LogLines, emit_json, err, out, progress
from ..errors import UsageError
from ..text import printable
from .boundary import command
from .options import (
    ForceOpt,
    JsonOpt,
    ModelOpt,
    TransformInputOpt,
    WeightsOpt,
    checkpoint_transform_input,
    precision_option,
)

if TYPE_CHECKING:  # the full role's types; the module imports them when the command runs
    from ..full.bench.options import BenchConfig
    from ..full.bench.plan import Combo


def _fmt(v: Any, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def _table(records: list[dict[str, Any]]) -> Table:
    """Nine narrow columns (two-word headers stacked) that read at 80 columns."""
    table = Table(
        title=f"bench: {records[0]['model']} on {records[0]['device']}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    for col in (
        "backend",
        "prec",
        "batch",
        "median\nms",
        "p90\nms",
        "img/s",
        "vs\ntorch",
        "GMAC/s",
        "RSS\nMB*",
    ):
        table.add_column(col, justify="left" if col in ("backend", "prec") else "right", overflow="fold")
    for r in records:
        if r["status"] != "ok":
            continue
        table.add_row(
            r["backend"],
            r["precision"],
            str(r["batch"]),
            _fmt(r["median_ms"]) + ("!" if r.get("noisy") else ""),
            _fmt(r["p90_ms"]),
            _fmt(r["throughput_ips"], ".1f"),
            "-" if r["speedup_vs_torch"] is None else f"{r['speedup_vs_torch']:.2f}x",
            _fmt(r["gmacs_per_s"], ".1f"),
            _fmt(r["peak_rss_mb"], ".0f"),
        )
    return table


BackendsOpt = Annotated[
    str,
    typer.Option(
        "--backends",
        metavar="BACKEND[,...]",
        help="Comma list: torch,torchscript,onnxruntime,tensorrt,cudagraph.",
    ),
]
PrecisionsOpt = Annotated[str, precision_option("Comma list of precisions to time.", many=True)]
CalibrationOpt = Annotated[
    Path | None, typer.Option("--calibration", metavar="DIR", help="int8: directory of calibration images.")
]
BatchesOpt = Annotated[
    str, typer.Option("--batch", metavar="N[,...]", help="Comma list of batch sizes, e.g. 1,8.")
]
WarmupOpt = Annotated[
    int, typer.Option("--warmup", metavar="N", help="Untimed runs per backend (interleaved).")
]
ItersOpt = Annotated[int, typer.Option("--iters", metavar="N", help="Timed runs per backend (interleaved).")]
BenchThreadsOpt = Annotated[
    int | None,
    typer.Option(
        "--threads", metavar="N", help="torch and onnxruntime intra-op threads (default: usable cores)."
    ),
]
DeviceOpt = Annotated[str, typer.Option("--device", metavar="cpu|cuda", help="cpu or cuda.")]
GemmOpt = Annotated[
    int,
    typer.Option("--gemm", metavar="N", help="Also time an N x N fp32 GEMM in the same rotation (0: off)."),
]
TrtCudaGraphOpt = Annotated[
    bool,
    typer.Option(
        "--trt-cuda-graph",
        help="Replay TensorRT engines from a CUDA graph (trtexec 11's default; needs cuda-bindings).",
    ),
]
PlotOpt = Annotated[Path | None, typer.Option("--plot", metavar="FILE", help="Also write a PNG chart here.")]


@command("bench")
def bench(
    model: ModelOpt,
    weights: WeightsOpt = None,
    transform_input: TransformInputOpt = None,
    backends: BackendsOpt = "torch,torchscript,onnxruntime",
    precision: PrecisionsOpt = "fp32",
    calibration: CalibrationOpt = None,
    batch: BatchesOpt = "1",
    warmup: WarmupOpt = 3,
    iters: ItersOpt = 15,
    threads: BenchThreadsOpt = None,
    device: DeviceOpt = "cpu",
    gemm: GemmOpt = 0,
    trt_cuda_graph: TrtCudaGraphOpt = False,
    json_out: JsonOpt = False,
    plot: PlotOpt = None,
    force: ForceOpt = False,
) -> None:
    """Time backends against each other, interleaved (A B C A B C ...), and report median/p90.

    Thread counts are fixed and recorded; combinations that mean nothing on the device
    (eager fp16 on CPU, ...) are listed as skipped with the reason.
    """
    from ..full.bench.options import (
        BACKENDS,
        PRECISIONS,
        BenchConfig,
        default_threads,
        parse_batches,
        parse_list,
    )
    from ..registry import get_spec
    from .options import check_threads

    get_spec(model)  # unknown model: one line, before anything slow
    if weights is not None and weights.is_dir():
        raise UsageError(f"--weights {weights} is a directory; give a checkpoint file")
    if weights is not None and not weights.is_file():
        raise UsageError(f"--weights {weights}: no such file")
    ti = checkpoint_transform_input(model, weights, transform_input)
    cfg = BenchConfig(
        model=model,
        backends=parse_list(backends, "backends", BACKENDS),
        precisions=parse_list(precision, "precision", PRECISIONS),
        batches=parse_batches(batch),
        warmup=warmup,
        iters=iters,
        weights=weights,
        transform_input=ti,
        device=device.strip().lower(),
        threads=check_threads(threads) or default_threads(),
        gemm_n=gemm,
        calibration=calibration,
        trt_cuda_graph=trt_cuda_graph,
    )
    if plot is not None:
        if plot.suffix.lower() != ".png":
            raise UsageError(f"--plot {plot}: the chart is a PNG; give a .png file name")
        check_apart([("--weights", weights), ("--calibration", calibration)], files={"--plot": plot})
        check_output(plot, force)
    cfg.validate()
    records, plan_skips = _measure(cfg)
    _report(cfg, records, plan_skips, plot=plot, json_out=json_out)


def _measure(cfg: BenchConfig) -> tuple[list[dict[str, Any]], list[Combo]]:
    """Every record of the run, and the combinations the plan skipped (printed as they come)."""
    from ..full.bench.run import run_bench

    plan_skips: list[Combo] = []

    def skipped(c: Combo) -> None:
        plan_skips.append(c)
        err.print(f"[yellow]skip[/] {c.label}: {c.skip}")

    # In a log: a line per phase and a heartbeat instead of the live bar.
    log = None if err.is_terminal else LogLines("bench")
    try:
        with progress() as bar:
            task = bar.add_task(f"{cfg.model}: building", total=None)
            if log is not None:
                log.phase(f"{cfg.model}: building")

            def on_progress(desc: str, done: int, total: int) -> None:
                bar.update(task, description=desc, completed=done, total=total or None, count=bool(total))
                if log is not None:
                    log.phase(desc, f"{done}/{total} runs" if total else "")

            records = run_bench(cfg, on_progress=on_progress, on_skip=skipped)
    finally:
        if log is not None:
            log.close()
    return records, plan_skips


def _report(
    cfg: BenchConfig,
    records: list[dict[str, Any]],
    plan_skips: list[Combo],
    *,
    plot: Path | None,
    json_out: bool,
) -> None:
    """The skips the plan could not foresee, noise warnings, the chart, then the table or JSON."""
    from ..full.bench.plot import plot_records
    from ..full.bench.timing import noise_warnings

    planned = {(c.backend, c.precision) for c in plan_skips}
    for r in records:
        # Plan-level skips were printed up front; these are per-batch ones (fixed-batch artifacts).
        if r["status"] != "ok" and (r["backend"], r["precision"]) not in planned:
            err.print(f"[yellow]skip[/] {r['backend']}-{r['precision']} batch {r['batch']}: {r['reason']}")
    ok = [r for r in records if r["status"] == "ok"]
    if not ok:
        raise UsageError("nothing could be measured (every combination was skipped)")
    for line in noise_warnings(ok):
        err.print(f"[yellow]warning:[/] {line}", soft_wrap=True)
    if plot is not None:
        plot_records(records, plot, title=f"{ok[0]['model']} · {cfg.device} · {cfg.threads} threads")
        err.print(f"chart written to {printable(plot)}", markup=False, highlight=False)
    if json_out:
        emit_json(records)
        return
    out.print(_table(records))
    t = ok[0]["threads"]
    out.print(
        f"threads: torch {t['torch_threads']}, onnxruntime intra-op {t['ort_intra_op_threads']}; "
        f"runs interleaved, {cfg.warmup} warm-up + {cfg.iters} timed each; "
        "*peak RSS is process-wide (all backends loaded so far); ! p90 over 1.5x the median (noisy)"
    )
