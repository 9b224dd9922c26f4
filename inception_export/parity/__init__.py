"""Parity gate: golden inputs, metrics, tolerance profiles, the gate and its reports."""

from .gate import ArtifactResult, Check, GateReport, run_gate
from .metrics import Metrics, compare
from .tolerances import PROFILES, Limits, load_profile

__all__ = [
    "PROFILES",
    "ArtifactResult",
    "Check",
    "GateReport",
    "Limits",
    "Metrics",
    "compare",
    "load_profile",
    "run_gate",
]
