"""Parity gate: golden inputs, metrics, tolerance profiles, reference sources, the gate and its reports.

Torch-free: the golden-bundle gate runs without PyTorch. The eager gate (``run_gate``) builds
the model, so it lives in the full role, :mod:`inception_export.full.eager`.
"""

from __future__ import annotations

from .gate import ArtifactResult, Check, GateReport, check_artifacts, run_golden_gate
from .metrics import Metrics, compare
from .tolerances import PROFILES, Limits, load_profile

__all__ = [
    "PROFILES",
    "ArtifactResult",
    "Check",
    "GateReport",
    "Limits",
    "Metrics",
    "check_artifacts",
    "compare",
    "load_profile",
    "run_golden_gate",
]

