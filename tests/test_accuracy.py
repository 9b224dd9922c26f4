"""``parity --labelled-images``: accuracy of eager PyTorch and each artifact on real labelled
images, with real learned weights (GoogLeNet trained on scikit-learn's digits by
``tools/train_digits.py``; the weights are in tests/data, 11 MB)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from conftest import DATA, assert_one_line_error, run_cli, run_cli_here
from onnx import numpy_helper

WEIGHTS = DATA / "digits_googlenet.safetensors"
RECORD = json.loads((DATA / "digits_googlenet.json").read_text())
SIZE = RECORD["input_size"]

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))


def _write_digits(root: Path, indices: list[int], folder_of: Any = str) -> Path:
    """The held-out digits as the PNG pictures the training tool made of them, one folder per class."""
    from PIL import Image
    from train_digits import digit_pictures, load

    images, labels = load()
    pictures = digit_pictures(images[indices])
    for i, pic, label in zip(indices, pictures, labels[indices], strict=True):
        folder = root / folder_of(int(label))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pic).save(folder / f"{i:04d}.png")
    return root


@pytest.fixture(scope="module")
def held_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All 359 held-out digits (what the training tool's accuracy figure is over)."""
    return _write_digits(tmp_path_factory.mktemp("digits") / "held-out", RECORD["held_out_indices"])


