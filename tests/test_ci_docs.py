"""docs/ci.md: its GitHub Actions workflow and GitLab CI jobs parse as YAML and every command in
them runs as written (a small model; installs checked for form), so the docs cannot rot."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "ci.md"
WEIGHTS = ROOT / "tests" / "data" / "digits_googlenet.safetensors"
# The only values the test replaces: a small model at a small size, with real (digits) weights.
SMALL = {"MODEL": "v1", "WEIGHTS": str(WEIGHTS), "RELEASE_OPTIONS": "--input-size 64 --samples 2"}
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _blocks() -> dict[str, dict[str, Any]]:
    found = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    docs = [yaml.safe_load(b) for b in found]
    github = [d for d in docs if "jobs" in d]
    gitlab = [d for d in docs if "stages" in d]
    assert len(github) == 1 and len(gitlab) == 1, f"{len(found)} YAML blocks in {DOC}"
    return {"github": github[0], "gitlab": gitlab[0]}


def _is_venv(line: str) -> bool:
    return bool(re.fullmatch(r"python3? -m venv( --system-site-packages)? \.venv(-device)?", line))


def _is_pip(line: str) -> bool:
    return bool(re.match(r"\.venv(-device)?/bin/pip install ", line))


def _is_activate(line: str) -> bool:
    return bool(re.fullmatch(r"\. \.venv(-device)?/bin/activate", line))


def _split(lines: list[str]) -> tuple[list[str], list[str]]:
    """(pip install lines, the commands left to run); venv creation and activation are the
    test's (it puts the tool on PATH)."""
    pips = [ln for ln in lines if _is_pip(ln)]
    rest = [ln for ln in lines if not (_is_venv(ln) or _is_pip(ln) or _is_activate(ln))]
    for line in rest:
        assert "pip" not in line.split()[0] and "${{" not in line, line
    return pips, rest


def _check_full_install(pips: list[str]) -> None:
    """The full role as the README gives it, without pulling the CUDA torch: the CPU wheel from
    PyTorch's CPU index first, then the project's [full] extra."""
    words = [shlex.split(p) for p in pips]
    torch = next(i for i, w in enumerate(words) if any(x.startswith("torch") for x in w))
    full = next(i for i, w in enumerate(words) if ".[full]" in w)
    assert torch < full and CPU_INDEX in words[torch], pips


def _check_device_install(pips: list[str]) -> None:
    words = [shlex.split(p) for p in pips]
    assert ["."] in [w[2:] for w in words], pips  # pip install .: the device role, no extra
    assert not any(x.startswith(("torch", ".[")) for w in words for x in w[2:]), pips


def _shim(bin_dir: Path, real: Path) -> None:
    """``inception-export`` on PATH: the venv's, except that without TensorRT ``trt`` must fail
    only for that reason (its options parsed) and the engine it would have built is left out."""
    from inception_export.tensorrt.availability import tensorrt_available

    script = f"""\
        import os, subprocess, sys
        real, args = {str(real)!r}, sys.argv[1:]
        if args[:1] == ["trt"] and not {tensorrt_available()!r}:
            r = subprocess.run([real, *args], capture_output=True, text=True)
            sys.stderr.write(r.stderr)
            refused = r.returncode == 2 and "TensorRT is not installed" in r.stderr
            sys.exit(0 if refused else r.returncode or 1)
        if args[:1] == ["parity"]:
            args = [a for a in args if not (a.endswith(".engine") and not os.path.exists(a))]
        os.execv(real, [real, *args])
        """
    bin_dir.mkdir(parents=True)
    tool = bin_dir / "inception-export"
    tool.write_text(f"#!{sys.executable}\n" + textwrap.dedent(script))
    tool.chmod(0o755)


