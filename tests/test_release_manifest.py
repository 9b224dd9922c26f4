"""The release manifest has one reader and one weights check: every deployment (Triton,
DeepStream) gives the same answer for the same manifest and the same ``--weights``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import assert_one_line_error, edited_release, run_cli_here

from inception_export.seed import DEFAULT_SEED


def _no_weights(manifest: dict[str, Any]) -> None:
    del manifest["weights"]


def _no_weights_hash(manifest: dict[str, Any]) -> None:
    del manifest["weights"]["sha256"]


def _no_preprocessing(manifest: dict[str, Any]) -> None:
    del manifest["preprocessing"]


def _seedless_synthetic(manifest: dict[str, Any]) -> None:
    manifest["weights"] = {"source": "synthetic:seed=x", "sha256": "synthetic-x"}


@pytest.mark.parametrize("target", ["triton", "deepstream"])
@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (_no_weights, "no valid 'weights'"),
        (_no_weights_hash, "no weights source/sha256"),
        (_no_preprocessing, "no valid 'preprocessing'"),
        (_seedless_synthetic, "is not a synthetic seed"),
    ],
    ids=["no-weights", "no-weights-hash", "no-preprocessing", "seedless-synthetic"],
)
def test_every_deployment_refuses_a_manifest_that_does_not_say_how_to_rebuild_its_model(
    v1_release: tuple[Path, Any], tmp_path: Path, edit: Any, needle: str, target: str
) -> None:
    rel = edited_release(v1_release[0], tmp_path / "rel", edit)
    out = tmp_path / "out"
    res = run_cli_here("deploy", target, "--release", str(rel), "-o", str(out))
    assert_one_line_error(res, 2, needle)
    assert not out.exists()


@pytest.mark.parametrize("target", ["triton", "deepstream"])
def test_weights_offered_to_a_synthetic_release_are_refused_naming_its_seed(
    v1_release: tuple[Path, Any], tmp_path: Path, target: str
) -> None:
    checkpoint = tmp_path / "w.pth"
    checkpoint.write_bytes(b"not the release's weights")
    out = tmp_path / "out"
    res = run_cli_here(
        "deploy", target, "--release", str(v1_release[0]), "-o", str(out), "--weights", str(checkpoint)
    )
    assert_one_line_error(res, 2, f"made from synthetic weights (seed {DEFAULT_SEED}); drop --weights")
    assert not out.exists()
