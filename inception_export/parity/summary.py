"""The gate's verdict as Markdown for a CI page: ``--summary FILE`` and ``$GITHUB_STEP_SUMMARY``.

One row per artifact with its verdict and, for a failure, each failed metric with its value and
limit; then where a failure diverges: ``localize`` is never run by ``parity`` or ``release``
(it needs eager PyTorch and the model), so the summary gives the command that names the layer.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from ..atomic import same_file
from ..errors import UsageError
from ..seed import is_synthetic
from ..text import printable
from .gate import ArtifactResult, Check, GateReport

if TYPE_CHECKING:
    from ..atomic import Named
from .numfmt import value_vs_limit
from .report import artifact_label

STEP_SUMMARY = "GITHUB_STEP_SUMMARY"

# Markdown that a file name could otherwise start: emphasis, links, HTML, a table cell's end.
_MARKDOWN = re.compile(r"([\\`*_\[\]<>|~&#!])")


def cell(text: object) -> str:
    """``text`` shown literally inside a Markdown table cell (control characters escaped first)."""
    return _MARKDOWN.sub(r"\\\1", printable(text))


def _figures(check: Check) -> tuple[str, str]:
    if check.value is None or check.limit is None:
        return "", cell(check.message)
    shown, bound = value_vs_limit(check.value, check.limit)
    return shown, ("≤ " if check.direction == "max" else "≥ ") + bound


def _row(number: int, artifact: ArtifactResult) -> str:
    name = f"{cell(artifact_label(artifact.path))}<br>{cell(artifact.format)} {cell(artifact.precision)}"
    if artifact.passed:
        return f"| {number} | {name} | pass | | | |"
    failed = artifact.failures
    figures = [_figures(c) for c in failed]
    return (
        f"| {number} | {name} | **FAIL** | {'<br>'.join(cell(c.name) for c in failed)} "
        f"| {'<br>'.join(v for v, _ in figures)} | {'<br>'.join(lim for _, lim in figures)} |"
    )


def _fenced(text: str) -> str:
    """A code block whose fence no run of backticks in ``text`` can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def localize_command(report: GateReport, artifact: ArtifactResult) -> str:
    """The ``localize`` line that names the first layer of ``artifact`` that drifts."""
    words = ["inception-export", "localize", "--model", report.model]
    weights = report.weights.get("path") if isinstance(report.weights, dict) else None
    # Synthetic weights are localize's default: no file to name.
    if weights and not is_synthetic(str(weights)):
        words += ["--weights", str(weights)]
    if report.transform_input:
        words.append("--transform-input")
    if report.profile != "default":
        words += ["--tolerance-profile", report.profile]
    words.append(artifact.path)
    return " ".join(shlex.quote(printable(w)) for w in words)


def _diverges(report: GateReport) -> list[str]:
    failed = [a for a in report.artifacts if not a.passed]
    if not failed:
        return []
    lines = [
        "",
        "### Where it diverges",
        "",
        "`localize` was not run (neither `parity` nor `release` runs it). On a machine with the "
        "full role (PyTorch and the model's weights), it names the first layer whose output drifts "
        "from eager PyTorch beyond the precision's `rel_l2` limit:",
    ]
    for a in failed:
        lines.append("")
        if a.format == "onnx" and a.precision in ("fp32", "fp16"):
            lines.append(_fenced(localize_command(report, a)))
        else:
            lines.append(
                f"{cell(artifact_label(a.path))}: `localize` reads FP32 and FP16 ONNX; run it on the "
                f"ONNX this {cell(a.format)} {cell(a.precision)} artifact was made from."
            )
    return lines


def _loose(report: GateReport) -> list[str]:
    """Limits taken past the built-in bound (--allow-loose-limits): a pass under them is not a
    plain pass, so the CI page says which, as the table and the JUnit properties do."""
    if not report.limits_beyond_bound:
        return []
    return [
        "",
        "**Limits beyond the built-in bound** (taken with `--allow-loose-limits`): "
        + "; ".join(cell(b) for b in report.limits_beyond_bound),
    ]


