"""The gate passes honest artifacts and fails broken ones, naming the metric; tolerance profiles
are checked as input; the numbers its messages show keep the digits that tell value from limit."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import ExportFn, assert_one_line_error, run_cli, run_cli_here
from onnx import numpy_helper

from inception_export import build_model, get_spec
from inception_export.errors import UsageError
from inception_export.full.eager import run_gate
from inception_export.full.export import export_onnx
from inception_export.full.golden import golden_inputs
from inception_export.parity import compare, load_profile
from inception_export.parity.numfmt import failure_message, near_one, value_vs_limit
from inception_export.parity.tolerances import PROFILES, ToleranceProfile


@pytest.fixture(scope="module")
def v1_artifacts(shared_exports: ExportFn) -> dict[str, Path]:
    # v1's TorchScript, FP32 and FP16 ONNX, exported once per session (conftest.py).
    return {
        "ts": shared_exports("v1", "torchscript").path,
        "fp32": shared_exports("v1", "onnx").path,
        "fp16": shared_exports("v1", "onnx", "fp16").path,
    }


def _edit_onnx(src: Path, dst: Path, edit: object) -> Path:
    model = onnx.load(str(src))
    inits = {i.name: i for i in model.graph.initializer}
    edit(model, inits)  # type: ignore[operator]
    onnx.save(model, str(dst))
    return dst


def _conv_weights(model: onnx.ModelProto) -> list[str]:
    return [n.input[1] for n in model.graph.node if n.op_type == "Conv"]


def _set(inits: dict[str, onnx.TensorProto], name: str, value: np.ndarray) -> None:
    inits[name].CopyFrom(
        numpy_helper.from_array(value.astype(numpy_helper.to_array(inits[name]).dtype), name)
    )


def _classifier(model: onnx.ModelProto) -> tuple[str, str]:
    gemm = [n for n in model.graph.node if n.op_type in ("Gemm", "MatMul")][-1]
    adds = [n for n in model.graph.node if n.op_type == "Add" and n.input[0] == gemm.output[0]]
    bias = gemm.input[2] if gemm.op_type == "Gemm" else adds[0].input[1]
    return gemm.input[1], bias


def scale_one_conv(model: onnx.ModelProto, inits: dict[str, onnx.TensorProto]) -> None:
    name = _conv_weights(model)[10]
    _set(inits, name, numpy_helper.to_array(inits[name]) * 1.03)


def _top2_of_first_input() -> list[int]:
    import torch

    x = golden_inputs(get_spec("v1"), 224, samples=1).batch[:1]
    with torch.inference_mode():
        logits = build_model("v1")(torch.from_numpy(x))[0]
    return [int(i) for i in torch.topk(logits, 2).indices]


def swap_two_classes(model: onnx.ModelProto, inits: dict[str, onnx.TensorProto]) -> None:
    # The two classes that decide the first input: a label-order bug that matters.
    idx = _top2_of_first_input()
    w_name, b_name = _classifier(model)
    w, b = numpy_helper.to_array(inits[w_name]).copy(), numpy_helper.to_array(inits[b_name]).copy()
    # Gemm may hold W as (classes, features) with transB=1, MatMul as (features, classes).
    axis = 0 if w.shape[0] == b.shape[0] else 1
    w = np.swapaxes(w, 0, axis)
    w[idx] = w[idx[::-1]]
    b[idx] = b[idx[::-1]]
    _set(inits, w_name, np.swapaxes(w, 0, axis))
    _set(inits, b_name, b)


def overflow_fp16(model: onnx.ModelProto, inits: dict[str, onnx.TensorProto]) -> None:
    # A conv whose outputs exceed float16's 65504: what an unscaled FP16 conversion of a
    # large-activation layer does.
    name = _conv_weights(model)[2]
    _set(inits, name, numpy_helper.to_array(inits[name]).astype(np.float32) * 3e4)


@pytest.fixture(scope="module")
def broken(v1_artifacts: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("broken")
    out = {
        "scaled_conv": _edit_onnx(v1_artifacts["fp32"], d / "scaled-conv.onnx", scale_one_conv),
        "swapped_classes": _edit_onnx(v1_artifacts["fp32"], d / "swapped.onnx", swap_two_classes),
        "fp16_overflow": _edit_onnx(v1_artifacts["fp16"], d / "overflow-fp16.onnx", overflow_fp16),
    }
    # BN folded with BatchNorm2d's default eps (1e-5) instead of the checkpoint's 1e-3.
    wrong_eps = build_model("v1")
    for m in wrong_eps.modules():
        if hasattr(m, "eps") and hasattr(m, "running_var"):
            m.eps = 1e-5
    out["bn_eps"] = export_onnx("v1", d / "bn-eps.onnx", model_obj=wrong_eps).path
    out["transform_input"] = export_onnx(
        "v1", d / "ti.onnx", model_obj=build_model("v1", transform_input=True), transform_input=True
    ).path
    for path in out.values():
        # Sidecars from the honest export travel with the copies, as they would in practice.
        src = v1_artifacts["fp16" if "fp16" in path.name else "fp32"]
        side = path.with_name(path.name + ".json")
        if not side.exists():
            side.write_text(src.with_name(src.name + ".json").read_text())
    return out


def test_metrics_against_known_values() -> None:
    ref = np.array([[1.0, 2.0, 3.0, 0.0, -1.0, 0.5]])
    same = compare(ref, ref)
    assert same.rel_l2 == 0 and same.max_abs == 0 and same.top1_agreement == 1 and same.max_kl == 0
    assert same.min_cosine == pytest.approx(1.0)
    off = compare(ref, ref + np.array([[0, 0, 0, 0, 0, 0.3]]))
    assert off.max_abs == pytest.approx(0.3) and off.rel_l2 == pytest.approx(0.3 / np.linalg.norm(ref))
    swapped = compare(ref, ref[:, [0, 1, 3, 2, 4, 5]])
    assert swapped.top1_agreement == 0 and swapped.max_kl > 0.5
    nan = compare(ref, np.where(np.arange(6) == 2, np.nan, ref))
    assert nan.nonfinite == 1 and nan.rel_l2 == float("inf")


def test_topk_metrics_treat_ties_as_ties() -> None:
    """A class is in a top-k when its value is at least the k-th largest: an artifact whose top-5
    is the reference's up to tied values agrees; a real change of rank still counts."""
    from inception_export.parity.metrics import topk_agreement

    # Saturated softmax: the reference (float64) keeps a strict tail, the artifact's float32
    # probabilities are exactly 0 past its top 3, so its 4th and 5th are any of 997 tied classes.
    ref = np.zeros((2, 1000))
    ref[:, [7, 3, 9]] = [0.7, 0.2, 0.1]
    ref[:, [500, 800]] = [1e-40, 1e-41]
    out = np.where(ref >= 1e-3, ref, 0.0).astype(np.float32)
    assert (out == 0).sum() == 2 * 997
    tied = compare(ref, out)
    assert (tied.top5_overlap, tied.top1_agreement) == (1.0, 1.0)
    # Ties for the top on either side: the same class may be first on both.
    both = np.array([[5.0, 5.0, 1.0, 0.0, 0.0, 0.0, -1.0]])
    assert compare(both, np.array([[4.9, 5.1, 1.0, 0.0, 0.0, 0.0, -1.0]])).top1_agreement == 1.0
    # A class that is strictly 5th in the reference and strictly out of the artifact's top 5.
    strict = np.array([[9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 0.0]])
    moved = np.array([[9.0, 8.0, 7.0, 6.0, 3.0, 4.0, 0.0]])
    assert topk_agreement(strict, moved, 5).tolist() == [0.8]
    assert compare(strict, moved[:, [1, 0, 2, 3, 4, 5, 6]]).top1_agreement == 0.0
    # Ties on both sides share the places left: 3 sure + 2 of the tied (4 each) can all agree.
    r = np.array([[9.0, 8.0, 7.0, 1.0, 1.0, 1.0, 1.0, 0.0]])
    o = np.array([[9.0, 8.0, 7.0, 0.0, 2.0, 2.0, 2.0, 2.0]])  # class 3 drops, 7 joins the tie
    assert topk_agreement(r, o, 5).tolist() == [1.0]
    assert topk_agreement(r, np.array([[9.0, 8.0, 7.0, 0.0, 0.0, 0.0, 2.0, 2.0]]), 5).tolist() == [0.8]


