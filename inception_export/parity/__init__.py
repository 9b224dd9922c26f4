"""Parity gate: golden inputs, metrics, tolerance profiles, reference sources, the gate and its reports.

Importing this package does not import torch: the golden-bundle gate runs without it.
"""

from .gate import ArtifactResult, Check, GateReport, check_artifacts, run_gate, run_golden_gate
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
    "run_gate",
    "run_golden_gate",
]
