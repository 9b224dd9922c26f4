"""Issue 12, items 6-15: bad input gets the right words, output reads well at 80 columns."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import assert_one_line_error, default_signals, run_cli, run_cli_here
from rich.console import Console
from safetensors.torch import save_file
from typer.testing import CliRunner

from inception_export import build_model
from inception_export.cli import commands  # noqa: F401  (registers the commands)
from inception_export.cli.app import app
from inception_export.errors import UsageError, WeightsError
from inception_export.full.bench.timing import is_noisy, noise_warnings, summarize
from inception_export.metadata import NO_METADATA
from inception_export.parity.gate import ArtifactResult, Check, GateReport
from inception_export.parity.metrics import Metrics
from inception_export.parity.numfmt import failure_message, value_vs_limit
from inception_export.parity.report import junit_xml, table
from inception_export.parity.tolerances import PROFILES, load_profile
from inception_export.registry import get_spec, list_specs
from inception_export.text import clip

# --- checkpoints (item 6, item 8) -------------------------------------------------------


@pytest.fixture(scope="module")
def v1_state() -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in build_model("v1").state_dict().items()}


def _logits(model: torch.nn.Module) -> torch.Tensor:
    x = torch.linspace(-2, 2, 3 * 64 * 64).reshape(1, 3, 64, 64)
    with torch.inference_mode():
        return model(x)


def test_integer_weights_refused(v1_state: dict[str, torch.Tensor], tmp_path: Path) -> None:
    state = dict(v1_state)
    state["conv1.conv.weight"] = state["conv1.conv.weight"].to(torch.int64)
    state["fc.bias"] = state["fc.bias"] > 0
    path = tmp_path / "int.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"integer or boolean tensors.*conv1\.conv\.weight \(int64\)"):
        build_model("v1", path)
    res = run_cli_here("inspect", "-m", "v1", "--weights", str(path))
    assert_one_line_error(res, 2, "integer or boolean", "fc.bias (bool)")


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64])
def test_other_float_widths_converted_with_a_note(
    dtype: torch.dtype, v1_state: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    path = tmp_path / "w.pth"
    torch.save({k: (v.to(dtype) if v.is_floating_point() else v) for k, v in v1_state.items()}, path)
    with pytest.warns(UserWarning, match=f"converted .* {str(dtype)[6:]} tensors to float32"):
        model = build_model("v1", path)
    reference = _logits(build_model("v1"))
    rel = float((_logits(model) - reference).norm() / reference.norm())
    assert rel < (2e-3 if dtype == torch.float16 else 1e-6), rel
    assert next(model.parameters()).dtype == torch.float32


def test_safetensors_named_pth_loads_by_content(v1_state: dict[str, torch.Tensor], tmp_path: Path) -> None:
    path = tmp_path / "weights.pth"
    save_file(v1_state, str(path))
    assert torch.equal(_logits(build_model("v1", path)), _logits(build_model("v1")))


def test_weights_messages(v1_state: dict[str, torch.Tensor], tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="is a directory"):
        build_model("v1", tmp_path)

    class Evil:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            return (os.system, ("true",))

    cases = {
        "reduce.pth": {"state_dict": v1_state, "hook": Evil()},  # a blocked function
        # A harmless class that is not on the allow-list (argparse.Namespace is: timm's
        # train.py saves one, tests/test_models_checkpoints.py loads it).
        "fraction.pth": {"state_dict": v1_state, "lr": __import__("fractions").Fraction(1, 10)},
    }
    for name, obj in cases.items():
        torch.save(obj, tmp_path / name)
        with pytest.raises(WeightsError, match=r"refused by torch\.load\(weights_only=True\)"):
            build_model("v1", tmp_path / name)
    scripted = tmp_path / "exported.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(scripted))
    with pytest.raises(WeightsError, match=r"TorchScript archive .* not a checkpoint"):
        build_model("v1", scripted)


def test_weights_directory_and_output_directory_cli(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["inspect", "-m", "v1", "--weights", str(tmp_path)])
    assert res.exit_code == 2 and "is a directory" in res.stderr, res.stderr
    res = CliRunner().invoke(app, ["onnx", "-m", "v1", "-o", str(tmp_path)])
    assert res.exit_code == 2 and "is a directory" in res.stderr and "--force" not in res.stderr, res.stderr
    res = CliRunner().invoke(app, ["onnx", "-m", "v1", "-o", str(tmp_path), "--force"])
    assert res.exit_code == 2 and "is a directory" in res.stderr, res.stderr


# --- sizes (item 7) -------------------------------------------------------------------


def test_maximum_input_size_named() -> None:
    for spec in list_specs():
        assert spec.max_input_size >= 2 * spec.default_size
        spec.check_size(spec.max_input_size)
        with pytest.raises(UsageError, match=f"maximum of {spec.max_input_size}x{spec.max_input_size}"):
            spec.check_size(spec.max_input_size + 1)
    res = run_cli_here("inspect", "-m", "v3", "--input-size", "10000")
    assert_one_line_error(res, 2, "above inception_v3's maximum of 1196x1196")


# --- messages (item 8) ----------------------------------------------------------------


def test_clip_never_cuts_a_word() -> None:
    text = "Weights only load failed because " + "verylongword " * 40
    short = clip(text, 60)
    assert len(short) <= 62 and short.endswith(" …")
    assert all(w in text.split() for w in short[:-2].split())
    assert clip("\x1b[96mcoloured\x1b[0m text", 100) == "coloured text"
    path = "/" + "a" * 300
    assert clip(path, 50) == path  # a single long word is kept whole


def test_no_message_truncated_by_slicing() -> None:
    root = Path(__file__).resolve().parents[1] / "inception_export"
    offenders = [
        f"{p.relative_to(root)}:{i}"
        for p in root.rglob("*.py")
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if any(f"[:{n}]" in line for n in (80, 100, 120, 160, 200, 300))
    ]
    assert offenders == []


# --- tolerance profiles (item 9) ------------------------------------------------------


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


# --- failure values (item 10) ---------------------------------------------------------


def test_failure_values_differ_from_limits() -> None:
    assert failure_message("min_cosine", 0.9999665, 0.99999, "min") == (
        "min_cosine = 0.99997 is below limit 0.99999"
    )
    assert value_vs_limit(1.0000004e-5, 1e-5) == ("1.0000004e-05", "1e-05")
    assert value_vs_limit(0.5, 0.9) == ("0.5", "0.9")
    for value, limit in [(0.99999999, 0.999999999), (1 + 1e-15, 1.0), (3e-6 + 1e-18, 3e-6)]:
        shown, bound = value_vs_limit(value, limit)
        assert shown != bound and float(shown) == pytest.approx(value, rel=1e-15)


def _metrics(r: float) -> Metrics:
    return Metrics(
        max_abs=30 * r, p99_abs=10 * r, mean_abs=r, max_abs_rel=2 * r, rel_l2=r, min_cosine=1 - r,
        top1_agreement=1.0, top5_overlap=0.9, max_kl=r * r, nonfinite=0, samples=13,
    )  # fmt: skip


def _report(tmp_path: Path) -> GateReport:
    rows = [
        ("inception_resnet_v2.pt", "torchscript", "fp32", 3e-7),
        ("inception_resnet_v2-fp32.onnx", "onnx", "fp32", 4e-7),
        ("inception_resnet_v2-fp16.onnx", "onnx", "fp16", 6e-4),
        ("inception_resnet_v2-fp32.engine", "tensorrt", "fp32", 3.35e-5),
        ("a_model_with_a_rather_long_name_indeed-fp16.onnx", "onnx", "fp16", 6e-4),
        ("sixth-artifact.onnx", "onnx", "fp32", 4e-7),
    ]
    artifacts = []
    for name, fmt, prec, r in rows:
        cos = 1 - r
        limit = PROFILES["default"][prec].min_cosine
        checks = [Check("min_cosine", cos >= limit, cos, limit, "min")]
        if cos < limit:
            checks[0].message = failure_message("min_cosine", cos, limit, "min")
        artifacts.append(
            ArtifactResult(
                path=str(tmp_path / name),
                format=fmt,
                precision=prec,
                runner={},
                metadata=NO_METADATA,
                metrics=_metrics(r),
                by_kind={},
                batch_sizes=[1, 13],
                checks=checks,
            )
        )
    return GateReport("inception_resnet_v2", {}, False, "default", PROFILES["default"], [{}] * 13, artifacts)


def test_junit_failure_message_has_distinct_digits(tmp_path: Path) -> None:
    xml = junit_xml(_report(tmp_path))
    # The v3-engine-like case: 0.9999665 against 0.99999 used to read "1 is below limit 1".
    assert 'message="min_cosine = 0.99997 is below limit 0.99999"' in xml


# --- 80 columns (item 12) -------------------------------------------------------------


def _render(renderable: Any) -> str:
    console = Console(width=80, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


def _assert_fits(text: str, *needles: str) -> None:
    assert "…" not in text, text
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80, text
    flat = "".join(text.split())
    for needle in needles:
        assert "".join(needle.split()) in flat, (needle, text)


def test_gate_table_reads_at_80_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    report = _report(tmp_path)
    text = _render(table(report))
    names = (Path(a.path).name for a in report.artifacts)
    _assert_fits(text, *names, "3.00e-07", f"{1 - 3.35e-5:.6f}", "1,13", "FAIL", "#6")


def test_models_and_bench_tables_read_at_80_columns() -> None:
    from inception_export.cli.bench_cmd import _table
    from inception_export.cli.models_cmd import models_table

    specs = list_specs()
    _assert_fits(
        _render(models_table(specs)),
        *(s.name for s in specs),
        *(f"{s.params:,}" for s in specs),
        "bninception",
    )
    records = [
        {
            "model": "inception_resnet_v2", "device": "cpu", "status": "ok", "backend": b, "precision": p,
            "batch": 8, "median_ms": 1234.56, "p90_ms": 2345.67, "throughput_ips": 6.48,
            "speedup_vs_torch": 2.59, "gmacs_per_s": 92.03, "peak_rss_mb": 14930.0, "noisy": True,
        }
        for b in ("torch", "torchscript", "onnxruntime", "tensorrt")
        for p in ("fp32", "fp16")
    ]  # fmt: skip
    _assert_fits(
        _render(_table(records)), "onnxruntime", "torchscript", "1234.56!", "2345.67", "14930", "2.59x"
    )


def test_inspect_report_reads_at_80_columns_on_stdout() -> None:
    res = run_cli("inspect", "-m", "v1", env={"COLUMNS": "80"})
    assert res.code == 0, res.stderr
    spec = get_spec("v1")
    _assert_fits(res.stdout, "weights_sha256", "synthetic-20261123", spec.name)
    assert res.stderr == ""


# --- help, version, usage errors (items 11, 13) ---------------------------------------


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
    from inception_export.cli.commands import ORDER

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


# --- streams (item 14) ----------------------------------------------------------------


def test_models_result_on_stdout_json_replaces_it() -> None:
    res = run_cli("models", env={"COLUMNS": "80"})
    assert res.code == 0 and res.stderr == ""
    _assert_fits(res.stdout, "googlenet", "inception_v3")
    res = run_cli("models", "--json")
    rows = json.loads(res.stdout)  # nothing but JSON
    assert res.stderr == "" and {r["name"]: r["max_size"] for r in rows}["inception_v3"] == 1196


# --- bench noise (item 15) ------------------------------------------------------------


def test_noisy_measurement_flagged() -> None:
    steady = summarize([0.010, 0.011, 0.010, 0.012, 0.010])
    noisy = summarize([0.010, 0.010, 0.011, 0.010, 0.040])
    assert not is_noisy(steady) and is_noisy(noisy)
    assert noisy.p90_ms > 1.5 * noisy.median_ms
    records = [
        {"backend": "torch", "precision": "fp32", "batch": 1, "median_ms": noisy.median_ms,
         "p90_ms": noisy.p90_ms, "noisy": is_noisy(noisy)},
        {"backend": "onnxruntime", "precision": "fp32", "batch": 1, "median_ms": steady.median_ms,
         "p90_ms": steady.p90_ms, "noisy": is_noisy(steady)},
    ]  # fmt: skip
    lines = noise_warnings(records)
    assert len(lines) == 1 and lines[0].startswith("torch-fp32 batch 1: p90 ") and "noisy" in lines[0]
    assert math.isclose(float(lines[0].split("p90 ")[1].split()[0]), noisy.p90_ms, rel_tol=1e-2)


# --- Ctrl-C outside release (item 3) --------------------------------------------------


@pytest.mark.slow
def test_interrupt_during_export_exits_130(tmp_path: Path) -> None:
    """SIGINT while `onnx` traces the model: torch wraps the KeyboardInterrupt; still 130."""
    import signal
    import time

    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-c", _TRACE_PROBE, str(tmp_path / "m.onnx")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        preexec_fn=default_signals,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not (tmp_path / "tracing").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err == "error: interrupted\n" and "\x1b" not in err + out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tracing"]


# Runs the real CLI entry point, after marking the moment torch.onnx.export starts (so the
# signal lands inside the exporter rather than at a guessed time).
_TRACE_PROBE = """
import sys, pathlib, torch
real = torch.onnx.export
def export(*a, **k):
    pathlib.Path("tracing").touch()
    return real(*a, **k)
torch.onnx.export = export
from inception_export.cli import main
sys.argv = ["inception-export", "onnx", "-m", "v1", "-o", sys.argv[1]]
main()
"""