@pytest.mark.slow
def test_saturated_bn_inception_agrees_with_itself() -> None:
    """Synthetic BN-Inception (v2) on the gate's pixel inputs saturates the softmax (hundreds of
    probabilities exactly 0 in float32): its own float32 softmax agrees with the float64 one.
    Ordering the ties (argsort) gave a top-5 overlap of 0.725, under the 0.75 limit."""
    import torch
    from conftest import synthetic_model

    from inception_export.full.eager import EagerReference
    from inception_export.parity.metrics import log_softmax

    reference = EagerReference("v2", samples=2, reference_model=synthetic_model("v2"))
    reference.load(lambda _msg: None)
    logits = reference.inputs(224, True, lambda _msg: None).logits
    ref = np.exp(log_softmax(logits.astype(np.float64)))
    out = torch.softmax(torch.from_numpy(logits.astype(np.float32)), 1).numpy()
    assert ((out == 0).sum(1) > 900).sum() >= 4  # saturated: most probabilities exactly 0
    metrics = compare(ref, out)
    assert (metrics.top1_agreement, metrics.top5_overlap) == (1.0, 1.0)


def test_golden_inputs_are_deterministic_and_cover_kinds() -> None:
    spec = get_spec("v2")
    a = golden_inputs(spec, 224, samples=3)
    b = golden_inputs(spec, 224, samples=3)
    assert a.describe() == b.describe()
    assert a.kinds.count("random") == 3 and a.kinds.count("edge") == 4 and a.kinds.count("photo") == 3
    low, high = (np.array(v) for v in spec.preprocessing.normalised_bounds())
    # BN-Inception's BGR 0-255 range: the saturated inputs sit exactly at its extremes, per channel.
    sat = a.batch[a.names.index("saturated-high")]
    np.testing.assert_allclose(sat[:, 0, 0], high)
    assert a.batch.min() >= low.min() - 1e-4 and a.batch.max() <= high.max() + 1e-4


