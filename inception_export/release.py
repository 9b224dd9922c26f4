"""``release``: export every artifact, gate them all, and write one manifest.

The manifest is what a deployment pipeline consumes: each artifact with its sha256,
format, precision and input shape, the weights' hash, tool versions, and the gate's
verdict with its metrics. The exit code is the gate's.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .atomic import check_output, write_text_atomic
from .build import build_model, load_report
from .errors import BackendUnavailable, UsageError
from .hashing import file_sha256
from .parity.bundle import BUNDLE_NAME, bundle_from_reference
from .parity.gate import GateReport, check_artifacts
from .parity.reference import EagerReference
from .parity.report import junit_xml
from .parity.tolerances import load_profile
from .registry import get_spec
from .synthetic import DEFAULT_SEED

MANIFEST = "manifest.json"
REPORT_JSON = "parity.json"
REPORT_JUNIT = "parity.junit.xml"


@dataclass
class ReleaseResult:
    out_dir: Path
    manifest: dict[str, Any]
    gate: GateReport

    @property
    def exit_code(self) -> int:
        return 0 if self.gate.passed else 1


def _versions() -> dict[str, str]:
    # Imported here, not at module level: every CLI start imports this module.
    import onnx
    import onnxruntime

    return {
        "inception_export": __version__,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "python": platform.python_version(),
    }


def run_release(
    model: str,
    out_dir: Path,
    *,
    weights: Path | None = None,
    transform_input: bool = False,
    fp16: bool = True,
    trt: bool | None = None,
    force: bool = False,
    seed: int = DEFAULT_SEED,
    samples: int = 6,
    profile: str = "default",
    progress: Callable[[str], None] | None = None,
) -> ReleaseResult:
    """Export TorchScript, ONNX FP32, ONNX FP16 (and a TensorRT engine where possible), then gate.

    ``trt=None`` builds an engine only where TensorRT and a GPU are present; ``trt=True``
    makes their absence an error (exit 2).
    """
    from .export import export_onnx, export_torchscript
    from .tensorrt import missing_reason

    step = progress or (lambda _msg: None)
    spec = get_spec(model)
    trt_missing = missing_reason()
    if trt is True and trt_missing:
        raise BackendUnavailable(f"--trt: {trt_missing}")
    build_trt = trt is not False and not trt_missing
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} exists and is not a directory")
    stem = spec.name
    plan: list[tuple[str, Path]] = [
        ("torchscript", out_dir / f"{stem}.pt"),
        ("fp32", out_dir / f"{stem}-fp32.onnx"),
    ]
    if fp16:
        plan.append(("fp16", out_dir / f"{stem}-fp16.onnx"))
    if build_trt:
        plan.append(("tensorrt", out_dir / f"{stem}-fp16.engine"))
    # Refuse before any slow work if something would be overwritten.
    golden_path = out_dir / BUNDLE_NAME
    for path in [p for _, p in plan] + [out_dir / MANIFEST, out_dir / REPORT_JSON, out_dir / REPORT_JUNIT]:
        check_output(path, force)
    check_output(golden_path, force)
    step("build model")
    net = build_model(spec.name, weights, transform_input=transform_input, seed=seed)
    common: dict[str, Any] = {
        "weights": weights,
        "transform_input": transform_input,
        "force": force,
        "seed": seed,
        "model_obj": net,
    }
    artifacts: list[Path] = []
    for kind, path in plan:
        step(f"export {path.name}")
        if kind == "torchscript":
            export_torchscript(spec.name, path, **common)
        elif kind in ("fp32", "fp16"):
            export_onnx(spec.name, path, precision=kind, **common)
        else:
            from .tensorrt.builder import build_engine
            from .tensorrt.config import EngineConfig

            onnx_fp16 = out_dir / f"{stem}-fp16.onnx"
            cfg = EngineConfig(precision="fp16", input_size=spec.default_size, max_batch=8, opt_batch=1)
            build_engine(onnx_fp16, path, cfg, model=spec.name)
        artifacts.append(path)
    step("parity gate")
    reference = EagerReference(
        spec.name, weights=weights, transform_input=transform_input, samples=samples, reference_model=net
    )
    limits = load_profile(profile)
    gate = check_artifacts(reference, artifacts, limits=limits, profile=profile, progress=step)
    # The gate's inputs and eager logits, for checking on the device where the engine is built
    # (`parity --golden`): the sets the gate just computed are reused, not recomputed.
    golden = bundle_from_reference(
        reference,
        golden_path,
        input_size=spec.default_size,
        pixels=any(a.metadata.get("embedded_preprocessing") for a in gate.artifacts),
        profile=profile,
        limits=limits,
    )
    report = load_report(net)
    by_path = {a.path: a for a in gate.artifacts}
    entries = []
    for path in artifacts:
        result = by_path[str(path)]
        meta = result.metadata
        size = int(meta.get("input_size") or spec.default_size)
        batch = (
            "dynamic"
            if result.runner.get("max_batch") is None
            else [result.runner["min_batch"], result.runner["max_batch"]]
        )
        entries.append(
            {
                "file": path.name,
                "sha256": meta.get("artifact_sha256") or meta.get("engine_sha256") or file_sha256(path),
                "format": result.format,
                "precision": result.precision,
                "input": {
                    "name": "input",
                    "shape": ["batch", 3, size, size],
                    "batch": batch,
                    "dtype": "float32",
                },
                "output": {"name": "logits", "shape": ["batch", report.num_classes], "dtype": "float32"},
                "opset": meta.get("opset"),
                "gate": {
                    "passed": result.passed,
                    "metrics": result.metrics.to_dict(),
                    "failed_checks": [c.to_dict() for c in result.failures],
                },
            }
        )
    manifest = {
        "schema": 1,
        "model": spec.name,
        "input_size": spec.default_size,
        "num_classes": report.num_classes,
        "preprocessing": dict(spec.to_dict()["preprocessing"], transform_input=transform_input),
        "weights": {
            "source": report.path if report.path.startswith("synthetic:") else Path(report.path).name,
            "sha256": report.sha256,
        },
        "versions": _versions(),
        "tensorrt": "built"
        if build_trt
        else f"skipped: {trt_missing}"
        if trt_missing
        else "skipped: --no-trt",
        "artifacts": entries,
        "golden": {
            "file": golden_path.name,
            "sha256": golden.sha256,
            "bytes": golden.size_bytes,
            "inputs": {form: len(rec["names"]) for form, rec in golden.meta["sets"].items()},
        },
        "gate": {
            "passed": gate.passed,
            "exit_code": 0 if gate.passed else 1,
            "profile": profile,
            "report": REPORT_JSON,
            "junit": REPORT_JUNIT,
        },
    }
    write_text_atomic(out_dir / REPORT_JSON, json.dumps(gate.to_dict(), indent=2, default=str) + "\n")
    write_text_atomic(out_dir / REPORT_JUNIT, junit_xml(gate))
    write_text_atomic(out_dir / MANIFEST, json.dumps(manifest, indent=2, default=str) + "\n")
    return ReleaseResult(out_dir, manifest, gate)
