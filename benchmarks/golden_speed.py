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

Polygraphy (``pip install polygraphy``, in the dev extra) is the third contender, on the same
artifacts, inputs and reference logits: the bundle's float inputs saved with
``--save-inputs``'s JSON layout (one iteration per input, batch 1) and eager PyTorch's logits
as a saved ``RunResults``, then one process per artifact, as its documentation has it:

    polygraphy run M-fp32.onnx --onnxrt --load-inputs inputs.json --load-outputs eager.json
    polygraphy run M-fp16.onnx --onnxrt --load-inputs inputs.json --load-outputs eager.json

once with Polygraphy's default tolerances (atol = rtol = 1e-5, element-wise, which FP16
cannot meet: its verdict is recorded, not required) and once with ours: our ``max_abs_rel``
limit of the artifact's precision times the reference's largest |logit| as ``--atol``,
``--rtol 0`` (the element-wise form of our max-abs check; our other checks have no
Polygraphy counterpart). Its time is the sum of its processes, one per artifact.

The fourth contender, ``onnxruntime_floor``, is no gate: a bare script that imports numpy and
onnxruntime, reads the bundle's inputs and, per artifact, opens a session and makes the same
runs as the gate (every input at the largest batch, then one input of each kind at batch 1),
with no check, report or CLI. No gate that runs those inputs can take less; its ratio to the
eager gate is the least the device gate's ratio can be on this machine.

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


# The onnxruntime work of the gate and nothing else (see the module docstring).
FLOOR = """
import json, sys
import numpy as np, onnxruntime as ort
with np.load(sys.argv[1], allow_pickle=False) as z:
    x, meta = z["float_inputs"], json.loads(z["meta"].tobytes())
kinds = [i["kind"] for i in meta["sets"]["float"]["inputs"]]
probe = [kinds.index(k) for k in dict.fromkeys(kinds)]
for path in sys.argv[2:]:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    s = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    s.run(None, {name: x})
    for i in probe:
        s.run(None, {name: x[i : i + 1]})
"""


