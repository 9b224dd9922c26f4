"""The metadata record of an exported artifact, built from the model it was exported from.

The record's keys, where it is stored and how it is read are in
:mod:`inception_export.metadata` (torch-free, the device reads it); this module holds only
what needs the model (and so torch).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import torch
from torch import nn

from ... import __version__
from ...metadata import SCHEMA_VERSION
from ...registry import ModelSpec
from ...seed import is_synthetic, recorded_source
from ..build import load_report


def build_metadata(
    *,
    spec: ModelSpec,
    model: nn.Module,
    fmt: str,
    precision: str,
    input_size: int,
    transform_input: bool,
    seed: int,
    extra: dict[str, Any],
) -> dict[str, Any]:
    report = load_report(model)
    pre = asdict(spec.preprocessing)
    pre["transform_input"] = transform_input
    versions = {"inception_export": __version__, "torch": torch.__version__}
    if fmt == "onnx":
        import onnx
        import onnxscript

        versions["onnx"] = onnx.__version__
        versions["onnxscript"] = onnxscript.__version__
    meta: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "format": fmt,
        "model": spec.name,
        "input_size": input_size,
        "num_classes": report.num_classes,
        "precision": precision,
        "preprocessing": pre,
        "weights": {
            "source": recorded_source(report.path),
            "sha256": report.sha256,
            "seed": seed if is_synthetic(report.path) else None,
        },
        "versions": versions,
    }
    meta.update(extra)
    # Round-trip through JSON so the in-memory record equals what readers get back (lists, not tuples).
    return dict(json.loads(json.dumps(meta)))
