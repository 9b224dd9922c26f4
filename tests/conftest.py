"""Shared test helpers: the reference data in tests/data and a real CLI runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"
REFERENCE_SEED = 20261123
# Which reference file belongs to which registry name.
REFERENCE_FILES = {
    "googlenet": "googlenet",
    "bn_inception": "bn_inception",
    "inception_v3": "inception_v3",
    "inception_v4": "inception_v4",
    "inception_resnet_v2": "inception_resnet_v2",
    "alexnet": "alexnet",
    "vgg16": "vgg16",
    "resnet50": "resnet50",
}
# The second input size of the reference data (``logits_size<S>`` in the logits file).
REFERENCE_SECOND_SIZE = {
    "inception_v4": 320,
    "inception_resnet_v2": 320,
    "alexnet": 256,
    "vgg16": 256,
    "resnet50": 288,
}


def reference_input(size: int) -> np.ndarray:
    """The reference recipe's input (rebuilt, not stored: it is 2 MB for v3)."""
    return np.random.default_rng(REFERENCE_SEED).uniform(-2, 2, (2, 3, size, size)).astype(np.float32)


def reference_logits(name: str) -> dict[str, np.ndarray]:
    with np.load(DATA / f"{REFERENCE_FILES[name]}.logits.npz") as z:
        return {k: z[k] for k in z.files}


def reference_layout(name: str) -> list[tuple[str, tuple[int, ...]]]:
    rows = json.loads((DATA / f"{REFERENCE_FILES[name]}.layout.json").read_text())
    return [(key, tuple(shape)) for key, shape, _dtype in rows]


_SYNTHETIC: dict[str, Any] = {}


def synthetic_model(name: str) -> Any:
    """``build_model(name)`` with the reference weights, built once per session (VGG-16's 138 M
    weights take seconds to draw). Shared: tests that change a model must build their own."""
    from inception_export import build_model, get_spec

    key = get_spec(name).name
    if key not in _SYNTHETIC:
        _SYNTHETIC[key] = build_model(key)
    return _SYNTHETIC[key]


def rel_l2(a: np.ndarray, b: np.ndarray) -> float:
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a64 - b64) / np.linalg.norm(b64))


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 600, env: dict[str, str] | None = None
) -> CliResult:
    """Run the real CLI in a subprocess (exit codes and streams exactly as a user sees them)."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "inception_export", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def assert_one_line_error(result: CliResult, code: int = 2, *needles: str) -> None:
    assert result.code == code, (result.code, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA
