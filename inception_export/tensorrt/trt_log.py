"""TensorRT's logger and build progress monitor: what it says goes to stderr, its errors into messages.

An Orin build takes minutes; without these it is silent until it fails. Warnings and errors are
shown on stderr as TensorRT gives them (``--verbose`` adds its info messages); errors are also
kept, so a failed parse, build or deserialisation names TensorRT's own reason in its one line.
The progress monitor (``IBuilderConfig.progress_monitor``, TensorRT 10 and 11) shows each
phase of the build as it starts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from rich.markup import escape

from ..console import err
from ..text import clip, first_line

Printer = Callable[[str], None]


def _print(line: str) -> None:
    err.print(escape(line), highlight=False, soft_wrap=True)


def make_logger(*, verbose: bool = False, show: bool = True, printer: Printer = _print) -> Any:
    """A ``trt.ILogger`` that keeps errors (``.errors``) and prints warnings and errors to stderr."""
    import tensorrt as trt

    sev = trt.ILogger.Severity
    labels = {
        sev.INTERNAL_ERROR: "internal error",
        sev.ERROR: "error",
        sev.WARNING: "warning",
        sev.INFO: "info",
    }

    class StderrLogger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []
            self._lock = threading.Lock()  # TensorRT may log from its builder threads

        def log(self, severity: Any, msg: str) -> None:
            text = str(msg).strip()
            # Membership, not ordering: pybind11 enums need not define comparisons.
            is_error = severity in (sev.INTERNAL_ERROR, sev.ERROR)
            with self._lock:
                if is_error:
                    self.errors.append(text)
                shown = is_error or severity == sev.WARNING or (verbose and severity == sev.INFO)
                if show and shown and text:
                    printer(f"TensorRT {labels.get(severity, 'message')}: {clip(text, 400)}")

    return StderrLogger()


def first_error(errors: list[str], limit: int = 300) -> str:
    return first_line(errors[0], limit) if errors else "no details from TensorRT"


def make_progress_monitor(printer: Printer = _print) -> Any:
    """A ``trt.IProgressMonitor`` printing each top-level build phase and its time."""
    import tensorrt as trt

    class PhasePrinter(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._started: dict[str, float] = {}
            self._top: set[str] = set()

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            self._started[phase_name] = time.perf_counter()
            if parent_phase is None:  # nested phases (per-layer tactics) would flood a log
                self._top.add(phase_name)
                steps = f" ({num_steps} steps)" if num_steps > 1 else ""
                printer(f"TensorRT: {phase_name}{steps}...")

        def step_complete(self, phase_name: str, step: int) -> bool:
            return True  # never cancel: Ctrl-C still stops the process

        def phase_finish(self, phase_name: str) -> None:
            t0 = self._started.pop(phase_name, None)
            if phase_name in self._top and t0 is not None:
                self._top.discard(phase_name)
                printer(f"TensorRT: {phase_name} done in {time.perf_counter() - t0:.0f}s")

    return PhasePrinter()
