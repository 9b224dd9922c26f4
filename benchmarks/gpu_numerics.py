"""FP16 and FP32 numerics of eager PyTorch on a CUDA GPU, against a float64 reference.

The FP16 tolerance profile was derived from CPU artifacts (onnxruntime's float16 kernels);
this measures what a GPU really computes in half precision (cuDNN/cuBLAS kernels, TF32 off
and on), on the gate's own golden inputs and the reference recipe's synthetic weights, for
every registered model. Run on a machine with a CUDA GPU:

    PYTHONPATH=. python benchmarks/gpu_numerics.py --json results/gpu-numerics.json

Each row: the metrics of `parity/metrics.compare` (computed in float64) of the GPU output
against the float64 CPU eager output of the same model and inputs.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from inception_export.full.build import build_model
from inception_export.full.golden import golden_inputs
from inception_export.parity.metrics import compare
from inception_export.registry import list_specs

COLUMNS = ("rel_l2", "max_abs_rel", "min_cosine", "top1_agreement", "top5_overlap", "max_kl")


def _run(model: torch.nn.Module, x: np.ndarray, device: str, dtype: torch.dtype, batch: int) -> np.ndarray:
    m = model.to(device, dtype)
    outs = []
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            xb = torch.from_numpy(x[i : i + batch]).to(device, dtype)
            outs.append(m(xb).double().cpu().numpy())
    return np.concatenate(outs)


def _time(model: torch.nn.Module, size: int, batch: int, dtype: torch.dtype, iters: int = 30) -> float:
    m = model.to("cuda", dtype)
    x = torch.randn(batch, 3, size, size, device="cuda", dtype=dtype)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    with torch.inference_mode():
        for _ in range(5):
            m(x)
        for _ in range(iters):
            start.record()
            m(x)
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
    return float(np.median(times))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default=",".join(s.name for s in list_specs()))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("error: no CUDA device visible to torch", file=sys.stderr)
        return 2
    env = {
        "gpu": torch.cuda.get_device_name(0),
        "capability": ".".join(map(str, torch.cuda.get_device_capability(0))),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "python": platform.python_version(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    rows = []
    for name in args.models.split(","):
        t0 = time.perf_counter()
        model = build_model(name)
        spec = model.spec
        size = spec.default_size
        golden = golden_inputs(spec, size)
        ref = _run(model, golden.batch, "cpu", torch.float64, 4)
        cases = []
        for tf32 in (False, True):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
            cases.append((f"cuda fp32{' tf32' if tf32 else ''}", torch.float32))
            out = _run(model, golden.batch, "cuda", torch.float32, 8)
            rows.append({"model": spec.name, "run": cases[-1][0], **_metrics(ref, out)})
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        out = _run(model, golden.batch, "cpu", torch.float32, 8)
        rows.append({"model": spec.name, "run": "cpu fp32", **_metrics(ref, out)})
        # A copy: casting to half in place would round the float32 weights for what follows.
        half = copy.deepcopy(model).cpu()
        out = _run(half, golden.batch, "cuda", torch.float16, 8)
        rows.append({"model": spec.name, "run": "cuda fp16", **_metrics(ref, out)})
        timings = rows[-1].setdefault("timings_ms", {})
        for batch in (1, 8, 64):
            timings[f"fp32 b{batch}"] = _time(model, size, batch, torch.float32)
            timings[f"fp16 b{batch}"] = _time(half, size, batch, torch.float16)
        del half
        model.to("cpu", torch.float32)
        print(f"{spec.name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    print("| model | run | rel L2 | max abs / max ref | min cosine | top-1 | top-5 | max KL |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['run']} | {r['rel_l2']:.2e} | {r['max_abs_rel']:.2e} | "
            f"{r['min_cosine']:.7f} | {r['top1_agreement']:.0%} | {r['top5_overlap']:.0%} | "
            f"{r['max_kl']:.1e} |"
        )
    for r in rows:
        if "timings_ms" in r:
            print(r["model"], json.dumps(r["timings_ms"]))
    if args.json:
        args.json.write_text(json.dumps({"environment": env, "rows": rows}, indent=2, allow_nan=False) + "\n")
    return 0


def _metrics(ref: np.ndarray, out: np.ndarray) -> dict[str, float]:
    m = compare(ref, out).to_dict()
    return {k: float(m[k]) for k in (*COLUMNS, "nonfinite")}


if __name__ == "__main__":
    sys.exit(main())
