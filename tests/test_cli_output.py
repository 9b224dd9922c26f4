"""What the CLI prints, whatever the command: messages clipped at a word and never cut, tables
that read at 80 columns, stdout holding only the result, and the verdict's exit code kept through
closed or broken pipes, narrow terminals and an ASCII stdout; paths named for what they are."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from helpers import one_error, sample_gate_report
from rich.console import Console

from inception_export.cli import commands  # noqa: F401  (registers the commands)
from inception_export.parity.report import table
from inception_export.registry import get_spec, list_specs
from inception_export.text import clip

# --- messages -------------------------------------------------------------------------


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


# --- 80 columns -----------------------------------------------------------------------


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
    report = sample_gate_report(tmp_path)
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


# --- streams: stdout holds the result, the exit code is the verdict's ------------------


def test_models_result_on_stdout_json_replaces_it() -> None:
    res = run_cli("models", env={"COLUMNS": "80"})
    assert res.code == 0 and res.stderr == ""
    _assert_fits(res.stdout, "googlenet", "inception_v3")
    res = run_cli("models", "--json")
    rows = json.loads(res.stdout)  # nothing but JSON
    assert res.stderr == "" and {r["name"]: r["max_size"] for r in rows}["inception_v3"] == 1196


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


# --- resources: running out of memory is the user's exit 2 -------------------------------

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
