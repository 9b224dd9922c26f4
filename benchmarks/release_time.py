"""`release --model v3` against a plain `torch.onnx.export` of the same model, in one run.

Usage (from the repository root, in the venv):

    python benchmarks/release_time.py                   # v3, 5 rounds (~6 min on 2 cores)
    python benchmarks/release_time.py --rounds 3 --torchscript

Each round runs every contender as a fresh process, in an order that rotates from round to
round, so load from other jobs on a shared machine hits them alike:

* ``plain``: ``python -c`` that imports torch, builds the model as ``release`` does
  (``build_model``) and writes it with ``torch.onnx.export(dynamo=True)`` at a dynamic
  batch: the least any ONNX export of this model costs, start-up and imports included;
* ``release``: ``inception-export release --model M --out DIR --force`` (ONNX FP32 and FP16,
  the parity gate, the golden bundle, the manifest);
* ``release --torchscript`` (with ``--torchscript``): the same plus TorchScript.

Wall time is what CI sees. Medians per contender, the ratio of each median to ``plain``'s,
every round's ratio (its spread says how noisy the machine was), CPU seconds (user + system)
and the load average before and after each run go to ``benchmarks/results/release-time.json``.
The ratio is the figure that travels between machines and loads: a quiet machine's
``release`` time is about that ratio times its plain export.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "release-time.json"

PLAIN = """
import sys, torch
from inception_export import build_model
model = build_model(sys.argv[1])
size = model.spec.default_size
torch.onnx.export(
    model, (torch.zeros(2, 3, size, size),), sys.argv[2],
    input_names=["input"], output_names=["logits"],
    dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True,
)
"""


def _run(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Wall and CPU seconds of one process, with the load average around it; it must succeed."""
    load_before = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1", **(env or {})}
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 3),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _versions() -> dict[str, str]:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, torch, onnx, onnxruntime, inception_export as ie; print(json.dumps({"
            "'inception_export': ie.__version__, 'torch': torch.__version__, 'onnx': onnx.__version__,"
            " 'onnxruntime': onnxruntime.__version__}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return {**json.loads(out.stdout), "python": platform.python_version()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--model", default="v3")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--torchscript", action="store_true", help="also time release --torchscript")
    ap.add_argument(
        "--baseline",
        type=Path,
        help="a checkout of an earlier version: also time its release (PYTHONPATH=DIR, same venv)",
    )
    ap.add_argument("--json", type=Path, default=OUT, help=f"results file (default {OUT.relative_to(ROOT)})")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="release-time-") as tmp:
        work = Path(tmp)
        cli = [sys.executable, "-m", "inception_export", "release", "--model", args.model, "--force"]
        contenders: dict[str, list[str]] = {
            "plain": [sys.executable, "-c", PLAIN, args.model, str(work / "plain.onnx")],
            "release": [*cli, "--out", str(work / "rel")],
        }
        envs: dict[str, dict[str, str]] = {}
        if args.torchscript:
            contenders["release --torchscript"] = [*cli, "--out", str(work / "rel-ts"), "--torchscript"]
        if args.baseline is not None:
            contenders["baseline release"] = [*cli, "--out", str(work / "rel-base")]
            envs["baseline release"] = {"PYTHONPATH": str(args.baseline.resolve())}
        names = list(contenders)
        runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        # One untimed pass of each: the page cache holds the packages from then on, for all alike.
        for name in names:
            _run(contenders[name], envs.get(name))
        for r in range(args.rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                runs[name].append(_run(contenders[name], envs.get(name)))
                print(f"round {r + 1}/{args.rounds} {name}: {runs[name][-1]}", file=sys.stderr)
        gate = json.loads((work / "rel" / "parity.json").read_text())["seconds"]

    medians = {n: statistics.median(x["wall_s"] for x in runs[n]) for n in names}
    loads = [x[k] for n in names for x in runs[n] for k in ("load_before", "load_after")]
    result = {
        "model": args.model,
        "rounds": args.rounds,
        "median_wall_s": medians,
        "median_cpu_s": {n: statistics.median(x["cpu_s"] for x in runs[n]) for n in names},
        "ratio_to_plain": {n: round(medians[n] / medians["plain"], 3) for n in names if n != "plain"},
        "ratio_to_plain_per_round": {
            n: [round(a["wall_s"] / b["wall_s"], 3) for a, b in zip(runs[n], runs["plain"], strict=True)]
            for n in names
            if n != "plain"
        },
        "gate_s_last_release": gate,
        "load_average": {"min": min(loads), "median": statistics.median(loads), "max": max(loads)},
        "runs": runs,
        "commands": {
            n: " ".join("<plain_script>" if "\n" in c else c for c in cmd) for n, cmd in contenders.items()
        },
        "baseline": str(args.baseline) if args.baseline else None,
        "plain_script": PLAIN.strip(),
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "platform": platform.platform()},
        "versions": _versions(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("median_wall_s", "ratio_to_plain", "load_average")}, indent=2))


if __name__ == "__main__":
    main()