def _run(lines: list[str], cwd: Path, env: dict[str, str], bin_dir: Path) -> None:
    if not lines:
        return
    full_env = {**os.environ, **env, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    full_env.update({"COLUMNS": "200", "NO_COLOR": "1"})
    proc = subprocess.run(
        ["bash", "-e", "-u", "-o", "pipefail", "-c", "\n".join(lines)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"{lines}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"


def _lines(script: str | list[str]) -> list[str]:
    text = script if isinstance(script, str) else "\n".join(script)
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def test_ci_docs_parse_as_yaml() -> None:
    blocks = _blocks()
    gh, gl = blocks["github"], blocks["gitlab"]
    assert gh["jobs"]["device-gate"]["runs-on"] == ["self-hosted", "linux", "ARM64"]
    assert gh["jobs"]["device-gate"]["needs"] == "release"
    assert gl["device-gate"]["tags"] and gl["device-gate"]["needs"] == ["release"]
    assert gl["release"]["artifacts"]["reports"]["junit"] == "release/parity.junit.xml"


@pytest.mark.slow
def test_github_workflow_runs_as_written(tmp_path: Path) -> None:
    wf = _blocks()["github"]
    work, bin_dir = tmp_path / "repo", tmp_path / "bin"
    work.mkdir()
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    uploads: dict[str, str] = {}
    for name, job in wf["jobs"].items():
        tool = _tool(name)
        _shim(bin_dir / name, tool)
        env = {**wf.get("env", {}), **job.get("env", {}), **SMALL}
        env.update({"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
        pips: list[str] = []
        for step in job["steps"]:
            if "uses" in step:
                _check_action(step, uploads, work)
                continue
            more, rest = _split(_lines(step["run"]))
            pips += more
            _run(rest, work, {**env, **step.get("env", {})}, bin_dir / name)
        (_check_device_install if name == "device-gate" else _check_full_install)(pips)
    text = summary.read_text()
    assert text.startswith("earlier step\n"), text[:200]  # appended to, never truncated
    assert "## release gate passed: googlenet" in text and "## parity gate passed: googlenet" in text
    assert (work / "device.junit.xml").is_file() and (work / "release" / "parity.junit.xml").is_file()


@pytest.mark.slow
def test_gitlab_jobs_run_as_written(tmp_path: Path) -> None:
    ci = _blocks()["gitlab"]
    work, bin_dir = tmp_path / "repo", tmp_path / "bin"
    work.mkdir()
    variables = {**ci.get("variables", {}), **SMALL}
    variables = {k: v.replace("$CI_PROJECT_DIR", str(work)) for k, v in variables.items()}
    for stage in ci["stages"]:
        for name, job in ci.items():
            if not isinstance(job, dict) or job.get("stage") != stage:
                continue
            _shim(bin_dir / name, _tool(name))
            pips, rest = _split(_lines(job.get("before_script", [])) + _lines(job["script"]))
            _run(rest, work, {**variables, **job.get("variables", {})}, bin_dir / name)
            (_check_device_install if name == "device-gate" else _check_full_install)(pips)
            artifacts = job["artifacts"]
            for path in [*artifacts["paths"], artifacts["reports"]["junit"]]:
                assert (work / path).exists(), f"{name}: {path} not made"
    assert "## release gate passed" in (work / "release-summary.md").read_text()
    assert "## parity gate passed" in (work / "device-summary.md").read_text()


def _tool(job: str) -> Path:
    """The device job runs the device role's install (no torch) where ./dev built it."""
    device = ROOT / ".venv-device" / "bin" / "inception-export"
    if job == "device-gate" and device.exists():
        return device
    return Path(sys.executable).parent / "inception-export"


def _check_action(step: dict[str, Any], uploads: dict[str, str], work: Path) -> None:
    """What the test does not run: the venv cache holds the venv; the release directory the
    release job uploads is there, and is the one the device job downloads."""
    action, with_ = step["uses"].split("@")[0], step.get("with", {})
    if action == "actions/cache":
        assert with_["path"] == ".venv"
    elif action == "actions/upload-artifact":
        assert (work / with_["path"]).exists(), with_
        uploads[with_["name"]] = with_["path"].rstrip("/")
    elif action == "actions/download-artifact":
        assert uploads[with_["name"]] == with_["path"].rstrip("/"), (uploads, with_)
    else:
        assert action in ("actions/checkout", "actions/setup-python"), action
