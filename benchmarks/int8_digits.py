"""INT8 accuracy on real learned weights: the digits GoogLeNet (tools/train_digits.py), each
calibration method, calibrated on training digits, scored on the 359 held-out ones; plus the
bad calibrations the tests use (all-black pictures, one picture).

    python benchmarks/int8_digits.py [--calibration-count 100] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from train_digits import digit_pictures, load  # noqa: E402

from inception_export.full.build import build_model  # noqa: E402
from inception_export.full.export.calibration import CalibrationSet  # noqa: E402
from inception_export.full.export.common import strip_build_attrs  # noqa: E402
from inception_export.full.export.fold import fold_batchnorm  # noqa: E402
from inception_export.full.export.int8_graph import quantize, to_float16  # noqa: E402
from inception_export.full.export.onnx_export import _Float32, trace_onnx  # noqa: E402
from inception_export.full.export.options import METHODS  # noqa: E402
from inception_export.full.preprocess import preprocess_image  # noqa: E402
from inception_export.runners.onnxruntime_runner import INT8_DISABLED_OPTIMIZERS  # noqa: E402

DATA = ROOT / "tests" / "data"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calibration-count", type=int, default=100)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    record = json.loads((DATA / "digits_googlenet.json").read_text())
    size = record["input_size"]
    net = build_model("v1", DATA / "digits_googlenet.safetensors")
    spec = net.spec  # type: ignore[attr-defined]
    images, labels = load()
    held = record["held_out_indices"]
    train = [i for i in range(len(labels)) if i not in set(held)]

    def batch(indices: list[int]) -> np.ndarray:
        return np.stack(
            [preprocess_image(p, spec.preprocessing, size) for p in digit_pictures(images[indices])]
        )

    x_held, y_held = batch(held), labels[held]
    with torch.inference_mode():
        eager = float((net(torch.from_numpy(x_held)).numpy().argmax(1) == y_held).mean() * 100)
    folded, _ = fold_batchnorm(net)
    strip_build_attrs(folded)
    proto32 = trace_onnx(_Float32(folded, None), size, None, False, 19)
    picks = [train[k] for k in np.linspace(0, len(train) - 1, args.calibration_count).round().astype(int)]
    black = np.zeros((8, size, size, 3), np.uint8)
    sets = {
        f"{args.calibration_count} training digits": batch(picks),
        "8 all-black pictures": np.stack([preprocess_image(b, spec.preprocessing, size) for b in black]),
        "1 training digit": batch(picks[:1]),
    }
    rows = [{"artifact": "eager FP32", "calibration": None, "method": None, "top1": eager}]
    for cal_name, cal in sets.items():
        methods = METHODS if cal_name.endswith("training digits") else ("minmax",)
        for method in methods:
            proto = to_float16(quantize(proto32, CalibrationSet(["x"] * len(cal), cal, "x"), method=method))
            sess = ort.InferenceSession(
                proto.SerializeToString(),
                providers=["CPUExecutionProvider"],
                disabled_optimizers=INT8_DISABLED_OPTIMIZERS,  # as the gate runs INT8 artifacts
            )
            out = sess.run(None, {"input": x_held})[0]
            top1 = float((out.argmax(1) == y_held).mean() * 100)
            rows.append({"artifact": "INT8", "calibration": cal_name, "method": method, "top1": top1,
                         "drop_points": round(eager - top1, 2)})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    print("| artifact | calibration | method | top-1 % | drop (points) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['artifact']} | {r['calibration'] or '-'} | {r['method'] or '-'} | {r['top1']:.2f} | "
              f"{r.get('drop_points', '-')} |")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
