"""A real Triton Inference Server (2.51, from the ``nvidia-pytriton`` 0.7.0 wheel) for the
tests, on this CPU.

The wheel carries ``tritonserver`` and its Python backend, no onnxruntime backend; the
Python-based backend ``tests/triton_backend/model.py`` stands in for it under the name
``onnxruntime``, so the real core reads, validates, batches and serves the tool's
``onnxruntime_onnx`` configs, and refuses what it refuses. Built once into ``.cache/triton/``
(git-ignored; offline after the first download): the wheel (sha256 pinned), the server unpacked,
the stub for this Python copied into ``backends/python/`` and a folder with numpy 1.26 (the stub
is built for numpy 1.x: with numpy 2 it hands back empty or wrong tensors).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "triton"
WHEEL = "nvidia_pytriton-0.7.0-py3-none-manylinux_2_35_x86_64.whl"
WHEEL_SHA256 = "21f063ff93bb426d0c06b7a55e7eb9efcfe62c0dddd9a908e9877e18710128df"
TRITON_VERSION = "2.51.0"
NUMPY = "numpy==1.26.4"
BACKEND_SOURCE = Path(__file__).resolve().parent / "triton_backend" / "model.py"


class Unavailable(Exception):
    """The server cannot be built here (no wheel reachable, an unsupported Python)."""


def _pip(what: str, *args: str) -> None:
    proc = subprocess.run(
        # Offline, fail fast (skip) rather than retry for minutes.
        [
            sys.executable,
            "-m",
            "pip",
            "--disable-pip-version-check",
            "-q",
            "--retries",
            "1",
            "--timeout",
            "30",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise Unavailable(f"pip could not fetch {what}: {last}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _wheel() -> Path:
    wheel = CACHE / WHEEL
    if not wheel.is_file():
        staging = CACHE / f".download-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        _pip(
            "nvidia-pytriton 0.7.0",
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            "nvidia-pytriton==0.7.0",
            "-d",
            str(staging),
        )
        os.replace(staging / WHEEL, wheel)
        shutil.rmtree(staging, ignore_errors=True)
    if _sha256(wheel) != WHEEL_SHA256:
        raise Unavailable(f"{wheel}: not the nvidia-pytriton 0.7.0 wheel (sha256 differs); delete it")
    return wheel


def _unpack(wheel: Path) -> Path:
    """``server/``: ``pytriton/tritonserver/`` and ``nvidia_pytriton.libs/`` side by side, as the
    binaries' RPATHs expect."""
    server = CACHE / "server"
    if (server / ".complete").is_file():
        return server
    staging = CACHE / f".server-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if info.filename.startswith(("pytriton/tritonserver/", "nvidia_pytriton.libs/")):
                zf.extract(info, staging)
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    os.chmod(staging / info.filename, mode)
    (staging / ".complete").write_text(TRITON_VERSION)
    shutil.rmtree(server, ignore_errors=True)
    os.replace(staging, server)
    return server


def _numpy_site() -> Path:
    tag = f"py{sys.version_info.major}.{sys.version_info.minor}"
    site = CACHE / f"numpy1-{tag}"
    if not (site / ".complete").is_file():
        staging = CACHE / f".numpy1-{tag}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        _pip(NUMPY, "install", "--no-deps", "--only-binary", ":all:", "--target", str(staging), NUMPY)
        (staging / ".complete").write_text(NUMPY)
        shutil.rmtree(site, ignore_errors=True)
        os.replace(staging, site)
    return site


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _backends(server: Path, site: Path) -> Path:
    """``backends/python`` with this Python's stub; ``backends/onnxruntime`` the stand-in."""
    import onnxruntime

    tritonserver = server / "pytriton" / "tritonserver"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = tritonserver / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.is_file():
        raise Unavailable(f"the wheel has no Python backend stub for Python {version}")
    backends = tritonserver / "backends"
    target = backends / "python" / stub.name
    if not target.is_file():
        shutil.copy2(stub, target.with_name(f".{stub.name}.{os.getpid()}"))
        os.replace(target.with_name(f".{stub.name}.{os.getpid()}"), target)
    ort_backend = backends / "onnxruntime"
    ort_backend.mkdir(exist_ok=True)
    # numpy 1.26 first, then the folder holding the test venv's onnxruntime (built for the
    # same Python, importable with numpy 1.26): the backend runs the onnxruntime the tests do.
    paths = [str(site), str(Path(onnxruntime.__file__).resolve().parents[1])]
    _write(ort_backend / "site-paths.txt", "\n".join(paths) + "\n")
    _write(ort_backend / "model.py", BACKEND_SOURCE.read_text(encoding="utf-8"))
    return backends


def build() -> tuple[Path, Path]:
    """(the ``tritonserver`` binary, the backend directory); Unavailable where it cannot be built."""
    if sys.platform != "linux" or os.uname().machine != "x86_64":
        raise Unavailable("the nvidia-pytriton wheel is for x86-64 Linux only")
    CACHE.mkdir(parents=True, exist_ok=True)
    server = _unpack(_wheel())
    backends = _backends(server, _numpy_site())
    return server / "pytriton" / "tritonserver" / "bin" / "tritonserver", backends


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def request(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def index(self) -> dict[str, dict[str, Any]]:
        """The repository index: name -> {state, reason}, every model Triton saw."""
        return {m["name"]: m for m in self.request("POST", "/v2/repository/index")}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                # Its own session (start_new_session): the group is the server and its stubs.
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start(binary: Path, backends: Path, repository: Path, log: Path, timeout: float = 300) -> Server:
    """``tritonserver`` on loopback ports it picks, serving ``repository``; returns once the
    server answers ready (every model's load has been tried; a failed one stays UNAVAILABLE with
    Triton's reason). The caller stops it."""
    libs = binary.parents[3] / "nvidia_pytriton.libs"
    # The stub links libpython of this Python: the interpreter's own first, then the system's.
    env = {
        **os.environ,
        "LD_LIBRARY_PATH": os.pathsep.join(
            p
            for p in (
                str(sysconfig.get_config_var("LIBDIR") or ""),
                str(libs),
                os.environ.get("LD_LIBRARY_PATH", ""),
            )
            if p
        ),
    }
    http = _free_port()
    args = [
        str(binary),
        f"--model-repository={repository}",
        f"--backend-directory={backends}",
        "--http-address=127.0.0.1",
        f"--http-port={http}",
        "--grpc-address=127.0.0.1",
        f"--grpc-port={_free_port()}",
        "--allow-metrics=false",
        "--exit-on-error=false",  # a model that fails stays UNAVAILABLE, its reason in the index
        "--strict-readiness=false",
        "--log-verbose=0",
    ]
    with open(log, "wb") as fh:
        process = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    server = Server(process, f"http://127.0.0.1:{http}", log)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"tritonserver exited with {process.returncode}:\n{log.read_text()[-4000:]}"
                )
            try:
                urllib.request.urlopen(server.url + "/v2/health/ready", timeout=2).close()
                return server
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        raise RuntimeError(f"tritonserver not ready after {timeout} s:\n{log.read_text()[-4000:]}")
    except BaseException:
        server.stop()
        raise
