"""The verdict where CI shows it: the Markdown summary (``--summary``, ``$GITHUB_STEP_SUMMARY``),
GitHub's ``::error`` annotations, and JUnit that Jenkins and GitLab read."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from conftest import CliResult, ExportFn, assert_one_line_error, run_cli_here
from helpers import sample_gate_report
from onnx import numpy_helper

from inception_export.parity.annotations import escape_data, escape_property
from inception_export.parity.report import junit_xml
from inception_export.text import printable

XSD = Path(__file__).parent / "data" / "junit-report.xsd"
# Every character GitHub's workflow commands escape, a control character, and Markdown.
HOSTILE = "bad,name:50%|*x*\n\x1b[31m.onnx"


def _scaled_copy(src: Path, dst: Path) -> Path:
    """``src`` with one conv's weights scaled by 3 %: rel_l2 far beyond FP32's limit."""
    model = onnx.load(str(src))
    inits = {i.name: i for i in model.graph.initializer}
    name = [n.input[1] for n in model.graph.node if n.op_type == "Conv"][10]
    scaled = numpy_helper.to_array(inits[name]) * np.float32(1.03)
    inits[name].CopyFrom(numpy_helper.from_array(scaled.astype(np.float32), name))
    onnx.save(model, str(dst))
    shutil.copyfile(src.with_name(src.name + ".json"), dst.with_name(dst.name + ".json"))
    return dst


@pytest.fixture(scope="module")
def gate(shared_exports: ExportFn, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One failing gate (an honest FP32 ONNX and a broken one with a hostile name) with every CI
    output on, under GitHub Actions; and the same gate without any of them (two eager gates of v1
    at 224, about 12 s on 2 cores: the tests using this are marked slow)."""
    d = tmp_path_factory.mktemp("ci-gate")
    honest = shared_exports("v1", "onnx").path
    broken = _scaled_copy(honest, d / HOSTILE)
    step = d / "step-summary.md"
    step.write_text("## an earlier step's summary\n")
    files = {"summary": d / "gate.md", "junit": d / "gate.xml", "step": step}
    args = ("parity", "-m", "v1", str(honest), str(broken), "--samples", "2", "--json")
    ci = run_cli_here(
        *args,
        "--summary",
        str(files["summary"]),
        "--junit",
        str(files["junit"]),
        env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(step)},
    )
    saved = {k: os.environ.pop(k, None) for k in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY")}
    try:
        plain = run_cli_here(*args)
    finally:
        os.environ.update({k: v for k, v in saved.items() if v is not None})
    return {"ci": ci, "plain": plain, "broken": broken, "honest": honest, **files}


def _without_times(report: dict[str, Any]) -> dict[str, Any]:
    report.pop("seconds")
    for a in report["artifacts"]:
        a.pop("seconds")
    return report


@pytest.mark.slow
def test_ci_outputs_keep_exit_code_and_json(gate: dict[str, Any]) -> None:
    ci, plain = gate["ci"], gate["plain"]
    assert ci.code == plain.code == 1, ci.stderr
    # stdout stays one JSON document, the same with or without the CI outputs.
    assert _without_times(json.loads(ci.stdout)) == _without_times(json.loads(plain.stdout))
    assert "::error" not in ci.stdout and "::error" not in plain.stderr


@pytest.mark.slow
def test_one_error_command_per_failing_artifact(gate: dict[str, Any]) -> None:
    commands = [ln for ln in gate["ci"].stderr.splitlines() if ln.startswith("::")]
    assert len(commands) == 1, gate["ci"].stderr
    head, message = commands[0][len("::error ") :].split("::", 1)
    props = dict(p.split("=", 1) for p in head.split(","))
    assert set(props) == {"title"}
    name = printable(HOSTILE)  # the newline and ESC shown as \n and \x1b, never raw
    failed = _failed_checks(gate)
    assert failed[0] == "rel_l2", failed
    assert props["title"] == escape_property(f"parity gate: {name} failed {', '.join(failed)}")
    assert "%2C" in props["title"] and "%3A" in props["title"] and "%25" in props["title"]
    assert message.startswith(escape_data(name)) and "rel_l2 = " in message
    assert "exceeds limit 1e-05" in message and "\x1b" not in commands[0]


def _failed_checks(gate: dict[str, Any]) -> list[str]:
    broken = json.loads(gate["ci"].stdout)["artifacts"][1]
    return [c["name"] for c in broken["checks"] if not c["passed"]]


def test_escaping_follows_the_actions_toolkit() -> None:
    # @actions/core's escapeData / escapeProperty (packages/core/src/command.ts).
    assert escape_data("50%\r\nx:y,z") == "50%25%0D%0Ax:y,z"
    assert escape_property("50%\r\nx:y,z") == "50%25%0D%0Ax%3Ay%2Cz"
    assert escape_data("%0A") == "%250A"  # a literal escape stays literal


@pytest.mark.slow
def test_markdown_summary_rows_and_localize(gate: dict[str, Any]) -> None:
    text = gate["summary"].read_text()
    assert text.startswith("## parity gate FAILED: googlenet\n"), text
    rows = [ln for ln in text.splitlines() if ln.startswith("| ") and ln[2].isdigit()]
    assert len(rows) == 2, text
    assert rows[0].startswith("| 1 |") and "| pass |" in rows[0]
    failing = rows[1].split(" | ")
    assert failing[2] == "**FAIL**", rows[1]
    names = [n.replace("\\_", "_") for n in failing[3].split("<br>")]
    assert names == _failed_checks(gate)
    value, limit = float(failing[4].split("<br>")[0]), failing[5].split("<br>")[0]
    assert value > 1e-4 and limit == "≤ 1e-05"
    # The hostile name cannot end the cell, start emphasis or forge a line.
    assert "\\|\\*x\\*\\\\n\\\\x1b" in failing[1] and "\x1b" not in text
    assert "### Where it diverges" in text
    assert f"inception-export localize --model googlenet '{printable(gate['broken'])}'" in text


@pytest.mark.slow
def test_step_summary_is_appended_to(gate: dict[str, Any]) -> None:
    text = gate["step"].read_text()
    summary = gate["summary"].read_text()
    assert text == "## an earlier step's summary\n\n" + summary


@pytest.mark.slow
def test_junit_validates_against_the_report_schema_and_reads_in_junitparser(gate: dict[str, Any]) -> None:
    import xmlschema
    from junitparser import Failure, JUnitXml

    xmlschema.XMLSchema(str(XSD)).validate(str(gate["junit"]))
    suites = list(JUnitXml.fromfile(str(gate["junit"])))
    assert [s.name for s in suites] == [
        "parity.googlenet.googlenet-fp32.onnx",
        f"parity.googlenet.{printable(HOSTILE)}",
    ]
    for suite, path in zip(suites, (gate["honest"], gate["broken"]), strict=True):
        cases = list(suite)
        assert suite.tests == len(cases) == 9
        assert all(c._elem.get("file") == printable(path) for c in cases)
        assert suite.time > 0 and sum(c.time for c in cases) == pytest.approx(suite.time, abs=0.01)
        figures = suite._elem.findtext("system-out") or ""
        assert "rel_l2=" in figures and "runner: onnxruntime" in figures
        assert all(c.system_out and c.system_out.startswith(c.name) for c in cases)
    failed = [(c, r) for c in suites[1] for r in c.result if isinstance(r, Failure)]
    assert [c.name for c, _ in failed] == _failed_checks(gate)
    case, failure = failed[0]
    assert failure.type == "rel_l2" and failure.message.startswith("rel_l2 = ")
    assert "exceeds limit 1e-05" in failure.message and "limit <= 1e-05: FAIL" in case.system_out
    assert not any(c.result for c in suites[0])


# --- bad values: one line, exit 2, before any work -------------------------------------------


def _refused(res: CliResult, *needles: str) -> None:
    assert_one_line_error(res, 2, *needles)
    assert "parity:" not in res.stderr and "release:" not in res.stderr  # no progress: no work


def test_bad_summary_paths_are_refused_before_work(tmp_path: Path) -> None:
    # Refused before the artifact is even read: any file stands for it.
    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(b"an artifact")
    before = artifact.read_bytes()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    junit = tmp_path / "j.xml"

    def parity(*extra: str, env: dict[str, str] | None = None) -> CliResult:
        return run_cli_here("parity", "-m", "v1", str(artifact), *extra, env=env)

    _refused(parity("--summary", str(tmp_path)), "is a directory")
    _refused(parity("--summary", str(fifo)), "not a regular file")
    _refused(parity("--summary", str(artifact), "--force"), "this command's artifact")
    _refused(parity("--summary", str(junit), "--junit", str(junit)), "this command's --junit")
    _refused(parity(env={"GITHUB_STEP_SUMMARY": str(artifact)}), "GITHUB_STEP_SUMMARY", "artifact")
    old = tmp_path / "old.md"
    old.write_text("yesterday's summary")
    _refused(parity("--summary", str(old)), "already exists", "--force")
    assert artifact.read_bytes() == before and old.read_text() == "yesterday's summary"
    assert not junit.exists()


def test_bad_release_summary_paths_are_refused_before_work(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "rel"
    weights = data_dir / "digits_googlenet.safetensors"

    def release(*extra: str) -> CliResult:
        return run_cli_here("release", "-m", "v1", "--out", str(out), "--weights", str(weights), *extra)

    _refused(release("--summary", str(out / "summary.md")), "inside", "replaces")
    _refused(release("--summary", str(weights), "--force"), "this command's --weights")
    _refused(release("--summary", str(tmp_path)), "is a directory")
    assert not out.exists()


def test_junit_failure_message_has_distinct_digits(tmp_path: Path) -> None:
    xml = junit_xml(sample_gate_report(tmp_path))
    # The v3-engine-like case: 0.9999665 against 0.99999 used to read "1 is below limit 1".
    assert 'message="min_cosine = 0.99997 is below limit 0.99999"' in xml