def test_honest_artifacts_pass(v1_artifacts: dict[str, Path], tmp_path: Path) -> None:
    junit = tmp_path / "parity.xml"
    res = run_cli(
        "parity",
        "--model",
        "v1",
        str(v1_artifacts["ts"]),
        str(v1_artifacts["fp32"]),
        str(v1_artifacts["fp16"]),
        "--json",
        "--junit",
        str(junit),
        "--samples",
        "3",
    )
    assert res.code == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["passed"] and report["exit_code"] == 0
    by_prec = {(a["format"], a["precision"]): a["metrics"] for a in report["artifacts"]}
    assert by_prec[("torchscript", "fp32")]["rel_l2"] < 2e-6
    assert by_prec[("onnx", "fp32")]["rel_l2"] < 2e-6
    assert 1e-5 < by_prec[("onnx", "fp16")]["rel_l2"] < 5e-3  # really computed in FP16
    assert all(a["batch_sizes"] == [1, len(report["inputs"])] for a in report["artifacts"])
    kinds = {i["kind"] for i in report["inputs"]}
    assert kinds == {"random", "edge", "photo"}
    suites = ET.parse(junit).getroot()
    assert suites.get("failures") == "0" and int(suites.get("tests", 0)) == 3 * 9
    assert "parity gate" in res.stderr and "PASS" in res.stderr


@pytest.mark.parametrize(
    ("case", "metric"),
    [
        ("scaled_conv", "rel_l2"),
        ("bn_eps", "rel_l2"),
        ("fp16_overflow", "finite"),
        ("swapped_classes", "top1_agreement"),
        ("transform_input", "rel_l2"),
    ],
)
def test_broken_artifact_fails_gate(case: str, metric: str, broken: dict[str, Path]) -> None:
    report = run_gate("v1", [broken[case]], samples=3)
    assert not report.passed
    failed = {c.name for c in report.artifacts[0].failures}
    assert metric in failed, failed


