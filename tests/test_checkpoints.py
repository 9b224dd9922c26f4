"""Checkpoints of GoogLeNet, BN-Inception and Inception v3: users' files in the peers' layouts
load, and bad ones (wrong keys, dtypes, files, shapes) are refused in one line; ``inspect`` on them."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

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
)
from helpers import cli
from safetensors.torch import save_file
from typer.testing import CliRunner

from inception_export import build_model
from inception_export.cli.app import app
from inception_export.errors import WeightsError
from inception_export.full.synthetic import synthetic_state_dict


def peer_checkpoint(name: str) -> dict[str, torch.Tensor]:
    """A checkpoint in the peer's full layout (aux heads included), with the reference weights."""
    return synthetic_state_dict(reference_layout(name))


def _run(model: torch.nn.Module) -> np.ndarray:
    x = torch.from_numpy(reference_input(model.spec.default_size))
    with torch.inference_mode():
        return model(x).numpy()


@pytest.mark.parametrize(
    ("name", "aux"),
    [
        ("googlenet", ("aux1", "aux2")),
        pytest.param("inception_v3", ("AuxLogits",), marks=pytest.mark.slow),
        pytest.param("bn_inception", (), marks=pytest.mark.slow),
    ],
)
def test_peer_layout_loads_and_matches(name: str, aux: tuple[str, ...], tmp_path: Path) -> None:
    state = peer_checkpoint(name)
    assert any(k.startswith(aux) for k in state) == bool(aux)
    path = tmp_path / "peer.pth"
    torch.save(state, path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = build_model(name, path)
    aux_notes = [w for w in caught if "auxiliary" in str(w.message)]
    assert len(aux_notes) == (1 if aux else 0)  # reported once, not per key
    for prefix in aux:
        assert prefix in str(aux_notes[0].message)
    assert rel_l2(_run(model), reference_logits(name)["logits"]) <= 1e-5


@pytest.mark.parametrize(
    "wrapper",
    [
        "bare",
        *(
            pytest.param(w, marks=pytest.mark.slow)
            for w in ("state_dict", "model", "module_prefix", "safetensors")
        ),
    ],
)
def test_training_script_shapes(wrapper: str, tmp_path: Path) -> None:
    state = peer_checkpoint("bn_inception")
    path = tmp_path / ("w.safetensors" if wrapper == "safetensors" else "w.pt")
    if wrapper == "safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    elif wrapper == "module_prefix":
        torch.save({f"module.{k}": v for k, v in state.items()}, path)
    elif wrapper == "bare":
        torch.save(state, path)
    else:
        torch.save({wrapper: state, "epoch": 3, "optimizer": {"lr": torch.tensor(0.1)}}, path)
    model = build_model("v2", path)
    assert rel_l2(_run(model), reference_logits("bn_inception")["logits"]) <= 1e-5


def test_num_classes_inferred_from_a_fine_tuned_checkpoint(tmp_path: Path) -> None:
    state = peer_checkpoint("googlenet")
    state["fc.weight"] = state["fc.weight"][:10].clone()
    state["fc.bias"] = state["fc.bias"][:10].clone()
    path = tmp_path / "ft10.pth"
    torch.save(state, path)
    model = build_model("v1", path)
    out = _run(model)
    assert out.shape == (2, 10)
    # The first 10 classes of the 1000-class reference: same trunk, truncated head.
    np.testing.assert_allclose(out, reference_logits("googlenet")["logits"][:, :10], rtol=1e-4, atol=1e-4)
    with pytest.raises(WeightsError, match="10 classes"):
        build_model("v1", path, num_classes=1000)


@pytest.mark.slow
def test_state_dict_round_trip_uses_checkpoint_names() -> None:
    model = build_model("v2")
    keys = [k for k, _ in reference_layout("bn_inception")]
    assert list(model.state_dict()) == keys
    fresh = build_model("v2", seed=7)
    fresh.load_state_dict(model.state_dict())
    assert rel_l2(_run(fresh), reference_logits("bn_inception")["logits"]) <= 1e-5


# ---- bad input through the real CLI: one line, exit 2, no traceback -------------------------


def test_cli_unknown_model() -> None:
    assert_one_line_error(
        run_cli("inspect", "--model", "v9"), 2, "unknown model", "googlenet", "inception_v3"
    )


def test_cli_missing_file(tmp_path: Path) -> None:
    assert_one_line_error(
        run_cli_here("inspect", "-m", "v1", "-w", str(tmp_path / "nope.pth")), 2, "not found"
    )


def test_cli_corrupt_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"this is not a checkpoint" * 10)
    assert_one_line_error(run_cli_here("inspect", "-m", "v1", "-w", str(junk)), 2, "corrupt")
    good = tmp_path / "good.pth"
    torch.save(build_model("v1").state_dict(), good)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert_one_line_error(run_cli_here("inspect", "-m", "v1", "-w", str(truncated)), 2, "corrupt")
    bad_st = tmp_path / "bad.safetensors"
    bad_st.write_bytes(b"\x00" * 64)
    assert_one_line_error(run_cli_here("inspect", "-m", "v1", "-w", str(bad_st)), 2, "corrupt")


