"""Gate reports: a rich table for people, JSON for machines, JUnit XML for CI systems."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..atomic import write_text_atomic
from ..text import printable
from .accuracy import accuracy_rows, labelled_line
from .gate import ArtifactResult, Check, GateReport
from .numfmt import near_one


def _fmt(value: float) -> str:
    return f"{value:.2e}" if value < 0.01 or value > 1e4 else f"{value:.4f}"


# Artifacts per metrics table: a metric column plus five of these fit in 80 columns.
_PER_TABLE = 5


def artifact_label(path: str, cwd: Path | None = None) -> str:
    """The artifact's path relative to the working directory when it lies below it, else its name."""
    p = Path(path)
    base = cwd or Path.cwd()
    try:
        return printable(p.resolve().relative_to(base.resolve()))
    except ValueError:
        return printable(p.name)


def _source(report: GateReport) -> str:
    return f" from {printable(report.limits_from)}" if report.limits_from else ""


_READ_FROM = {"graph": "the graph", "tensors": "its tensors", "manifest": "its sha-checked manifest"}


def _precision_source(a: ArtifactResult) -> str:
    """Where the precision (so the limits) was read: the file, never the record alone."""
    where = _READ_FROM.get(a.precision_from)
    read = f", read from {where}" if where else ""
    return read + (", no metadata" if a.metadata.inferred else "")


def table(report: GateReport) -> Group:
    """The gate's result, laid out to read at 80 columns without truncating anything.

    One row per artifact (number, file, format, verdict), then the metrics with one column
    per artifact number: twelve columns side by side would not fit a terminal.
    """
    title = (
        f"parity gate: {printable(report.model)} ({printable(report.profile)} tolerances"
        f"{_source(report)}, {len(report.inputs)} inputs)"
    )
    verdicts = Table(box=box.SIMPLE_HEAD)
    verdicts.add_column("#", justify="right", no_wrap=True)
    # Format under the name and one failed check per line keep this to three narrow
    # columns; a path too long even for that folds onto more lines, never loses characters.
    verdicts.add_column("artifact", overflow="fold")
    verdicts.add_column("verdict", overflow="fold")
    for i, a in enumerate(report.artifacts, 1):
        kind = f"{a.format} {a.precision}{_precision_source(a)}"
        name = Text(artifact_label(a.path))
        name.append(f"\n{kind}", style="dim")
        ran_on = a.runner.get("detail") if isinstance(a.runner, dict) else None
        if ran_on:  # the backend and provider that really ran it (onnxruntime may fall back)
            name.append(f"\n{ran_on}", style="dim")
        failed = "\n".join(c.name for c in a.failures)
        kind = printable(kind)
        verdict = "[green]PASS[/]" if a.passed else f"[bold red]FAIL[/]\n{failed}"
        verdicts.add_row(str(i), name, verdict)
    parts: list[Table | Text] = [Text(title)]
    if report.limits_beyond_bound:
        beyond = "\n".join(f"  {printable(b)}" for b in report.limits_beyond_bound)
        loose = f"limits beyond the built-in bound (--allow-loose-limits):\n{beyond}"
        parts.append(Text(loose, style="yellow"))
    parts.append(verdicts)
    rows = (
        ("rel L2", lambda a: _fmt(a.metrics.rel_l2)),
        ("max abs", lambda a: _fmt(a.metrics.max_abs)),
        ("p99 abs", lambda a: _fmt(a.metrics.p99_abs)),
        ("min cosine", lambda a: near_one(a.metrics.min_cosine)),
        ("top-1", lambda a: f"{a.metrics.top1_agreement:.0%}"),
        ("top-5", lambda a: f"{a.metrics.top5_overlap:.0%}"),
        ("max KL", lambda a: _fmt(a.metrics.max_kl)),
        ("batches", lambda a: ",".join(map(str, a.batch_sizes))),
    )
    extra = accuracy_rows if report.labelled is not None else ()
    if report.labelled is not None:
        parts.append(Text(labelled_line(report.labelled)))
    numbered = list(enumerate(report.artifacts, 1))
    for start in range(0, len(numbered), _PER_TABLE):
        chunk = numbered[start : start + _PER_TABLE]
        metrics = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        metrics.add_column("metric", no_wrap=True)
        for i, _ in chunk:
            metrics.add_column(f"#{i}", justify="right", no_wrap=True)
        for label, cell in (*rows, *extra):
            metrics.add_row(label, *(cell(a) for _, a in chunk))
        parts.append(metrics)
    return Group(*parts)