def test_broken_artifacts_exit_1_with_junit(broken: dict[str, Path], tmp_path: Path) -> None:
    junit = tmp_path / "j.xml"
    res = run_cli(
        "parity",
        "-m",
        "v1",
        str(broken["scaled_conv"]),
        str(broken["fp16_overflow"]),
        "--junit",
        str(junit),
        "--samples",
        "2",
    )
    assert res.code == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert "rel_l2 = " in res.stderr and "exceeds limit 1e-05" in res.stderr
    assert "NaN/Inf" in res.stderr
    failures = ET.parse(junit).getroot().findall(".//failure")
    messages = [f.get("message", "") for f in failures]
    assert any(m.startswith("rel_l2 = ") for m in messages)
    assert any(f.get("type") == "finite" for f in failures)


def test_tolerance_profile_file_overrides(broken: dict[str, Path], tmp_path: Path) -> None:
    loose = tmp_path / "loose.toml"
    loose.write_text(
        "[fp32]\nrel_l2 = 1.0\nmax_abs_rel = 1.0\nmin_cosine = 0.0\nmax_kl = 10.0\n"
        "top1_agreement = 0.0\ntop5_overlap = 0.0\n"
    )
    # Past the built-in bound (10x the default's error limits, agreement no lower): refused
    # unless asked for, and then the report says so.
    with pytest.raises(UsageError, match=r"\[fp32\] rel_l2 = 1 \(bound 0.0001\) and 5 more .*--allow-loose"):
        ToleranceProfile.parse(str(loose))
    profile = ToleranceProfile.parse(str(loose), allow_loose=True)
    report = run_gate("v1", [broken["scaled_conv"]], samples=2, profile=profile)
    assert report.passed and report.to_dict()["limits_within_bound"] is False
    assert len(report.limits_beyond_bound) == 6
    assert load_profile("strict")["fp32"].rel_l2 < load_profile("default")["fp32"].rel_l2
    bad = tmp_path / "bad.toml"
    bad.write_text("[fp32]\nrel_l3 = 1\n")
    assert_one_line_error(
        run_cli_here("parity", "-m", "v1", str(broken["scaled_conv"]), "--tolerance-profile", str(bad)),
        2,
        "rel_l3",
    )


def test_bad_inputs_exit_2(v1_artifacts: dict[str, Path], tmp_path: Path) -> None:
    assert_one_line_error(run_cli_here("parity", "-m", "v1", str(tmp_path / "missing.onnx")), 2, "not found")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00garbage" * 100)
    assert_one_line_error(
        run_cli_here("parity", "-m", "v1", str(junk)), 2, "not a TorchScript, ONNX or TensorRT"
    )
    assert_one_line_error(
        run_cli_here("parity", "-m", "v3", str(v1_artifacts["fp32"])), 2, "artifact is for model googlenet"
    )
    # An engine is recognised by content; without TensorRT it is a clear input error, not a crash.
    engine = tmp_path / "v1.plan"
    engine.write_bytes(b"ftrt" + bytes(256))
    assert_one_line_error(
        run_cli_here("parity", "-m", "v1", str(engine)), 2, "TensorRT engine without its manifest"
    )
    engine.with_name("v1.plan.json").write_text(
        json.dumps({"format": "inception-export/tensorrt-engine", "model": "googlenet", "precision": "fp16"})
    )
    assert_one_line_error(
        run_cli_here("parity", "-m", "v1", str(engine)), 2, "cannot run a TensorRT engine here"
    )
    assert_one_line_error(
        run_cli_here("parity", "-m", "v1", str(v1_artifacts["fp32"]), "--device", "cuda"), 2, "CUDA"
    )
    bad_w = tmp_path / "w.pth"
    bad_w.write_bytes(b"not a checkpoint")
    assert_one_line_error(
        run_cli_here("parity", "-m", "v1", str(v1_artifacts["fp32"]), "-w", str(bad_w)), 2, "corrupt"
    )


def test_threads_option_is_checked_and_reaches_the_gate(v1_artifacts: dict[str, Path]) -> None:
    import torch

    fp32 = str(v1_artifacts["fp32"])
    assert_one_line_error(
        run_cli_here("parity", "-m", "v1", fp32, "--threads", "0"), 2, "--threads must be at least 1"
    )
    before = torch.get_num_threads()
    try:
        res = run_cli_here("parity", "-m", "v1", fp32, "--threads", "1", "--samples", "1", "--json")
        assert res.code == 0, res.stderr
        assert json.loads(res.stdout)["passed"]
        assert torch.get_num_threads() == 1  # the eager reference ran on the one thread asked for
    finally:
        torch.set_num_threads(before)