def test_cli_other_architecture_names_keys(tmp_path: Path) -> None:
    path = tmp_path / "v1.pth"
    torch.save(build_model("v1").state_dict(), path)
    # googlenet weights offered to v3: the shared 'fc' key exists but the trunk does not.
    res = run_cli_here("inspect", "-m", "v3", "-w", str(path))
    assert_one_line_error(
        res, 2, "not a checkpoint for inception_v3", "missing Conv2d_1a_3x3", "unexpected conv1"
    )
    state = build_model("v3").state_dict()
    state["Mixed_5b.branch1x1.conv.weight"] = torch.zeros(3, 3, 1, 1)
    torch.save(state, path)
    res = run_cli_here("inspect", "-m", "v3", "-w", str(path))
    assert_one_line_error(res, 2, "mis-shaped Mixed_5b.branch1x1.conv.weight (3, 3, 1, 1) vs (64, 192, 1, 1)")


def test_cli_classifier_of_the_wrong_rank_is_named_not_missing(tmp_path: Path) -> None:
    # A 3-D fc.weight was reported as a "missing" classifier.
    path = tmp_path / "fc3d.pth"
    torch.save({"fc.weight": torch.zeros(10, 1024, 1), "fc.bias": torch.zeros(10)}, path)
    res = run_cli_here("inspect", "-m", "v1", "-w", str(path))
    assert_one_line_error(res, 2, "classifier 'fc.weight' has shape (10, 1024, 1)", "2-D")
    assert "missing" not in res.stderr


class Payload:
    """Anything that is not a tensor container: weights_only must refuse to unpickle it."""


def test_cli_pickle_refused_by_weights_only(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"fc.weight": torch.zeros(2, 2), "payload": Payload()}, path)
    assert_one_line_error(run_cli_here("inspect", "-m", "v1", "-w", str(path)), 2, "weights_only", "Payload")


def test_cli_input_too_small() -> None:
    assert_one_line_error(run_cli_here("inspect", "-m", "v3", "--input-size", "74"), 2, "minimum of 75x75")
    assert_one_line_error(run_cli_here("inspect", "-m", "v2", "--input-size", "231"), 2, "even feature map")


@pytest.mark.slow
def test_cli_models_json_and_aux_note(tmp_path: Path) -> None:
    import json

    res = run_cli("models", "--json")
    assert res.code == 0
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert (
        rows["googlenet"]["aliases"][0] == "v1"
        and rows["bn_inception"]["preprocessing"]["colour_order"] == "BGR"
    )
    path = tmp_path / "tv.pth"
    torch.save(peer_checkpoint("googlenet"), path)
    res = run_cli("inspect", "-m", "v1", "-w", str(path), "--json")
    assert res.code == 0, res.stderr
    assert json.loads(res.stdout)["dropped_aux_keys"] == 20
    assert res.stderr.count("auxiliary") == 1


