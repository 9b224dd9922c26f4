"""GitHub Actions workflow commands: one ``::error`` annotation per failing artifact.

The runner reads workflow commands from a step's stdout *and* stderr (actions/runner,
``src/Runner.Worker/Handlers/ScriptHandler.cs``: both streams go through an ``OutputManager``
bound to the ``ActionCommandManager``). They are written to stderr, so that stdout keeps only
the command's result: the table, or ``--json``, which must stay one JSON document.
The escaping is the one ``@actions/core`` applies (actions/toolkit,
``packages/core/src/command.ts``: ``escapeData`` and ``escapeProperty``).
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from ..text import printable
from .gate import ArtifactResult, GateReport
from .report import artifact_label


def under_github_actions() -> bool:
    """GitHub sets ``GITHUB_ACTIONS=true`` in every step it runs."""
    return os.environ.get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    """A command's message: ``%`` first, so that the escapes added after it stay escapes."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value, where ``:`` would end the properties and ``,`` start the next one."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def error_command(model: str, artifact: ArtifactResult) -> str:
    """``::error title=...::...`` naming the artifact and every failed check (metric, value, limit)."""
    # printable() first: a newline in a file name must neither end the command nor be
    # turned back into a line break by the runner's unescaping.
    name = printable(artifact_label(artifact.path))
    metrics = ", ".join(c.name for c in artifact.failures)
    details = "; ".join(printable(c.message or f"{c.name} failed") for c in artifact.failures)
    title = f"parity gate: {name} failed {metrics}"
    message = f"{name} ({printable(model)}, {artifact.format} {artifact.precision}): {details}"
    return f"::error title={escape_property(title)}::{escape_data(message)}"


def error_commands(report: GateReport) -> list[str]:
    return [error_command(report.model, a) for a in report.artifacts if not a.passed]


def annotate(report: GateReport, stream: TextIO | None = None) -> int:
    """Under GitHub Actions, print the failures' ``::error`` commands; how many were printed."""
    if not under_github_actions():
        return 0
    lines = error_commands(report)
    target = stream or sys.stderr
    # Each command whole on its own line: rich's console would wrap a long one at the
    # terminal width, and the runner reads a command only from the start of a line.
    for line in lines:
        target.write(line + "\n")
    target.flush()
    return len(lines)
