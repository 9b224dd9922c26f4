"""The checkpoints users have of Inception v4, Inception-ResNet-v2 and the baselines.

timm's training script (``{"state_dict", "state_dict_ema", "optimizer", "args": Namespace}``),
torchvision's reference script (``{"model", ..., "args"}``), DDP ``module.`` prefixes,
torchvision's ``<arch>-<hash>.pth`` files, safetensors, fine-tuned heads, and another
architecture's checkpoint refused with the mismatched keys named.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import (
    assert_one_line_error,
    reference_input,
    reference_layout,
    reference_logits,
    rel_l2,
    run_cli,
    run_cli_here,
    synthetic_model,
)
from safetensors.torch import save_file

from inception_export import build_model, get_spec
from inception_export.errors import WeightsError
from inception_export.full.build import example_input
from inception_export.full.synthetic import synthetic_state_dict

# Left to the full suite (not in `-m "not slow"`): every test builds or saves one of the
# big models (VGG-16: 528 MB).
pytestmark = pytest.mark.slow

NEW = ["inception_v4", "inception_resnet_v2", "alexnet", "vgg16", "resnet50"]


def _run(model: torch.nn.Module, size: int | None = None) -> np.ndarray:
    x = torch.from_numpy(reference_input(size or model.spec.default_size))
    with torch.inference_mode():
        return model(x).numpy()


def peer_state(name: str) -> dict[str, torch.Tensor]:
    """The peer's checkpoint with the reference weights. Our state_dict is exactly the peer's
    layout (first test) and the recipe draws each tensor from its key, so this is that
    checkpoint without drawing VGG's 138 M numbers again."""
    return {k: v.clone() for k, v in synthetic_model(name).state_dict().items()}


def assert_loaded(model: torch.nn.Module, name: str) -> None:
    """Every tensor of the checkpoint arrived where it belongs (the logits follow: test_models)."""
    expected = synthetic_model(name).state_dict()
    got = model.state_dict()
    assert list(got) == list(expected)
    assert all(torch.equal(got[k], v) for k, v in expected.items())


def _optimizer_state(state: dict[str, torch.Tensor]) -> dict[str, object]:
    """What SGD's state_dict looks like in a training checkpoint (momentum per parameter)."""
    first = next(iter(state.values()))
    return {
        "state": {0: {"momentum_buffer": torch.zeros_like(first)}},
        "param_groups": [{"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "params": [0]}],
    }


@pytest.mark.parametrize("name", NEW)
def test_state_dict_is_the_peer_layout(name: str) -> None:
    """Same keys, shapes and order as timm's / torchvision's ``state_dict()``."""
    ours = [(k, tuple(v.shape)) for k, v in synthetic_model(name).state_dict().items()]
    assert ours == reference_layout(name)


def test_timm_train_script_checkpoint(tmp_path: Path) -> None:
    # timm's CheckpointSaver: epoch, arch, optimizer, version, args (an argparse Namespace),
    # state_dict, state_dict_ema, metric; saved as model_best.pth.tar.
    state = peer_state("inception_v4")
    args = argparse.Namespace(model="inception_v4", lr=0.1, epochs=30, img_size=None, mean=(0.5, 0.5, 0.5))
    ckpt = {
        "epoch": 29,
        "arch": "inception_v4",
        "optimizer": _optimizer_state(state),
        "version": 2,
        "args": args,
        "state_dict": state,
        "state_dict_ema": {k: v + 1 for k, v in state.items() if v.is_floating_point()},
        "metric": 80.1,
    }
    path = tmp_path / "model_best.pth.tar"
    torch.save(ckpt, path)
    assert_loaded(build_model("v4", path), "inception_v4")  # the weights, not the EMA copy
    # Through the CLI: the report and the one inference it runs agree with the synthetic model.
    res = run_cli("inspect", "-m", "v4", "-w", str(path), "--input-size", "107", "--json")
    assert res.code == 0, res.stderr
    report = json.loads(res.stdout)
    assert (report["model"], report["num_classes"], report["input_size"]) == ("inception_v4", 1000, 107)
    with torch.inference_mode():
        ours = synthetic_model("v4")(example_input(get_spec("v4"), size=107))
    assert report["top5"] == torch.topk(ours[0], 5).indices.tolist()


def test_ddp_prefix_and_safetensors(tmp_path: Path) -> None:
    state = peer_state("inception_resnet_v2")
    ddp = tmp_path / "checkpoint-9.pth.tar"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 9}, ddp)
    assert_loaded(build_model("irv2", ddp), "inception_resnet_v2")
    hub = tmp_path / "model.safetensors"  # timm's Hugging Face hub file
    save_file({k: v.contiguous() for k, v in state.items()}, str(hub))
    assert_loaded(build_model("inception_resnet", hub), "inception_resnet_v2")


