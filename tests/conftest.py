"""Shared test helpers: the reference data in tests/data and a real CLI runner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _share_the_cores_between_workers() -> None:
    """Under ``pytest -n N``, each worker's torch (and the CLI processes it starts) gets its
    share of the cores instead of all of them. Two workers each running torch on two OpenMP
    threads put four busy threads on the 2-core machine, and every parallel region then waited
    for a descheduled thread: the full suite took 598 s of pytest, 417 s with one thread per
    worker (same tests, same host, one run each). OpenBLAS would also take OMP_NUM_THREADS:
    it keeps all the cores, because the bench tests measure its spinning workers. Set before
    numpy and torch load, which read these once."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
    if workers > 1 and os.environ.get("PYTEST_XDIST_WORKER"):
        cores = os.cpu_count() or 1
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, cores // workers)))
        os.environ.setdefault("OPENBLAS_NUM_THREADS", str(cores))


_share_the_cores_between_workers()

import numpy as np  # noqa: E402
import pytest  # noqa: E402

DATA = Path(__file__).parent / "data"
REFERENCE_SEED = 20261123
# Which reference file belongs to which registry name.
REFERENCE_FILES = {
    "googlenet": "googlenet",
    "bn_inception": "bn_inception",
    "inception_v3": "inception_v3",
    "inception_v4": "inception_v4",
    "inception_resnet_v2": "inception_resnet_v2",
    "alexnet": "alexnet",
    "vgg16": "vgg16",
    "resnet50": "resnet50",
}
# The second input size of the reference data (``logits_size<S>`` in the logits file).
REFERENCE_SECOND_SIZE = {
    "inception_v4": 320,
    "inception_resnet_v2": 320,
    "alexnet": 256,
    "vgg16": 256,
    "resnet50": 288,
}


def reference_input(size: int) -> np.ndarray:
    """The reference recipe's input (rebuilt, not stored: it is 2 MB for v3)."""
    return np.random.default_rng(REFERENCE_SEED).uniform(-2, 2, (2, 3, size, size)).astype(np.float32)


def reference_logits(name: str) -> dict[str, np.ndarray]:
    with np.load(DATA / f"{REFERENCE_FILES[name]}.logits.npz") as z:
        return {k: z[k] for k in z.files}


def reference_layout(name: str) -> list[tuple[str, tuple[int, ...]]]:
    rows = json.loads((DATA / f"{REFERENCE_FILES[name]}.layout.json").read_text())
    return [(key, tuple(shape)) for key, shape, _dtype in rows]


_SYNTHETIC: dict[str, Any] = {}


def synthetic_model(name: str) -> Any:
    """``build_model(name)`` with the reference weights, built once per session (VGG-16's 138 M
    weights take seconds to draw). Shared: tests that change a model must build their own."""
    from inception_export import build_model, get_spec

    key = get_spec(name).name
    if key not in _SYNTHETIC:
        _SYNTHETIC[key] = build_model(key)
    return _SYNTHETIC[key]


class Lazy(dict):  # type: ignore[type-arg]
    """A dict that makes each value on first use (``make(key)``): a test of one model then
    pays for that model only, so the fast tier (``-m "not slow"``) runs v1 alone."""

    def __init__(self, make: Callable[[Any], Any]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, key: Any) -> Any:
        self[key] = value = self.make(key)
        return value


def v1_fast(names: list[str]) -> list[Any]:
    """Parameters for a per-model test: v1 (googlenet) in the fast tier, the others marked slow."""
    return [n if n == "googlenet" else pytest.param(n, marks=pytest.mark.slow) for n in names]


def rel_l2(a: np.ndarray, b: np.ndarray) -> float:
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a64 - b64) / np.linalg.norm(b64))


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def default_signals() -> None:
    """``preexec_fn`` for a child a test will signal: the dispositions a terminal gives it. A
    background job of a non-interactive shell (``pytest &``, ``nohup``) inherits SIGINT or SIGHUP
    ignored, and the CLI rightly keeps an inherited ignore, so those tests would measure the
    shell that started pytest instead of the CLI."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 600, env: dict[str, str] | None = None
) -> CliResult:
    """Run the real CLI in a subprocess (exit codes and streams exactly as a user sees them)."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "inception_export", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def run_cli_here(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> CliResult:
    """The CLI's entry point (``cli.main``) in this process, for what the process boundary does
    not change: argument checks, error lines and exit codes. A subprocess pays a fresh
    interpreter's imports (torch: seconds on 2 cores) for every line; use :func:`run_cli`
    where the boundary is the point (imports, signals, start-up, real streams)."""
    import contextlib
    import importlib
    import io
    import signal
    import warnings

    cli_app = importlib.import_module("inception_export.cli.app")
    interrupts = importlib.import_module("inception_export.interrupts")

    stdout, stderr = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = dict(os.environ), Path.cwd()
    stop_signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    saved_signals = {sig: signal.getsignal(sig) for sig in stop_signals}
    saved_showwarning = warnings.showwarning
    os.environ.update({"COLUMNS": "200", "NO_COLOR": "1", **(env or {})})
    code = 0
    try:
        if cwd is not None:
            os.chdir(cwd)
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(stdout),
            contextlib.redirect_stderr(stderr),
        ):
            try:
                cli_app.main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        for sig, handler in saved_signals.items():
            signal.signal(sig, handler)
        warnings.showwarning = saved_showwarning
        cli_app._Interrupt.reported = False
        interrupts.reset()
    return CliResult(code, stdout.getvalue(), stderr.getvalue())