def junit_xml(report: GateReport) -> str:
    """One testsuite per artifact, one testcase per check; failures carry metric, value and limit.

    Valid against the Ant JUnit layout CI systems read (``tests/data/junit-report.xsd``) and
    what GitLab's test report reads: the artifact's path in ``file``, the figures in
    ``system-out``, the measured seconds in ``time``.
    """
    # Control characters are not even legal in XML 1.0: escaped like in every human output.
    root = ET.Element("testsuites", name="inception-export parity")
    total = failures = 0
    for a in report.artifacts:
        suite_name = printable(f"parity.{report.model}.{Path(a.path).name}")
        path = printable(a.path)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=suite_name,
            tests=str(len(a.checks)),
            failures=str(len(a.failures)),
            errors="0",
            skipped="0",
            time=f"{a.seconds:.3f}",
            file=path,
        )
        _properties(suite, report, a)
        # The checks are judged from one run of the artifact: each case gets an equal share of
        # its measured seconds, so the cases add up to the suite's real time (GitLab sums them).
        share = a.seconds / len(a.checks) if a.checks else 0.0
        for c in a.checks:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=suite_name,
                name=c.name,
                time=f"{share:.3f}",
                file=path,
            )
            if not c.passed:
                message = printable(c.message or f"{c.name} failed")
                fail = ET.SubElement(case, "failure", message=message, type=c.name)
                fail.text = f"metric={c.name} value={c.value} limit={c.limit} direction={c.direction}"
            ET.SubElement(case, "system-out").text = printable(_check_figures(c))
        ET.SubElement(suite, "system-out").text = printable(_artifact_figures(report, a))
        total += len(a.checks)
        failures += len(a.failures)
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", "0")
    root.set("time", f"{report.seconds:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _check_figures(c: Check) -> str:
    verdict = "pass" if c.passed else "FAIL"
    if c.value is None or c.limit is None:
        return f"{c.name}: {verdict}; {c.message}"
    relation = "<=" if c.direction == "max" else ">="
    return f"{c.name} = {c.value!r}, limit {relation} {c.limit!r}: {verdict}"


def _artifact_figures(report: GateReport, a: ArtifactResult) -> str:
    """Every metric of the artifact, the backend that ran it and the limits' source."""
    m = a.metrics
    lines = [
        f"artifact: {a.path} ({a.format} {a.precision})",
        f"model: {report.model}; tolerances: {report.profile}{_source(report)}; inputs: {len(report.inputs)}",
        f"runner: {a.runner.get('detail') if isinstance(a.runner, dict) else ''}",
        f"batches: {','.join(map(str, a.batch_sizes))}; seconds: {a.seconds:.3f}",
        f"rel_l2={m.rel_l2!r} max_abs={m.max_abs!r} p99_abs={m.p99_abs!r} min_cosine={m.min_cosine!r}",
        f"top1_agreement={m.top1_agreement!r} top5_overlap={m.top5_overlap!r} max_kl={m.max_kl!r}",
        f"nonfinite={m.nonfinite} samples={m.samples}",
    ]
    return "\n".join(lines)


def _properties(suite: ET.Element, report: GateReport, a: ArtifactResult) -> None:
    """What decided the limits: the precision and where it was read, and the limits' source."""
    props = ET.SubElement(suite, "properties")
    values = {
        "precision": a.precision,
        "precision_from": a.precision_from,
        "precision_evidence": a.precision_evidence,
        "metadata": "none" if a.metadata.inferred else "present",
        "tolerance_profile": report.profile,
        "limits_from": report.limits_from,
        "limits_within_bound": "false" if report.limits_beyond_bound else "true",
    }
    if report.limits_beyond_bound:
        values["limits_beyond_bound"] = "; ".join(report.limits_beyond_bound)
    for name, value in values.items():
        ET.SubElement(props, "property", name=name, value=printable(str(value)))


def write_junit(report: GateReport, path: Path) -> None:
    write_text_atomic(path, junit_xml(report))


def failure_lines(report: GateReport) -> list[str]:
    return [
        printable(f"{Path(a.path).name}: {c.message or c.name}") for a in report.artifacts for c in a.failures
    ]
