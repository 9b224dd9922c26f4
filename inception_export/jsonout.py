"""Strict JSON for everything the tool writes: ``--json`` output, reports, manifests, bundles.

Python's ``json`` writes bare ``NaN`` and ``Infinity``, which no strict parser (jq, JavaScript,
Go, Rust's serde) accepts. A broken artifact does produce them (its logits, hence its error
metrics), so every non-finite number becomes ``null``; the report's ``nonfinite`` count says why.
"""

from __future__ import annotations

import json
import math
import numbers
from typing import Any


def strict(obj: Any) -> Any:
    """``obj`` with every non-finite float (numpy's included) replaced by ``None``."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, str | int):
        return obj
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [strict(v) for v in obj]
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        value = float(obj)
        return value if math.isfinite(value) else None
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` that can only produce strict JSON (unknown objects become strings)."""
    kwargs.setdefault("default", str)
    return json.dumps(strict(obj), allow_nan=False, **kwargs)
