"""The DeepStream gate: the artifact fed as nvinfer will feed it, from the config's own numbers.

Pixels (0..255, RGB frames) go through ``net-scale-factor * (pixel - offsets[c])`` in the
``model-color-format`` channel order, all read back from the written config file, in float32
as nvinfer computes them; the artifact's probabilities are compared with the softmax of eager
PyTorch's logits on the same pixels through the model's own recipe (resize/crop excluded:
nvinfer scales frames itself, on the target). A wrong offset, scale or colour order moves the
probabilities far beyond the FP32 limits, so it fails with the metric named.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...bounds import MAX_BATCH
from ...console import err
from ...deploy.nvinfer import (
    COLOR_FORMATS,
    NETWORK_MODE_FP32,
    NETWORK_TYPE_CLASSIFIER,
    PRECISION_OF_MODE,
    KeyFile,
    engine_file_name,
    parse_labels,
    read_config,
)
from ...errors import ArtifactError
from ...parity.gate import Check, batch_consistency, limit_checks
from ...parity.metrics import Metrics, compare, log_softmax
from ...parity.reference import Reference, run_batched
from ...parity.tolerances import Limits
from ...registry import Preprocessing
from ...text import control_character, printable

PRECISION = "fp32"
MAX_LABELS_BYTES = 16 << 20  # deploy/labels.py: MAX_LABEL_FILE_BYTES


@dataclass
class DeepStreamGate:
    config: str
    artifact: str
    net_scale_factor: float
    offsets: list[float]
    model_color_format: int
    batch_sizes: list[int]
    metrics: Metrics
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def summary(self) -> str:
        if self.passed:
            return f"{self.config}: DeepStream gate passed"
        return f"{self.config}: DeepStream gate failed: " + "; ".join(c.message for c in self.failures)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "artifact": self.artifact,
            "passed": self.passed,
            "precision": PRECISION,
            "compared": "artifact probabilities vs softmax of eager PyTorch logits (float64)",
            "nvinfer_input": {
                "net_scale_factor": self.net_scale_factor,
                "offsets": self.offsets,
                "model_color_format": self.model_color_format,
                "read_from": "the config file",
            },
            "batch_sizes": self.batch_sizes,
            "metrics": self.metrics.to_dict(),
            "checks": [c.to_dict() for c in self.checks],
        }


def nvinfer_input(
    frames_rgb: np.ndarray, net_scale_factor: float, offsets: list[float], color: int
) -> np.ndarray:
    """uint8 RGB NHWC frames -> what nvinfer hands TensorRT: float32 planar NCHW."""
    if color not in COLOR_FORMATS.values():
        raise ArtifactError(f"model-color-format={color}: a 3-channel classifier takes 0 (RGB) or 1 (BGR)")
    ordered = frames_rgb if color == COLOR_FORMATS["RGB"] else frames_rgb[..., ::-1]
    x = ordered.astype(np.float32).transpose(0, 3, 1, 2)
    mean = np.asarray(offsets, dtype=np.float32).reshape(1, 3, 1, 1)
    return np.ascontiguousarray(np.float32(net_scale_factor) * (x - mean), dtype=np.float32)


def _check_engine(cfg: KeyFile, onnx_path: Path, batch: int) -> Path:
    """What nvinfer will run must be what was gated: the FP32 engine it builds from onnx-file.
    It runs model-engine-file instead when that file exists, and builds in network-mode's
    precision."""
    # Both keys are optional to nvinfer: FP32 by default, and without model-engine-file it builds
    # from onnx-file every start.
    mode = cfg.integer("network-mode") if cfg.has("network-mode") else NETWORK_MODE_FP32
    if mode != NETWORK_MODE_FP32:
        raise ArtifactError(
            f"{cfg.path}: network-mode={mode}: nvinfer would build a {PRECISION_OF_MODE.get(mode, '?')} "
            "engine, which this gate does not check (it gates the FP32 computation, network-mode=0)"
        )
    gpu = cfg.integer("gpu-id") if cfg.has("gpu-id") else 0  # nvinfer's default
    want = onnx_path.parent / engine_file_name(onnx_path.name, batch, mode, gpu)
    if cfg.has("model-engine-file") and cfg.resolve("model-engine-file") != want:
        raise ArtifactError(
            f"{cfg.path}: model-engine-file={cfg.get('model-engine-file')}: nvinfer runs that engine when it "
            f"exists instead of building one from onnx-file, and builds {want.name}; name that one"
        )
    return want


def check_config_agrees(cfg: KeyFile, num_classes: int) -> tuple[Path, list[Any]]:
    """Everything in the config that must agree with its artifact and labels (ArtifactError,
    exit 2, on the first disagreement); returns the ONNX path and its input shape."""
    from ...artifacts import read_metadata

    if cfg.integer("network-type") != NETWORK_TYPE_CLASSIFIER:
        raise ArtifactError(f"{cfg.path}: network-type={cfg.get('network-type')}; a classifier is 1")
    onnx_path = cfg.resolve("onnx-file")
    if not onnx_path.is_file():
        raise ArtifactError(f"{cfg.path}: onnx-file {cfg.get('onnx-file')} is not there")
    meta = read_metadata(onnx_path)
    dims = [int(v) for v in cfg.numbers("infer-dims", 3)]
    inp, out = meta.record.get("input"), meta.record.get("output")
    shape = inp.get("shape") if isinstance(inp, dict) else None
    if not isinstance(shape, list) or len(shape) != 4 or dims != shape[1:]:
        raise ArtifactError(f"{cfg.path}: infer-dims={cfg.get('infer-dims')} but the artifact takes {shape}")
    batch = cfg.integer("batch-size")
    if not 1 <= batch <= MAX_BATCH:
        raise ArtifactError(f"{cfg.path}: batch-size={batch}; nvinfer batches from 1 to {MAX_BATCH} here")
    if isinstance(shape[0], int) and shape[0] != batch:
        raise ArtifactError(f"{cfg.path}: batch-size={batch} but the artifact's batch is {shape[0]}")
    scale = cfg.number("net-scale-factor")
    if not scale > 0:
        # Zero makes every frame the same input (a negative one inverts them): no scaling of
        # pixels a classifier was trained on, so refused as a broken config, not gated.
        raise ArtifactError(
            f"{cfg.path}: net-scale-factor={cfg.get('net-scale-factor')}; it must be positive"
        )
    output = out.get("name") if isinstance(out, dict) else None
    if cfg.get("output-blob-names") != output:
        raise ArtifactError(
            f"{cfg.path}: output-blob-names={cfg.get('output-blob-names')}, the artifact's is {output}"
        )
    engine = _check_engine(cfg, onnx_path, batch)
    if os.path.lexists(engine):
        # After nvinfer's first run the engine is always there, so refusing would make the check
        # useless on the device; but what it gates is onnx-file, not that engine.
        err.print(
            f"warning: {printable(str(engine))} exists: nvinfer runs that engine instead of building "
            "one from onnx-file, and this check gates onnx-file, not the engine; delete it to have "
            "nvinfer build from the gated ONNX",
            markup=False,
            soft_wrap=True,
        )
    labels = cfg.resolve("labelfile-path")
    # Checked before reading: a FIFO would block the read, a device never end.
    if not labels.is_file() or labels.stat().st_size > MAX_LABELS_BYTES:
        raise ArtifactError(
            f"{cfg.path}: labelfile-path {cfg.get('labelfile-path')} is not a label file "
            f"(a regular file of at most {MAX_LABELS_BYTES >> 20} MiB)"
        )
    try:
        data = labels.read_bytes()
        layers = parse_labels(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{cfg.path}: labelfile-path {labels.name}: cannot read ({exc})") from None
    odd = next((n for line in layers for n in line if control_character(n)), None)
    if odd is not None:
        raise ArtifactError(f"{labels}: label '{odd}' holds a control character; one plain name per class")
    section = meta.record.get("deepstream")
    deployed = section.get("labels_sha256") if isinstance(section, dict) else None
    if isinstance(deployed, str) and hashlib.sha256(data).hexdigest() != deployed:
        raise ArtifactError(
            f"{cfg.path}: labelfile-path {labels.name} is not the label file deployed with "
            f"{onnx_path.name} (names or their order changed): nvinfer names class i by its i-th label"
        )
    if len(layers) != 1 or len(layers[0]) != num_classes:
        counts = ", ".join(str(len(line)) for line in layers) or "none"
        raise ArtifactError(
            f"{labels}: labels per output layer {counts}; the artifact has one layer of {num_classes}"
        )
    return onnx_path, shape


def gate_deepstream(
    config: Path,
    reference: Reference,
    pre: Preprocessing,
    limits: dict[str, Limits],
) -> DeepStreamGate:
    """Run the artifact ``config`` names on the reference's pixels through nvinfer's scaling.

    ``reference`` must be loaded (its ``num_classes`` known); ``pre`` is the model's recipe
    (its colour order says how the reference's pixels relate to RGB frames).
    """
    from ...runners.onnxruntime_runner import OnnxRuntimeRunner

    cfg = read_config(config)
    onnx_path, shape = check_config_agrees(cfg, reference.num_classes)
    nsf = cfg.number("net-scale-factor")
    offsets = cfg.numbers("offsets", 3)
    color = cfg.integer("model-color-format")
    size = int(shape[2])
    gold = reference.inputs(size, True, lambda _msg: None)
    pixels = gold.feed  # uint8 NHWC in the checkpoint's colour order
    frames_rgb = pixels if pre.colour_order == "RGB" else pixels[..., ::-1]
    feed = nvinfer_input(frames_rgb, nsf, offsets, color)
    batch = cfg.integer("batch-size")
    runner = OnnxRuntimeRunner(onnx_path, precision=PRECISION, spin=False)
    try:
        out = run_batched(runner, feed, batch)
        probe = [gold.kinds.index(k) for k in dict.fromkeys(gold.kinds)]
        low = 1 if not isinstance(shape[0], int) else batch
        single = run_batched(runner, feed[probe], low)
    finally:
        runner.close()
    if out.shape[1] != reference.num_classes:
        raise ArtifactError(f"{onnx_path}: gives {out.shape[1]} classes, the model {reference.num_classes}")
    ref = np.exp(log_softmax(gold.logits.astype(np.float64)))
    metrics = compare(ref, out)
    return DeepStreamGate(
        config=cfg.path.name,
        artifact=onnx_path.name,
        net_scale_factor=nsf,
        offsets=offsets,
        model_color_format=color,
        batch_sizes=sorted({low, batch}),
        metrics=metrics,
        checks=limit_checks(metrics, batch_consistency(out, probe, single), limits[PRECISION]),
    )