def test_inspect_table_escapes_a_weights_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch
    from conftest import synthetic_model

    weights = tmp_path / "w\x1b[31m[bold]red\n.pth"
    torch.save(synthetic_model("googlenet").state_dict(), weights)
    code, out, err = cli("inspect", "-m", "v1", "--weights", weights, capsys=capsys)
    assert code == 0, err
    assert "\x1b" not in out and "w\\x1b[31m[bold]red\\n.pth" in "".join(out.split())


@pytest.fixture(scope="module")
def v1_state() -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in build_model("v1").state_dict().items()}


def _logits(model: torch.nn.Module) -> torch.Tensor:
    x = torch.linspace(-2, 2, 3 * 64 * 64).reshape(1, 3, 64, 64)
    with torch.inference_mode():
        return model(x)


def test_integer_weights_refused(v1_state: dict[str, torch.Tensor], tmp_path: Path) -> None:
    state = dict(v1_state)
    state["conv1.conv.weight"] = state["conv1.conv.weight"].to(torch.int64)
    state["fc.bias"] = state["fc.bias"] > 0
    path = tmp_path / "int.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"integer or boolean tensors.*conv1\.conv\.weight \(int64\)"):
        build_model("v1", path)
    res = run_cli_here("inspect", "-m", "v1", "--weights", str(path))
    assert_one_line_error(res, 2, "integer or boolean", "fc.bias (bool)")


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64])
def test_other_float_widths_converted_with_a_note(
    dtype: torch.dtype, v1_state: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    path = tmp_path / "w.pth"
    torch.save({k: (v.to(dtype) if v.is_floating_point() else v) for k, v in v1_state.items()}, path)
    with pytest.warns(UserWarning, match=f"converted .* {str(dtype)[6:]} tensors to float32"):
        model = build_model("v1", path)
    reference = _logits(build_model("v1"))
    rel = float((_logits(model) - reference).norm() / reference.norm())
    assert rel < (2e-3 if dtype == torch.float16 else 1e-6), rel
    assert next(model.parameters()).dtype == torch.float32


def test_safetensors_named_pth_loads_by_content(v1_state: dict[str, torch.Tensor], tmp_path: Path) -> None:
    path = tmp_path / "weights.pth"
    save_file(v1_state, str(path))
    assert torch.equal(_logits(build_model("v1", path)), _logits(build_model("v1")))


def test_weights_messages(v1_state: dict[str, torch.Tensor], tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="is a directory"):
        build_model("v1", tmp_path)

    class Evil:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            return (os.system, ("true",))

    cases = {
        "reduce.pth": {"state_dict": v1_state, "hook": Evil()},  # a blocked function
        # A harmless class that is not on the allow-list (argparse.Namespace is: timm's
        # train.py saves one, tests/test_checkpoints_families.py loads it).
        "fraction.pth": {"state_dict": v1_state, "lr": __import__("fractions").Fraction(1, 10)},
    }
    for name, obj in cases.items():
        torch.save(obj, tmp_path / name)
        with pytest.raises(WeightsError, match=r"refused by torch\.load\(weights_only=True\)"):
            build_model("v1", tmp_path / name)
    scripted = tmp_path / "exported.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(scripted))
    with pytest.raises(WeightsError, match=r"TorchScript archive .* not a checkpoint"):
        build_model("v1", scripted)


def test_weights_directory_and_output_directory_cli(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["inspect", "-m", "v1", "--weights", str(tmp_path)])
    assert res.exit_code == 2 and "is a directory" in res.stderr, res.stderr
    res = CliRunner().invoke(app, ["onnx", "-m", "v1", "-o", str(tmp_path)])
    assert res.exit_code == 2 and "is a directory" in res.stderr and "--force" not in res.stderr, res.stderr
    res = CliRunner().invoke(app, ["onnx", "-m", "v1", "-o", str(tmp_path), "--force"])
    assert res.exit_code == 2 and "is a directory" in res.stderr, res.stderr
