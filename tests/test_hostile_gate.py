"""Issue 17, "the gate cannot be fooled": crafted golden bundles and artifacts, built small.

The artifact is a hand-made ONNX classifier (flatten + linear, 8x8 input, 10 classes: what
"another tool" would produce), the bundle holds its exact logits; neither needs torch, so
most cases run the CLI in-process.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from inception_export.parity.bundle import BUNDLE_FORMAT, BUNDLE_SCHEMA, encode_bundle, npz_bytes
from inception_export.parity.reference import ReferenceSet
from inception_export.parity.tolerances import PROFILES

SIZE, CLASSES, N = 8, 10, 5


def tiny_onnx(path: Path, scale: float = 1.0, seed: int = 0) -> tuple[Path, np.ndarray, np.ndarray]:
    """A linear classifier as ONNX; returns the path and its weights (W, b)."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((3 * SIZE * SIZE, CLASSES)).astype(np.float32) * 0.1
    b = rng.standard_normal(CLASSES).astype(np.float32)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", CLASSES])
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["x"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "W"], ["mm"]),
            helper.make_node("Add", ["mm", "b"], ["logits"]),
        ],
        "tiny",
        [x],
        [y],
        [numpy_helper.from_array(w * scale, "W"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path, w, b


def bundle_parts(w: np.ndarray, b: np.ndarray, n: int = N) -> tuple[dict[str, Any], dict[str, ReferenceSet]]:
    rng = np.random.default_rng(1)
    feed = rng.uniform(-1, 1, (n, 3, SIZE, SIZE)).astype(np.float32)
    logits = (feed.reshape(n, -1).astype(np.float64) @ w + b).astype(np.float32)
    names = [f"random-{i}" for i in range(n)]
    inputs = [{"name": nm, "kind": "random", "sha256": "0" * 16} for nm in names]
    meta: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "schema": BUNDLE_SCHEMA,
        "tool": "inception-export test",
        "versions": {},
        "model": "tiny",
        "aliases": [],
        "num_classes": CLASSES,
        "input_size": SIZE,
        "preprocessing": {},
        "transform_input": False,
        "weights": {},
        "tolerance_profile": {
            "name": "default",
            "limits": {p: lim.to_dict() for p, lim in PROFILES["default"].items()},
        },
        "reference": "test",
    }
    return meta, {"float": ReferenceSet(names, ["random"] * n, feed, logits, inputs)}


def write_bundle(path: Path, meta: dict[str, Any], sets: dict[str, ReferenceSet]) -> Path:
    path.write_bytes(encode_bundle(meta, sets))
    return path


@pytest.fixture()
def case(tmp_path: Path) -> dict[str, Any]:
    good, w, b = tiny_onnx(tmp_path / "tiny.onnx")
    broken, _, _ = tiny_onnx(tmp_path / "broken.onnx", scale=1.5)
    meta, sets = bundle_parts(w, b)
    bundle = write_bundle(tmp_path / "golden.npz", meta, sets)
    return {"dir": tmp_path, "good": good, "broken": broken, "meta": meta, "sets": sets, "bundle": bundle}


def cli(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The CLI in this process (no torch import per call): exit code, stdout, stderr."""
    from inception_export.cli.app import main

    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    got = capsys.readouterr()
    code = exc.value.code
    return int(code) if isinstance(code, int) else 1, got.out, got.err


def one_error(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    errors = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def test_the_tiny_gate_passes_and_fails_as_it_should(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli("parity", "--golden", case["bundle"], case["good"], "--json", capsys=capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["limits_from"] == "golden bundle golden.npz"
    code, _, err = cli("parity", "--golden", case["bundle"], case["broken"], capsys=capsys)
    assert code == 1, err


# --- item 8: the bundle's own limits -------------------------------------------------------


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), -1.0, 2.0, "1e9", None])
def test_bundle_limits_are_validated_like_a_profile_file(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str], bad: Any
) -> None:
    meta = json.loads(json.dumps(case["meta"]))
    # min_cosine is a fraction: 2.0 is out of range there; the rest are wrong anywhere.
    key = "min_cosine" if bad == 2.0 else "rel_l2"
    for precision in ("fp32", "fp16"):
        meta["tolerance_profile"]["limits"][precision][key] = bad
        meta["tolerance_profile"]["limits"][precision]["max_abs_rel"] = float("inf")
    bundle = write_bundle(case["dir"] / "inf.npz", meta, case["sets"])
    code, _, err = cli("parity", "--golden", bundle, case["broken"], capsys=capsys)
    assert code == 2, err
    assert "tolerance limit recorded in the golden bundle" in one_error(err) or "tolerance" in err


def test_report_says_where_the_limits_came_from(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli("parity", "--golden", case["bundle"], case["good"], capsys=capsys)
    assert code == 0
    assert "default tolerances from golden bundle golden.npz" in " ".join(out.split())
    prof = case["dir"] / "loose.toml"
    prof.write_text("[fp32]\nrel_l2 = 5e-5\n")
    code, out, _ = cli(
        "parity",
        "--golden",
        case["bundle"],
        case["good"],
        "--tolerance-profile",
        prof,
        "--json",
        capsys=capsys,
    )
    assert code == 0 and json.loads(out)["limits_from"] == "file loose.toml"
    code, out, _ = cli(
        "parity",
        "--golden",
        case["bundle"],
        case["good"],
        "--tolerance-profile",
        "strict",
        "--json",
        capsys=capsys,
    )
    assert code == 0 and json.loads(out)["limits_from"] == "built-in profile"


def test_manifest_holds_through_a_symlink(case: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    release = case["dir"] / "release"
    release.mkdir()
    real = release / "golden.npz"
    real.write_bytes(case["bundle"].read_bytes())
    (release / "manifest.json").write_text(json.dumps({"golden": {"file": "golden.npz", "sha256": "0" * 64}}))
    elsewhere = case["dir"] / "gate"
    elsewhere.mkdir()
    (elsewhere / "golden.npz").symlink_to(real)
    code, _, err = cli("parity", "--golden", elsewhere / "golden.npz", case["good"], capsys=capsys)
    assert code == 2
    assert "differs from" in one_error(err)


# --- item 9: sizes checked before anything is decompressed --------------------------------


def _zip_with(members: dict[str, bytes | tuple[int, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data if isinstance(data, bytes) else data[1])
    return buf.getvalue()


def _npy(a: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array(out, a, allow_pickle=False)
    return out.getvalue()


def _bomb_zip(path: Path, small: dict[str, bytes], bomb_name: str, repeats: int) -> None:
    """A zip whose ``bomb_name`` is a .npy of float32 zeros inflating to ``repeats`` x 12 MiB.

    Written by hand in a second: one 12 MiB block of zeros is deflated once after a full
    flush (no back-references), and that compressed segment is repeated.
    """
    chunk = bytes(3 * SIZE * SIZE * 4 << 14)  # 16384 rows of zeros, 12 MiB
    rows = repeats << 14
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        head, {"descr": "<f4", "fortran_order": False, "shape": (rows, 3, SIZE, SIZE)}
    )
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(head.getvalue()) + c.flush(zlib.Z_FULL_FLUSH)
    seg = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = seg.compress(chunk) + seg.flush(zlib.Z_FULL_FLUSH)
    data = first + segment * repeats + zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    crc = zlib.crc32(head.getvalue())
    for _ in range(repeats):
        crc = zlib.crc32(chunk, crc)
    usize = len(head.getvalue()) + repeats * len(chunk)
    entries = [(n, zlib.compress(b)[2:-4], zlib.crc32(b), len(b)) for n, b in small.items()]
    entries.append((bomb_name, data, crc, usize))
    out, central = io.BytesIO(), io.BytesIO()
    for name, body, crc32, size in entries:
        fields = struct.pack("<HHHHHIII", 20, 0, 8, 0, 0x21, crc32, len(body), size)
        offset = out.tell()
        out.write(b"PK\x03\x04" + fields + struct.pack("<HH", len(name), 0) + name.encode() + body)
        central.write(
            b"PK\x01\x02"
            + struct.pack("<H", 20)
            + fields
            + struct.pack("<HHHHHII", len(name), 0, 0, 0, 0, 0o644 << 16, offset)
            + name.encode()
        )
    cd = central.getvalue()
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(cd), out.tell(), 0)
    path.write_bytes(out.getvalue() + cd + eocd)


GUARD = """
import resource, sys
from inception_export.cli.app import main
from inception_export.cli import commands  # every import done: the limit is for the bundle
vm = next(int(ln.split()[1]) * 1024 for ln in open("/proc/self/status") if ln.startswith("VmSize"))
resource.setrlimit(resource.RLIMIT_AS, (vm + {margin}, vm + {margin}))
main(sys.argv[1:])
"""


def _run_limited(args: list[str], margin: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-c", GUARD.format(margin=margin), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bombs")
    onnx_path, w, b = tiny_onnx(d / "tiny.onnx")
    meta, sets = bundle_parts(w, b)
    # The record of a genuine 5-input bundle, with hashes: the bomb passes every name check.
    with zipfile.ZipFile(io.BytesIO(encode_bundle(meta, sets))) as zf:
        small = {n: zf.read(n) for n in ("meta.npy", "float_logits.npy")}
        inputs = zf.read("float_inputs.npy")
    out = {"onnx": onnx_path}
    _bomb_zip(d / "listed.npz", small, "float_inputs.npy", 128)  # 1.5 GiB of zeros
    _bomb_zip(d / "unlisted.npz", dict(small, **{"float_inputs.npy": inputs}), "extra.npy", 128)
    out.update(listed=d / "listed.npz", unlisted=d / "unlisted.npz")
    with zipfile.ZipFile(out["listed"]) as zf:  # a well-formed zip, just a large member
        assert zf.getinfo("float_inputs.npy").file_size > 1 << 30
    return out


@pytest.mark.parametrize("which", ["listed", "unlisted"])
def test_a_zip_bomb_is_refused_under_a_memory_limit(bombs: dict[str, Path], which: str) -> None:
    bundle = bombs[which]
    assert bundle.stat().st_size < 4 << 20  # megabytes on disk, 1.5 GiB inflated
    # 512 MiB of address space beyond what the imports took: the bomb would need 1.5 GiB.
    res = _run_limited(["parity", "--golden", str(bundle), str(bombs["onnx"])], 1 << 29)
    assert res.returncode == 2, res.stderr[-2000:]
    line = one_error(res.stderr)
    assert ("declares" in line) if which == "listed" else ("unexpected member extra.npy" in line)


def test_npy_header_must_match_the_record(case: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    with zipfile.ZipFile(case["bundle"]) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    # Same byte count, another shape: the header is checked, not just the size.
    members["float_inputs.npy"] = _npy(np.zeros((N * SIZE, 3, 1, SIZE), np.float32))
    bad = case["dir"] / "shape.npz"
    bad.write_bytes(_zip_with(dict(members)))
    code, _, err = cli("parity", "--golden", bad, case["good"], capsys=capsys)
    assert code == 2 and "the record says" in one_error(err)


def test_too_many_inputs_are_refused_before_reading(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    meta = json.loads(json.dumps(case["meta"]))
    from inception_export.parity.bundle import MAX_INPUTS

    names = [f"n{i}" for i in range(MAX_INPUTS + 1)]
    meta["sets"] = {"float": {"names": names, "kinds": ["random"] * len(names), "inputs": [{}] * len(names)}}
    meta["arrays"] = {"float_inputs": "x", "float_logits": "x"}
    raw = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    bad = case["dir"] / "many.npz"
    bad.write_bytes(
        npz_bytes(
            {"meta": raw, "float_inputs": np.zeros(1, np.float32), "float_logits": np.zeros(1, np.float32)}
        )
    )
    code, _, err = cli("parity", "--golden", bad, case["good"], capsys=capsys)
    assert code == 2 and f"at most {MAX_INPUTS}" in one_error(err)


def test_inputs_run_in_bounded_batches(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from inception_export.parity.gate import MAX_GATE_BATCH

    good, w, b = tiny_onnx(tmp_path / "tiny.onnx")
    meta, sets = bundle_parts(w, b, n=MAX_GATE_BATCH * 2 + 3)
    bundle = write_bundle(tmp_path / "golden.npz", meta, sets)
    code, out, err = cli("parity", "--golden", bundle, good, "--json", capsys=capsys)
    assert code == 0, err
    assert json.loads(out)["artifacts"][0]["batch_sizes"] == [1, MAX_GATE_BATCH]


def test_a_bundle_with_nonfinite_inputs_is_blamed_not_the_artifact(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # Re-hashed by encode_bundle, so only the values give it away; NaN inputs made every
    # artifact fail (exit 1) as if it, not the bundle, were broken.
    sets = dict(case["sets"])
    feed = sets["float"].feed.copy()
    feed[1, 0, 0, 0] = np.nan
    old = sets["float"]
    sets["float"] = ReferenceSet(old.names, old.kinds, feed, old.logits, old.inputs)
    bad = write_bundle(case["dir"] / "nan-inputs.npz", case["meta"], sets)
    code, _, err = cli("parity", "--golden", bad, case["good"], capsys=capsys)
    assert code == 2 and "inputs are not finite" in one_error(err)


def _reshape_before_matmul(src: Path, dst: Path, node: str) -> Path:
    """``src`` with a Reshape to (7, -1) after the Flatten: it loads (the batch is free), and
    fails in run for any batch whose 192 * N values 7 rows cannot take."""
    model = onnx.load(str(src))
    flatten = model.graph.node[0]
    flatten.output[0] = "flat0"
    model.graph.initializer.append(numpy_helper.from_array(np.array([7, -1], np.int64), "target"))
    model.graph.node.insert(1, helper.make_node("Reshape", ["flat0", "target"], ["flat"], name=node))
    onnx.save(model, str(dst))
    return dst


def test_an_onnx_that_fails_in_run_fails_its_check_naming_the_node(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # Was exit 3 (onnxruntime's Fail as an internal error) with onnxruntime's log line, colour
    # codes and the file's node name, raw on stderr. Now a failed "runs" check naming the node,
    # and the other artifact of the same gate is still judged.
    bad = _reshape_before_matmul(case["good"], case["dir"] / "reshape.onnx", "fold\x1b[2J")
    code, out, err = cli("parity", "--golden", case["bundle"], bad, case["good"], "--json", capsys=capsys)
    assert code == 1, err
    assert "\x1b" not in err and "onnxruntime:" not in err and "Traceback" not in err, err
    first, second = json.loads(out)["artifacts"]
    (check,) = first["checks"]
    assert check["name"] == "runs" and not check["passed"]
    # Its limits were still picked by what the graph is, and the report says so.
    assert first["precision_from"] == "graph" and "no Conv/Gemm/MatMul" in first["precision_evidence"]
    assert "Reshape node 'fold\x1b[2J'" in check["message"] and "cannot be reshaped" in check["message"]
    assert second["passed"]
    code, out, err = cli("parity", "--golden", case["bundle"], bad, capsys=capsys)
    shown = out + err
    assert code == 1 and "\x1b" not in shown
    assert "FAIL reshape.onnx: onnxruntime cannot run its Reshape node 'fold\\x1b[2J'" in shown, shown


def test_a_run_failure_outside_a_gate_is_one_artifact_error(case: dict[str, Any]) -> None:
    from inception_export.errors import ArtifactRunFailure
    from inception_export.runners.factory import open_runner

    bad = _reshape_before_matmul(case["good"], case["dir"] / "reshape.onnx", "r1")
    with open_runner(bad, "onnx", SIZE, "fp32") as runner, pytest.raises(ArtifactRunFailure) as info:
        runner.infer(case["sets"]["float"].feed)
    assert info.value.exit_code == 2 and info.value.node == "r1" and "\n" not in str(info.value)


# --- item 10: text from a bundle never reaches the terminal raw ------------------------------

EVIL = "tiny\x1b[32m gate passed\nall artifacts OK\x1b[0m"


def test_control_characters_are_escaped_in_errors_tables_and_junit(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    meta = dict(case["meta"], model=EVIL)
    bundle = write_bundle(case["dir"] / "evil.npz", meta, case["sets"])
    code, _, err = cli("parity", "--golden", bundle, case["good"], "-m", "v3", capsys=capsys)
    assert code == 2
    line = one_error(err)
    assert "\x1b" not in err and "\\x1b[32m gate passed\\nall artifacts OK" in line
    junit = case["dir"] / "junit.xml"
    code, out, err = cli("parity", "--golden", bundle, case["broken"], "--junit", junit, capsys=capsys)
    assert code == 1
    for text in (out, err, junit.read_text()):
        assert "\x1b" not in text
        assert not any(ln.lstrip().startswith("all artifacts OK") for ln in text.splitlines()), text
    assert "\\x1b[32m" in out and "\\x1b[32m" in junit.read_text()
    import xml.etree.ElementTree as ET

    ET.fromstring(junit.read_text().split("\n", 1)[1])  # well-formed XML


def test_a_path_with_control_characters_is_escaped_in_progress_lines_and_tables(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # Progress lines ("parity: NAME: load") printed the file name raw: ESC recoloured the
    # terminal and "\n" started a line that read like the tool's own.
    evil = case["dir"] / "evil\x1b[31m\nparity: all passed"
    evil.mkdir()
    art = evil / "tiny\x1b[2J\n.onnx"
    art.write_bytes(case["good"].read_bytes())
    code, out, err = cli("parity", "--golden", case["bundle"], art, capsys=capsys)
    assert code == 0, err
    for text in (out, err):
        assert "\x1b" not in text, text
        assert not any(ln.startswith(("parity: all passed", ".onnx")) for ln in text.splitlines()), text
    assert "tiny\\x1b[2J\\n.onnx: load" in err


# --- item 11: TorchScript archives are code ------------------------------------------------


def _printing_torchscript(path: Path, w: np.ndarray, b: np.ndarray) -> Path:
    import torch

    class Linear(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.from_numpy(w.copy()))
            self.b = torch.nn.Parameter(torch.from_numpy(b.copy()))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            print("an archive printing to stdout")
            return x.flatten(1) @ self.w + self.b

    torch.jit.save(torch.jit.script(Linear()), str(path))
    return path


def test_torchscript_output_keeps_stdout_json_only(
    case: dict[str, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    _, w, b = tiny_onnx(case["dir"] / "w.onnx")
    ts = _printing_torchscript(case["dir"] / "tiny.pt", w, b)
    code, out, err = cli("parity", "--golden", case["bundle"], ts, "--json", capsys=capfd)  # type: ignore[arg-type]
    assert code == 0, err
    assert out.lstrip().startswith("{"), (out[:300], err[-500:])
    json.loads(out)  # nothing but the report
    assert "an archive printing to stdout" in err


def test_content_contradicting_the_extension_is_refused(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    _, w, b = tiny_onnx(case["dir"] / "w.onnx")
    disguised = _printing_torchscript(case["dir"] / "model.onnx", w, b)
    code, out, err = cli("parity", "--golden", case["bundle"], disguised, capsys=capsys)
    assert code == 2 and out == ""
    assert "the content is torchscript but the name says onnx" in one_error(err)
    assert "an archive printing" not in err
    onnx_as_engine = case["dir"] / "tiny.engine"
    onnx_as_engine.write_bytes(case["good"].read_bytes())
    code, _, err = cli("parity", "--golden", case["bundle"], onnx_as_engine, capsys=capsys)
    assert code == 2 and "the name says tensorrt" in one_error(err)


# --- precision from the graph, limits within a bound ---------------------------------------


def _with_record(src: Path, dst: Path, *, record: Any = None, flat: str | None = None) -> Path:
    """``src`` with an embedded inception_export record and/or a flat ``precision`` property."""
    model = onnx.load(str(src))
    if record is not None:
        model.metadata_props.add(key="inception_export", value=json.dumps(record))
    if flat is not None:
        model.metadata_props.add(key="precision", value=flat)
    onnx.save(model, str(dst))
    return dst


def test_a_record_cannot_buy_the_limits_of_another_precision(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """Weights off by 10 % (rel L2 ~0.1: within INT8's 0.15): the FP32 graph fails, and saying
    ``int8`` in any record of it (embedded, flat property, sidecar) is refused, naming both."""
    d, bundle = case["dir"], case["bundle"]
    scaled, _, _ = tiny_onnx(d / "scaled.onnx", scale=1.10)
    code, out, err = cli("parity", "--golden", bundle, scaled, "--json", capsys=capsys)
    assert code == 1, err
    assert json.loads(out)["artifacts"][0]["checks"][2]["value"] > 0.05  # rel_l2, failing FP32's 1e-5
    lies = {
        "embedded": _with_record(scaled, d / "embedded.onnx", record={"model": "tiny", "precision": "int8"}),
        "flat": _with_record(scaled, d / "flat.onnx", flat="int8"),
        "sidecar": _with_record(scaled, d / "sidecar.onnx"),
        "both": _with_record(scaled, d / "both.onnx", record={"precision": "fp32"}, flat="int8"),
    }
    (d / "sidecar.onnx.json").write_text(json.dumps({"model": "tiny", "precision": "int8"}))
    for kind, lie in lies.items():
        code, _, err = cli("parity", "--golden", bundle, lie, capsys=capsys)
        assert code == 2, (kind, err)
        line = one_error(err)
        if kind == "both":  # the flat copy disagrees with the record itself: refused before the graph
            assert "metadata_props say precision 'int8' but its inception_export record says 'fp32'" in line
            continue
        assert "says precision 'int8' but the artifact is 'fp32'" in line, (kind, line)
        assert "no Conv/Gemm/MatMul takes a DequantizeLinear output or float16 values" in line


@pytest.mark.parametrize(
    ("claim", "code", "needle"),
    [
        ("fp32", 1, ""),  # agrees: gated (and failed) as FP32
        ("FP32", 1, ""),  # the same name, spelled in capitals
        ("INT8", 2, "says precision 'INT8' but the artifact is 'fp32'"),
        ("fp64", 2, "says precision 'fp64', which is none of fp32, fp16, int8"),
        (123, 2, "metadata field precision is 123, not a string"),
    ],
)
def test_odd_precision_claims(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str], claim: Any, code: int, needle: str
) -> None:
    scaled, _, _ = tiny_onnx(case["dir"] / "scaled.onnx", scale=1.10)
    lie = _with_record(scaled, case["dir"] / "claim.onnx", record={"model": "tiny", "precision": claim})
    got, _, err = cli("parity", "--golden", case["bundle"], lie, capsys=capsys)
    assert got == code, err
    if needle:
        assert needle in one_error(err)


def _graph_with(extra_nodes: list[onnx.NodeProto], extra_inits: list[onnx.TensorProto], path: Path) -> Path:
    """The tiny classifier plus nodes that compute nothing the output needs (or a subgraph)."""
    tiny_onnx(path)
    model = onnx.load(str(path))
    model.graph.node.extend(extra_nodes)
    model.graph.initializer.extend(extra_inits)
    onnx.save(model, str(path))
    return path


def _qdq_pair(src: str, tag: str) -> list[onnx.NodeProto]:
    return [
        helper.make_node("QuantizeLinear", [src, f"s{tag}"], [f"q{tag}"]),
        helper.make_node("DequantizeLinear", [f"q{tag}", f"s{tag}"], [f"dq{tag}"]),
    ]


def _cast_pair(src: str, dst: str) -> list[onnx.NodeProto]:
    return [
        helper.make_node("Cast", [src], [f"{src}_half"], to=TensorProto.FLOAT16),
        helper.make_node("Cast", [f"{src}_half"], [dst], to=TensorProto.FLOAT),
    ]


def _rerouted(path: Path, nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], into: str = "") -> Path:
    """The tiny classifier with ``nodes`` spliced in: before the MatMul (its input renamed
    ``into``), or after the final Add (whose output becomes ``pre``)."""
    tiny_onnx(path)
    model = onnx.load(str(path))
    if into:
        model.graph.node[1].input[0] = into
        model.graph.node.insert(1, nodes[-1])
        for n in reversed(nodes[:-1]):
            model.graph.node.insert(1, n)
    else:
        model.graph.node[-1].output[0] = "pre"
        model.graph.node.extend(nodes)
    model.graph.initializer.extend(inits)
    onnx.save(model, str(path))
    return path


def test_a_torchscript_that_fails_when_run_is_named_not_an_internal_error(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """An archive whose code raises on the gate's input (here on purpose; v1's frozen archive
    with a HalfStorage in a member torch never loads was run in half against float constants)
    was exit 3; it is the artifact's failure, its message escaped."""
    torch = pytest.importorskip("torch")

    class Boom(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.shape[0] > 0:
                raise RuntimeError("this input\x1b[2J is not taken")
            return x

    path = case["dir"] / "boom.pt"
    torch.jit.save(torch.jit.script(Boom()), str(path))
    code, _, err = cli("parity", "--golden", case["bundle"], path, capsys=capsys)
    assert code in (1, 2), err
    assert "boom.pt: TorchScript cannot run it" in err and "internal error" not in err
    assert "\x1b" not in err


def test_a_half_pickle_torch_never_loads_is_not_evidence(tmp_path: Path) -> None:
    """``torchscript_facts`` read every member named */data.pkl: an extra ``archive/junk/data.pkl``
    naming ``torch HalfStorage`` made an FP32 archive FP16 (limits 500x looser)."""
    import zipfile

    from inception_export.facts import torchscript_facts

    path = tmp_path / "lie.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02ctorch\nFloatStorage\nq\x00.")
        zf.writestr("archive/constants.pkl", b"\x80\x02ctorch\nFloatStorage\nq\x00.")
        zf.writestr("archive/junk/data.pkl", b"\x80\x02ctorch\nHalfStorage\nq\x00.")
    facts = torchscript_facts(path)
    assert facts.precision == "fp32" and "HalfStorage" not in facts.storages


def test_torchscript_precision_is_the_storage_holding_most_bytes(tmp_path: Path) -> None:
    """One float16 buffer in an FP32 module is not an FP16 archive (it bought FP16's limits, 500x
    FP32's); a half module with a float32 buffer is FP16. Real archives, read without loading."""
    import torch

    from inception_export.facts import torchscript_facts

    fp32 = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 3)).eval()
    fp32.register_buffer("odd", torch.zeros(16, dtype=torch.half))
    torch.jit.save(torch.jit.script(fp32), str(tmp_path / "fp32.pt"))
    half = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 3)).eval().half()
    half.register_buffer("odd", torch.zeros(16, dtype=torch.float))
    torch.jit.save(torch.jit.script(half), str(tmp_path / "fp16.pt"))
    for name in ("fp32", "fp16"):
        facts = torchscript_facts(tmp_path / f"{name}.pt")
        assert {"FloatStorage", "HalfStorage"} <= set(facts.storages)
        assert facts.precision == name, facts.evidence


