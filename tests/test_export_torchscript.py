"""TorchScript export: standalone loading, freezing, parity, metadata, reproducibility."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ExportFn, Lazy, rel_l2, synthetic_model, v1_fast
from torch import nn

from inception_export.errors import UsageError
from inception_export.full.export import ExportResult, export_torchscript, read_metadata, sidecar_path
from inception_export.registry import get_spec

MODELS = ["googlenet", "bn_inception", "inception_v3"]
SEED = 20261123

# Runs in a fresh interpreter that must never import inception_export.
LOADER = """
import sys, numpy as np, torch
out = {}
for path, inp, dst in zip(sys.argv[1::3], sys.argv[2::3], sys.argv[3::3]):
    m = torch.jit.load(path)
    y = m(torch.from_numpy(np.load(inp)))
    assert isinstance(y, torch.Tensor), type(y)
    assert not getattr(m, "training", False)
    assert len(list(m.parameters())) == 0, "not frozen"
    np.save(dst, y.detach().numpy())
assert not any(k.startswith("inception_export") for k in sys.modules), "imported inception_export"
"""


@pytest.fixture(scope="module")
def models() -> dict[str, nn.Module]:
    # The session's models (conftest.synthetic_model): the same weights build_model gives.
    return Lazy(synthetic_model)


@pytest.fixture(scope="module")
def artifacts(shared_exports: ExportFn) -> dict[str, ExportResult]:
    # export_torchscript(name, f"{name}.pt") of each, once per session.
    return Lazy(lambda name: shared_exports(name, "torchscript"))


@pytest.mark.slow
def test_loads_standalone_and_matches_eager(
    models: dict[str, nn.Module], artifacts: dict[str, ExportResult], tmp_path: Path
) -> None:
    args: list[str] = []
    refs = {}
    for name in MODELS:
        size = get_spec(name).default_size
        x = np.random.default_rng(SEED).uniform(-2, 2, (2, 3, size, size)).astype(np.float32)
        np.save(tmp_path / f"{name}.in.npy", x)
        with torch.inference_mode():
            refs[name] = models[name](torch.from_numpy(x)).numpy()
        args += [
            str(artifacts[name].path),
            str(tmp_path / f"{name}.in.npy"),
            str(tmp_path / f"{name}.out.npy"),
        ]
    # -I: isolated mode, so neither the cwd nor PYTHONPATH can make the package importable.
    proc = subprocess.run(
        [sys.executable, "-I", "-c", LOADER, *args], capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in MODELS:
        assert rel_l2(np.load(tmp_path / f"{name}.out.npy"), refs[name]) <= 1e-5, name


@pytest.mark.parametrize("name", v1_fast(MODELS))
def test_metadata_round_trip(name: str, artifacts: dict[str, ExportResult]) -> None:
    res = artifacts[name]
    embedded = read_metadata(res.path).record
    side = json.loads(sidecar_path(res.path).read_text())
    assert side.pop("artifact") == res.path.name
    assert side.pop("artifact_sha256") == res.sha256
    assert embedded == side == res.metadata
    assert embedded["format"] == "torchscript" and embedded["precision"] == "fp32"
    assert embedded["model"] == name and embedded["input_size"] == get_spec(name).default_size
    assert embedded["num_classes"] == 1000 and embedded["frozen"] is True
    assert embedded["weights"]["sha256"] == f"synthetic-{SEED}"
    assert set(embedded["versions"]) >= {"inception_export", "torch"}
    assert "timestamp" not in json.dumps(embedded)


@pytest.mark.slow
def test_byte_reproducible_across_processes(tmp_path: Path) -> None:
    # One export per process, as the CLI does: TorchScript mangles class names with a
    # per-process counter, so two exports inside one process differ in those names only.
    code = "import sys; from pathlib import Path; "
    code += "from inception_export.full.export import export_torchscript; "
    code += "export_torchscript('googlenet', Path(sys.argv[1]), input_size=96)"
    for name in ("a.pt", "b.pt"):
        proc = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / name)], capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()


def test_existing_output_needs_force(artifacts: dict[str, ExportResult], tmp_path: Path) -> None:
    target = tmp_path / "m.pt"
    target.write_bytes(b"keep")
    with pytest.raises(UsageError, match="--force"):
        export_torchscript("googlenet", target)
    assert target.read_bytes() == b"keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_transform_input_is_recorded(tmp_path: Path) -> None:
    res = export_torchscript("v1", tmp_path / "ti.pt", transform_input=True, input_size=160)
    assert res.metadata["preprocessing"]["transform_input"] is True
    assert res.metadata["input_size"] == 160
