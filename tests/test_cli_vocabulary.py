"""The CLI speaks one language: one ``--precision``, ``-o/--output``, help that
names values and keeps summaries whole, old spellings kept with a note, progress totals from the
core; every option has help, a misspelt one is one line, ``--version`` and the command order;
``--threads`` capped at the cores. In this process (``run_cli_here``): the process boundary is not
what these test."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli, run_cli_here, synthetic_model

from inception_export.cli.app import app
from inception_export.cli.commands import COMMANDS

ORDER = tuple(name for name, _ in COMMANDS)  # the table's order, which --help shows


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


# What a placeholder says, the same for the same kind of value in every command: a path is
# FILE or DIR, a whole number N (a side in pixels S), a model NAME, GiB GIB, a tolerance PROFILE;
# a closed set lists its choices (a|b|c), a list says so ([,...]). Never typer's default, the
# parameter's name in capitals (RELEASE, CLASS_NAMES, OUT), which tells nothing of the value.
WORDS = {"FILE", "DIR", "N", "S", "NAME", "GIB", "PROFILE", "LAYER", "BACKEND"}
PLACEHOLDER = re.compile(r"^(?:[a-z0-9+]+|[A-Z]+)(?:\|(?:[a-z0-9+]+|[A-Z]+))*(?:\[,\.\.\.\]|,\.\.\.)?$")
# Options whose placeholder says what the command takes: a file or a directory written, one
# value or a list.
PER_COMMAND = {"--output", "--batch", "--precision"}


def _options() -> list[tuple[str, str, str, Any]]:
    """(command, option, metavar, Python type) of every visible option that takes a value."""
    import typing

    import typer

    from inception_export.cli.app import app
    from inception_export.cli.commands import COMMANDS

    group = typer.main.get_command(app)
    rows = []
    for name, fn in COMMANDS:
        hints = typing.get_type_hints(fn)
        for param in group.commands[name].params:  # type: ignore[attr-defined]
            if param.param_type_name != "option" or param.hidden or param.is_flag:
                continue
            kinds = [a for a in typing.get_args(hints[param.name]) if a is not type(None)]
            flag = next(o for o in param.opts if o.startswith("--"))
            rows.append((name, flag, param.metavar, kinds[0] if kinds else hints[param.name]))
    return rows


def test_placeholders_are_one_vocabulary() -> None:
    rows = _options()
    assert len(rows) > 80  # every command's options were found
    for command, flag, metavar, kind in rows:
        where = f"{command} {flag} {metavar}"
        assert metavar is not None and PLACEHOLDER.match(metavar), where
        words = set(re.findall(r"[A-Z]+", metavar))
        assert words <= WORDS, where
        if kind is Path:
            assert metavar in ("FILE", "DIR"), where
        if kind is int:
            assert metavar == ("S" if flag == "--input-size" else "N"), where
    by_flag: dict[str, set[str]] = {}
    for _command, flag, metavar, _kind in rows:
        by_flag.setdefault(flag, set()).add(metavar.removesuffix("[,...]"))
    assert {f: m for f, m in by_flag.items() if len(m) > 1 and f not in PER_COMMAND} == {}


def test_images_help_says_the_photos_are_replaced() -> None:
    for command in ("golden", "parity", "localize", "onnx", "release"):
        out = " ".join(run_cli_here(command, "--help", env={"COLUMNS": "200"}).stdout.split())
        assert "--images DIR Directory of photographs that replace the three bundled sample photos" in out, (
            command,
            out,
        )


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


def test_threads_are_capped_at_the_cores(capsys: pytest.CaptureFixture[str]) -> None:
    from inception_export.cli.options import check_threads, usable_cores

    assert check_threads(10_000) == usable_cores()
    assert "capped at the" in capsys.readouterr().err
    assert check_threads(1) == 1 and check_threads(None) is None


def _click_root() -> Any:
    import typer

    return typer.main.get_command(app)


def test_every_option_has_help_and_flags_take_no_value() -> None:
    root = _click_root()
    missing = []
    for name, cmd in root.commands.items():
        for param in cmd.params:
            if param.param_type_name == "option" and not (getattr(param, "help", None) or "").strip():
                missing.append(f"{name} {param.opts[0]}")
    assert missing == []
    res = run_cli("release", "-h", env={"COLUMNS": "80"})
    assert res.code == 0 and "Usage:" in res.stdout
    assert "<bool>" not in res.stdout and "…" not in res.stdout
    assert "--force" in res.stdout and "--tolerance-profile" in res.stdout


def test_version_help_and_command_order() -> None:
    from inception_export import __version__
    res = run_cli("--version")
    assert (res.code, res.stdout.strip()) == (0, f"inception-export {__version__}")
    res = run_cli("-h", env={"COLUMNS": "80"})
    assert res.code == 0, res.stderr
    # A summary wraps onto indented lines of its own (never cut with "..."): names start at column 2.
    rows = res.stdout.split("Commands:")[1].splitlines()
    listed = [line.split()[0] for line in rows if line.startswith("  ") and not line.startswith("   ")]
    assert listed[: len(ORDER)] == list(ORDER)
    assert ORDER[:2] == ("models", "inspect") and ORDER.index("release") < ORDER.index("parity")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["relase", "-m", "v1"], "No such command 'relase'"),
        (["release", "--modl", "v1", "--out", "x"], "No such option: --modl"),
        (["parity", "-m", "v1"], "Missing argument"),
    ],
)
def test_misspelt_option_one_line(args: list[str], needle: str, tmp_path: Path) -> None:
    res = run_cli_here(*args, cwd=tmp_path)
    assert_one_line_error(res, 2, needle)
    assert len(res.stderr.splitlines()) == 1 and res.stdout == ""
    assert "╭" not in res.stderr and list(tmp_path.iterdir()) == []
