"""``localize`` names the layer where an ONNX artifact drifts from eager PyTorch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from conftest import ExportFn, assert_one_line_error, run_cli, run_cli_here
from helpers import SIZE, cli, one_error, tiny_onnx
from onnx import TensorProto, numpy_helper

from inception_export import build_model
from inception_export.full.export import export_onnx
from inception_export.full.localize.core import localize
from inception_export.parity.tolerances import PROFILES

# A conv in the middle of each network (one of them the example the README gives).
TARGETS = {
    "googlenet": "inception4c.branch3.1",
    "bn_inception": "inception_4b.conv_double_3x3_1",
    "inception_v3": "Mixed_6c.branch7x7dbl_4",
}
# Smaller-than-default inputs keep the suite quick; localize reads the size off the artifact.
SIZES = {"googlenet": 224, "bn_inception": 160, "inception_v3": 139}


def scale_conv(src: Path, dst: Path, layer: str, factor: float) -> Path:
    """Multiply one layer's (folded) conv weights in the ONNX file, metadata untouched."""
    model = onnx.load(str(src))
    name = f"net.{layer}.conv.weight"
    init = next(i for i in model.graph.initializer if i.name == name)
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * np.float32(factor), name))
    onnx.save(model, str(dst))
    return dst


@pytest.fixture(scope="module")
def v1_fp32(shared_exports: ExportFn) -> Path:
    return Path(shared_exports("v1", "onnx").path)  # exported once per session (conftest.py)


@pytest.fixture(scope="module")
def v1_scaled(v1_fp32: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("scaled") / "v1-scaled.onnx"
    return scale_conv(v1_fp32, dst, TARGETS["googlenet"], 1.05)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["bn_inception", "inception_v3"])
def test_scaled_conv_is_named_v2_v3(model: str, tmp_path: Path) -> None:
    net = build_model(model)
    src = export_onnx(model, tmp_path / "a.onnx", model_obj=net, input_size=SIZES[model]).path
    broken = scale_conv(src, tmp_path / "broken.onnx", TARGETS[model], 1.05)
    report = localize(model, broken, samples=1, reference_model=net)
    _assert_named(report.to_dict(), TARGETS[model])


def test_scaled_conv_is_named_v1(v1_scaled: Path) -> None:
    report = localize("v1", v1_scaled, samples=1)
    _assert_named(report.to_dict(), TARGETS["googlenet"])
    assert report.exit_code == 1


def _assert_named(doc: dict, layer: str) -> None:
    assert doc["first_divergent"] == layer
    rows = {r["layer"]: r for r in doc["layers"]}
    limit = PROFILES["default"]["fp32"].rel_l2
    names = [r["layer"] for r in doc["layers"]]
    i = names.index(layer)
    # Everything before it is FP32-exact; the layer itself carries the 5 % scaling.
    assert all(r["rel_l2"] < limit / 5 for r in doc["layers"][:i])
    assert 0.03 < rows[layer]["rel_l2"] < 0.07
    # Downstream layers diverge too (the error propagates), which is why "first" matters.
    assert any(r["diverges"] for r in doc["layers"][i + 1 :])


def test_unchanged_fp32_artifact_passes(v1_fp32: Path) -> None:
    report = localize("v1", v1_fp32, samples=1)
    assert report.first_divergent is None
    assert max(lay.rel_l2 for lay in report.layers) < 2e-6
    # Every BN-folded unit and the classifier are matched.
    assert len(report.layers) == 58 and report.layers[-1].layer == "fc"


