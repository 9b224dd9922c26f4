"""The README's Python blocks run as written: a new user copies them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

# Full suite only: runs the README's Python blocks as written (model builds and exports).
pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", README.read_text(), flags=re.S | re.M)


def test_readme_has_python_blocks() -> None:
    assert python_blocks()


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_python_block_runs(index: int, tmp_path: Path) -> None:
    code = python_blocks()[index]
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"README python block {index + 1} failed:\n{proc.stderr[-3000:]}"
