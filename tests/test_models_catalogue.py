"""`models` works in the device role, without torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inception_export.registry import CATALOGUE, list_specs

ROOT = Path(__file__).resolve().parent.parent
DEVICE_PYTHON = ROOT / ".venv-device" / "bin" / "python"
sys.path.insert(0, str(ROOT / "tools"))


def test_catalogue_matches_the_specs() -> None:
    from models_catalogue import render

    assert CATALOGUE.read_text(encoding="utf-8") == render(), (
        "inception_export/catalogue.json is stale: run `python tools/models_catalogue.py`"
    )
    assert [row["name"] for row in json.loads(CATALOGUE.read_text())] == [s.name for s in list_specs()]


def _run(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    return subprocess.run(
        [str(python), "-m", "inception_export", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_models_in_the_device_role_matches_the_full_role() -> None:
    if not DEVICE_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{DEVICE_PYTHON} is missing: `./dev test` creates the torch-free venv")
        pytest.skip("no .venv-device (created by `./dev test`)")
    assert subprocess.run([str(DEVICE_PYTHON), "-c", "import torch"], capture_output=True).returncode != 0
    device = _run(DEVICE_PYTHON, "models", "--json")
    assert device.returncode == 0, device.stderr
    full = _run(Path(sys.executable), "models", "--json")
    assert json.loads(device.stdout) == json.loads(full.stdout)
    table = _run(DEVICE_PYTHON, "models")
    assert table.returncode == 0, table.stderr
    assert "inception_v3" in table.stdout and "Traceback" not in table.stderr