def test_table_prints_the_limit_it_applies(v1_fp32: Path, tmp_path: Path) -> None:
    # A limit a rounded format would misquote (5.01e-07), among the layers' errors (2e-7 to 1e-6).
    limit = 5.01234e-07
    profile = tmp_path / "odd.toml"
    profile.write_text(f"[fp32]\nrel_l2 = {limit!r}\n")
    argv = ["localize", "--model", "v1", str(v1_fp32), "--samples", "1", "--tolerance-profile", str(profile)]
    res = run_cli_here(*argv, "--allow-loose-limits")
    shown = [ln for ln in res.stdout.splitlines() if "the limit " in ln or "rel L2 limit " in ln]
    assert shown and all(ln.endswith(f"limit {limit!r}") for ln in shown), res.stdout
    rows = [ln.split() for ln in res.stdout.splitlines() if ln[:3].strip().isdigit()]
    over = [r[1] for r in rows if r[-1] in ("over", "<-", "FIRST")]
    assert over and len(over) < len(rows), res.stdout  # the limit splits the layers, as it was chosen to
    # Each row against the limit (rows print 3 digits: those within their rounding are skipped).
    clear = [r for r in rows if abs(float(r[2]) - limit) > 0.01 * limit]
    assert all((float(r[2]) > limit) == (r[1] in over) for r in clear), res.stdout