def test_images_dir_feeds_the_gate(v1_artifacts: dict[str, Path], tmp_path: Path) -> None:
    import skimage.data
    import skimage.io

    photos = tmp_path / "photos"
    photos.mkdir()
    skimage.io.imsave(str(photos / "rocket.png"), skimage.data.rocket())
    skimage.io.imsave(str(photos / "gray.png"), skimage.data.camera())  # greyscale is expanded to 3 channels
    (photos / "notes.txt").write_text("ignored")
    report = run_gate("v1", [v1_artifacts["fp32"]], images=photos, samples=1)
    photo_names = [i["name"] for i in report.to_dict()["inputs"] if i["kind"] == "photo"]
    assert photo_names == ["gray.png", "rocket.png"]
    assert report.passed
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(
        run_cli("parity", "-m", "v1", str(v1_artifacts["fp32"]), "--images", str(empty)), 2, "no image files"
    )


def test_foreign_artifact_without_metadata_is_gated(v1_artifacts: dict[str, Path], tmp_path: Path) -> None:
    # An ONNX from another tool: no metadata_props, no sidecar. Precision and size are read
    # off the graph, so the FP16 file still gets the FP16 limits.
    paths = []
    for key in ("fp32", "fp16"):
        model = onnx.load(str(v1_artifacts[key]))
        del model.metadata_props[:]
        dst = tmp_path / f"foreign-{key}.onnx"
        onnx.save(model, str(dst))
        paths.append(dst)
    report = run_gate("v1", paths, samples=1)
    assert report.passed
    assert [a.precision for a in report.artifacts] == ["fp32", "fp16"]
    assert all(a.metadata.inferred for a in report.artifacts)


@pytest.mark.slow
def test_uint8_artifacts_with_embedded_preprocessing(tmp_path: Path) -> None:
    # What ships to the edge takes uint8 pixels; the gate feeds it pixels and gives eager
    # PyTorch the same pixels through the float pipeline (BGR 0-255 for BN-Inception).
    net = build_model("v2")
    fp32 = export_onnx("v2", tmp_path / "v2-u8.onnx", model_obj=net, embed_preprocessing=True).path
    fp16 = export_onnx(
        "v2", tmp_path / "v2-u8-fp16.onnx", model_obj=net, embed_preprocessing=True, precision="fp16"
    ).path
    report = run_gate("v2", [fp32, fp16], samples=2)
    assert report.passed, [c.message for a in report.artifacts for c in a.failures]
    assert {i["name"] for i in report.to_dict()["inputs"]} >= {"black", "mid-grey", "white", "skimage:coffee"}
    assert report.artifacts[0].metrics.rel_l2 < 2e-6 and report.artifacts[1].metrics.rel_l2 < 5e-3
    broken = _edit_onnx(fp32, tmp_path / "v2-u8-broken.onnx", scale_one_conv)
    broken.with_name(broken.name + ".json").write_text(fp32.with_name(fp32.name + ".json").read_text())
    failed = run_gate("v2", [broken], samples=1)
    assert not failed.passed and "rel_l2" in {c.name for c in failed.artifacts[0].failures}


def test_p99_is_numpys_percentile() -> None:
    # metrics.percentile stands in for np.percentile (which imports numpy.ma: start-up time of
    # the device gate); the p99 in every report must not move by a bit.
    from inception_export.parity.metrics import percentile

    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 100, 13_000):
        for q in (0, 1, 50, 99, 99.9, 100):
            a = np.abs(rng.standard_normal(n))
            assert percentile(a, q) == float(np.percentile(a, q)), (n, q)


def _claiming(src: Path, dst: Path, precision: str) -> Path:
    """``src`` with its first conv's weights scaled by 1.10 (rel L2 ~0.1: within INT8's limits,
    far outside FP32's) and only its records' precision changed: embedded record, flat property
    and sidecar."""
    model = onnx.load(str(src))
    inits = {i.name: i for i in model.graph.initializer}
    name = _conv_weights(model)[0]
    _set(inits, name, numpy_helper.to_array(inits[name]) * 1.10)
    for prop in model.metadata_props:
        if prop.key == "inception_export":
            prop.value = json.dumps(dict(json.loads(prop.value), precision=precision))
        elif prop.key == "precision":
            prop.value = precision
    onnx.save(model, str(dst))
    side = json.loads(Path(f"{src}.json").read_text())
    Path(f"{dst}.json").write_text(json.dumps(dict(side, precision=precision)))
    return dst


