"""The backend x precision x batch matrix: argument checks, runner construction, one timed run.

Every combination the user asks for becomes one record. Combinations that mean nothing on
the chosen device (eager fp16 on CPU, ...) are kept as records with ``status: skipped``
and the reason, so the output still says what was asked and why it was not measured.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import BackendUnavailable, UsageError
from ..registry import ModelSpec
from ..runners.base import Runner, RunnerInfo
from .gemm import gemm_callable
from .timing import run_interleaved, summarize

BACKENDS = ("torch", "torchscript", "onnxruntime", "tensorrt", "cudagraph")
PRECISIONS = ("fp32", "fp16")
DEVICES = ("cpu", "cuda")

# Fields every record carries, measured or skipped (the --json contract).
RECORD_FIELDS = (
    "backend",
    "precision",
    "batch",
    "median_ms",
    "p90_ms",
    "throughput_ips",
    "speedup_vs_torch",
    "gmacs_per_s",
    "peak_rss_mb",
)


def parse_list(text: str, what: str, allowed: Sequence[str]) -> list[str]:
    items = [t.strip().lower() for t in text.split(",") if t.strip()]
    if not items:
        raise UsageError(f"--{what} is empty; choose from {', '.join(allowed)}")
    for item in items:
        if item not in allowed:
            raise UsageError(
                f"unknown {what[:-1] if what.endswith('s') else what} {item!r}; "
                f"choose from {', '.join(allowed)}"
            )
    return list(dict.fromkeys(items))


def parse_batches(text: str) -> list[int]:
    out: list[int] = []
    for tok in (t.strip() for t in text.split(",")):
        if not tok:
            continue
        try:
            b = int(tok)
        except ValueError:
            raise UsageError(f"--batch: {tok!r} is not an integer") from None
        if b < 1:
            raise UsageError(f"--batch: batch size must be >= 1, got {b}")
        out.append(b)
    if not out:
        raise UsageError("--batch is empty; give sizes like 1,8")
    return list(dict.fromkeys(out))


def default_threads() -> int:
    """Cores this process may use (the affinity mask, not the host's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def peak_rss_mb() -> float:
    """Process-wide peak resident set size so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def tensorrt_available() -> bool:
    try:
        import tensorrt
    except ImportError:
        return False
    # tensorrt-stubs installs an empty namespace package: only a real build has Builder.
    return hasattr(tensorrt, "Builder")


def check_available(backends: Sequence[str], device: str) -> None:
    """Refuse (exit 2) a backend that is not installed, before any work is done."""
    if device not in DEVICES:
        raise UsageError(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailable("--device cuda asked for, but torch sees no CUDA device here")
    if "onnxruntime" in backends:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise BackendUnavailable("onnxruntime is not installed (pip install onnxruntime)") from None
    if "tensorrt" in backends and not tensorrt_available():
        # Checked here rather than via inception_export.tensorrt so the message names the backend.
        raise BackendUnavailable(
            "backend tensorrt is not installed here (no real TensorRT; "
            "pip install 'inception-export[tensorrt]' on a machine with an NVIDIA GPU)"
        )
    if "cudagraph" in backends and device != "cuda":
        raise UsageError("backend cudagraph needs --device cuda")


def skip_reason(backend: str, precision: str, device: str) -> str | None:
    """Why a combination is not meaningful on this device, or None if it can run."""
    if device == "cpu":
        if backend in ("torch", "torchscript") and precision == "fp16":
            return (
                f"{backend} fp16 on CPU is slow or unsupported for convolutions; on CPU, fp16 is "
                "measured as the ONNX FP16 artifact on onnxruntime"
            )
        if backend == "tensorrt":
            return "TensorRT runs on an NVIDIA GPU only; use --device cuda"
    else:
        if backend == "torchscript" and precision == "fp16":
            return "the frozen TorchScript artifact is fp32 (weights are baked-in constants)"
    return None


@dataclass
class Combo:
    backend: str
    precision: str
    skip: str | None = None

    @property
    def label(self) -> str:
        return f"{self.backend}-{self.precision}"


def plan(backends: Sequence[str], precisions: Sequence[str], device: str) -> list[Combo]:
    combos = [Combo(b, p, skip_reason(b, p, device)) for b in backends for p in precisions]
    if all(c.skip for c in combos):
        reasons = "; ".join(f"{c.label}: {c.skip}" for c in combos)
        raise UsageError(f"none of the requested combinations can run on {device}: {reasons}")
    return combos


class CudaGraphRunner(Runner):
    """Eager model captured once into a CUDA graph for a fixed batch (replay skips launch overhead)."""

    def __init__(self, model: nn.Module, input_size: int, batch: int, precision: str) -> None:
        self.dtype = torch.float16 if precision == "fp16" else torch.float32
        self.model = model.to("cuda", self.dtype).eval()
        self.static_in = torch.zeros(batch, 3, input_size, input_size, device="cuda", dtype=self.dtype)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.inference_mode(), torch.cuda.stream(side):
            for _ in range(3):  # warm-up outside the graph: cuDNN picks its algorithms here
                self.model(self.static_in)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(self.graph):
            self.static_out = self.model(self.static_in)
        self.info = RunnerInfo("cudagraph", precision, "cuda", input_size, batch, batch)

    def infer(self, x: np.ndarray) -> np.ndarray:
        self.static_in.copy_(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
        self.graph.replay()
        return np.asarray(self.static_out.float().cpu().numpy(), dtype=np.float32)


@dataclass
class BenchConfig:
    model: str
    backends: list[str]
    precisions: list[str]
    batches: list[int]
    warmup: int = 3
    iters: int = 15
    weights: Path | None = None
    transform_input: bool = False
    device: str = "cpu"
    threads: int = field(default_factory=default_threads)
    # Per-batch overrides (the suite uses fewer runs at batch 8).
    iters_by_batch: dict[int, int] = field(default_factory=dict)
    warmup_by_batch: dict[int, int] = field(default_factory=dict)
    artifact_dir: Path | None = None
    # Side of a square fp32 GEMM timed in the same interleaved rotation (0: none).
    gemm_n: int = 0

    def validate(self) -> None:
        if self.warmup < 0:
            raise UsageError(f"--warmup must be >= 0, got {self.warmup}")
        if self.iters < 1:
            raise UsageError(f"--iters must be >= 1, got {self.iters}")
        if self.gemm_n < 0:
            raise UsageError(f"--gemm must be >= 0, got {self.gemm_n}")
        if self.threads < 1:
            raise UsageError(f"--threads must be >= 1, got {self.threads}")
        for b in self.batches:
            if b < 1:
                raise UsageError(f"--batch: batch size must be >= 1, got {b}")
        check_available(self.backends, self.device)


class _Exporter:
    """Exports each artifact once per run (into a temp dir) and times it."""

    def __init__(self, cfg: BenchConfig, model: nn.Module, workdir: Path) -> None:
        self.cfg, self.model, self.dir = cfg, model, workdir
        self.paths: dict[str, Path] = {}
        self.seconds: dict[str, float] = {}

    def get(self, kind: str) -> tuple[Path, float]:
        if kind not in self.paths:
            name = self.cfg.model.replace("/", "_")
            t0 = time.perf_counter()
            # torch.onnx prints its progress to stdout, which belongs to --json.
            with contextlib.redirect_stdout(sys.stderr):
                self._export(kind, name)
            self.seconds[kind] = time.perf_counter() - t0
            return self.paths[kind], self.seconds[kind]
        return self.paths[kind], 0.0

    def _export(self, kind: str, name: str) -> None:
        from ..export import export_onnx, export_torchscript  # written alongside; import lazily

        if kind == "torchscript":
            out = self.dir / f"{name}.ts"
            export_torchscript(
                self.cfg.model,
                out,
                weights=self.cfg.weights,
                transform_input=self.cfg.transform_input,
                force=True,
                model_obj=self.model,
            )
        else:
            precision = kind.split("-", 1)[1]
            out = self.dir / f"{name}-{precision}.onnx"
            export_onnx(
                self.cfg.model,
                out,
                weights=self.cfg.weights,
                transform_input=self.cfg.transform_input,
                precision=precision,
                force=True,
                model_obj=self.model,
            )
        self.paths[kind] = out


def _make_runner(
    combo: Combo, cfg: BenchConfig, spec: ModelSpec, model: nn.Module, exporter: _Exporter, batch: int
) -> tuple[Runner, float]:
    """Build one runner; returns it and the seconds spent exporting its artifact (0 if reused)."""
    size = spec.default_size
    dev, prec = cfg.device, combo.precision
    if combo.backend == "torch":
        # TorchRunner converts the module in place; the shared fp32 CPU model must stay as-is
        # for the exporters and the other runners.
        m = model if (dev == "cpu" and prec == "fp32") else copy.deepcopy(model)
        return _torch_runner(m, size, dev, prec), 0.0
    if combo.backend == "cudagraph":
        return CudaGraphRunner(copy.deepcopy(model), size, batch, prec), 0.0
    if combo.backend == "torchscript":
        from ..runners.torch_runner import TorchScriptRunner

        path, secs = exporter.get("torchscript")
        return TorchScriptRunner(path, size, dev, prec), secs
    if combo.backend == "onnxruntime":
        from ..runners.onnxruntime_runner import OnnxRuntimeRunner

        path, secs = exporter.get(f"onnx-{prec}")
        return OnnxRuntimeRunner(path, device=dev, threads=cfg.threads, precision=prec), secs
    if combo.backend == "tensorrt":
        return _tensorrt_runner(combo, cfg, spec, exporter)
    raise UsageError(f"unknown backend {combo.backend!r}")


def _torch_runner(model: nn.Module, size: int, dev: str, prec: str) -> Runner:
    from ..runners.torch_runner import TorchRunner

    return TorchRunner(model, size, dev, prec)


def _tensorrt_runner(
    combo: Combo, cfg: BenchConfig, spec: ModelSpec, exporter: _Exporter
) -> tuple[Runner, float]:
    """Build an engine (one per precision, batch 1..max requested) with the project's builder.

    Not exercised on the CPU-only development machine; written against
    inception_export.tensorrt's build_engine / TensorRTRunner.
    """
    from ..tensorrt.builder import build_engine
    from ..tensorrt.config import EngineConfig
    from ..tensorrt.runner import TensorRTRunner

    # Strongly typed engines take their precision from the ONNX graph's types.
    onnx_path, secs = exporter.get(f"onnx-{combo.precision}")
    top = max(cfg.batches)
    engine_cfg = EngineConfig(
        precision=combo.precision, min_batch=1, opt_batch=top, max_batch=top, input_size=spec.default_size
    )
    engine = onnx_path.with_suffix(f".{combo.precision}.engine")
    t0 = time.perf_counter()
    build_engine(onnx_path, engine, engine_cfg, model=spec.name)
    return TensorRTRunner(engine), secs + time.perf_counter() - t0


_ARTIFACT_KIND = {"torchscript": "torchscript", "onnxruntime": "onnx-{p}", "tensorrt": "onnx-fp32"}


def thread_settings(cfg: BenchConfig) -> dict[str, Any]:
    return {
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "ort_intra_op_threads": cfg.threads,
        "ort_inter_op_threads": 1,
    }


def run_bench(
    cfg: BenchConfig,
    on_progress: Callable[[str, int, int], None] | None = None,
    on_skip: Callable[[Combo], None] | None = None,
    model: nn.Module | None = None,
) -> list[dict[str, Any]]:
    """Measure every combination; one record per backend x precision x batch.

    ``on_progress(description, done, total)`` is called as runs complete (for a progress bar).
    """
    from ..build import build_model, example_input

    cfg.validate()
    combos = plan(cfg.backends, cfg.precisions, cfg.device)
    for c in combos:
        if c.skip and on_skip:
            on_skip(c)
    torch.set_num_threads(cfg.threads)
    if model is None:
        model = build_model(cfg.model, cfg.weights, transform_input=cfg.transform_input)
    spec: ModelSpec = model.spec  # type: ignore[assignment]
    threads = thread_settings(cfg)
    live = [c for c in combos if not c.skip]

    with tempfile.TemporaryDirectory(prefix="inception-bench-") as tmp:
        exporter = _Exporter(cfg, model, cfg.artifact_dir or Path(tmp))
        runners: dict[tuple[str, str, int], Runner] = {}
        setup_s: dict[tuple[str, str, int], float] = {}

        def runner_for(c: Combo, batch: int) -> tuple[Runner, tuple[str, str, int]]:
            # CUDA graphs are captured for one batch size; every other runner serves all sizes.
            key = (c.backend, c.precision, batch if c.backend == "cudagraph" else 0)
            if key not in runners:
                t0 = time.perf_counter()
                runners[key], _ = _make_runner(c, cfg, spec, model, exporter, batch)
                # Includes exporting its artifact, if this runner was the first to need it.
                setup_s[key] = time.perf_counter() - t0
            return runners[key], key

        records: list[dict[str, Any]] = []
        try:
            for batch in cfg.batches:
                warmup = cfg.warmup_by_batch.get(batch, cfg.warmup)
                iters = cfg.iters_by_batch.get(batch, cfg.iters)
                x = example_input(spec, batch).numpy()
                fns: dict[str, Callable[[], object]] = {}
                keys: dict[str, tuple[str, str, int]] = {}
                infos: dict[str, RunnerInfo] = {}
                batch_skips: dict[str, str] = {}
                for c in live:
                    if on_progress:
                        on_progress(f"{spec.name} b{batch}: preparing {c.label}", 0, 0)
                    r, key = runner_for(c, batch)
                    info = r.info
                    if batch < info.min_batch or (info.max_batch is not None and batch > info.max_batch):
                        batch_skips[c.label] = (
                            f"artifact accepts batch {info.min_batch}..{info.max_batch or 'any'}, not {batch}"
                        )
                        continue
                    fns[c.label] = functools.partial(r.infer, x)
                    keys[c.label] = key
                    infos[c.label] = info
                if cfg.gemm_n and fns:
                    fns["gemm-torch"] = gemm_callable(cfg.gemm_n, cfg.device, "torch")
                    if cfg.device == "cpu":
                        fns["gemm-numpy"] = gemm_callable(cfg.gemm_n, cfg.device, "numpy")
                total = (warmup + iters) * len(fns)
                done = 0

                def step(batch: int = batch, total: int = total, n: int = len(fns)) -> None:
                    nonlocal done
                    done += 1
                    if on_progress:
                        on_progress(
                            f"{spec.name} batch {batch}: timing {n} backends interleaved", done, total
                        )

                times = run_interleaved(fns, warmup, iters, on_step=step) if fns else {}
                gemm_rates = {
                    k.split("-", 1)[1]: float(cfg.gemm_n) ** 3
                    / (summarize(times.pop(k)).median_ms / 1e3)
                    / 1e9
                    for k in [k for k in times if k.startswith("gemm-")]
                }
                gemm_rate = max(gemm_rates.values()) if gemm_rates else None
                rss = peak_rss_mb()
                torch_med = None
                if "torch-fp32" in times:
                    torch_med = summarize(times["torch-fp32"]).median_ms
                for c in combos:
                    rec: dict[str, Any] = {
                        "model": spec.name,
                        "backend": c.backend,
                        "precision": c.precision,
                        "batch": batch,
                        "device": cfg.device,
                        "input_size": spec.default_size,
                    }
                    reason = c.skip or batch_skips.get(c.label)
                    if reason:
                        rec.update({k: None for k in RECORD_FIELDS if k not in rec})
                        rec.update({"status": "skipped", "reason": reason})
                        records.append(rec)
                        continue
                    st = summarize(times[c.label])
                    med_s = st.median_ms / 1e3
                    rec.update(
                        {
                            "status": "ok",
                            "median_ms": st.median_ms,
                            "p90_ms": st.p90_ms,
                            "mean_ms": st.mean_ms,
                            "min_ms": st.min_ms,
                            "stdev_ms": st.stdev_ms,
                            "runs": st.n,
                            "warmup": warmup,
                            "throughput_ips": batch / med_s,
                            "speedup_vs_torch": (torch_med / st.median_ms) if torch_med else None,
                            "gmacs_per_s": spec.gmacs * batch / med_s,
                            "peak_rss_mb": rss,
                            "peak_rss_scope": "process-wide peak RSS after this batch's interleaved runs",
                            "setup_s": setup_s[keys[c.label]],
                            "threads": threads,
                            "artifact": infos[c.label].artifact,
                            "interleaved_with": sorted(fns),
                            "gemm_n": cfg.gemm_n or None,
                            "gemm_gmacs_per_s": gemm_rate,
                            "gemm_gmacs_per_s_by_lib": gemm_rates or None,
                            "fraction_of_gemm": (spec.gmacs * batch / med_s / gemm_rate)
                            if gemm_rate
                            else None,
                        }
                    )
                    records.append(rec)
        finally:
            for r in runners.values():
                r.close()
        for rec in records:
            kind = _ARTIFACT_KIND.get(rec["backend"], "").format(p=rec["precision"])
            rec["export_s"] = exporter.seconds.get(kind) if rec["status"] == "ok" else None
    return records
