"""The models reproduce the established implementations' logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import (
    REFERENCE_SECOND_SIZE,
    assert_one_line_error,
    reference_input,
    reference_logits,
    rel_l2,
    run_cli_here,
    synthetic_model,
    v1_fast,
)
from helpers import (
    EVERY_FORMAT,  # the models whose TorchScript export is gated there
)

from inception_export import build_model, get_spec, list_specs
from inception_export.errors import UsageError
from inception_export.full.profile import count_macs, count_params

MODELS = [
    "googlenet",
    "bn_inception",
    "inception_v3",
    "inception_v4",
    "inception_resnet_v2",
    "alexnet",
    "vgg16",
    "resnet50",
]


@pytest.fixture(scope="module", params=v1_fast(MODELS))
def model_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _logits(name: str, transform_input: bool = False, size: int | None = None) -> np.ndarray:
    model = build_model(name, transform_input=True) if transform_input else synthetic_model(name)
    x = torch.from_numpy(reference_input(size or model.spec.default_size))
    with torch.inference_mode():
        return model(x).numpy()


@pytest.mark.parametrize("name", v1_fast(MODELS))
def test_reference_logits(name: str) -> None:
    ref = reference_logits(name)["logits"]
    out = _logits(name)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert rel_l2(out, ref) <= 1e-5
    # Same top-1 as the peer for both samples: a different function would not be this close.
    assert (out.argmax(1) == ref.argmax(1)).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REFERENCE_SECOND_SIZE))
def test_reference_logits_second_size(name: str) -> None:
    size = REFERENCE_SECOND_SIZE[name]
    ref = reference_logits(name)[f"logits_size{size}"]
    out = _logits(name, size=size)
    assert out.shape == ref.shape and np.isfinite(out).all()
    assert rel_l2(out, ref) <= 1e-5
    assert (out.argmax(1) == ref.argmax(1)).all()


@pytest.mark.parametrize("name", v1_fast(["googlenet", "inception_v3"]))
def test_reference_logits_transform_input(name: str) -> None:
    ref = reference_logits(name)
    out = _logits(name, transform_input=True)
    assert rel_l2(out, ref["logits_transform_input"]) <= 1e-5
    # And the option really changes the function.
    assert rel_l2(out, ref["logits"]) > 1e-2


def test_transform_input_rejected_for_bn_inception() -> None:
    with pytest.raises(UsageError, match="transform_input"):
        build_model("v2", transform_input=True)


def test_aliases_resolve() -> None:
    assert get_spec("v1").name == "googlenet"
    assert get_spec("v2").name == "bn_inception"
    assert get_spec("v3").name == "inception_v3"
    assert get_spec("v4").name == "inception_v4"
    assert get_spec("irv2").name == get_spec("inception_resnet").name == "inception_resnet_v2"
    assert get_spec("Inception-ResNet-V2").name == "inception_resnet_v2"
    for name in ("alexnet", "vgg16", "resnet50"):
        assert get_spec(name).name == name
    assert get_spec("Inception-V3").name == "inception_v3"
    with pytest.raises(UsageError, match="known models: googlenet"):
        get_spec("v5")


def test_spec_costs_match_the_graph(model_name: str, data_dir: object) -> None:
    import json

    from conftest import DATA

    summary = json.loads((DATA / "reference_summary.json").read_text())[model_name]
    spec = get_spec(model_name)
    model = synthetic_model(model_name)
    assert count_params(model) == spec.params == summary["params_without_aux"]
    assert count_macs(model, spec.default_size) / 1e9 == pytest.approx(spec.gmacs, abs=6e-4)
    assert spec.gmacs == summary["gmacs"]


def test_eval_tensor_scriptable_traceable(model_name: str) -> None:
    model = synthetic_model(model_name)
    assert not model.training
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in model.parameters())
    # No auxiliary heads anywhere in the module tree.
    names = [n.lower() for n, _ in model.named_modules()]
    assert not any("aux" in n for n in names)
    size = model.spec.min_size + 32
    x = torch.from_numpy(reference_input(size)[:1])
    with torch.inference_mode():
        eager = model(x)
    assert type(eager) is torch.Tensor and eager.shape == (1, 1000)
    # The equality below is the check; trace's own re-run check triples the cost on the big nets.
    traced = torch.jit.trace(model, x, check_trace=False)
    with torch.inference_mode():
        assert torch.equal(traced(x), eager)
    if model_name in EVERY_FORMAT:
        # Scripted (BN folded, then frozen) and gated against eager by the every-format test.
        return
    scripted = torch.jit.script(model)
    with torch.inference_mode():
        assert torch.equal(scripted(x), eager)


@pytest.mark.parametrize("name", v1_fast(MODELS))
def test_minimum_size_runs_and_below_is_refused(name: str) -> None:
    spec = get_spec(name)
    model = synthetic_model(name)
    with torch.inference_mode():
        out = model(torch.zeros(1, 3, spec.min_size, spec.min_size))
        assert out.shape == (1, 1000) and torch.isfinite(out).all()
        if spec.min_size > 1:
            # The minimum is the smallest size that works, not a guess: one less cannot run.
            with pytest.raises(RuntimeError):
                model(torch.zeros(1, 3, spec.min_size - 1, spec.min_size - 1))
    with pytest.raises(UsageError, match=rf"minimum of {spec.min_size}x{spec.min_size}"):
        spec.check_size(spec.min_size - 1)


@pytest.mark.slow
def test_bn_inception_odd_feature_maps_refused_with_working_sizes() -> None:
    spec = get_spec("v2")
    model = build_model("v2")
    for size in (224, 225, 230, 255, 256, 299 + 20):
        if spec.size_check is not None and spec.size_check(size) is None:
            with torch.inference_mode():
                assert model(torch.zeros(1, 3, size, size)).shape == (1, 1000)
    # 231 really cannot concatenate its branches; the check says so and names sizes that work.
    with pytest.raises(RuntimeError):
        model(torch.zeros(1, 3, 231, 231))
    with pytest.raises(UsageError, match=r"nearest 230 or 255"):
        spec.check_size(231)


@pytest.mark.slow
def test_bn_inception_global_pool_is_size_agnostic() -> None:
    # At 256 Caffe's fixed 7x7 window would average only part of the 8x8 map.
    model = build_model("v2")
    x = torch.from_numpy(reference_input(256)[:1])
    with torch.inference_mode():
        out = model(x)
        feats: dict[str, torch.Tensor] = {}

        def keep_input(_m: torch.nn.Module, inp: tuple[torch.Tensor, ...], _out: torch.Tensor) -> None:
            feats["in"] = inp[0]

        model.global_pool.register_forward_hook(keep_input)
        model(x)
    assert feats["in"].shape[-1] == 8
    manual = model.last_linear(feats["in"].mean((2, 3)))
    torch.testing.assert_close(out, manual, rtol=1e-5, atol=1e-5)


def test_synthetic_seed_is_selectable() -> None:
    a = build_model("v1", seed=1).state_dict()["fc.weight"]
    b = build_model("v1", seed=1).state_dict()["fc.weight"]
    c = build_model("v1").state_dict()["fc.weight"]
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_registry_lists_all_with_metadata() -> None:
    specs = {s.name: s for s in list_specs()}
    assert set(MODELS) <= set(specs)
    assert specs["bn_inception"].preprocessing.colour_order == "BGR"
    assert specs["bn_inception"].preprocessing.value_range == (0.0, 255.0)
    assert specs["inception_v3"].preprocessing.crop == 299


# timm's eval transform: short side to floor(input / crop_pct), then the centre crop.
@pytest.mark.parametrize(("name", "crop_pct", "resize"), [("v4", 0.875, 341), ("irv2", 0.8975, 333)])
def test_timm_preprocessing(name: str, crop_pct: float, resize: int) -> None:
    spec = get_spec(name)
    pre = spec.preprocessing
    assert (pre.mean, pre.std, pre.colour_order, pre.value_range) == (
        (0.5, 0.5, 0.5),
        (0.5, 0.5, 0.5),
        "RGB",
        (0.0, 1.0),
    )
    assert (pre.crop, pre.resize, pre.interpolation) == (299, resize, "bicubic")
    assert pre.resize == int(299 / crop_pct) and spec.default_size == 299 and spec.layout == "timm"


@pytest.mark.parametrize("name", ["alexnet", "vgg16", "resnet50"])
def test_torchvision_baseline_preprocessing(name: str) -> None:
    spec = get_spec(name)
    pre = spec.preprocessing
    assert (pre.mean, pre.std) == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert (pre.resize, pre.crop, pre.interpolation, spec.default_size) == (256, 224, "bilinear", 224)
    assert spec.layout == "torchvision" and not spec.supports_transform_input


def test_maximum_input_size_named() -> None:
    for spec in list_specs():
        assert spec.max_input_size >= 2 * spec.default_size
        spec.check_size(spec.max_input_size)
        with pytest.raises(UsageError, match=f"maximum of {spec.max_input_size}x{spec.max_input_size}"):
            spec.check_size(spec.max_input_size + 1)
    res = run_cli_here("inspect", "-m", "v3", "--input-size", "10000")
    assert_one_line_error(res, 2, "above inception_v3's maximum of 1196x1196")
