"""`parity --golden` against the eager-PyTorch gate, on the same artifacts, in one run.

Usage (from the repository root, in the venv):

    python benchmarks/golden_speed.py                  # v3 FP32 + FP16 ONNX, 7 rounds
    python benchmarks/golden_speed.py --model v1 --rounds 3

Setup (not timed): export the model's FP32 and FP16 ONNX and write its golden bundle (and,
for the size figure, a second one that also holds uint8 pixels). Then, per round, the two
commands run as fresh processes, in alternating order (eager first in even rounds, golden
first in odd ones), so load from other jobs on a shared machine hits both alike:

    inception-export parity --model M  M-fp32.onnx M-fp16.onnx      # eager PyTorch reference
    inception-export parity --golden golden.npz M-fp32.onnx M-fp16.onnx

Wall time includes interpreter start-up and imports, as a CI job or a device sees them. Where
``.venv-device`` (the torch-free venv `./dev test` builds) exists, the golden command is also
timed with its interpreter. Medians of the rounds, the ratio of the medians, every round's
ratio (its spread says how noisy the machine was), CPU seconds (user + system, less sensitive
to other jobs than wall time) and the load average before and after go to
``benchmarks/results/golden-speed.json``.
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
DEVICE_PYTHON = ROOT / ".venv-device" / "bin" / "python"


def _run(python: Path | str, args: list[str]) -> tuple[float, float, dict[str, Any]]:
    """Wall and CPU (user + system) seconds of one CLI run, and its JSON report (it must pass)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(python), "-m", "inception_export", *args, "--json"],
        capture_output=True,
        text=True,
        env=dict(os.environ, NO_COLOR="1"),
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return wall, cpu, json.loads(proc.stdout)


def _setup(model: str, work: Path) -> dict[str, Any]:
    """Export the artifacts and write the bundles through the Python API (one model build)."""
    from inception_export import build_model
    from inception_export.export import export_onnx
    from inception_export.parity.bundle import bundle_from_reference
    from inception_export.parity.reference import EagerReference
    from inception_export.parity.tolerances import load_profile

    net = build_model(model)
    name = net.spec.name
    fp32 = export_onnx(name, work / f"{name}-fp32.onnx", model_obj=net, force=True).path
    fp16 = export_onnx(name, work / f"{name}-fp16.onnx", model_obj=net, precision="fp16", force=True).path
    ref = EagerReference(name, reference_model=net)
    ref.load(lambda _msg: None)
    limits = load_profile("default")
    size = net.spec.default_size
    plain = bundle_from_reference(
        ref, work / "golden.npz", input_size=size, pixels=False, profile="default", limits=limits
    )
    pixels = bundle_from_reference(
        ref, work / "golden-pixels.npz", input_size=size, pixels=True, profile="default", limits=limits
    )
    return {
        "model": name,
        "artifacts": [str(fp32), str(fp16)],
        "bundle": str(plain.path),
        "bundle_bytes": plain.size_bytes,
        "bundle_with_pixels_bytes": pixels.size_bytes,
        "inputs": len(plain.meta["sets"]["float"]["names"]),
    }


def _stats(xs: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(xs),
        "min": min(xs),
        "max": max(xs),
        "runs": len(xs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="v3")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "golden-speed.json")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="golden-speed-") as tmp:
        work = Path(tmp)
        print(f"setup: exporting {args.model} FP32/FP16 ONNX and writing the bundles", file=sys.stderr)
        setup = _setup(args.model, work)
        artifacts = setup["artifacts"]
        commands = {
            "eager": (sys.executable, ["parity", "--model", setup["model"], *artifacts]),
            "golden": (sys.executable, ["parity", "--golden", setup["bundle"], *artifacts]),
        }
        if DEVICE_PYTHON.exists():
            commands["golden_device_venv"] = (
                DEVICE_PYTHON,
                ["parity", "--golden", setup["bundle"], *artifacts],
            )
        load_before = os.getloadavg()
        walls: dict[str, list[float]] = {k: [] for k in commands}
        gate_s: dict[str, list[float]] = {k: [] for k in commands}
        cpu_s: dict[str, list[float]] = {k: [] for k in commands}
        metrics: dict[str, Any] = {}
        for r in range(args.rounds):
            order = list(commands) if r % 2 == 0 else list(reversed(commands))
            for key in order:
                python, cli = commands[key]
                wall, cpu, report = _run(python, cli)
                walls[key].append(wall)
                cpu_s[key].append(cpu)
                gate_s[key].append(float(report["seconds"]))
                metrics[key] = [
                    {
                        "artifact": Path(a["path"]).name,
                        "rel_l2": a["metrics"]["rel_l2"],
                        "passed": a["passed"],
                    }
                    for a in report["artifacts"]
                ]
                print(f"round {r + 1}/{args.rounds} {key}: {wall:.2f}s", file=sys.stderr)
        load_after = os.getloadavg()

    eager_med = statistics.median(walls["eager"])
    result = {
        "command": "python benchmarks/golden_speed.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        **setup,
        "artifacts": [Path(a).name for a in artifacts],
        "wall_seconds": {k: _stats(v) for k, v in walls.items()},
        "gate_seconds_in_process": {k: _stats(v) for k, v in gate_s.items()},
        # CPU time is less sensitive to other jobs on a shared machine than wall time.
        "cpu_seconds": {k: _stats(v) for k, v in cpu_s.items()},
        "cpu_ratio_of_medians": {
            k: statistics.median(v) / statistics.median(cpu_s["eager"])
            for k, v in cpu_s.items()
            if k != "eager"
        },
        "ratio_of_medians": {k: statistics.median(v) / eager_med for k, v in walls.items() if k != "eager"},
        "ratio_per_round": {
            k: [g / e for g, e in zip(v, walls["eager"], strict=True)]
            for k, v in walls.items()
            if k != "eager"
        },
        "metrics": metrics,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        json.dumps({k: result[k] for k in ("wall_seconds", "ratio_of_medians", "ratio_per_round")}, indent=2)
    )


if __name__ == "__main__":
    main()
