"""Gate reports: a rich table for people, JSON for machines, JUnit XML for CI systems."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from rich.table import Table

from ..atomic import write_text_atomic
from .gate import GateReport


def _fmt(value: float) -> str:
    return f"{value:.2e}" if value < 0.01 or value > 1e4 else f"{value:.4f}"


def table(report: GateReport) -> Table:
    t = Table(title=f"parity gate: {report.model} ({report.profile} tolerances, {len(report.inputs)} inputs)")
    for col in (
        "artifact",
        "format",
        "prec",
        "rel L2",
        "max abs",
        "p99 abs",
        "min cos",
        "top-1",
        "top-5",
        "max KL",
        "batches",
        "verdict",
    ):
        t.add_column(col, justify="right" if col not in ("artifact", "format", "verdict") else "left")
    for a in report.artifacts:
        m = a.metrics
        verdict = (
            "[green]PASS[/]" if a.passed else "[bold red]FAIL[/] " + ", ".join(c.name for c in a.failures)
        )
        t.add_row(
            Path(a.path).name + (" (no metadata)" if a.metadata.get("inferred") else ""),
            a.format,
            a.precision,
            _fmt(m.rel_l2),
            _fmt(m.max_abs),
            _fmt(m.p99_abs),
            f"{m.min_cosine:.6f}",
            f"{m.top1_agreement:.0%}",
            f"{m.top5_overlap:.0%}",
            _fmt(m.max_kl),
            ",".join(map(str, a.batch_sizes)),
            verdict,
        )
    return t


def junit_xml(report: GateReport) -> str:
    """One testsuite per artifact, one testcase per check; failures carry metric, value and limit."""
    root = ET.Element("testsuites", name="inception-export parity")
    total = failures = 0
    for a in report.artifacts:
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"parity.{report.model}.{Path(a.path).name}",
            tests=str(len(a.checks)),
            failures=str(len(a.failures)),
            errors="0",
            time=f"{a.seconds:.3f}",
        )
        for c in a.checks:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"parity.{report.model}.{Path(a.path).name}",
                name=c.name,
                time="0",
            )
            if not c.passed:
                fail = ET.SubElement(case, "failure", message=c.message or f"{c.name} failed", type=c.name)
                fail.text = f"metric={c.name} value={c.value} limit={c.limit} direction={c.direction}"
        total += len(a.checks)
        failures += len(a.failures)
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("time", f"{report.seconds:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(report: GateReport, path: Path) -> None:
    write_text_atomic(path, junit_xml(report))


def failure_lines(report: GateReport) -> list[str]:
    return [f"{Path(a.path).name}: {c.message or c.name}" for a in report.artifacts for c in a.failures]