def _matmul_chain(quantized: int, layers: int = 3) -> onnx.GraphProto:
    """``layers`` MatMuls in a row, the first ``quantized`` of them on QDQ'd weights."""
    nodes, inits, prev = [], [numpy_helper.from_array(np.array(0.05, np.float32), "s")], "x"
    for i in range(layers):
        inits.append(numpy_helper.from_array(np.eye(4, dtype=np.float32), f"W{i}"))
        weight = f"W{i}"
        if i < quantized:
            nodes += [
                helper.make_node("QuantizeLinear", [weight, "s"], [f"q{i}"]),
                helper.make_node("DequantizeLinear", [f"q{i}", "s"], [f"dq{i}"]),
            ]
            weight = f"dq{i}"
        nodes.append(helper.make_node("MatMul", [prev, weight], [f"y{i}"]))
        prev = f"y{i}"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, 4])
    return helper.make_graph(nodes, "chain", [x], [y], inits)


def test_one_qdq_pair_does_not_buy_int8_limits_for_a_float_graph() -> None:
    """A QDQ pair on one conv of v1's FP32 ONNX, whose first conv was scaled by 1.10, passed
    ``parity --golden`` (exit 0, rel L2 0.099 under INT8's 0.15): INT8 is most layers quantized."""
    from inception_export.onnx_graph import graph_facts

    one = graph_facts(_matmul_chain(1))
    assert one.precision == "fp32" and "only 1 of 3 Conv/Gemm/MatMul" in one.evidence
    assert graph_facts(_matmul_chain(2)).precision == "int8"  # the classifier left in float
    assert graph_facts(_matmul_chain(1, layers=2)).precision == "int8"


