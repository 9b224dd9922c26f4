"""Parity gate: golden inputs, metrics, tolerance profiles, reference sources, the gate and its reports.

Importing this package does not import torch: the golden-bundle gate runs without it. The
eager gate (:func:`run_gate`, in :mod:`.eager`) needs torch and is loaded on first use.
"""

from __future__ import annotations

from typing import Any

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
    "run_gate",
    "run_golden_gate",
]


def __getattr__(name: str) -> Any:
    # `from inception_export.parity import run_gate` keeps working without making every
    # importer of the package (the device role) import torch.
    if name == "run_gate":
        from .eager import run_gate

        return run_gate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
