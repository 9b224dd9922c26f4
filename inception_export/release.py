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

from . import __version__, jsonout
from .atomic import check_output_dir, staged_directory, write_text_atomic
from .build import build_model, load_report
from .errors import BackendUnavailable, UsageError
from .hashing import file_sha256
from .parity.bundle import BUNDLE_NAME, bundle_from_reference
from .parity.gate import GateReport, check_artifacts
from .parity.reference import EagerReference
from .parity.report import junit_xml
from .parity.tolerances import load_profile
from .registry import ModelSpec, get_spec
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


def is_release(directory: Path) -> bool:
    """Whether ``directory/manifest.json`` is a release manifest of this tool: only such a
    directory is ever replaced (with --force); a web app's manifest.json is not one."""
    manifest = directory / MANIFEST
    try:
        if manifest.stat().st_size > 64 << 20:
            return False
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict):
        return False
    versions = data.get("versions")
    return (
        data.get("schema") == 1
        and isinstance(versions, dict)
        and "inception_export" in versions
        and isinstance(data.get("artifacts"), list)
    )


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
    keep_fp32: str | None = None,
) -> ReleaseResult:
    """Export TorchScript, ONNX FP32, ONNX FP16 (and a TensorRT engine where possible), then gate.

    ``trt=None`` builds an engine only where TensorRT and a GPU are present; ``trt=True``
    makes their absence an error (exit 2). The release is built in a staging directory
    beside ``out_dir`` and renamed into place at the end, so ``out_dir`` either holds a
    complete release or is left as it was (an earlier release is replaced only with
    ``force``).
    """
    from .tensorrt import missing_reason

    step = progress or (lambda _msg: None)
    spec = check_release_options(
        model,
        out_dir,
        weights=weights,
        trt=trt,
        force=force,
        samples=samples,
        profile=profile,
        fp16=fp16,
        keep_fp32=keep_fp32,
    )
    trt_missing = missing_reason()
    build_trt = trt is not False and not trt_missing
    with staged_directory(out_dir, force=force, ours=is_release) as stage:
        result = _release_into(
            stage,
            out_dir,
            spec,
            weights=weights,
            transform_input=transform_input,
            fp16=fp16,
            build_trt=build_trt,
            trt_missing=trt_missing,
            seed=seed,
            samples=samples,
            profile=profile,
            step=step,
            keep_fp32=keep_fp32,
        )
    return result


def check_release_options(
    model: str,
    out_dir: Path,
    *,
    weights: Path | None = None,
    trt: bool | None = None,
    force: bool = False,
    samples: int = 6,
    profile: str = "default",
    fp16: bool = True,
    keep_fp32: str | None = None,
) -> ModelSpec:
    """Every check that needs no slow work, so bad input is refused in a second (exit 2)."""
    from .tensorrt import missing_reason

    spec = get_spec(model)
    if samples < 1:
        raise UsageError(f"--samples must be at least 1, got {samples}")
    load_profile(profile)  # a malformed or out-of-range profile fails here, not after the exports
    if weights is not None:
        if Path(weights).is_dir():
            raise UsageError(f"--weights {weights} is a directory; give a checkpoint file")
        if not Path(weights).is_file():
            raise UsageError(f"--weights {weights}: no such file")
    trt_missing = missing_reason()
    if trt is True and trt_missing:
        raise BackendUnavailable(f"--trt: {trt_missing}")
    if keep_fp32 and not fp16:
        raise UsageError("--keep-fp32 applies to the FP16 export (drop --no-fp16)")
    check_output_dir(out_dir, force, MANIFEST, ours=is_release)
    return spec


def _release_into(
    stage: Path,
    out_dir: Path,
    spec: ModelSpec,
    *,
    weights: Path | None,
    transform_input: bool,
    fp16: bool,
    build_trt: bool,
    trt_missing: str | None,
    seed: int,
    samples: int,
    profile: str,
    step: Callable[[str], None],
    keep_fp32: str | None,
) -> ReleaseResult:
    """Export, gate and write the manifest into the empty directory ``stage``."""
    from .export import export_onnx, export_torchscript

    stem = spec.name
    plan: list[tuple[str, Path]] = [
        ("torchscript", stage / f"{stem}.pt"),
        ("fp32", stage / f"{stem}-fp32.onnx"),
    ]
    if fp16:
        plan.append(("fp16", stage / f"{stem}-fp16.onnx"))
    if build_trt:
        plan.append(("tensorrt", stage / f"{stem}-fp16.engine"))
    golden_path = stage / BUNDLE_NAME
    step("build model")
    net = build_model(spec.name, weights, transform_input=transform_input, seed=seed)
    common: dict[str, Any] = {
        "weights": weights,
        "transform_input": transform_input,
        "force": False,
        "seed": seed,
        "model_obj": net,
    }
    artifacts: list[Path] = []
    for kind, path in plan:
        step(f"export {path.name}")
        if kind == "torchscript":
            export_torchscript(spec.name, path, **common)
        elif kind in ("fp32", "fp16"):
            keep = keep_fp32 if kind == "fp16" else None
            export_onnx(spec.name, path, precision=kind, keep_fp32=keep, **common)
        else:
            from .tensorrt.builder import build_engine
            from .tensorrt.config import EngineConfig

            onnx_fp16 = stage / f"{stem}-fp16.onnx"
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
    # The reports name the artifacts where they will live, not in the staging directory.
    for a in gate.artifacts:
        a.path = str(out_dir / Path(a.path).name)
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
    write_text_atomic(stage / REPORT_JSON, jsonout.dumps(gate.to_dict(), indent=2) + "\n")
    write_text_atomic(stage / REPORT_JUNIT, junit_xml(gate))
    write_text_atomic(stage / MANIFEST, jsonout.dumps(manifest, indent=2) + "\n")
    return ReleaseResult(out_dir, manifest, gate)
