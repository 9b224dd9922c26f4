"""INT8 on real learned weights and real labelled images: the GoogLeNet
``tools/train_digits.py`` trained on scikit-learn's digits, calibrated on training digits,
gated on the 359 held-out ones; a bad calibration (all-black images) fails the accuracy gate
with the drop named."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, run_cli_here

WEIGHTS = DATA / "digits_googlenet.safetensors"
RECORD = json.loads((DATA / "digits_googlenet.json").read_text())
SIZE = RECORD["input_size"]
CALIBRATION_COUNT = 100

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))


def _pictures(indices: list[int]) -> tuple[np.ndarray, np.ndarray]:
    from train_digits import digit_pictures, load

    images, labels = load()
    return digit_pictures(images[indices]), labels[indices]


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Held-out digits by class; calibration sets: training digits, and all-black pictures."""
    from PIL import Image

    root = tmp_path_factory.mktemp("int8-digits")
    held = set(RECORD["held_out_indices"])
    pics, labels = _pictures(RECORD["held_out_indices"])
    for i, pic, label in zip(RECORD["held_out_indices"], pics, labels, strict=True):
        (root / "held-out" / str(int(label))).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pic).save(root / "held-out" / str(int(label)) / f"{i:04d}.png")
    train = [i for i in range(1797) if i not in held]
    picks = [train[k] for k in np.linspace(0, len(train) - 1, CALIBRATION_COUNT).round().astype(int)]
    (root / "calibration").mkdir()
    for i, pic in zip(picks, _pictures(picks)[0], strict=True):
        Image.fromarray(pic).save(root / "calibration" / f"{i:04d}.png")
    (root / "black").mkdir()
    for i in range(8):
        Image.fromarray(np.zeros((SIZE, SIZE, 3), np.uint8)).save(root / "black" / f"{i}.png")
    return {
        "held_out": root / "held-out",
        "calibration": root / "calibration",
        "black": root / "black",
        "root": root,
    }


def _export(digits: dict[str, Path], calibration: str) -> Path:
    out = digits["root"] / f"int8-{calibration}.onnx"
    res = run_cli_here(
        "onnx", "--model", "v1", "--weights", str(WEIGHTS), "--input-size", str(SIZE), "--precision", "int8",
        "--calibration", str(digits[calibration]), "--calibration-samples", str(CALIBRATION_COUNT),
        "-o", str(out),
    )  # fmt: skip
    assert res.code == 0, res.stderr
    return out


def _parity(artifact: Path, held_out: Path) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    res = run_cli_here(
        "parity", "--model", "v1", "--weights", str(WEIGHTS), "--samples", "1", str(artifact),
        "--labelled-images", str(held_out), "--json",
    )  # fmt: skip
    return res.code, json.loads(res.stdout), res.stderr


@pytest.mark.slow
def test_int8_keeps_the_accuracy_of_trained_digits(digits: dict[str, Path]) -> None:
    artifact = _export(digits, "calibration")
    meta = json.loads(Path(f"{artifact}.json").read_text())
    assert meta["quantization"]["calibration"]["count"] == CALIBRATION_COUNT
    code, report, stderr = _parity(artifact, digits["held_out"])
    assert code == 0, stderr
    (art,) = report["artifacts"]
    acc = art["accuracy"]
    eager_top1 = acc["eager"]["top1"] if isinstance(acc["eager"], dict) else None
    assert eager_top1 is None or eager_top1 > 90.0, acc  # FP32 is high
    limit = report["limits"]["int8"]["accuracy_drop"]
    assert acc["drop_points"]["top1"] <= limit, acc
    checks = {c["name"]: c for c in art["checks"]}
    assert checks["top1_accuracy_drop"]["passed"], checks["top1_accuracy_drop"]
    print("INT8 digits:", json.dumps(acc))


@pytest.mark.slow
def test_int8_calibrated_on_black_images_fails_the_accuracy_gate(digits: dict[str, Path]) -> None:
    artifact = _export(digits, "black")
    code, report, stderr = _parity(artifact, digits["held_out"])
    assert code == 1, stderr
    (art,) = report["artifacts"]
    failed = {c["name"] for c in art["checks"] if not c["passed"]}
    assert "top1_accuracy_drop" in failed, art["checks"]
    line = next(ln for ln in stderr.splitlines() if ln.startswith("FAIL") and "top1_accuracy_drop" in ln)
    assert "exceeds limit" in line
    print("INT8 digits, black calibration:", json.dumps(art["accuracy"]))