def test_a_record_cannot_pick_the_eager_gate_or_localize_limits(
    v1_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    """The precision, and so the limit, is read from the graph: an FP32 ONNX whose records say
    int8 is refused (exit 2, naming both) by ``parity --model`` and ``localize`` before the
    reference model is built; a TorchScript archive's tensors decide the same way."""
    lie = _claiming(v1_artifacts["fp32"], tmp_path / "claims-int8.onnx", "int8")
    for argv in (["parity", "-m", "v1", str(lie)], ["localize", "-m", "v1", str(lie)]):
        assert_one_line_error(run_cli_here(*argv), 2, "says precision 'int8' but the artifact is 'fp32'")
    ts = tmp_path / "claims-fp16.pt"
    with zipfile.ZipFile(v1_artifacts["ts"]) as src, zipfile.ZipFile(ts, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("/extra/inception_export.json"):
                data = json.dumps(dict(json.loads(data), precision="fp16")).encode()
            dst.writestr(info, data)
    assert_one_line_error(
        run_cli_here("parity", "-m", "v1", str(ts)),
        2,
        "says precision 'fp16' but the artifact is 'fp32' (tensors stored as fp32 ",
    )


def test_tolerance_profile_fifo_and_deep_nesting(tmp_path: Path) -> None:
    fifo = tmp_path / "p.toml"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="FIFO"):
        load_profile(str(fifo))
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(UsageError, match="nested too deeply"):
        load_profile(str(deep))
    deep_toml = tmp_path / "deep.toml"
    deep_toml.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(UsageError, match=r"deep\.toml"):
        load_profile(str(deep_toml))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[fp32]\nrel_l2 = -1e-6\n", "must not be negative"),
        ("[fp16]\nmax_kl = nan\n", "finite"),
        ("[fp16]\nrel_l2 = inf\n", "finite"),
        ("[fp32]\nmin_cosine = 1.5\n", "between 0 and 1"),
        ("[fp16]\ntop5_overlap = -0.1\n", "between 0 and 1"),
        ('[fp16]\nrel_l2 = "small"\n', "must be a number"),
        ("[fp32\nrel_l2 = ", "cannot read tolerance profile"),
    ],
)
def test_bad_profile_refused(text: str, needle: str, tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=needle):
        load_profile(str(path))


def test_good_profile_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('base = "strict"\n[fp16]\ntop5_overlap = 0.8\nrel_l2 = 0\n')
    limits = load_profile(str(path))
    assert limits["fp16"].top5_overlap == 0.8 and limits["fp16"].rel_l2 == 0.0
    assert limits["fp32"] == PROFILES["strict"]["fp32"]


def test_failure_values_differ_from_limits() -> None:
    assert failure_message("min_cosine", 0.9999665, 0.99999, "min") == (
        "min_cosine = 0.99997 is below limit 0.99999"
    )
    assert value_vs_limit(1.0000004e-5, 1e-5) == ("1.0000004e-05", "1e-05")
    assert value_vs_limit(0.5, 0.9) == ("0.5", "0.9")
    for value, limit in [(0.99999999, 0.999999999), (1 + 1e-15, 1.0), (3e-6 + 1e-18, 3e-6)]:
        shown, bound = value_vs_limit(value, limit)
        assert shown != bound and float(shown) == pytest.approx(value, rel=1e-15)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0.9999998, "0.9999998"),
        (0.99999984, "0.9999998"),
        (1 - 3.35e-5, f"{1 - 3.35e-5:.6f}"),  # six decimals already show it
        (0.99, "0.990000"),
        (1.0, "1.000000"),
        (0.5, "0.500000"),
    ],
)
def test_min_cosine_shows_its_distance_from_one(value: float, shown: str) -> None:
    assert near_one(value) == shown
    # Never reads as exactly 1 when it is not.
    if value != 1.0:
        assert float(near_one(value)) != 1.0