def test_precision_of_odd_graphs(case: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """Only what computes the output counts: a dead QDQ pair, QDQ inside a subgraph or a float16
    value_info hint do not buy looser limits; a live Cast to float16 is FP16 compute."""
    from inception_export.facts import onnx_facts

    tmp_path = case["dir"]
    scale = numpy_helper.from_array(np.array(0.1, np.float32), "s0")
    scale2 = numpy_helper.from_array(np.array(0.1, np.float32), "s2")
    dead = _graph_with(_qdq_pair("b", "0"), [scale], tmp_path / "dead-qdq.onnx")
    assert onnx_facts(dead).precision == "fp32"  # type: ignore[union-attr]
    assert "2 QuantizeLinear/DequantizeLinear ignored" in onnx_facts(dead).evidence  # type: ignore[union-attr]
    claim = _with_record(dead, tmp_path / "dead-claim.onnx", record={"model": "tiny", "precision": "int8"})
    code, _, err = cli("parity", "--golden", case["bundle"], claim, capsys=capsys)
    assert code == 2 and "says precision 'int8' but the artifact is 'fp32'" in one_error(err)

    # QDQ only inside a subgraph: an If whose branches quantize a copy of the logits.
    branch = helper.make_graph(
        [*_qdq_pair("logits", "1"), helper.make_node("Identity", ["dq1"], ["out1"])],
        "branch",
        [],
        [helper.make_tensor_value_info("out1", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array(0.1, np.float32), "s1")],
    )
    cond = numpy_helper.from_array(np.array(True), "cond")
    sub = _graph_with(
        [helper.make_node("If", ["cond"], ["unused"], then_branch=branch, else_branch=branch)],
        [cond],
        tmp_path / "subgraph-qdq.onnx",
    )
    assert onnx_facts(sub).precision == "fp32"  # type: ignore[union-attr]

    # On the logits' path but feeding no weight layer: a Cast to float16 and back, or a QDQ pair,
    # rounds the output a little and would have bought FP16's or INT8's limits.
    for kind, nodes, inits in [
        ("cast", _cast_pair("pre", "logits"), []),
        ("qdq-logits", [*_qdq_pair("pre", "2"), helper.make_node("Identity", ["dq2"], ["logits"])], [scale2]),
    ]:
        path = _rerouted(tmp_path / f"{kind}.onnx", nodes, inits)
        assert onnx_facts(path).precision == "fp32", kind  # type: ignore[union-attr]
    # Where the weight layer itself takes them, they are what the graph computes in.
    half_mm = tmp_path / "half-mm.onnx"
    tiny_onnx(half_mm)
    model = onnx.load(str(half_mm))
    w = model.graph.initializer[0]
    w.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w).astype(np.float16), "W"))
    model.graph.node[1].input[0], model.graph.node[1].output[0] = "flat_h", "mm_h"
    model.graph.node.insert(1, helper.make_node("Cast", ["flat"], ["flat_h"], to=TensorProto.FLOAT16))
    model.graph.node.insert(3, helper.make_node("Cast", ["mm_h"], ["mm"], to=TensorProto.FLOAT))
    onnx.save(model, str(half_mm))
    assert onnx_facts(half_mm).precision == "fp16"  # type: ignore[union-attr]
    qdq_mm = _rerouted(
        tmp_path / "qdq-mm.onnx",
        _qdq_pair("flat", "3"),
        [numpy_helper.from_array(np.array(0.05, np.float32), "s3")],
        into="dq3",
    )
    assert onnx_facts(qdq_mm).precision == "int8"  # type: ignore[union-attr]
    hinted = tmp_path / "hint.onnx"
    tiny_onnx(hinted)
    model = onnx.load(str(hinted))
    model.graph.value_info.append(helper.make_tensor_value_info("mm", TensorProto.FLOAT16, None))
    onnx.save(model, str(hinted))
    assert onnx_facts(hinted).precision == "fp32"  # type: ignore[union-attr]

    # An empty graph is no artifact at all.
    empty = tmp_path / "empty.onnx"
    graph = helper.make_graph([], "empty", [], [])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(empty))
    code, _, err = cli("parity", "--golden", case["bundle"], empty, capsys=capsys)
    assert code == 2 and "not a TorchScript, ONNX or TensorRT artifact" in one_error(err)


