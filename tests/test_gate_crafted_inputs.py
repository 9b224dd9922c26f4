"""The gate cannot be fooled: crafted golden bundles and artifacts, built small, and the one
``error:`` line (exit 2) each bad bundle or artifact gets.

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
from conftest import CliResult, assert_one_line_error
from helpers import SIZE, N, bundle_parts, cli, one_error, tiny_onnx, write_bundle
from onnx import TensorProto, helper, numpy_helper

from inception_export.parity.bundle import encode_bundle, npz_bytes
from inception_export.parity.reference import ReferenceSet


def test_the_tiny_gate_passes_and_fails_as_it_should(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli("parity", "--golden", case["bundle"], case["good"], "--json", capsys=capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["limits_from"] == "golden bundle golden.npz"
    code, _, err = cli("parity", "--golden", case["bundle"], case["broken"], capsys=capsys)
    assert code == 1, err


# --- the bundle's own limits -------------------------------------------------------


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


# --- sizes checked before anything is decompressed --------------------------------


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


# --- text from a bundle never reaches the terminal raw ------------------------------

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


# --- TorchScript archives are code ------------------------------------------------


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


# --- limits within a bound (the precision they are read for: test_gate_precision.py) -------


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


# --- engine manifests and ONNX files are read bounded ------------------------------------


def _limited_memory() -> None:
    # A regression must fail the test, not exhaust the machine: 3 GiB of address space.
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def _gate_here(release: Path, artifact: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "inception_export",
            "parity",
            "--golden",
            str(release / "golden.npz"),
            str(artifact),
        ],
        capture_output=True,
        text=True,
        timeout=60,  # a FIFO read blocked forever
        preexec_fn=_limited_memory,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )


def test_engine_manifest_fifo_device_or_deep_nesting_is_one_line(
    v1_release: tuple[Path, Any], tmp_path: Path
) -> None:
    from inception_export.errors import ArtifactError
    from inception_export.tensorrt.manifest import read_manifest

    release, _ = v1_release
    engine = tmp_path / "x.engine"
    engine.write_bytes(b"ftrt" + bytes(60))  # a plan's magic: dispatched as an engine
    manifest = tmp_path / "x.engine.json"
    os.mkfifo(manifest)
    res = _gate_here(release, engine)
    assert_one_line_error(CliResult(res.returncode, res.stdout, res.stderr), 2, "FIFO")
    manifest.unlink()
    manifest.symlink_to("/dev/zero")
    res = _gate_here(release, engine)
    assert_one_line_error(CliResult(res.returncode, res.stdout, res.stderr), 2, "character device")
    manifest.unlink()
    manifest.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ArtifactError, match="nested too deeply"):
        read_manifest(engine)


def test_an_onnx_larger_than_the_memory_left_is_refused_before_loading(
    v1_release: tuple[Path, Any], tmp_path: Path
) -> None:
    release, _ = v1_release
    big = tmp_path / "big.onnx"
    with open(big, "wb") as fh:
        fh.truncate(4 << 30)  # sparse: 4 GiB claimed, no disk used
    res = _gate_here(release, big)
    assert_one_line_error(CliResult(res.returncode, res.stdout, res.stderr), 2, "MiB of memory", "not loaded")


# --- bad input is exit 2 with one line, never "internal error" ---------------------------


def _raw_bundle(path: Path, meta_text: str, arrays: dict[str, np.ndarray] | None = None) -> Path:
    raw = np.frombuffer(meta_text.encode(), dtype=np.uint8)
    path.write_bytes(npz_bytes({"meta": raw, **(arrays or {})}))
    return path


def _bad_records(meta: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """name -> (metadata text, a word the one error line must hold)."""
    header = '{"format": "inception-export/golden-bundle", "schema": 1, "x": '
    no_tool = {k: v for k, v in meta.items() if k != "tool"}
    return {
        "deeply nested": (header + "[" * 100_000 + "]" * 100_000 + "}", "unreadable metadata"),
        "num_classes a string": (json.dumps(dict(meta, num_classes="ten")), "num_classes"),
        "sets a list": (json.dumps(dict(meta, sets=[1, 2])), "no golden inputs"),
        "limits a string": (
            json.dumps(dict(meta, tolerance_profile={"name": "x", "limits": "loose"})),
            "tolerance",
        ),
        "no tool": (json.dumps(no_tool), "no tool"),
        "model null": (json.dumps(dict(meta, model=None)), "no model"),
        "empty set": (
            json.dumps(dict(meta, sets={"float": {"names": [], "kinds": [], "inputs": []}})),
            "holds no golden inputs",
        ),
    }


def test_malformed_bundle_metadata_is_exit_2(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    meta = dict(
        case["meta"], sets={"float": {"names": ["a"], "kinds": ["random"], "inputs": [{}]}}, arrays={}
    )
    for name, (text, word) in _bad_records(meta).items():
        bundle = _raw_bundle(case["dir"] / "bad.npz", text)
        code, _, err = cli("parity", "--golden", bundle, case["good"], capsys=capsys)
        assert code == 2, (name, err)
        line = one_error(err)
        assert word in line and "internal error" not in line, (name, line)
        assert "None" not in line, (name, line)


def _onnx_graph(
    path: Path, nodes: list[Any], inits: list[np.ndarray], names: list[str], out_shape: list[Any]
) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, out_shape)
    tensors = [numpy_helper.from_array(a, n) for a, n in zip(inits, names, strict=True)]
    model = helper.make_model(
        helper.make_graph(nodes, "g", [x], [y], tensors), opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_artifacts_of_another_shape_are_exit_2(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    w7 = np.ones((3 * SIZE * SIZE, 7), np.float32)
    seven = _onnx_graph(
        case["dir"] / "seven.onnx",
        [
            helper.make_node("Flatten", ["x"], ["f"], axis=1),
            helper.make_node("MatMul", ["f", "W"], ["logits"]),
        ],
        [w7],
        ["W"],
        ["batch", 7],
    )
    code, _, err = cli("parity", "--golden", case["bundle"], seven, capsys=capsys)
    assert code == 2 and "gives 7 classes, the reference 10" in one_error(err)
    # Output batch fixed at 1 whatever the input batch: rows cannot be matched.
    w10 = np.ones((3 * SIZE * SIZE, 10), np.float32)
    pooled = _onnx_graph(
        case["dir"] / "pooled.onnx",
        [
            helper.make_node("Flatten", ["x"], ["f"], axis=1),
            helper.make_node("MatMul", ["f", "W"], ["m"]),
            helper.make_node("ReduceMean", ["m"], ["logits"], axes=[0], keepdims=1),
        ],
        [w10],
        ["W"],
        [1, 10],
    )
    code, _, err = cli("parity", "--golden", case["bundle"], pooled, capsys=capsys)
    assert code == 2 and "for a batch of" in one_error(err)


def test_sizes_and_outputs_are_refused_before_work(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli("parity", "-m", "v1", "--samples", "100000", case["good"], capsys=capsys)
    assert code == 2 and "--samples 100000" in one_error(err)
    code, _, err = cli("bench", "-m", "v1", "--batch", "100000", capsys=capsys)
    assert code == 2 and "--batch: 100000" in one_error(err)
    code, out, err = cli(
        "parity", "--golden", case["bundle"], case["good"], "--junit", case["dir"], capsys=capsys
    )
    assert code == 2 and "is a directory" in one_error(err) and out == ""
    assert "parity gate" not in err  # refused before the gate ran


def test_file_errors_of_named_paths_are_exit_2(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # Path.exists() raises (not False) for a name longer than the file system allows.
    long_name = case["dir"] / ("a" * 300 + ".onnx")
    code, _, err = cli("parity", "--golden", case["bundle"], long_name, capsys=capsys)
    assert code == 2 and "File name too long" in one_error(err)
    code, _, err = cli("parity", "--golden", long_name.with_suffix(".npz"), case["good"], capsys=capsys)
    assert code == 2 and "File name too long" in one_error(err)


def test_wording(case: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    junk = case["dir"] / "junk.npz"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    code, _, err = cli("parity", "--golden", junk, case["good"], capsys=capsys)
    assert code == 2 and "trust" not in one_error(err) and "corrupt" in one_error(err)
    fifo = case["dir"] / "g.npz"
    os.mkfifo(fifo)
    code, _, err = cli("parity", "--golden", fifo, case["good"], capsys=capsys)
    assert code == 2 and "a FIFO (named pipe), not a regular file" in one_error(err)
    fifo_art = case["dir"] / "a.onnx"
    os.mkfifo(fifo_art)
    code, _, err = cli("parity", "--golden", case["bundle"], fifo_art, capsys=capsys)
    assert code == 2 and "a FIFO (named pipe), not a regular file" in one_error(err)
    code, _, err = cli(
        "parity", "--golden", case["bundle"], case["broken"], "--tolerance-profile", "strict", capsys=capsys
    )
    assert code == 1 and "is below limit 0.999999" in err  # the limit as configured, not "1"
    from inception_export.parity.numfmt import failure_message

    assert failure_message("min_cosine", 0.0, 0.99999, "min") == "min_cosine = 0 is below limit 0.99999"
    empty = case["dir"] / "empty.onnx"
    empty.touch()
    from inception_export.errors import ArtifactError
    from inception_export.tensorrt.onnx_input import read_onnx_input

    with pytest.raises(ArtifactError, match="an empty file, not an ONNX model"):
        read_onnx_input(empty)