def _run_floor(bundle: str, artifacts: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of the bare onnxruntime script on the bundle's inputs."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", FLOOR, bundle, *artifacts], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"the onnxruntime floor script exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _run_polygraphy(args: list[str]) -> tuple[float, float, bool]:
    """Wall and CPU seconds of one ``polygraphy run``, and whether it passed (exit 0)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "polygraphy"), "run", *args], capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1) or "Traceback" in proc.stderr:
        sys.exit(
            f"polygraphy {' '.join(args)} exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-2000:]}"
        )
    return wall, cpu, proc.returncode == 0


def _polygraphy_files(work: Path, bundle: Path, artifacts: list[str]) -> dict[str, list[str]]:
    """Polygraphy's inputs and reference outputs from the bundle, and its command lines."""
    import onnx
    from polygraphy.comparator import IterationResult, RunResults
    from polygraphy.json import save_json

    from inception_export.parity.bundle import load_bundle

    gold = load_bundle(bundle)
    ref = gold.sets["float"]
    graph = onnx.load(artifacts[0], load_external_data=False).graph
    inp, outp = graph.input[0].name, graph.output[0].name
    inputs = work / "polygraphy-inputs.json"
    save_json([{inp: ref.feed[i : i + 1]} for i in range(len(ref.feed))], str(inputs))
    outputs = work / "polygraphy-eager.json"
    results = RunResults()
    iterations = [
        IterationResult(outputs={outp: ref.logits[i : i + 1]}, runner_name="eager-pytorch")
        for i in range(len(ref.logits))
    ]
    results.append(("eager-pytorch", iterations))
    results.save(str(outputs))
    peak = float(abs(ref.logits.astype("float64")).max())
    default: list[str] = []
    ours: list[str] = []
    for a in artifacts:
        precision = "fp16" if "fp16" in Path(a).name else "fp32"
        atol = gold.limits[precision].max_abs_rel * peak
        common = [a, "--onnxrt", "--load-inputs", str(inputs), "--load-outputs", str(outputs)]
        default.append(json.dumps(common))
        ours.append(json.dumps([*common, "--atol", f"{atol:.6g}", "--rtol", "0"]))
    return {"polygraphy_default": default, "polygraphy_ours": ours}


def _setup(model: str, work: Path) -> dict[str, Any]:
    """Export the artifacts and write the bundles through the Python API (one model build)."""
    from inception_export import build_model
    from inception_export.full.eager import EagerReference, bundle_from_reference
    from inception_export.full.export import export_onnx
    from inception_export.parity.tolerances import DEFAULT_PROFILE

    net = build_model(model)
    name = net.spec.name
    fp32 = export_onnx(name, work / f"{name}-fp32.onnx", model_obj=net, force=True).path
    fp16 = export_onnx(name, work / f"{name}-fp16.onnx", model_obj=net, precision="fp16", force=True).path
    ref = EagerReference(name, reference_model=net)
    ref.load(lambda _msg: None)
    size = net.spec.default_size
    profile, limits = DEFAULT_PROFILE.name, DEFAULT_PROFILE.limits
    plain = bundle_from_reference(
        ref, work / "golden.npz", input_size=size, pixels=False, profile=profile, limits=limits
    )
    pixels = bundle_from_reference(
        ref, work / "golden-pixels.npz", input_size=size, pixels=True, profile=profile, limits=limits
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
    ap.add_argument("--no-polygraphy", dest="polygraphy", action="store_false", help="leave Polygraphy out")
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
        polygraphy = _polygraphy_files(work, Path(setup["bundle"]), artifacts) if args.polygraphy else {}
        contenders = [*commands, "onnxruntime_floor", *polygraphy]
        load_before = os.getloadavg()
        walls: dict[str, list[float]] = {k: [] for k in contenders}
        gate_s: dict[str, list[float]] = {k: [] for k in commands}
        cpu_s: dict[str, list[float]] = {k: [] for k in contenders}
        metrics: dict[str, Any] = {}
        for r in range(args.rounds):
            order = contenders if r % 2 == 0 else contenders[::-1]
            for key in order:
                if key == "onnxruntime_floor":
                    wall, cpu = _run_floor(setup["bundle"], artifacts)
                    walls[key].append(wall)
                    cpu_s[key].append(cpu)
                    print(f"round {r + 1}/{args.rounds} {key}: {wall:.2f}s", file=sys.stderr)
                    continue
                if key in polygraphy:
                    runs = [_run_polygraphy(json.loads(line)) for line in polygraphy[key]]
                    walls[key].append(sum(w for w, _, _ in runs))
                    cpu_s[key].append(sum(c for _, c, _ in runs))
                    metrics[key] = [
                        {"artifact": Path(a).name, "passed": ok}
                        for a, (_, _, ok) in zip(artifacts, runs, strict=True)
                    ]
                    print(f"round {r + 1}/{args.rounds} {key}: {walls[key][-1]:.2f}s", file=sys.stderr)
                    continue
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
        # The device gate against Polygraphy on the same artifacts, inputs and reference logits.
        "golden_over_polygraphy": {
            f"{g}/{p}": statistics.median(walls[g]) / statistics.median(walls[p])
            for g in walls
            if g.startswith("golden")
            for p in walls
            if p.startswith("polygraphy")
        },
        # What the device gate adds to the bare onnxruntime runs it makes (the floor).
        "golden_over_onnxruntime_floor": {
            g: statistics.median(walls[g]) / statistics.median(walls["onnxruntime_floor"])
            for g in walls
            if g.startswith("golden")
        },
        "ratio_per_round": {
            k: [g / e for g, e in zip(v, walls["eager"], strict=True)]
            for k, v in walls.items()
            if k != "eager"
        },
        "metrics": metrics,
        "polygraphy_commands": {
            k: [f"polygraphy run {' '.join(json.loads(line))}" for line in v] for k, v in polygraphy.items()
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        json.dumps(
            {
                k: result[k]
                for k in (
                    "wall_seconds",
                    "ratio_of_medians",
                    "golden_over_polygraphy",
                    "golden_over_onnxruntime_floor",
                )
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
