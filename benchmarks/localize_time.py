"""Time and peak memory of ``inception-export localize`` on v3 (issue 13, item 4).

Exports v3 FP32 and FP16 ONNX once with the CLI (not timed), then runs the real CLI, as a user
would, ``--repeats`` times per artifact and thread setting, interleaved, each in its own process:
wall time including start-up, and that process's own peak RSS (``os.wait4``'s rusage; the
parent never imports torch, so a forked child does not inherit a large high-water mark).
Memory is bounded if the peak does not grow with the number of inputs: it is measured at 8
and at 37 golden inputs (``--samples 1`` / ``30``). Also records how much memory one input's
layer outputs take, and the load average (the machine is shared with other jobs).

    python benchmarks/localize_time.py [--model v3] [--repeats 3] [--json results/localize-v3.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run(args: list[str]) -> tuple[float, float, int, dict]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "inception_export", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    doc = json.loads(out) if out.strip() else {}
    return seconds, usage.ru_maxrss / 1024, proc.returncode, doc


def _intermediate_mb(model: str, size: int) -> float:
    """MB of float32 layer outputs for one input (what localize holds per input, per side)."""
    import torch

    from inception_export import build_model
    from inception_export.full.export.layers import layer_paths

    net = build_model(model)
    count = [0]

    def hook(_m: object, _i: object, out: torch.Tensor) -> None:
        count[0] += out.numel()

    hooks = [net.get_submodule(p).register_forward_hook(hook) for p in layer_paths(net)]
    with torch.inference_mode():
        net(torch.zeros(1, 3, size, size))
    for h in hooks:
        h.remove()
    return count[0] * 4 / 2**20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="v3")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", default="default,1", help="thread settings to compare")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    results: dict = {
        "model": args.model,
        "command": "inception-export localize --model M ARTIFACT --json [--threads N] (13 golden inputs)",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        arts = {}
        for precision in ("fp32", "fp16"):
            path = Path(tmp) / f"{args.model}-{precision}.onnx"
            subprocess.run(
                [sys.executable, "-m", "inception_export", "onnx", "--model", args.model,
                 "--precision", precision, "-o", str(path)],
                check=True, capture_output=True,
            )  # fmt: skip
            arts[precision] = path
            size = int(json.loads(path.with_name(path.name + ".json").read_text())["input_size"])
        configs = [(p, t) for t in args.threads.split(",") for p in arts]
        for i in range(args.repeats):
            for precision, threads in configs:
                extra = [] if threads == "default" else ["--threads", threads]
                cmd = ["localize", "--model", args.model, str(arts[precision]), "--json", *extra]
                seconds, rss, code, doc = _run(cmd)
                run = {
                    "precision": precision,
                    "threads": threads,
                    "repeat": i,
                    "seconds": round(seconds, 2),
                    "peak_rss_mb": round(rss, 1),
                    "exit_code": code,
                    "inputs": len(doc.get("inputs", [])),
                    "layers": len(doc.get("layers", [])),
                    "inner_seconds": doc.get("seconds"),
                    "first_divergent": doc.get("first_divergent"),
                    "load_average": os.getloadavg()[0],
                }
                results["runs"].append(run)
                print(json.dumps(run), flush=True)
        scaling = []
        for samples in (1, 30):
            cmd = ["localize", "--model", args.model, str(arts["fp32"]), "--json", "--samples", str(samples)]
            seconds, rss, code, doc = _run(cmd)
            n = len(doc.get("inputs", []))
            scaling.append({"inputs": n, "seconds": round(seconds, 2), "peak_rss_mb": round(rss, 1)})
            print(json.dumps(scaling[-1]), flush=True)
        results["memory_vs_inputs_fp32"] = scaling
    per_input = _intermediate_mb(args.model, size)
    n_inputs = max(r["inputs"] for r in results["runs"])
    results["layer_outputs_mb_one_input"] = round(per_input, 1)
    results["layer_outputs_mb_all_inputs_at_once"] = round(per_input * n_inputs, 1)
    summary = {}
    for precision, threads in configs:
        runs = [r for r in results["runs"] if r["precision"] == precision and r["threads"] == threads]
        secs = [r["seconds"] for r in runs]
        summary[f"{precision} threads={threads}"] = {
            "median_seconds": statistics.median(secs),
            "min_seconds": min(secs),
            "max_seconds": max(secs),
            "median_inner_seconds": statistics.median(r["inner_seconds"] for r in runs),
            "max_peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        }
    results["summary"] = summary
    results["load_average_after"] = os.getloadavg()
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all(r["exit_code"] == 0 for r in results["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
