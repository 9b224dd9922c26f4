"""The CLI speaks one language (issue 18, item 6): one ``--precision``, ``-o/--output``, help that
names values and keeps summaries whole, old spellings kept with a note, progress totals from the
core. In this process (``run_cli_here``): the process boundary is not what these test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli_here, synthetic_model

from inception_export.cli.commands import ORDER


def _notes(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("note:")]


@pytest.mark.parametrize("command", ORDER)
def test_help_names_values_and_hides_old_spellings(command: str) -> None:
    res = run_cli_here(command, "--help", env={"COLUMNS": "80"})
    assert res.code == 0, res.stderr
    # typer's own rendering: {artifacts}... in the usage line, <list[Path]> / <str> beside options.
    assert "{" not in res.stdout and "<" not in res.stdout, res.stdout
    # Deprecated spellings work but are not offered.
    assert "--fp16" not in res.stdout and "--fp32 " not in res.stdout, res.stdout


def test_usage_lines_show_argument_names() -> None:
    usage = {cmd: run_cli_here(cmd, "--help").stdout.splitlines()[0] for cmd in ORDER}
    assert usage["parity"].endswith("parity [OPTIONS] ARTIFACT...")
    assert usage["localize"].endswith("localize [OPTIONS] ARTIFACT")
    assert usage["trt-manifest"].endswith("trt-manifest [OPTIONS] ENGINE")


def test_command_summaries_are_whole() -> None:
    res = run_cli_here("--help", env={"COLUMNS": "80"})
    assert res.code == 0
    listing = res.stdout.split("Commands:", 1)[1]
    assert not any(ln.rstrip().endswith("...") for ln in listing.splitlines()), listing
    # The end of the longest summaries, which click used to cut.
    assert "report median/p90." in listing and "that `parity` can gate it." in listing


def test_precision_and_output_are_the_same_option_everywhere() -> None:
    for command in ("onnx", "trt", "release"):
        out = run_cli_here(command, "--help", env={"COLUMNS": "80"}).stdout
        assert "--precision fp32|fp16" in out, (command, out)
        assert "-o, --output" in out, (command, out)
    assert "-o, --output, --out DIR" in run_cli_here("release", "--help", env={"COLUMNS": "80"}).stdout


def test_precision_value_refused_in_one_line(tmp_path: Path) -> None:
    res = run_cli_here("onnx", "-m", "v1", "--precision", "fp64", "-o", str(tmp_path / "x.onnx"))
    assert_one_line_error(res, 2, "--precision 'fp64'", "fp32, fp16")
    assert not (tmp_path / "x.onnx").exists()


def test_trt_old_precision_flags_still_work_with_a_note(tmp_path: Path) -> None:
    engine = str(tmp_path / "x.engine")
    # --fp32 still means fp32: --keep-fp32 (FP16 only) is refused as with --precision fp32.
    res = run_cli_here("trt", "-m", "v1", "--fp32", "--keep-fp32", "auto", "-o", engine)
    assert_one_line_error(res, 2, "--keep-fp32 applies", "--precision fp32")
    assert _notes(res.stderr) == ["note: --fp32 is deprecated; use --precision fp32"], res.stderr
    res = run_cli_here("trt", "-m", "v1", "--precision", "fp16", "--fp32", "-o", engine)
    assert_one_line_error(res, 2, "--precision fp16 contradicts --fp32")


def test_release_old_fp16_flags_still_work_with_a_note(tmp_path: Path) -> None:
    out = str(tmp_path / "rel")
    res = run_cli_here("release", "-m", "v1", "--out", out, "--no-fp16", "--keep-fp32", "auto")
    assert_one_line_error(res, 2, "--keep-fp32 applies to the FP16 export")
    assert _notes(res.stderr) == ["note: --no-fp16 is deprecated; use --precision fp32"], res.stderr
    res = run_cli_here("release", "-m", "v1", "-o", out, "--precision", "fp32", "--keep-fp32", "auto")
    assert_one_line_error(res, 2, "--keep-fp32 applies to the FP16 export")
    assert _notes(res.stderr) == []
    res = run_cli_here("release", "-m", "v1", "-o", out, "--precision", "fp16")
    assert_one_line_error(res, 2, "always makes the FP32 ONNX", "fp32,fp16")
    res = run_cli_here("release", "-m", "v1", "-o", out, "--precision", "fp32,fp16", "--no-fp16")
    assert_one_line_error(res, 2, "contradicts --no-fp16")
    assert not Path(out).exists()


@pytest.mark.parametrize("spelling", ["-o", "--output", "--out"])
def test_release_output_spellings(tmp_path: Path, spelling: str) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("not a release\n")
    res = run_cli_here("release", "-m", "v1", spelling, str(taken), "--precision", "fp32")
    assert_one_line_error(res, 2, str(taken))
    assert _notes(res.stderr) == []  # --out is the README's spelling: no note
    assert sorted(p.name for p in taken.iterdir()) == ["notes.txt"]


@pytest.mark.slow
def test_localize_progress_total_comes_from_the_core(shared_exports: Any, tmp_path: Path) -> None:
    """``--images`` replaces the three sample photographs by its own files: the core, not the
    CLI (which counted 3 + samples + 7), knows how many inputs there are."""
    from PIL import Image

    from inception_export.console import Steps
    from inception_export.full.localize.core import localize

    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(images / name)
    onnx = shared_exports("v1", "onnx").path
    steps = Steps()
    localize("v1", onnx, samples=1, images=images, progress=steps, reference_model=synthetic_model("v1"))
    # reference model, golden inputs, load artifact, then 1 random + 4 edge + 2 photo inputs
    assert (steps.done, steps.total) == (10, 10)


@pytest.mark.slow
def test_release_progress_total_comes_from_the_core(tmp_path: Path) -> None:
    """The CLI's guess (5 + engine + 3 per artifact) left out the TorchScript export's step."""
    from inception_export.console import Steps
    from inception_export.full.release import ReleaseOptions, check_release_options, run_release
    from inception_export.registry import get_spec

    steps = Steps()
    options = ReleaseOptions(input_size=96, torchscript=True)
    plan = check_release_options(
        get_spec("v1"), tmp_path / "r", trt=False, fp16=False, samples=1, options=options
    )
    result = run_release(plan, progress=steps)
    assert result.exit_code == 0
    # build, TorchScript, ONNX FP32, gate, reference, golden inputs, then 3 per artifact
    assert (steps.done, steps.total) == (12, 12)


def test_gate_and_bundle_progress_totals_come_from_the_core(
    v1_release: tuple[Path, Any], tmp_path: Path
) -> None:
    """`parity --golden` and `golden` no longer count steps in the CLI: the cores say how many
    they take, and the count is exact (done == total when they return)."""
    from inception_export.console import Steps
    from inception_export.full.eager import make_bundle
    from inception_export.parity.gate import run_golden_gate

    release, _ = v1_release
    onnx = sorted(release.glob("*.onnx"))
    steps = Steps()
    report = run_golden_gate(release / "golden.npz", onnx, progress=steps)
    assert report.passed and len(onnx) == 2
    assert (steps.done, steps.total) == (7, 7)  # the bundle, then three per artifact

    steps = Steps()
    make_bundle("v1", tmp_path / "g.npz", input_size=75, samples=1, pixels=True, progress=steps)
    assert (steps.done, steps.total) == (4, 4)  # the model, its inputs, two input forms
