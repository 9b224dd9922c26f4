"""Measure INT8 (QDQ) against eager FP32 on the synthetic-weight models: each calibration
method, and the concat policy. The basis of the INT8 tolerance profile
(parity/tolerances.py) and of the default method (export/int8.py: DEFAULT_METHOD).

Calibration: 12 photographs scikit-image ships (none of the gate's three); metrics: the
gate's, on the gate's golden inputs (6 seeded random, 4 edge cases, 3 photographs).

    python benchmarks/int8_figures.py [--models v1,resnet50] [--sizes 224,128] \\
        [--json benchmarks/results/int8-figures.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper

from inception_export.full.build import build_model
from inception_export.full.export.calibration import CalibrationSet
from inception_export.full.export.common import strip_build_attrs
from inception_export.full.export.fold import fold_batchnorm
from inception_export.full.export.int8_graph import QUANTIZED_OPS, check_qdq, quantize, to_float16
from inception_export.full.export.onnx_export import _Float32, trace_onnx
from inception_export.full.export.options import METHODS
from inception_export.full.golden import golden_inputs
from inception_export.full.preprocess import preprocess_image
from inception_export.parity.metrics import compare
from inception_export.runners.onnxruntime_runner import INT8_DISABLED_OPTIMIZERS

CALIBRATION_PHOTOS = (
    "rocket", "cat", "coins", "camera", "brick", "grass", "gravel", "horse",
    "hubble_deep_field", "immunohistochemistry", "moon", "page",
)  # fmt: skip
COLUMNS = ("rel_l2", "max_abs_rel", "min_cosine", "top1_agreement", "top5_overlap", "max_kl")


def _run(proto: onnx.ModelProto, batch: np.ndarray) -> np.ndarray:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    s = ort.InferenceSession(
        proto.SerializeToString(),
        opts,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=INT8_DISABLED_OPTIMIZERS,  # as the gate runs INT8 artifacts
    )
    return np.concatenate([s.run(None, {"input": batch[i : i + 1]})[0] for i in range(len(batch))])


def _scale_off(proto: onnx.ModelProto, factor: float) -> onnx.ModelProto:
    """``proto`` with the weight scale of its middle convolution multiplied by ``factor``."""
    broken = onnx.ModelProto()
    broken.CopyFrom(proto)
    inits = {i.name: i for i in broken.graph.initializer}
    producers = {o: n for n in broken.graph.node for o in n.output}
    convs = [n for n in broken.graph.node if n.op_type == "Conv"]
    scale = inits[producers[convs[len(convs) // 2].input[1]].input[1]]
    arr = numpy_helper.to_array(scale)
    scale.CopyFrom(numpy_helper.from_array((arr * factor).astype(arr.dtype), scale.name))
    return broken


def main() -> int:
    import skimage.data

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default="v1,resnet50")
    ap.add_argument("--sizes", default="224,128", help="one input size per model")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows = []
    for model, size in zip(args.models.split(","), [int(s) for s in args.sizes.split(",")], strict=True):
        net = build_model(model)
        spec = net.spec
        calib = CalibrationSet(
            list(CALIBRATION_PHOTOS),
            np.stack(
                [
                    preprocess_image(getattr(skimage.data, n)(), spec.preprocessing, size)
                    for n in CALIBRATION_PHOTOS
                ]
            ),
            "skimage",
        )
        gold = golden_inputs(spec, size)
        with torch.inference_mode():
            ref = net(torch.from_numpy(gold.batch)).numpy()
        folded, _ = fold_batchnorm(net)
        strip_build_attrs(folded)
        proto32 = trace_onnx(_Float32(folded, None), size, None, False, 19)
        # QDQ on concat inputs is not measured as a variant: onnxruntime 1.31's quantizer turns
        # a quantized Concat into QLinearConcat (com.microsoft), which TensorRT cannot parse.
        variants = [(m, "no QDQ on concat inputs", QUANTIZED_OPS) for m in args.methods.split(",")]
        for method, policy, ops in variants:
            t0 = time.perf_counter()
            proto = to_float16(quantize(proto32, calib, method=method, op_types=ops))
            seconds = time.perf_counter() - t0
            summary = check_qdq(proto)
            out = _run(proto, gold.batch)
            m = compare(ref, out).to_dict()
            rows.append(
                {
                    "model": spec.name,
                    "size": size,
                    "method": method,
                    "concat": policy,
                    **{k: m[k] for k in COLUMNS},
                    "quantize_seconds": round(seconds, 1),
                    "subnormal_scales": summary.subnormal_scales,
                    "quantized_adds": summary.quantized_adds,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
            if method == "minmax" and policy.startswith("no"):
                # The breakage the gate must catch: one mid-network weight scale off by 2x.
                broken = _scale_off(proto, 2.0)
                m = compare(ref, _run(broken, gold.batch)).to_dict()
                rows.append({"model": spec.name, "size": size, "method": "minmax, one weight scale x2",
                             "concat": policy, **{k: m[k] for k in COLUMNS}})  # fmt: skip
                print(json.dumps(rows[-1]), flush=True)
    print(
        "| model | size | method | concat | rel L2 | max abs / max ref | min cosine "
        "| top-1 | top-5 | max KL |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['size']} | {r['method']} | {r['concat']} | {r['rel_l2']:.3g} | "
            f"{r['max_abs_rel']:.3g} | {r['min_cosine']:.5f} | {r['top1_agreement']:.0%} | "
            f"{r['top5_overlap']:.0%} | {r['max_kl']:.3g} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
