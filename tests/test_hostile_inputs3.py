"""The third hostile-input pass (2026-12-01): inputs that hung, exhausted memory, wrote
outside what the user named, or ended in a traceback (exit 3) instead of one line and exit 2."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from conftest import CliResult, assert_one_line_error, run_cli, run_cli_here

from inception_export import get_spec
from inception_export.errors import UsageError
from inception_export.full.export.calibration import read_calibration
from inception_export.images import read_image
from inception_export.parity.tolerances import load_profile


def _release_copy(v1_release: tuple[Path, Any], tmp_path: Path) -> Path:
    release, _ = v1_release
    copy = tmp_path / "rel"
    shutil.copytree(release, copy)
    return copy


def test_deploy_refuses_a_device_or_fifo_as_its_manifest(
    v1_release: tuple[Path, Any], tmp_path: Path
) -> None:
    # /dev/zero as manifest.json was read without end until the kernel killed the process
    # (24 GB); a FIFO blocked the read forever.
    rel = _release_copy(v1_release, tmp_path)
    (rel / "manifest.json").unlink()
    (rel / "manifest.json").symlink_to("/dev/zero")
    res = run_cli_here("deploy", "triton", "--release", str(rel), "-o", str(tmp_path / "t1"))
    assert_one_line_error(res, 2, "character device, not a regular file")
    (rel / "manifest.json").unlink()
    os.mkfifo(rel / "manifest.json")
    res = run_cli_here("deploy", "triton", "--release", str(rel), "-o", str(tmp_path / "t2"))
    assert_one_line_error(res, 2, "FIFO")
    assert not (tmp_path / "t1").exists() and not (tmp_path / "t2").exists()


def test_class_names_from_a_device_is_refused(v1_release: tuple[Path, Any], tmp_path: Path) -> None:
    release, _ = v1_release
    zero = tmp_path / "names.txt"
    zero.symlink_to("/dev/zero")
    out = tmp_path / "t"
    res = run_cli_here(
        "deploy", "triton", "--release", str(release), "-o", str(out), "--class-names", str(zero)
    )
    assert_one_line_error(res, 2, "--class-names", "not a regular file")
    assert not out.exists()


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


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims ``width`` x ``height`` (8-bit grey) with a token IDAT: the
    size PIL's open() sees, without gigabytes on disk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


def test_images_that_would_exhaust_memory_are_refused(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # 900 M pixels: PIL's own guard raised DecompressionBombError (exit 3); at 90 M it printed
    # its warning on stderr before our refusal.
    for pixels in (30_000, 9_500):
        bomb = tmp_path / f"bomb{pixels}.png"
        _png_header_only(bomb, pixels, pixels)
        with pytest.raises(UsageError, match="larger than 64,000,000 pixels"):
            read_image(bomb)
    # A 1,000,000 x 1 strip: the short side resized to the model's made a 64 GB tensor.
    strip = tmp_path / "strip.png"
    _png_header_only(strip, 1_000_000, 1)
    with pytest.raises(UsageError, match="more than 100:1"):
        read_image(strip)
    assert capfd.readouterr().err == ""


def test_calibration_file_name_that_is_not_utf8(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    cal = tmp_path / "cal"
    cal.mkdir()
    name = os.fsdecode(b"bad\xff\xfe.png")
    pixels = np.random.default_rng(0).integers(0, 256, (80, 96, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(cal / name)
    got = read_calibration(cal, get_spec("v1"), 64, samples=4)
    assert got.names == [name] and len(got.sha256) == 64


def test_negative_seed_is_one_line(tmp_path: Path) -> None:
    res = run_cli_here("onnx", "--model", "v1", "--seed", "-1", "-o", str(tmp_path / "x.onnx"))
    assert_one_line_error(res, 2, "--seed")
    assert not list(tmp_path.iterdir())


def test_dangling_symlink_outputs_are_refused(v1_release: tuple[Path, Any], tmp_path: Path) -> None:
    # Followed, they created files and folders wherever they pointed.
    missing = tmp_path / "nowhere" / "x"
    link = tmp_path / "out.onnx"
    link.symlink_to(missing)
    res = run_cli_here("onnx", "--model", "v1", "-o", str(link))
    assert_one_line_error(res, 2, "symlink", "does not exist")
    release, _ = v1_release
    dir_link = tmp_path / "deploy-out"
    dir_link.symlink_to(missing)
    res = run_cli_here("deploy", "triton", "--release", str(release), "-o", str(dir_link))
    assert_one_line_error(res, 2, "symlink", "does not exist")
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.slow
def test_output_fifo_with_no_reader_is_one_line(tmp_path: Path) -> None:
    # The write used to block forever waiting for a reader.
    fifo = tmp_path / "g.npz"
    os.mkfifo(fifo)
    res = run_cli(
        "golden", "--model", "v1", "--input-size", "64", "--samples", "1", "-o", str(fifo), timeout=300
    )
    assert_one_line_error(res, 2, "FIFO with nothing reading it")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.npz"]


# --- engine manifests, metadata sidecars and ONNX files are read bounded ----------------------


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


def test_a_metadata_sidecar_that_is_a_fifo_is_refused_not_skipped(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    from inception_export.errors import ArtifactError
    from inception_export.metadata import read_metadata

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])
    foreign = tmp_path / "foreign.onnx"  # no embedded record: the sidecar is the one read
    onnx.save(
        helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])),
        foreign,
    )
    os.mkfifo(tmp_path / "foreign.onnx.json")
    with pytest.raises(ArtifactError, match="FIFO"):
        read_metadata(foreign)


def test_an_onnx_larger_than_the_memory_left_is_refused_before_loading(
    v1_release: tuple[Path, Any], tmp_path: Path
) -> None:
    release, _ = v1_release
    big = tmp_path / "big.onnx"
    with open(big, "wb") as fh:
        fh.truncate(4 << 30)  # sparse: 4 GiB claimed, no disk used
    res = _gate_here(release, big)
    assert_one_line_error(CliResult(res.returncode, res.stdout, res.stderr), 2, "MiB of memory", "not loaded")


def test_deepstream_release_reader_refuses_a_fifo_or_device_manifest(tmp_path: Path) -> None:
    from inception_export.errors import ArtifactError
    from inception_export.release_manifest import read_release

    os.mkfifo(tmp_path / "manifest.json")  # read_text blocked on it until a writer came
    with pytest.raises(ArtifactError, match="FIFO"):
        read_release(tmp_path)
    (tmp_path / "manifest.json").unlink()
    (tmp_path / "manifest.json").symlink_to("/dev/zero")
    with pytest.raises(ArtifactError, match="character device"):
        read_release(tmp_path)