@pytest.fixture(scope="module")
def v1_fp16(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # With --keep-fp32 auto: on a healthy model it keeps nothing, so this is the plain FP16 graph.
    path = tmp_path_factory.mktemp("fp16") / "v1-fp16.onnx"
    res = export_onnx("v1", path, precision="fp16", keep_fp32="auto")
    assert res.metadata["keep_fp32"] == [] and res.metadata["float32_nodes"] == []
    model = onnx.load(str(path))
    weights = {n.input[1] for n in model.graph.node if n.op_type == "Conv"}
    assert len(weights) == 57
    assert all(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer if i.name in weights)
    return path


@pytest.mark.slow
def test_healthy_fp16_exits_0_and_error_grows_smoothly(v1_fp16: Path) -> None:
    res = run_cli("localize", "--model", "v1", str(v1_fp16), "--samples", "1", "--json")
    assert res.code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["first_divergent"] is None and doc["precision"] == "fp16"
    errs = [r["rel_l2"] for r in doc["layers"]]
    assert all(e < doc["limits"]["rel_l2"] / 2 for e in errs)
    # float16 rounding error accumulates: it grows through the network, and no layer jumps
    # far above everything before it (a broken layer would).
    for i in range(1, len(errs)):
        assert errs[i] < 3 * max(errs[:i]), (doc["layers"][i]["layer"], errs[i], max(errs[:i]))
    assert np.mean(errs[-10:]) > 1.5 * np.mean(errs[:3])
    # For FP16 the overflow headroom is reported per layer.
    assert all(r["fp16_headroom"] > 100 for r in doc["layers"])


@pytest.mark.slow
def test_cli_table_reads_at_80_columns_exit_1(v1_scaled: Path) -> None:
    res = run_cli("localize", "--model", "v1", str(v1_scaled), "--samples", "1")
    assert res.code == 1, res.stderr
    lines = res.stdout.splitlines()
    # (the first line is the artifact's path, as long as the user made it)
    assert all(len(ln) <= 80 for ln in lines[1:]), max(lines[1:], key=len)
    assert len(lines) == 1 + 3 + 58 + 3
    assert lines[-1] == "limit: fp32 (read from the graph), profile default"
    row = next(ln for ln in lines if TARGETS["googlenet"] in ln)
    assert "<- FIRST" in row
    assert f"first divergent layer: {TARGETS['googlenet']}" in res.stdout
    assert "Traceback" not in res.stderr


def test_bad_inputs_one_line_exit_2(v1_fp32: Path, shared_exports: ExportFn, tmp_path: Path) -> None:
    ts = shared_exports("v1", "torchscript").path
    res = run_cli_here("localize", "--model", "v1", str(ts))
    assert_one_line_error(res, 2, "localize takes ONNX", "TorchScript")
    engine = tmp_path / "v1.engine"
    engine.write_bytes(b"ftrt" + bytes(64))
    assert_one_line_error(run_cli_here("localize", "--model", "v1", str(engine)), 2, "TensorRT engine")
    # An artifact of another model.
    assert_one_line_error(run_cli_here("localize", "--model", "v3", str(v1_fp32)), 2, "googlenet")
    # A foreign ONNX (no inception-export metadata, hence no layer map).
    foreign = onnx.load(str(v1_fp32))
    del foreign.metadata_props[:]
    onnx.save(foreign, str(tmp_path / "foreign.onnx"))
    res = run_cli_here("localize", "--model", "v1", str(tmp_path / "foreign.onnx"))
    assert_one_line_error(res, 2, "no layer map")
    assert_one_line_error(run_cli_here("localize", "--model", "v1", str(tmp_path / "missing.onnx")), 2)


def _edited(src: Path, dst: Path, edit: Any) -> Path:
    model = onnx.load(str(src))
    edit(model)
    onnx.save(model, str(dst))
    return dst


def _set_record(model: onnx.ModelProto, **fields: Any) -> None:
    for prop in model.metadata_props:  # the record and its flat copies, which must agree
        if prop.key == "inception_export":
            prop.value = json.dumps({**json.loads(prop.value), **fields})
        elif prop.key in fields:
            value = fields[prop.key]
            prop.value = value if isinstance(value, str) else json.dumps(value)


def _reshape_target(model: onnx.ModelProto) -> None:
    # The classifier's flatten asks for 5 rows: it loads, and fails in run for one input.
    reshape = next(n for n in model.graph.node if n.op_type == "Reshape")
    reshape.name = "flatten\x1b[2J"
    init = next(i for i in model.graph.initializer if i.name == reshape.input[1])
    init.CopyFrom(numpy_helper.from_array(np.array([5, -1], np.int64), init.name))


def _input_dims(batch: int, side: int) -> Any:
    def edit(model: onnx.ModelProto) -> None:
        dims = model.graph.input[0].type.tensor_type.shape.dim
        for d, v in zip(dims, (batch, 3, side, side), strict=True):
            if v:
                d.dim_value = v

    return edit


@pytest.mark.parametrize(
    ("edit", "needles"),
    [
        (_reshape_target, ("Reshape node 'flatten\\x1b[2J'", "cannot be reshaped")),
        (lambda m: _set_record(m, embedded_preprocessing=True), ("uint8 pixels", "tensor(float)")),
        (_input_dims(2**40, 0), ("batch is fixed at 1099511627776",)),
        (_input_dims(0, 2**40), ("1099511627776", "of size 224")),
    ],
    ids=["fails-in-run", "pixels-claimed", "batch-2**40", "size-2**40"],
)
def test_a_graph_localize_cannot_run_is_one_line_exit_2(
    v1_fp32: Path, tmp_path: Path, edit: Any, needles: tuple[str, ...]
) -> None:
    # Each was exit 3 (onnxruntime's Fail/InvalidArgument, or a 2**40 batch's memory),
    # the first with onnxruntime's own log line (colour codes, the node's name) raw on stderr.
    bad = _edited(v1_fp32, tmp_path / "bad.onnx", edit)
    res = run_cli_here("localize", "--model", "v1", str(bad), "--samples", "1")
    assert_one_line_error(res, 2, *needles)
    assert "\x1b" not in res.stderr and "onnxruntime:" not in res.stderr, res.stderr


def test_refused_external_data_in_localize_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    (tmp_path / "secret.bin").write_bytes(bytes(4 * 3 * SIZE * SIZE * 10))
    (model_dir / "short.bin").write_bytes(bytes(16))
    meta = json.dumps({"model": "googlenet", "layer_outputs": [["conv1", "logits"]]})
    for location, word in (
        ("../secret.bin", "outside the model's directory"),
        (str(tmp_path / "secret.bin"), "outside the model's directory"),
        ("missing.bin", "not found"),
        ("short.bin", "past the end"),
    ):
        path, _, _ = tiny_onnx(model_dir / "ext.onnx")
        proto = onnx.load(str(path))
        w = proto.graph.initializer[0]
        w.ClearField("raw_data")
        w.data_location = TensorProto.EXTERNAL
        for key, value in (
            ("location", location),
            ("offset", "0"),
            ("length", str(4 * 3 * SIZE * SIZE * 10)),
        ):
            w.external_data.add(key=key, value=value)
        proto.metadata_props.add(key="inception_export", value=meta)
        onnx.save(proto, str(path))
        code, _, err = cli("localize", "-m", "v1", path, capsys=capsys)
        assert code == 2, (location, err)
        assert word in one_error(err), location