def assert_one_line_error(result: CliResult, code: int = 2, *needles: str) -> None:
    assert result.code == code, (result.code, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


# --- files shared by the whole session ---------------------------------------------------
# An export costs seconds and a `release` tens of seconds on 2 cores, and many modules gate,
# break or inspect the same v1 artifacts: they are made once per session and read by all.
# Tests write what they derive from them into their own directories. Root ignores file
# modes, so instead of read-only files each shared directory is checked at the end of the
# session to be exactly as it was made: a test that changed one would make the others
# depend on the order they run in.


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    stats = {p: p.stat() for p in sorted(root.rglob("*"))}
    return {str(p.relative_to(root)): (st.st_size, st.st_mtime_ns) for p, st in stats.items()}


class SharedDir:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: dict[str, tuple[int, int]] | None = None

    def seal(self) -> None:
        self.made = _snapshot(self.root)

    def check_untouched(self) -> None:
        if self.made is not None:
            assert _snapshot(self.root) == self.made, f"a test changed the shared files in {self.root}"


ExportFn = Callable[..., Any]


@pytest.fixture(scope="session")
def shared_exports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExportFn]:
    """``shared_exports(name, "onnx"|"torchscript", precision="fp32")``: the ExportResult of the
    reference-weights model at its default size, exported once per session (``{name}.pt``,
    ``{name}-{precision}.onnx``)."""
    from inception_export import get_spec
    from inception_export.full.export import export_onnx, export_torchscript

    shared = SharedDir(tmp_path_factory.mktemp("shared-exports"))
    made: dict[tuple[str, str, str], Any] = {}

    def export(name: str, fmt: str, precision: str = "fp32") -> Any:
        name = get_spec(name).name
        key = (name, fmt, precision)
        if key not in made:
            model = synthetic_model(name)
            if fmt == "torchscript":
                assert precision == "fp32", precision
                made[key] = export_torchscript(name, shared.root / f"{name}.pt", model_obj=model)
            else:
                path = shared.root / f"{name}-{precision}.onnx"
                made[key] = export_onnx(name, path, precision=precision, model_obj=model)
            shared.seal()
        return made[key]

    yield export
    shared.check_untouched()


@pytest.fixture(scope="session")
def v1_release(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, CliResult]]:
    """One real ``release --model v1 --samples 2 --json`` through the CLI (TorchScript, FP32 and
    FP16 ONNX, the gate, the golden bundle, the manifest), shared by the release and golden tests."""
    shared = SharedDir(tmp_path_factory.mktemp("shared-release"))
    out = shared.root / "v1"
    res = run_cli("release", "--model", "v1", "--out", str(out), "--samples", "2", "--json")
    shared.seal()
    yield out, res
    shared.check_untouched()


def stand_in_engine(engine: Path, onnx: Path, lo: int, opt: int, hi: int, size: int = 224) -> Path:
    """A TensorRT engine file and its manifest as `trt --onnx` writes them on the device, for
    a machine without TensorRT: the bytes stand in for a plan, the manifest is what the tool
    reads (profile, I/O names, TensorRT version, the engine's and the ONNX's sha256)."""
    import hashlib

    engine.write_bytes(b"stand-in plan bytes")
    manifest = {
        "format": "inception-export/tensorrt-engine",
        "format_version": 1,
        "model": "googlenet",
        "engine": {"file": engine.name, "sha256": hashlib.sha256(engine.read_bytes()).hexdigest()},
        "tensorrt_version": "10.3.0.26",
        "gpu": {"name": "NVIDIA A10", "compute_capability": "8.6", "integrated": False},
        "precision": "fp16",
        "input_name": "input",
        "output_names": ["logits"],
        "input_size": size,
        "input_layout": "NCHW",
        "input_dtype": "float32",
        "profiles": [
            {"input": "input", **{k: [b, 3, size, size] for k, b in (("min", lo), ("opt", opt), ("max", hi))}}
        ],
        "onnx": {"file": onnx.name, "sha256": hashlib.sha256(onnx.read_bytes()).hexdigest()},
        "num_classes": 1000,
    }
    engine.with_name(engine.name + ".json").write_text(json.dumps(manifest))
    return engine


def edited_release(release: Path, dest: Path, edit: Any) -> Path:
    """``release`` with its manifest edited by ``edit(manifest)`` (the other files linked, read
    only): what a user's edit of manifest.json does, re-hashed nowhere."""
    dest.mkdir()
    for p in release.iterdir():
        if p.name != "manifest.json":
            (dest / p.name).symlink_to(p)
    manifest = json.loads((release / "manifest.json").read_text())
    edit(manifest)
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return dest


@pytest.fixture()
def case(tmp_path: Path) -> dict[str, Any]:
    """The hand-made ONNX classifier (``helpers.tiny_onnx``), a copy off by 50 %, and a golden
    bundle of the first: the small, torch-free gate most refusal tests run against."""
    from helpers import bundle_parts, tiny_onnx, write_bundle  # helpers imports this module

    good, w, b = tiny_onnx(tmp_path / "tiny.onnx")
    broken, _, _ = tiny_onnx(tmp_path / "broken.onnx", scale=1.5)
    meta, sets = bundle_parts(w, b)
    bundle = write_bundle(tmp_path / "golden.npz", meta, sets)
    return {"dir": tmp_path, "good": good, "broken": broken, "meta": meta, "sets": sets, "bundle": bundle}