@pytest.fixture(scope="module")
def held_out_few(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six held-out digits per class, for the tests that need a labelled set, not its size."""
    from train_digits import load

    _, target = load()
    picks = [i for c in range(10) for i in [j for j in RECORD["held_out_indices"] if target[j] == c][:6]]
    return _write_digits(tmp_path_factory.mktemp("digits") / "few", picks)


@pytest.fixture(scope="module")
def digits_onnx(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from inception_export import build_model
    from inception_export.full.export import export_onnx_pair

    out = tmp_path_factory.mktemp("digits-onnx")
    model = build_model("v1", WEIGHTS)
    fp32, fp16 = export_onnx_pair(
        "v1", out / "fp32.onnx", out / "fp16.onnx", input_size=SIZE, model_obj=model, weights=WEIGHTS
    )
    return {"fp32": fp32.path, "fp16": fp16.path}


def _parity(*args: str | Path) -> Any:
    return run_cli_here(
        "parity", "--model", "v1", "--weights", str(WEIGHTS), "--samples", "1", *map(str, args)
    )


@pytest.mark.slow  # two exports and three runs over 359 images: ~25 s quiet
def test_fp32_and_fp16_accuracy_against_eager(digits_onnx: dict[str, Path], held_out: Path) -> None:
    res = _parity(digits_onnx["fp32"], digits_onnx["fp16"], "--labelled-images", held_out, "--json")
    assert res.code == 0, res.stderr
    report = json.loads(res.stdout)
    labelled = report["labelled_images"]
    assert labelled["images"] == RECORD["held_out_count"] == 359
    assert labelled["classes_present"] == 10
    eager = labelled["eager"][str(SIZE)]
    # The images went to PNG files and back through the tool's reader and the model's recipe:
    # eager PyTorch must score exactly what the training tool measured on the same pictures.
    assert eager["top1"] == pytest.approx(100 * RECORD["accuracy_fp32"]["held_out_top1"], abs=1e-3)
    assert eager["top1"] >= 95.0
    fp32, fp16 = report["artifacts"]
    assert fp32["accuracy"]["artifact"] == eager
    assert fp32["accuracy"]["drop_points"] == {"top1": 0.0, "top5": 0.0}
    assert fp32["accuracy"]["flipped_top1"] == 0
    limit = report["limits"]["fp16"]["accuracy_drop"]
    assert fp16["accuracy"]["drop_points"]["top1"] <= limit
    names = {c["name"]: c for c in fp16["checks"]}
    assert names["top1_accuracy_drop"]["passed"] and names["top1_accuracy_drop"]["limit"] == limit
    assert "eager PyTorch top-1" in res.stderr  # the human table, on stderr with --json


def _break_classifier(src: Path, dst: Path) -> Path:
    """Swap the classifier rows of digits 3 and 8: a plausible wiring bug that keeps the
    logits' statistics and moves one class's accuracy to the other."""
    model = onnx.load(str(src))
    gemm = [n for n in model.graph.node if n.op_type in ("Gemm", "MatMul")][-1]
    inits = {i.name: i for i in model.graph.initializer}
    w = numpy_helper.to_array(inits[gemm.input[1]]).copy()
    rows = (3, 8)
    if w.shape[0] == 10:  # Gemm transB: (classes, features)
        w[list(rows)] = w[list(rows[::-1])]
    else:  # MatMul: (features, classes)
        w[:, list(rows)] = w[:, list(rows[::-1])]
    inits[gemm.input[1]].CopyFrom(numpy_helper.from_array(w, gemm.input[1]))
    onnx.save(model, str(dst))
    return dst


@pytest.mark.slow
def test_broken_artifact_fails_the_accuracy_gate(
    digits_onnx: dict[str, Path], held_out_few: Path, tmp_path: Path
) -> None:
    broken = _break_classifier(digits_onnx["fp32"], tmp_path / "broken.onnx")
    res = _parity(broken, "--labelled-images", held_out_few)
    assert res.code == 1, res.stderr
    fail = [ln for ln in res.stderr.splitlines() if "top1_accuracy_drop" in ln]
    assert fail and "points (top1 accuracy" in fail[0], res.stderr
    # The 3s and 8s are 12 of the 60 images: a fifth of the accuracy goes.
    drop = float(fail[0].split("top1_accuracy_drop = ")[1].split()[0])
    assert drop == pytest.approx(20.0), fail[0]


@pytest.mark.slow
def test_golden_reports_absolute_accuracy_only(
    digits_onnx: dict[str, Path], held_out_few: Path, tmp_path: Path
) -> None:
    bundle = tmp_path / "golden.npz"
    made = run_cli_here(
        "golden", "--model", "v1", "--weights", str(WEIGHTS), "--input-size", str(SIZE),
        "--samples", "1", "-o", str(bundle),
    )  # fmt: skip
    assert made.code == 0, made.stderr
    res = run_cli_here(
        "parity", "--golden", str(bundle), str(digits_onnx["fp32"]), "--labelled-images", str(held_out_few),
        "--json",
    )  # fmt: skip
    assert res.code == 0, res.stderr
    report = json.loads(res.stdout)
    acc = report["artifacts"][0]["accuracy"]
    assert acc["eager"] is None and acc["drop_points"] is None and "no eager reference" in acc["note"]
    assert acc["artifact"] == {"top1": 100.0, "top5": 100.0, "images": 60}
    assert not [c for c in report["artifacts"][0]["checks"] if "accuracy" in c["name"]]
    assert "drop not gated" in res.stderr
    # Progress counts what the golden gate does: the images read, one step per artifact, and no
    # eager PyTorch on them (a bundle has no model to run).
    from inception_export.console import Steps
    from inception_export.parity.gate import run_golden_gate

    steps = Steps()
    run_golden_gate(bundle, [digits_onnx["fp32"]], labelled_images=held_out_few, progress=steps)
    assert (steps.done, steps.total) == (6, 6)  # the bundle, three for the artifact, two labelled
    # The device role has no torch to resize images with: one line, exit 2. (A stand-in torch
    # that refuses to import, first on the path, as tests/test_golden.py does.)
    fake = tmp_path / "site" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('torch is not installed (stand-in)')\n")
    res = run_cli(
        "parity", "--golden", str(bundle), str(digits_onnx["fp32"]), "--labelled-images", str(held_out_few),
        env={"PYTHONPATH": str(fake.parent)},
    )  # fmt: skip
    assert_one_line_error(res, 2, "--labelled-images needs PyTorch and Pillow", "pip install '.[full]'")


# --- bad input: one line, exit 2 ------------------------------------------------------------


@pytest.fixture(scope="module")
def any_onnx(shared_exports: Any) -> Path:
    """The session's v1 ONNX (1,000 classes, shared): the class checks run against the digits
    weights (10 classes) before any artifact is compared, so any valid ONNX will do."""
    return Path(shared_exports("v1", "onnx").path)


def _tiny(root: Path, folders: list[str]) -> Path:
    """Two held-out digits per named folder (class = the folder's position)."""
    labels = np.asarray(RECORD["held_out_indices"])
    from train_digits import load

    _, target = load()
    for pos, name in enumerate(folders):
        picks = [int(i) for i in labels if target[i] == pos % 10][:2]
        _write_digits(root, picks, lambda _label, name=name: name)
    return root


@pytest.mark.parametrize(
    ("folders", "extra", "needle"),
    [
        ([str(i) for i in range(11)], [], "11 class folders; the model has 10"),
        (["0", "1", "12"], [], "folder '12' is class 12; the model has 10 classes (0..9)"),
        (["0", "cat"], [], "folder 'cat' is not a class index"),
        (["zero", "one"], ["names:9"], "--class-names lists 9 classes; the model has 10"),
        (["zero", "eleven"], ["names:10"], "folder 'eleven' is not a class name"),
        # int64 labels overflowed (exit 3) on a 23-digit folder name.
        (["0", "99999999999999999999999"], [], "beyond any model's classes"),
    ],
)
def test_labelled_folders_that_do_not_match_the_classes(
    any_onnx: Path, tmp_path: Path, folders: list[str], extra: list[str], needle: str
) -> None:
    root = _tiny(tmp_path / "set", folders)
    args: list[str | Path] = [any_onnx, "--labelled-images", root]
    for e in extra:
        n = int(e.split(":")[1])
        names = tmp_path / "names.txt"
        words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
        names.write_text("\n".join(words[:n]) + "\n")
        args += ["--class-names", names]
    assert_one_line_error(_parity(*args), 2, needle)


def test_empty_class_folder(any_onnx: Path, tmp_path: Path) -> None:
    root = _tiny(tmp_path / "empty", ["0", "1"])
    (root / "2").mkdir()
    assert_one_line_error(
        _parity(any_onnx, "--labelled-images", root),
        2,
        f"class folder {root / '2'} holds no image",
    )


@pytest.mark.slow  # the images are read once an artifact of the model's classes runs
def test_unreadable_labelled_image(digits_onnx: dict[str, Path], tmp_path: Path) -> None:
    root = _tiny(tmp_path / "unreadable", ["0", "1"])
    (root / "1" / "zz.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    assert_one_line_error(
        _parity(digits_onnx["fp32"], "--labelled-images", root), 2, "zz.png: cannot read image"
    )


def test_labelled_argument_checks(tmp_path: Path) -> None:
    names = tmp_path / "names.txt"
    names.write_text("a\n\nb\n")
    formfeed = tmp_path / "formfeed.txt"
    formfeed.write_text("a\nb\fc\n")
    root = tmp_path / "set"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    missing = tmp_path / "nope"
    cases = [
        (["--labelled-images", missing], "--labelled-images"),
        (["--class-names", names], "--class-names names the folders of --labelled-images"),
        (["--labelled-images", root, "--class-names", names], "line 2 is blank"),
        # splitlines broke "b\fc" into two names, shifting every class after it.
        (["--labelled-images", root, "--class-names", formfeed], "line 2 holds the control character \\x0c"),
        (["--labelled-images", root], "folder 'a' is not a class index"),
    ]
    for args, needle in cases:
        res = _parity(tmp_path / "missing.onnx", *args)
        assert_one_line_error(res, 2, needle)


def test_accuracy_drop_in_a_profile_file(tmp_path: Path) -> None:
    from inception_export.errors import UsageError
    from inception_export.parity.tolerances import load_profile

    assert load_profile("default")["fp32"].accuracy_drop == 0.0
    assert load_profile("default")["fp16"].accuracy_drop == 0.3
    good = tmp_path / "p.toml"
    good.write_text("[fp16]\naccuracy_drop = 0.5\n")
    assert load_profile(str(good))["fp16"].accuracy_drop == 0.5
    bad = tmp_path / "bad.toml"
    bad.write_text("[fp16]\naccuracy_drop = -1\n")
    with pytest.raises(UsageError, match="must not be negative"):
        load_profile(str(bad))


def test_top1_top5_hits_and_points() -> None:
    from inception_export.parity.accuracy import Accuracy

    logits = np.array(
        [
            [0.0, 9.0, 1.0, 2.0, 3.0, 4.0, 5.0],  # label 1: top-1
            [9.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0],  # label 1: last, not in the top 5
            [9.0, 5.0, 1.0, 2.0, 3.0, 4.0, 8.0],  # label 1: 3rd, in the top 5
            [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # label 1: tied with class 0 for the top: a tie is a hit
            [3.0, 1.0, 5.0, 4.0, 2.0, 0.0, 1.0],  # label 1: tied for 5th with class 6: in the top 5
            [3.0, -1.0, 5.0, 4.0, 2.0, 0.0, 1.0],  # label 1: 7th
        ],
        np.float32,
    )
    acc = Accuracy.of(logits, np.array([1, 1, 1, 1, 1, 1]))
    assert acc.top1_hits.tolist() == [True, False, False, True, False, False]
    assert acc.top5_hits.tolist() == [True, False, True, True, True, False]
    assert (acc.top1, acc.top5) == (pytest.approx(100 / 3), pytest.approx(400 / 6))
    # Fewer than five classes: top-5 is every class.
    assert Accuracy.of(np.eye(3, dtype=np.float32), np.array([2, 1, 0])).top5 == 100.0
