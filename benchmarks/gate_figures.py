"""Measure the honest error of every artifact kind for every registered model (or --models):
the basis of the tolerance profiles. Runs `release` per model and prints a markdown table of
the gate's metrics.

    python benchmarks/gate_figures.py [--models v1,v2,v3] [--json results/gate-figures.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from inception_export.full.release import check_release_options, run_release
from inception_export.registry import get_spec, list_specs

COLUMNS = ("rel_l2", "max_abs_rel", "min_cosine", "top1_agreement", "top5_overlap", "max_kl")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default=",".join(s.name for s in list_specs()))
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    rows = []
    for model in args.models.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            result = run_release(check_release_options(get_spec(model), Path(tmp) / "out", trt=False))
        gate = result.gate
        for a in gate.artifacts:
            m = a.metrics.to_dict()
            checks = {c.name: c.value for c in a.checks}
            rows.append(
                {
                    "model": gate.model,
                    "artifact": f"{a.format} {a.precision}",
                    **{k: m[k] for k in COLUMNS},
                    "batch_consistency": checks.get("batch_consistency"),
                    "passed": a.passed,
                }
            )
    print(
        "| model | artifact | rel L2 | max abs / max ref | min cosine | top-1 | top-5 | max KL "
        "| batch consistency |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['artifact']} | {r['rel_l2']:.2e} | {r['max_abs_rel']:.2e} | "
            f"{r['min_cosine']:.7f} | {r['top1_agreement']:.0%} | {r['top5_overlap']:.0%} | "
            f"{r['max_kl']:.1e} | {r['batch_consistency']:.1e} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