def test_torchvision_hub_and_reference_script_files(tmp_path: Path) -> None:
    # Drawn from the shared layout file, not from our model: the peer's own key list.
    state = synthetic_state_dict(reference_layout("resnet50"))
    hub = tmp_path / "resnet50-0676ba61.pth"  # torchvision's published file name
    torch.save(state, hub)
    assert rel_l2(_run(build_model("resnet50", hub)), reference_logits("resnet50")["logits"]) <= 1e-5
    # torchvision's references/classification/train.py: {"model", "optimizer", "lr_scheduler",
    # "epoch", "args"}.
    script = tmp_path / "checkpoint.pth"
    args = argparse.Namespace(model="resnet50", lr=0.5, batch_size=128, weights=None)
    torch.save(
        {
            "model": state,
            "optimizer": _optimizer_state(state),
            "lr_scheduler": {"step_size": 30, "gamma": 0.1, "last_epoch": 3},
            "epoch": 3,
            "args": args,
        },
        script,
    )
    assert_loaded(build_model("resnet50", script), "resnet50")
    alex = tmp_path / "alexnet-owt-7be5be79.pth"
    torch.save(peer_state("alexnet"), alex)
    assert_loaded(build_model("alexnet", alex), "alexnet")
    vgg = tmp_path / "vgg16-397923af.pth"
    torch.save(peer_state("vgg16"), vgg)
    assert_loaded(build_model("vgg16", vgg), "vgg16")


@pytest.mark.parametrize(
    ("name", "classes"), [("inception_v4", 10), ("inception_resnet_v2", 5), ("alexnet", 10), ("resnet50", 37)]
)
def test_fine_tuned_head(name: str, classes: int, tmp_path: Path) -> None:
    spec = get_spec(name)
    state = peer_state(name)
    head = spec.classifier_key.rsplit(".", 1)[0]
    state[f"{head}.weight"] = state[f"{head}.weight"][:classes].clone()
    state[f"{head}.bias"] = state[f"{head}.bias"][:classes].clone()
    path = tmp_path / f"{name}-ft{classes}.pth"
    torch.save(state, path)
    size = spec.min_size + 32
    out = _run(build_model(name, path), size)
    assert out.shape == (2, classes)
    # The first classes of the 1000-class model: same trunk, truncated head.
    np.testing.assert_allclose(out, _run(synthetic_model(name), size)[:, :classes], rtol=1e-5, atol=1e-5)
    with pytest.raises(WeightsError, match=f"{classes} classes"):
        build_model(name, path, num_classes=1000)


def test_other_architecture_refused_naming_keys(tmp_path: Path) -> None:
    # AlexNet offered to VGG-16: both have classifier.6, so the key-by-key check speaks.
    alex = tmp_path / "alexnet-owt-7be5be79.pth"
    torch.save(peer_state("alexnet"), alex)
    with pytest.raises(WeightsError) as info:
        build_model("vgg16", alex)
    msg = str(info.value)
    assert "not a checkpoint for vgg16 (torchvision layout)" in msg
    assert "missing features.2.weight" in msg and "unexpected features.3.weight" in msg
    assert "mis-shaped features.0.weight (64, 3, 11, 11) vs (64, 3, 3, 3)" in msg
    # ResNet-50 offered to Inception-ResNet-v2 through the CLI: one line, exit 2, keys named.
    r50 = tmp_path / "resnet50-0676ba61.pth"
    torch.save(peer_state("resnet50"), r50)
    res = run_cli_here("inspect", "-m", "irv2", "-w", str(r50))
    assert_one_line_error(
        res, 2, "not a checkpoint for inception_resnet_v2", "'classif.weight' is missing", "bn1."
    )
    # Inception v4 offered to Inception-ResNet-v2, even with its head renamed to match.
    v4 = peer_state("inception_v4")
    v4["classif.weight"] = v4.pop("last_linear.weight")
    v4["classif.bias"] = v4.pop("last_linear.bias")
    path = tmp_path / "v4-as-irv2.pth"
    torch.save(v4, path)
    with pytest.raises(WeightsError, match=r"missing conv2d_1a\.conv\.weight.*unexpected features\.0\."):
        build_model("irv2", path)
