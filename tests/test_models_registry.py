"""The registry is torch-free data: `models` in the device role shows the full role's specs, and
every spec has exactly one builder in the full role (and every builder a spec)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inception_export.registry import list_specs

ROOT = Path(__file__).resolve().parent.parent
DEVICE_PYTHON = ROOT / ".venv-device" / "bin" / "python"


def test_every_spec_has_one_builder_and_every_builder_a_spec() -> None:
    from inception_export.full.models.builders import BUILDERS, register_builder

    assert sorted(BUILDERS) == sorted(s.name for s in list_specs())
    # A second builder for a name is refused where it is declared, not silently preferred.
    with pytest.raises(ValueError, match="'googlenet' has two builders"):
        register_builder("googlenet")(BUILDERS["googlenet"])


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
