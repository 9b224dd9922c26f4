"""Shipped artifacts carry nothing of the machine that exported them.

The package is copied into two directories and the same exports run from each in a fresh
process: the ONNX and TorchScript bytes must be identical and contain neither checkout's
path (torch's exporters record absolute source paths in stack traces and debug records).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import onnx
import pytest

# Left to the full suite (not in `-m "not slow"`): exports from two checkouts in subprocesses.
pytestmark = pytest.mark.slow
PACKAGE = Path(__file__).resolve().parents[1] / "inception_export"

_EXPORT = """
import sys
from pathlib import Path
import inception_export
from inception_export import build_model
from inception_export.full.export import export_onnx, export_torchscript
assert Path(inception_export.__file__).resolve().is_relative_to(Path(sys.argv[1]).resolve())
out = Path(sys.argv[2])
net = build_model("v1")
export_onnx("v1", out / "v1.onnx", model_obj=net)
export_torchscript("v1", out / "v1.pt", model_obj=net)
"""


@pytest.fixture(scope="module")
def two_checkouts(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, Path]]:
    runs = []
    for name in ("checkout-a", "somewhere/else/checkout-b"):
        root = tmp_path_factory.mktemp("src") / name
        shutil.copytree(PACKAGE, root / "inception_export", ignore=shutil.ignore_patterns("__pycache__"))
        out = tmp_path_factory.mktemp("out")
        env = {**os.environ, "PYTHONPATH": str(root)}
        proc = subprocess.run(
            [sys.executable, "-c", _EXPORT, str(root), str(out)],
            capture_output=True, text=True, env=env, cwd=out, timeout=600,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        runs.append((root, out))
    return runs


@pytest.mark.parametrize("artifact", ["v1.onnx", "v1.pt"])
def test_same_bytes_from_two_checkouts(artifact: str, two_checkouts: list[tuple[Path, Path]]) -> None:
    (_, out_a), (_, out_b) = two_checkouts
    assert (out_a / artifact).read_bytes() == (out_b / artifact).read_bytes()


@pytest.mark.parametrize("artifact", ["v1.onnx", "v1.pt"])
def test_no_machine_paths(artifact: str, two_checkouts: list[tuple[Path, Path]]) -> None:
    for root, out in two_checkouts:
        data = (out / artifact).read_bytes()
        for path in {root, Path(sys.prefix), Path(onnx.__file__).parents[2], Path.home()}:
            assert str(path).encode() not in data, (artifact, path)
        assert b"site-packages" not in data and b'File "/' not in data


def test_module_scopes_kept(two_checkouts: list[tuple[Path, Path]]) -> None:
    """The path-free node metadata that maps nodes back to layers stays; the rest goes."""
    proto = onnx.load(str(two_checkouts[0][1] / "v1.onnx"))
    keys = {p.key for n in proto.graph.node for p in n.metadata_props}
    assert "pkg.torch.onnx.name_scopes" in keys
    assert not keys & {"pkg.torch.onnx.stack_trace", "pkg.torch.onnx.fx_node"}
    with zipfile.ZipFile(two_checkouts[0][1] / "v1.pt") as zf:
        assert not [n for n in zf.namelist() if n.endswith(".debug_pkl")]
