"""ONNX export: graph shape, parity with eager PyTorch, FP16, metadata, reproducibility."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import ExportFn, Lazy, rel_l2, synthetic_model, v1_fast
from torch import nn

from inception_export.errors import UsageError
from inception_export.full.build import build_model
from inception_export.full.export import ExportResult, export_onnx, read_metadata, sidecar_path
from inception_export.full.export.write import write_artifact
from inception_export.images import normalise
from inception_export.registry import get_spec

MODELS = ["googlenet", "bn_inception", "inception_v3"]
PRECISIONS = ["fp32", "fp16"]
SEED = 20261123
# A size every model accepts (bn_inception needs 32k-1..32k+6), to keep the edge tests quick.
SMALL = 128


def reference_input(size: int, batch: int = 2) -> np.ndarray:
    return np.random.default_rng(SEED).uniform(-2, 2, (batch, 3, size, size)).astype(np.float32)


def eager(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model(torch.from_numpy(x)).numpy()


def run_ort(path: Path, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(sess.run(None, {"input": x})[0])


@pytest.fixture(scope="module")
def models() -> dict[str, nn.Module]:
    # The session's models (conftest.synthetic_model): the same weights build_model gives.
    return Lazy(synthetic_model)


@pytest.fixture(scope="module")
def artifacts(shared_exports: ExportFn) -> dict[tuple[str, str], ExportResult]:
    # export_onnx(name, f"{name}-{prec}.onnx", precision=prec) of each, once per session.
    return Lazy(lambda key: shared_exports(key[0], "onnx", key[1]))


@pytest.mark.parametrize("name", v1_fast(MODELS))
def test_fp32_graph_is_clean(name: str, artifacts: dict[tuple[str, str], ExportResult]) -> None:
    res = artifacts[name, "fp32"]
    proto = onnx.load(str(res.path))
    onnx.checker.check_model(proto, full_check=True)
    (inp,), (out,) = proto.graph.input, proto.graph.output
    assert (inp.name, out.name) == ("input", "logits")
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    dims = inp.type.tensor_type.shape.dim
    size = get_spec(name).default_size
    assert dims[0].dim_param and not dims[0].dim_value  # symbolic batch
    assert [d.dim_value for d in dims[1:]] == [3, size, size]
    ops = [n.op_type for n in proto.graph.node]
    assert not {"BatchNormalization", "Dropout", "Identity"} & set(ops)
    assert ops.count("Conv") == ops.count("Relu") == res.metadata["bn_folded"]
    assert proto.opset_import[0].version == 18


@pytest.mark.parametrize("name", v1_fast(MODELS))
def test_fp32_matches_eager_at_dynamic_batches(
    name: str, models: dict[str, nn.Module], artifacts: dict[tuple[str, str], ExportResult]
) -> None:
    size = get_spec(name).default_size
    path = artifacts[name, "fp32"].path
    x = reference_input(size)
    assert rel_l2(run_ort(path, x), eager(models[name], x)) <= 1e-5
    for batch in (1, 7):
        xb = np.random.default_rng(batch).uniform(-2, 2, (batch, 3, size, size)).astype(np.float32)
        got = run_ort(path, xb)
        assert got.shape == (batch, 1000)
        assert rel_l2(got, eager(models[name], xb)) <= 1e-5


@pytest.mark.parametrize("name", v1_fast(MODELS))
def test_fp16_computes_in_half_with_float_io(
    name: str, models: dict[str, nn.Module], artifacts: dict[tuple[str, str], ExportResult]
) -> None:
    res = artifacts[name, "fp16"]
    proto = onnx.load(str(res.path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    float_inits = [i.name for i in proto.graph.initializer if i.data_type == onnx.TensorProto.FLOAT]
    assert float_inits == []
    assert sum(i.data_type == onnx.TensorProto.FLOAT16 for i in proto.graph.initializer) > 100
    # Activations: every value between the two boundary Casts is float16.
    inferred = onnx.shape_inference.infer_shapes(proto)
    inner = {vi.name: vi.type.tensor_type.elem_type for vi in inferred.graph.value_info}
    casts = [n for n in proto.graph.node if n.op_type == "Cast"]
    assert len(casts) == 2
    boundary = {casts[0].input[0], casts[1].output[0]}
    assert {k for k, v in inner.items() if v != onnx.TensorProto.FLOAT16 and k not in boundary} <= {
        i.name for i in proto.graph.initializer if i.data_type == onnx.TensorProto.INT64
    } | {n.output[0] for n in proto.graph.node if n.op_type in ("Constant", "Shape")}
    assert res.metadata["float32_nodes"] == []
    assert res.metadata["compute_dtype"] == "float16"

    x = reference_input(get_spec(name).default_size)
    got, ref = run_ort(res.path, x), eager(models[name], x)
    assert got.dtype == np.float32
    assert rel_l2(got, ref) <= 5e-3
    assert (got.argmax(1) == ref.argmax(1)).all()


@pytest.mark.parametrize("prec", PRECISIONS)
@pytest.mark.parametrize("name", v1_fast(MODELS))
def test_metadata_round_trip(name: str, prec: str, artifacts: dict[tuple[str, str], ExportResult]) -> None:
    res = artifacts[name, prec]
    spec = get_spec(name)
    embedded = read_metadata(res.path).record
    side = json.loads(sidecar_path(res.path).read_text())
    assert side.pop("artifact") == res.path.name
    assert side.pop("artifact_sha256") == res.sha256 == hashlib.sha256(res.path.read_bytes()).hexdigest()
    assert embedded == side == res.metadata
    assert embedded["model"] == name
    assert embedded["input_size"] == spec.default_size
    assert embedded["num_classes"] == 1000
    assert embedded["precision"] == prec
    assert embedded["opset"] == 18
    pre = embedded["preprocessing"]
    assert pre["mean"] == list(spec.preprocessing.mean) and pre["std"] == list(spec.preprocessing.std)
    assert pre["colour_order"] == spec.preprocessing.colour_order
    assert pre["value_range"] == list(spec.preprocessing.value_range)
    assert pre["transform_input"] is False
    assert embedded["weights"]["sha256"] == f"synthetic-{SEED}"
    assert set(embedded["versions"]) >= {"inception_export", "torch", "onnx"}
    # Flat keys generic tools (and OnnxRuntimeRunner) read.
    sess = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])
    props = sess.get_modelmeta().custom_metadata_map
    assert props["precision"] == prec and props["input_size"] == str(spec.default_size)


@pytest.mark.slow
def test_export_is_byte_reproducible(
    models: dict[str, nn.Module], artifacts: dict[tuple[str, str], ExportResult], tmp_path: Path
) -> None:
    first = artifacts["googlenet", "fp16"]
    again = export_onnx("googlenet", tmp_path / "again.onnx", precision="fp16", model_obj=models["googlenet"])
    assert again.path.read_bytes() == first.path.read_bytes()
    assert again.sha256 == first.sha256
    assert sidecar_path(again.path).read_text() == sidecar_path(first.path).read_text().replace(
        first.path.name, "again.onnx"
    )


@pytest.mark.slow
def test_fixed_batch_and_size(models: dict[str, nn.Module], tmp_path: Path) -> None:
    res = export_onnx(
        "googlenet", tmp_path / "b3.onnx", batch=3, input_size=96, model_obj=models["googlenet"]
    )
    proto = onnx.load(str(res.path))
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == [3, 3, 96, 96]
    assert res.metadata["batch"] == 3 and res.metadata["input_size"] == 96
    x = reference_input(96, batch=3)
    assert rel_l2(run_ort(res.path, x), eager(models["googlenet"], x)) <= 1e-5


@pytest.mark.parametrize(
    ("name", "transform_input", "precision"),
    [
        ("googlenet", True, "fp32"),
        pytest.param("bn_inception", False, "fp32", marks=pytest.mark.slow),
        pytest.param("inception_v3", False, "fp16", marks=pytest.mark.slow),
    ],
)
def test_embedded_preprocessing(name: str, transform_input: bool, precision: str, tmp_path: Path) -> None:
    model = build_model(name, transform_input=transform_input)
    spec = get_spec(name)
    res = export_onnx(
        name,
        tmp_path / "edge.onnx",
        precision=precision,
        embed_preprocessing=True,
        input_size=SMALL,
        model_obj=model,
    )
    proto = onnx.load(str(res.path))
    inp = proto.graph.input[0].type.tensor_type
    assert inp.elem_type == onnx.TensorProto.UINT8
    assert [d.dim_value for d in inp.shape.dim][1:] == [SMALL, SMALL, 3]
    assert res.metadata["preprocessing"]["transform_input"] is transform_input
    assert res.metadata["input"]["layout"] == "NHWC"
    if precision == "fp16":
        # The in-graph normalisation stays float32 and says so.
        assert res.metadata["float32_nodes"]
    images = np.random.default_rng(3).integers(0, 256, (2, SMALL, SMALL, 3), np.uint8)
    ref = eager(model, normalise(images, spec.preprocessing))
    got = run_ort(res.path, images)
    assert rel_l2(got, ref) <= (1e-5 if precision == "fp32" else 5e-3)


@pytest.mark.parametrize("opset", [17, 23, 0])
def test_opset_out_of_range(opset: int, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="opset"):
        export_onnx("googlenet", tmp_path / "x.onnx", opset=opset)
    assert list(tmp_path.iterdir()) == []


def test_bad_precision_and_size(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="precision"):
        export_onnx("googlenet", tmp_path / "x.onnx", precision="int8")
    with pytest.raises(UsageError, match="minimum"):
        export_onnx("inception_v3", tmp_path / "x.onnx", input_size=74)
    assert list(tmp_path.iterdir()) == []


def test_failed_sidecar_leaves_nothing(tmp_path: Path) -> None:
    art = tmp_path / "m.onnx"
    # A directory where the sidecar must go makes its final rename fail after the
    # artifact is already in place: the artifact must be taken back out.
    sidecar_path(art).mkdir()
    (sidecar_path(art) / "keep").write_text("x")
    # A usage error (exit 2) naming the path: the directory is the user's and is kept.
    with pytest.raises(UsageError, match="became a directory"):
        write_artifact(art, b"payload", {"model": "x"})
    assert sorted(p.name for p in tmp_path.iterdir()) == [sidecar_path(art).name]
