"""Published checkpoints recognised by content hash set their recipe.

No real torchvision weights exist here: the real hashes are checked as data (the model files'
table, the lookup), and the mechanism end to end with a generated checkpoint whose hash is
registered through the same lookup (``registry.register_checkpoint``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CliResult, assert_one_line_error, reference_input, reference_logits, rel_l2

from inception_export import registry
from inception_export.errors import UsageError
from inception_export.full.build import build_model
from inception_export.registry import KnownCheckpoint, get_spec, recognise_checkpoint

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@pytest.mark.parametrize(
    ("model", "file_name", "resize", "crop"),
    [
        ("v1", "googlenet-1378be20.pth", 256, 224),
        ("v3", "inception_v3_google-0cc3c7bd.pth", 342, 299),
        ("v3", "inception_v3_google-1a9a5a14.pth", 342, 299),
    ],
)
def test_torchvision_checkpoints_are_known_with_their_recipe(
    model: str, file_name: str, resize: int, crop: int
) -> None:
    spec = get_spec(model)
    prefix = file_name.rsplit("-", 1)[1].removesuffix(".pth")
    # Any file whose sha256 starts with the published prefix is that checkpoint, whatever its name.
    known = recognise_checkpoint(spec, prefix + "0" * 56)
    assert known is not None and known.file_name == file_name
    assert known.transform_input is True
    pre = known.preprocessing
    assert (pre.mean, pre.std) == (IMAGENET_MEAN, IMAGENET_STD)
    assert (pre.colour_order, pre.value_range) == ("RGB", (0, 1))
    assert (pre.resize, pre.crop, pre.interpolation) == (resize, crop, "bilinear")
    # The same hash under another model is not recognised; neither is a near miss.
    other = get_spec("v3" if model == "v1" else "v1")
    assert recognise_checkpoint(other, prefix + "0" * 56) is None
    assert recognise_checkpoint(spec, prefix[:-1] + "x" + "0" * 56) is None
    assert file_name in [k["file_name"] for k in spec.to_dict()["known_checkpoints"]]


def test_no_other_model_claims_a_checkpoint() -> None:
    for spec in registry.list_specs():
        if spec.name not in ("googlenet", "inception_v3"):
            assert spec.known_checkpoints == ()


@pytest.fixture(scope="module")
def v1_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference recipe's GoogLeNet weights saved as a torchvision-style .pth."""
    path = tmp_path_factory.mktemp("ckpt") / "my-googlenet.pth"
    torch.save(build_model("v1").state_dict(), path)
    return path


def _known(path: Path) -> KnownCheckpoint:
    return KnownCheckpoint(
        sha256_prefix=registry.checkpoint_sha256(path)[:8],
        file_name="googlenet-test.pth",
        source="a test",
        transform_input=True,
        preprocessing=get_spec("v1").preprocessing,
    )


def test_recognised_checkpoint_builds_the_transform_input_model(
    v1_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "_EXTRA_CHECKPOINTS", {})
    registry.register_checkpoint("v1", _known(v1_checkpoint))
    with pytest.warns(UserWarning, match=r"transform_input=True"):
        net = build_model("v1", v1_checkpoint)
    with torch.inference_mode():
        got = net(torch.from_numpy(reference_input(224))).double().numpy()
    ref = reference_logits("googlenet")
    # torchvision's output with transform_input=True, not the plain one.
    assert rel_l2(got, ref["logits_transform_input"]) < 1e-5
    assert rel_l2(got, ref["logits"]) > 1e-2
    with pytest.raises(UsageError, match=r"contradicts my-googlenet\.pth"):
        build_model("v1", v1_checkpoint, transform_input=False)


_SCRIPT = """
import sys
from inception_export.registry import KnownCheckpoint, get_spec, register_checkpoint
if sys.argv[1] != "-":
    register_checkpoint("v1", KnownCheckpoint(sys.argv[1], "googlenet-test.pth", "a test", True,
                                              get_spec("v1").preprocessing))
from inception_export.cli.app import main
main(sys.argv[2:])
"""


def _cli(prefix: str, *args: str) -> CliResult:
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, prefix, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.mark.slow
def test_cli_sets_the_recipe_with_a_note_and_refuses_a_contradicting_flag(v1_checkpoint: Path) -> None:
    import json

    prefix = registry.checkpoint_sha256(v1_checkpoint)[:8]
    res = _cli(prefix, "inspect", "--model", "v1", "--weights", str(v1_checkpoint), "--json")
    assert res.code == 0, res.stderr
    assert json.loads(res.stdout)["transform_input"] is True
    notes = [ln for ln in res.stderr.splitlines() if ln.startswith("note:")]
    assert any("googlenet-test.pth" in n and "transform_input=True" in n for n in notes), res.stderr
    refused = _cli(
        prefix, "inspect", "--model", "v1", "--weights", str(v1_checkpoint), "--no-transform-input"
    )
    assert_one_line_error(
        refused, 2, "(--no-transform-input) contradicts my-googlenet.pth", "trained with transform_input=True"
    )
    # Unrecognised weights: the flag's default (off), and nothing said.
    plain = _cli("-", "inspect", "--model", "v1", "--weights", str(v1_checkpoint), "--json")
    assert plain.code == 0, plain.stderr
    assert json.loads(plain.stdout)["transform_input"] is False
    assert "note:" not in plain.stderr


def test_recognised_real_hash_prefixes_match_the_file_names() -> None:
    """torchvision's convention, which the table relies on: NAME-<sha256[:8]>.pth."""
    for spec in registry.list_specs():
        for k in spec.known_checkpoints:
            assert k.file_name.rsplit("-", 1)[1] == f"{k.sha256_prefix}.pth"
    assert np.all([len(k.sha256_prefix) >= 8 for s in registry.list_specs() for k in s.known_checkpoints])