def _loose_bundle(case: dict[str, Any], **limits: float) -> Path:
    meta = json.loads(json.dumps(case["meta"]))
    meta["tolerance_profile"]["limits"]["fp32"].update(limits)
    return write_bundle(case["dir"] / f"loose-{'-'.join(limits)}.npz", meta, case["sets"])


def test_bundle_limits_past_the_bound_are_refused(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """A re-hashed bundle with rel_l2 = 1e308 and top1_agreement = 0 passed anything."""
    bundle = _loose_bundle(case, rel_l2=1e308, top1_agreement=0.0)
    code, _, err = cli("parity", "--golden", bundle, case["broken"], capsys=capsys)
    assert code == 2, err
    line = one_error(err)
    assert "limit [fp32] rel_l2 = 1e+308 (bound 0.0001) and 1 more" in line and "--allow-loose-limits" in line
    code, _, err = cli(
        "parity", "--golden", _loose_bundle(case, top1_agreement=0.5), case["good"], capsys=capsys
    )
    assert code == 2 and "[fp32] top1_agreement = 0.5 (bound 1)" in one_error(err)
    # Asked for, the loose limits are taken, and every report says they are beyond the bound.
    junit = case["dir"] / "loose.xml"
    code, out, err = cli(
        "parity", "--golden", bundle, case["broken"], "--allow-loose-limits", "--json", "--junit", junit,
        capsys=capsys,
    )  # fmt: skip
    assert code == 1, err  # max_abs_rel still fails: only rel_l2 and top-1 were loosened
    report = json.loads(out)
    assert report["limits_within_bound"] is False
    assert report["limits_beyond_bound"][0].startswith("[fp32] rel_l2 = 1e+308")
    assert "limits beyond the built-in bound" in err  # the table (on stderr with --json)
    props = {p.get("name"): p.get("value") for p in ET.parse(junit).getroot().iter("property")}
    assert props["limits_within_bound"] == "false" and "rel_l2 = 1e+308" in props["limits_beyond_bound"]


def test_profile_file_past_the_bound_needs_the_option(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from inception_export.parity.tolerances import PROFILES, beyond_bound, bound

    assert all(beyond_bound(limits) == [] for limits in PROFILES.values())
    assert bound("fp16").rel_l2 == pytest.approx(10 * PROFILES["default"]["fp16"].rel_l2)
    assert bound("int8").top1_agreement == PROFILES["default"]["int8"].top1_agreement
    prof = case["dir"] / "loose.toml"
    prof.write_text("[fp32]\nmax_abs_rel = 1e-3\n")
    args = ("parity", "--golden", case["bundle"], case["good"], "--tolerance-profile", prof)
    code, _, err = cli(*args, capsys=capsys)
    assert code == 2 and "[fp32] max_abs_rel = 0.001 (bound 0.0001)" in one_error(err)
    summary = case["dir"] / "loose.md"
    code, out, err = cli(*args, "--allow-loose-limits", "--summary", summary, capsys=capsys)
    assert code == 0, err
    assert "limits beyond the built-in bound" in out and "max_abs_rel = 0.001" in out
    # The CI page's verdict says so too: a pass under loosened limits is not a plain pass.
    text = summary.read_text()
    assert "beyond the built-in bound" in text and "max\\_abs\\_rel = 0.001" in text, text


def test_a_profile_file_that_is_not_a_table_is_refused(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """A JSON profile holding a list or a string was a TypeError/AttributeError (exit 3)."""
    for i, body in enumerate(("[1]", '"strict"')):
        prof = case["dir"] / f"not-a-table-{i}.json"
        prof.write_text(body)
        code, _, err = cli(
            "parity", "--golden", case["bundle"], case["good"], "--tolerance-profile", prof, capsys=capsys
        )
        assert code == 2 and "a tolerance profile is a table" in one_error(err)


def test_an_int8_graph_against_a_bundle_without_int8_limits(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """Bundles made before INT8 hold fp32/fp16 limits only: an INT8 graph is refused with why."""
    qdq = _rerouted(
        case["dir"] / "qdq.onnx",
        _qdq_pair("flat", "3"),
        [numpy_helper.from_array(np.array(0.05, np.float32), "s3")],
        into="dq3",
    )
    meta = json.loads(json.dumps(case["meta"]))
    del meta["tolerance_profile"]["limits"]["int8"]
    bundle = write_bundle(case["dir"] / "no-int8.npz", meta, case["sets"])
    code, _, err = cli("parity", "--golden", bundle, qdq, capsys=capsys)
    assert code == 2 and "computes in int8" in one_error(err) and "no int8 table" in one_error(err)
