"""Helpers more than one test file uses (fixtures live in conftest.py, which this module imports:
conftest imports it only inside functions).

- The tiny gate: a hand-made ONNX classifier (flatten + linear, 8x8 input, 10 classes, no torch),
  golden bundles of its logits, the CLI in this process and its one ``error:`` line.
- Releases to deploy: a derived copy of a release, an artifact added to it, a stand-in engine.
- The models gated in every format (test_models_export.py), which test_models.py leaves out.
- A sample gate report, for what tables and JUnit make of it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from conftest import stand_in_engine
from onnx import TensorProto, helper, numpy_helper

from inception_export.metadata import NO_METADATA
from inception_export.parity.bundle import BUNDLE_FORMAT, BUNDLE_SCHEMA, encode_bundle
from inception_export.parity.gate import ArtifactResult, Check, GateReport
from inception_export.parity.metrics import Metrics
from inception_export.parity.numfmt import failure_message
from inception_export.parity.reference import ReferenceSet
from inception_export.parity.tolerances import PROFILES

# --- the tiny gate -----------------------------------------------------------------------

SIZE, CLASSES, N = 8, 10, 5


def tiny_onnx(path: Path, scale: float = 1.0, seed: int = 0) -> tuple[Path, np.ndarray, np.ndarray]:
    """A linear classifier as ONNX; returns the path and its weights (W, b)."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((3 * SIZE * SIZE, CLASSES)).astype(np.float32) * 0.1
    b = rng.standard_normal(CLASSES).astype(np.float32)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", CLASSES])
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["x"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "W"], ["mm"]),
            helper.make_node("Add", ["mm", "b"], ["logits"]),
        ],
        "tiny",
        [x],
        [y],
        [numpy_helper.from_array(w * scale, "W"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path, w, b


def bundle_parts(w: np.ndarray, b: np.ndarray, n: int = N) -> tuple[dict[str, Any], dict[str, ReferenceSet]]:
    rng = np.random.default_rng(1)
    feed = rng.uniform(-1, 1, (n, 3, SIZE, SIZE)).astype(np.float32)
    logits = (feed.reshape(n, -1).astype(np.float64) @ w + b).astype(np.float32)
    names = [f"random-{i}" for i in range(n)]
    inputs = [{"name": nm, "kind": "random", "sha256": "0" * 16} for nm in names]
    meta: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "schema": BUNDLE_SCHEMA,
        "tool": "inception-export test",
        "versions": {},
        "model": "tiny",
        "aliases": [],
        "num_classes": CLASSES,
        "input_size": SIZE,
        "preprocessing": {},
        "transform_input": False,
        "weights": {},
        "tolerance_profile": {
            "name": "default",
            "limits": {p: lim.to_dict() for p, lim in PROFILES["default"].items()},
        },
        "reference": "test",
    }
    return meta, {"float": ReferenceSet(names, ["random"] * n, feed, logits, inputs)}


def write_bundle(path: Path, meta: dict[str, Any], sets: dict[str, ReferenceSet]) -> Path:
    path.write_bytes(encode_bundle(meta, sets))
    return path


def cli(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The CLI in this process (no torch import per call): exit code, stdout, stderr."""
    from inception_export.cli.app import main

    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    got = capsys.readouterr()
    code = exc.value.code
    return int(code) if isinstance(code, int) else 1, got.out, got.err


def one_error(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    errors = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, stderr
    return errors[0]


# --- releases to deploy ------------------------------------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def derived_release(release: Path, dest: Path, keep: list[str]) -> dict[str, Any]:
    """A copy of ``release`` with only the artifacts ``keep`` (file names), to add to."""
    dest.mkdir()
    manifest = json.loads((release / "manifest.json").read_text())
    manifest["artifacts"] = [a for a in manifest["artifacts"] if a["file"] in keep]
    for name in keep:
        shutil.copyfile(release / name, dest / name)
    return manifest


def add_artifact(dest: Path, manifest: dict[str, Any], path: Path, entry: dict[str, Any]) -> None:
    if path.parent != dest:
        shutil.copyfile(path, dest / path.name)
    gate = {"passed": True, "metrics": {}, "failed_checks": []}
    manifest["artifacts"].append(
        {"file": path.name, "sha256": sha256(dest / path.name), "gate": gate, **entry}
    )
    (dest / "manifest.json").write_text(json.dumps(manifest))


def nchw_input(size: int, batch: Any = "batch") -> dict[str, Any]:
    return {
        "name": "input",
        "shape": [batch, 3, size, size],
        "layout": "NCHW",
        "batch": [batch, batch] if isinstance(batch, int) else "dynamic",
        "dtype": "float32",
    }


LOGITS = {"name": "logits", "shape": ["batch", 1000], "dtype": "float32"}


def engine_release(release: Path, dest: Path, lo: int, opt: int, hi: int) -> Path:
    """A release holding a stand-in engine: TensorRT cannot run here, so the plan's config is
    checked against the engine's manifest (profile, I/O names, TensorRT version) only."""
    manifest = derived_release(release, dest, ["googlenet-fp16.onnx"])
    engine = stand_in_engine(dest / "googlenet-fp16.engine", dest / "googlenet-fp16.onnx", lo, opt, hi)
    side = {"file": engine.name + ".json", "sha256": sha256(dest / (engine.name + ".json"))}
    entry = {"format": "tensorrt", "precision": "fp16", "input": {**nchw_input(224), "batch": [lo, hi]}}
    add_artifact(dest, manifest, engine, {**entry, "output": LOGITS, "manifest": side})
    return dest


# Every format and precision for the four models ResNet-50's release does not cover, at a
# small size each accepts (the graph is the same; the arithmetic is ~10x cheaper than at the
# default size). FP16 of the residual nets at full size: test_models_export.py's IRv2 test and
# ResNet-50's release.
EVERY_FORMAT = {
    # name: (input size, BN layers folded into the convs, ONNX precisions exported here)
    "inception_v4": (107, 149, ("fp32", "fp16")),
    # FP16 at 299 on the full golden set: test_models_export.py's IRv2 test.
    "inception_resnet_v2": (107, 204, ("fp32",)),
    "alexnet": (95, 0, ("fp32", "fp16")),
    # 64 px: the adaptive 7x7 pool then upsamples a 2x2 map, a path 224 never takes. Its
    # 528 MB FP32 ONNX (the same graph before the float16 cast) costs ~25 s here, so it is
    # gated by benchmarks/gate_figures.py (README table) instead.
    "vgg16": (64, 0, ("fp16",)),
}


# --- a sample gate report ------------------------------------------------------------------


def sample_metrics(r: float) -> Metrics:
    return Metrics(
        max_abs=30 * r, p99_abs=10 * r, mean_abs=r, max_abs_rel=2 * r, rel_l2=r, min_cosine=1 - r,
        top1_agreement=1.0, top5_overlap=0.9, max_kl=r * r, nonfinite=0, samples=13,
    )  # fmt: skip


def sample_gate_report(tmp_path: Path) -> GateReport:
    """A failing gate of six artifacts (long names, an engine, min cosine just past its limit):
    what the 80-column table and the JUnit messages are read on."""
    rows = [
        ("inception_resnet_v2.pt", "torchscript", "fp32", 3e-7),
        ("inception_resnet_v2-fp32.onnx", "onnx", "fp32", 4e-7),
        ("inception_resnet_v2-fp16.onnx", "onnx", "fp16", 6e-4),
        ("inception_resnet_v2-fp32.engine", "tensorrt", "fp32", 3.35e-5),
        ("a_model_with_a_rather_long_name_indeed-fp16.onnx", "onnx", "fp16", 6e-4),
        ("sixth-artifact.onnx", "onnx", "fp32", 4e-7),
    ]
    artifacts = []
    for name, fmt, prec, r in rows:
        cos = 1 - r
        limit = PROFILES["default"][prec].min_cosine
        checks = [Check("min_cosine", cos >= limit, cos, limit, "min")]
        if cos < limit:
            checks[0].message = failure_message("min_cosine", cos, limit, "min")
        artifacts.append(
            ArtifactResult(
                path=str(tmp_path / name),
                format=fmt,
                precision=prec,
                runner={},
                metadata=NO_METADATA,
                metrics=sample_metrics(r),
                by_kind={},
                batch_sizes=[1, 13],
                checks=checks,
            )
        )
    return GateReport("inception_resnet_v2", {}, False, "default", PROFILES["default"], [{}] * 13, artifacts)
