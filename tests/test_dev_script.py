"""``./dev``, the developer's entry point: it runs from any directory and keeps the caller's."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _dev_ready() -> bool:
    key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + (ROOT / "dev").read_bytes()).hexdigest()
    return (ROOT / ".venv" / f".installed-{key[:16]}").exists()


def test_dev_keeps_the_callers_directory(tmp_path: Path) -> None:
    if not _dev_ready():
        pytest.skip("./dev has not installed .venv for this pyproject.toml yet (it would take minutes)")
    proc = subprocess.run(
        [str(ROOT / "dev"), "python", "-c", "import os; open('out', 'w').write(os.getcwd())"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
    )
    assert proc.returncode == 0, proc.stderr
    # A relative output path lands where ./dev was called, not in the repository.
    assert (tmp_path / "out").read_text() == str(tmp_path)
    assert not (ROOT / "out").exists()
