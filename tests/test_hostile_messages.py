"""Issue 17, "right words, right exit codes": bad input is exit 2 with one line, the verdict's
exit code survives whatever the pipes do, and messages say what really happened.

Built from small generated files (the hand-made ONNX classifier and bundles of
``test_hostile_gate``); in-process where the process boundary is not what is tested.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from helpers import SIZE, cli, one_error, tiny_onnx
from onnx import TensorProto, helper, numpy_helper

from inception_export.parity.bundle import npz_bytes


def _raw_bundle(path: Path, meta_text: str, arrays: dict[str, np.ndarray] | None = None) -> Path:
    raw = np.frombuffer(meta_text.encode(), dtype=np.uint8)
    path.write_bytes(npz_bytes({"meta": raw, **(arrays or {})}))
    return path


def _proc(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env.update({"NO_COLOR": "1", **kw.pop("env", {})})
    return subprocess.run(
        [sys.executable, "-m", "inception_export", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        **kw,
    )


# --- item 13: bad input is exit 2 with one line, never "internal error" ---------------------


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


MEMORY_GUARD = """
import resource, sys
import torch  # imported before the limit: its own mappings are not what is tested
from inception_export.cli.app import main
vm = next(int(ln.split()[1]) * 1024 for ln in open("/proc/self/status") if ln.startswith("VmSize"))
resource.setrlimit(resource.RLIMIT_AS, (vm + (2 << 30),) * 2)
main(sys.argv[1:])
"""


def test_out_of_memory_is_exit_2_not_internal_error(tmp_path: Path) -> None:
    # 500 inputs at 896x896 need ~10 GB of float64 random draws: more than the 2 GiB allowed.
    args = ["golden", "-m", "v1", "--samples", "500", "--input-size", "896", "-o", str(tmp_path / "g.npz")]
    env = {**os.environ, "NO_COLOR": "1"}
    res = subprocess.run(
        [sys.executable, "-c", MEMORY_GUARD, *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert res.returncode == 2, res.stderr[-2000:]
    assert "out of memory" in one_error(res.stderr)
    assert not (tmp_path / "g.npz").exists()


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


def test_grayscale_alpha_16_bit_and_cmyk_images(tmp_path: Path) -> None:
    from PIL import Image

    from inception_export.errors import UsageError
    from inception_export.images import read_image

    Image.new("LA", (16, 12), (100, 50)).save(tmp_path / "la.png")
    la = read_image(tmp_path / "la.png")
    assert la.shape == (12, 16, 3) and la.dtype == np.uint8 and (la == 100).all()
    grey16 = (np.arange(32 * 32).reshape(32, 32) * 60).astype(np.uint16)
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    got = read_image(tmp_path / "g16.png")
    assert got.shape == (32, 32, 3)
    assert np.abs(got[..., 0].astype(int) - np.round(grey16 / 257.0)).max() == 0  # scaled, not all-255
    Image.new("CMYK", (8, 8), (0, 255, 0, 0)).save(tmp_path / "c.jpg")
    with pytest.raises(UsageError, match="CMYK image; convert it to RGB first"):
        read_image(tmp_path / "c.jpg")


# --- item 14: the exit code is the verdict's whatever the pipes do -------------------------


def _shell(case: dict[str, Any], artifact: str, redirect: str, *extra: str) -> int:
    cmd = [
        sys.executable,
        "-m",
        "inception_export",
        "parity",
        "--golden",
        str(case["bundle"]),
        str(case[artifact]),
        *extra,
    ]
    line = " ".join(f"'{c}'" for c in cmd) + " " + redirect
    return subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=120).returncode


def test_closed_streams_keep_the_verdict(case: dict[str, Any]) -> None:
    assert _shell(case, "good", ">&-") == 0
    assert _shell(case, "broken", ">&-") == 1
    assert _shell(case, "good", "2>&-") == 0
    assert _shell(case, "broken", ">&- 2>&-") == 1


def _with_closed_reader(case: dict[str, Any], artifact: str, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "inception_export",
        "parity",
        "--golden",
        str(case["bundle"]),
        str(case[artifact]),
        *extra,
    ]
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written: every write is EPIPE
    try:
        proc = subprocess.run(cmd, stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    return subprocess.CompletedProcess(cmd, proc.returncode, "", proc.stderr)


def test_broken_pipe_keeps_the_verdict_and_json_says_it_was_lost(case: dict[str, Any]) -> None:
    res = _with_closed_reader(case, "good")
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    res = _with_closed_reader(case, "broken")
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    res = _with_closed_reader(case, "good", "--json")
    assert res.returncode == 2
    assert "stdout was closed before the JSON result was written" in one_error(res.stderr)


def test_ascii_stdout_escapes_what_it_cannot_encode(case: dict[str, Any]) -> None:
    named = case["dir"] / "modèle-ü.onnx"
    named.write_bytes(case["broken"].read_bytes())
    res = _proc(["parity", "--golden", str(case["bundle"]), str(named)], env={"PYTHONIOENCODING": "ascii"})
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert "mod\\xe8le-\\xfc.onnx" in res.stdout + res.stderr


# --- item 15: narrow terminals -------------------------------------------------------------


def test_columns_0_and_20_still_print_errors_and_whole_numbers(case: dict[str, Any]) -> None:
    for columns in ("0", "20"):
        res = _proc(
            ["parity", "--golden", str(case["bundle"]), str(case["broken"])], env={"COLUMNS": columns}
        )
        assert res.returncode == 1
        assert "gate FAILED" in res.stdout and "FAIL broken.onnx: rel_l2 = " in res.stderr, columns
        assert "exceeds limit 1e-05" in res.stderr
        rel = next(ln for ln in res.stdout.splitlines() if ln.strip().startswith("rel L2"))
        assert float(rel.split()[-1]) > 0.1  # the whole number, not cut mid-exponent
        assert "…" not in res.stdout and "min cosine" in res.stdout
        res = _proc(
            ["parity", "--golden", str(case["dir"] / "none.npz"), str(case["good"])], env={"COLUMNS": columns}
        )
        assert res.returncode == 2 and "golden bundle not found" in one_error(res.stderr)


# --- item 16: resources bounded and said ---------------------------------------------------


def test_threads_are_capped_at_the_cores(capsys: pytest.CaptureFixture[str]) -> None:
    from inception_export.cli.options import check_threads, usable_cores

    assert check_threads(10_000) == usable_cores()
    assert "capped at the" in capsys.readouterr().err
    assert check_threads(1) == 1 and check_threads(None) is None


def test_images_dir_is_bounded_and_fifos_refused(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from inception_export.images import MAX_IMAGES

    many = case["dir"] / "many"
    many.mkdir()
    for i in range(MAX_IMAGES + 1):
        (many / f"{i:05d}.png").touch()
    code, _, err = cli("parity", "-m", "v1", "--images", many, case["good"], capsys=capsys)
    assert code == 2 and f"at most {MAX_IMAGES}" in one_error(err)
    fifo_dir = case["dir"] / "fifo"
    fifo_dir.mkdir()
    os.mkfifo(fifo_dir / "photo.png")
    code, _, err = cli("parity", "-m", "v1", "--images", fifo_dir, case["good"], capsys=capsys)
    assert code == 2 and "FIFO" in one_error(err)


# --- item 18: --keep-fp32 names that BN folding removes ------------------------------------


def test_keep_fp32_maps_a_bn_to_its_unit_or_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import synthetic_model

    from inception_export.errors import UsageError
    from inception_export.full.export.layers import resolve_modules

    net = synthetic_model("googlenet")
    assert resolve_modules(net, ["conv1.bn", "conv2.conv"], "googlenet") == ["conv1", "conv2"]
    assert "kept as its unit conv1" in capsys.readouterr().err
    assert resolve_modules(net, ["inception3a"], "googlenet") == ["inception3a"]  # a block of units
    with pytest.raises(UsageError, match=r"holds no layer that can stay float32.*conv"):
        resolve_modules(net, ["maxpool1"], "googlenet")


# --- item 19: onnxruntime failing to start its threads ---------------------------------------


def test_thread_start_failure_is_a_resource_error_not_the_artifact() -> None:
    from inception_export.errors import ResourceError
    from inception_export.runners.onnxruntime_runner import load_error

    # The text onnxruntime gave under memory pressure: ~200 characters of source location first.
    text = (
        "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Exception during initialization: "
        "/onnxruntime_src/onnxruntime/core/platform/posix/env.cc:183 "
        "onnxruntime::{anonymous}::PosixThread::PosixThread(const char*, int, unsigned int (*)(int, "
        "Eigen::ThreadPoolInterface*), Eigen::ThreadPoolInterface*, const onnxruntime::ThreadOptions&) "
        "pthread_create failed, error code: 11 error msg: Resource temporarily unavailable"
    )
    exc = load_error("m.onnx", RuntimeError(text))
    assert isinstance(exc, ResourceError)
    assert "cannot load" not in str(exc)
    assert "pthread_create failed, error code: 11 error msg: Resource temporarily unavailable" in str(exc)
    other = load_error(
        "m.onnx", RuntimeError("[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model failed")
    )
    assert "onnxruntime cannot load it" in str(other)


# --- item 20: wording --------------------------------------------------------------------------


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


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        # Each named a path that exists as "not found", "missing" or "not a regular file".
        (["inspect", "-m", "v1", "-w", "{fifo}"], "is a FIFO (named pipe), not a checkpoint file"),
        (
            ["inspect", "-m", "v1", "-w", "/dev/zero"],
            "/dev/zero is a character device, not a checkpoint file",
        ),
        (["trt-manifest", "{fifo}", "--onnx", "{good}"], "a FIFO (named pipe), not an engine file"),
        (
            ["onnx", "-m", "v1", "--precision", "int8", "--calibration", "{good}", "-o", "{dir}/q.onnx"],
            ": a regular file, not a directory",
        ),
        # Escaped once, by the error line: repr() of an escaped name doubled the backslash.
        (
            ["release", "-m", "v1", "--deploy", "triton,\x1b[2J", "-o", "{dir}/r"],
            "--deploy 'triton,\\x1b[2J':",
        ),
    ],
    ids=["weights-fifo", "weights-dev-zero", "engine-fifo", "calibration-file", "escaped-once"],
)
def test_what_a_path_is_is_said_as_it_is(case: dict[str, Any], args: list[str], needle: str) -> None:
    from conftest import assert_one_line_error, run_cli_here

    fifo = case["dir"] / "fifo"
    os.mkfifo(fifo)
    names = {"fifo": str(fifo), "good": str(case["good"]), "dir": str(case["dir"])}
    res = run_cli_here(*[a.format(**names) for a in args])
    assert_one_line_error(res, 2, needle)


def test_inspect_table_escapes_a_weights_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch
    from conftest import synthetic_model

    weights = tmp_path / "w\x1b[31m[bold]red\n.pth"
    torch.save(synthetic_model("googlenet").state_dict(), weights)
    code, out, err = cli("inspect", "-m", "v1", "--weights", weights, capsys=capsys)
    assert code == 0, err
    assert "\x1b" not in out and "w\\x1b[31m[bold]red\\n.pth" in "".join(out.split())