def markdown(report: GateReport, command: str = "parity") -> str:
    """The summary: a heading with the verdict, one table row per artifact, where it diverges."""
    failed = sum(not a.passed for a in report.artifacts)
    verdict = "passed" if report.passed else "FAILED"
    source = f" from {cell(report.limits_from)}" if report.limits_from else ""
    lines = [
        f"## {cell(command)} gate {verdict}: {cell(report.model)}",
        "",
        f"{len(report.artifacts)} artifacts, {len(report.artifacts) - failed} passed, {failed} failed; "
        f"{cell(report.profile)} tolerances{source}, {len(report.inputs)} inputs, "
        f"reference {cell(report.reference)}; {report.seconds:.1f} s. "
        f"Exit code {0 if report.passed else 1}.",
        *_loose(report),
        "",
        "| # | artifact | verdict | failed check | value | limit |",
        "|--:|---|---|---|--:|--:|",
        *(_row(i, a) for i, a in enumerate(report.artifacts, 1)),
        *_diverges(report),
    ]
    return "\n".join(lines) + "\n"


# --- where the summary goes ------------------------------------------------------------------


def _inside(target: Path, directory: Path) -> bool:
    here = Path(os.path.realpath(target))
    return Path(os.path.realpath(directory)) in here.parents


def step_summary_path() -> Path | None:
    value = os.environ.get(STEP_SUMMARY)
    return Path(value) if value else None


def check_summary(
    summary: Path | None,
    force: bool,
    inputs: Named,
    *,
    replaced: Path | None = None,
) -> None:
    """Refuse, before any work, a ``--summary`` (or ``$GITHUB_STEP_SUMMARY``) that is one of the
    command's inputs, lies inside the directory the command replaces (``replaced``), or is not a
    regular file; then ``atomic.check_output`` for ``--summary``."""
    from ..atomic import check_apart, check_output

    step = step_summary_path()
    inputs = list(inputs)
    for what, target in (("--summary", summary), (STEP_SUMMARY, step)):
        if target is None:
            continue
        check_apart(inputs, files={what: target})
        if replaced is not None and _inside(target, replaced):
            raise UsageError(f"{what} {target} lies inside {replaced}, which this command replaces")
    if summary is None:
        return
    if summary.is_dir():
        raise UsageError(f"--summary {summary} is a directory; give a file name for the Markdown summary")
    if summary.exists() and not summary.is_file():
        # A FIFO would block the command after the gate, a device would swallow the verdict.
        raise UsageError(f"--summary {summary} is not a regular file; give a file name for the summary")
    if step is not None and same_file(summary, step):
        return  # appended to like the step summary, never replaced (GitHub created it)
    check_output(summary, force)


def append_step_summary(text: str) -> str | None:
    """Append ``text`` to ``$GITHUB_STEP_SUMMARY`` (GitHub's file: never truncated or replaced);
    a warning when that fails, None when done or not set."""
    target = step_summary_path()
    if target is None:
        return None
    try:
        # Non-blocking: a FIFO with no reader fails here instead of hanging the gate.
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        return f"{STEP_SUMMARY} {target}: {exc.strerror}; the summary was not appended"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return f"{STEP_SUMMARY} {target} is not a regular file; the summary was not appended"
        # After whatever earlier steps wrote: a heading must start its own line.
        data = memoryview(("\n" + text).encode())
        while data:
            data = data[os.write(fd, data) :]
    except OSError as exc:
        return f"{STEP_SUMMARY} {target}: {exc.strerror}; the summary was not appended whole"
    finally:
        os.close(fd)
    return None


def publish(report: GateReport, summary: Path | None, command: str = "parity") -> list[str]:
    """Write ``--summary`` (atomically) and append to ``$GITHUB_STEP_SUMMARY``; the warnings."""
    from ..atomic import write_text_atomic

    step = step_summary_path()
    if summary is None and step is None:
        return []
    text = markdown(report, command)
    if summary is not None and not (step is not None and same_file(summary, step)):
        write_text_atomic(summary, text)
    warning = append_step_summary(text)
    return [warning] if warning else []
