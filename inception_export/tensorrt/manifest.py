"""The sidecar manifest ``<engine>.json``: what an engine was built with and where it may run.

It sits beside the engine rather than in a header inside it, so the engine file stays a
plain TensorRT plan that trtexec, Triton and DeepStream load unchanged.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import jsonout
from ..atomic import write_text_atomic
from ..errors import ArtifactError
from ..reading import read_regular
from .inspect_precision import PrecisionReport, float32_convolutions, verify_precision

FORMAT = "inception-export/tensorrt-engine"
FORMAT_VERSION = 1
AMPERE = (8, 0)


def manifest_path(engine: Path) -> Path:
    return engine.with_name(engine.name + ".json")


def parse_cc(value: Any) -> tuple[int, int]:
    """Compute capability from "8.6", [8, 6] or (8, 6)."""
    try:
        if isinstance(value, str):
            major, minor = value.split(".")
            return int(major), int(minor)
        major, minor = value
        return int(major), int(minor)
    except (TypeError, ValueError):
        raise ArtifactError(f"manifest has an unreadable compute capability: {value!r}") from None


def _version_key(version: str) -> tuple[str, ...]:
    # The whole version, build number included: TensorRT's deserializer refuses a plan from
    # another build ("expecting library version 10.3.0.30 got 10.3.0.26").
    return tuple(str(version).strip().split("."))


def current_platform() -> str:
    """OS and CPU architecture ("Linux-aarch64"): a serialized engine runs on its own platform only."""
    return f"{platform.system() or 'unknown'}-{platform.machine() or 'unknown'}"


@dataclass(frozen=True)
class RuntimeEnv:
    """What is here at load time: the running TensorRT and GPU, and the engine file's hash."""

    tensorrt_version: str
    gpu_name: str
    compute_capability: tuple[int, int]
    engine_sha256: str | None = None
    cuda_version: str | None = None  # the CUDA TensorRT was built for, where it can be told
    platform: str | None = None  # current_platform()
    integrated: bool | None = None  # an integrated GPU (Jetson)
    cuda_driver_version: str | None = None

    def platform_dict(self) -> dict[str, Any]:
        """The manifest's record of where the engine was built (see check_manifest)."""
        system, _, machine = (self.platform or "unknown-unknown").partition("-")
        return {"os": system, "arch": machine, "integrated_gpu": self.integrated}


def env_fields(env: RuntimeEnv) -> dict[str, Any]:
    """The manifest's record of the TensorRT, CUDA, platform and GPU an engine was built on."""
    cc = env.compute_capability
    return {
        "tensorrt_version": env.tensorrt_version,  # the full version, build number included
        # The CUDA TensorRT runs on: its own build's (wheel name) and the driver's.
        "cuda_version": env.cuda_version,
        "cuda_driver_version": env.cuda_driver_version,
        "platform": env.platform_dict(),
        "gpu": {"name": env.gpu_name, "compute_capability": f"{cc[0]}.{cc[1]}", "integrated": env.integrated},
    }


def _gpu_kind(integrated: Any) -> str:
    return {True: "an integrated (Jetson) GPU", False: "a discrete GPU"}.get(integrated, "an unknown GPU")


def check_platform(manifest: dict[str, Any], env: RuntimeEnv) -> None:
    """Refuse, before deserialising, an engine built on another OS, CPU architecture or GPU kind.

    ``--hardware-compat ampere+`` does not lift this: it covers GPU generations on one platform.
    A manifest without the record (built before it was kept) is not refused on it.
    """
    built = manifest.get("platform")
    if not isinstance(built, dict) or env.platform is None:
        return
    name = manifest.get("engine", {}).get("file", "the engine")
    there = f"{built.get('os', '?')}-{built.get('arch', '?')}"
    here = env.platform
    if there != here:
        raise ArtifactError(
            f"{name} was built on {there} but this is {here}; serialized engines do not move across "
            "platforms (not even with --hardware-compat): rebuild it here"
        )
    there_int, here_int = built.get("integrated_gpu"), env.integrated
    if there_int is not None and here_int is not None and bool(there_int) != bool(here_int):
        raise ArtifactError(
            f"{name} was built for {_gpu_kind(there_int)} but {env.gpu_name} is {_gpu_kind(here_int)}; "
            "rebuild it here"
        )


def check_manifest(manifest: dict[str, Any], env: RuntimeEnv) -> None:
    """None when the engine may run here; otherwise ArtifactError with one line saying why not."""
    if manifest.get("format") != FORMAT:
        raise ArtifactError("not an inception-export TensorRT manifest")
    name = manifest.get("engine", {}).get("file", "the engine")
    want_sha = manifest.get("engine", {}).get("sha256")
    if env.engine_sha256 is not None and want_sha != env.engine_sha256:
        raise ArtifactError(
            f"{name} does not match its manifest (sha256 {env.engine_sha256[:12]}..., manifest says "
            f"{str(want_sha)[:12]}...): the engine was replaced or corrupted; rebuild it"
        )
    check_platform(manifest, env)
    built_trt = str(manifest.get("tensorrt_version", "?"))
    if _version_key(built_trt) != _version_key(env.tensorrt_version):
        raise ArtifactError(
            f"{name} was built with TensorRT {built_trt} but this is TensorRT {env.tensorrt_version}; "
            "engines only load on the TensorRT version that built them: rebuild it here"
        )
    gpu = manifest.get("gpu", {})
    built_cc = parse_cc(gpu.get("compute_capability"))
    here = env.compute_capability
    compat = manifest.get("hardware_compatibility", "none")
    if compat == "ampere+":
        if env.integrated:
            raise ArtifactError(
                f"{name} was built with --hardware-compat ampere+, which TensorRT does not support on "
                f"an integrated (Jetson) GPU such as {env.gpu_name}; rebuild it here with "
                "--hardware-compat none"
            )
        if here < AMPERE:
            raise ArtifactError(
                f"{name} was built for Ampere and newer GPUs (compute capability >= 8.0) but "
                f"{env.gpu_name} is {here[0]}.{here[1]}; rebuild it here with --hardware-compat none"
            )
    elif built_cc != here:
        raise ArtifactError(
            f"{name} was built for compute capability {built_cc[0]}.{built_cc[1]} "
            f"({gpu.get('name', '?')}) but {env.gpu_name} is {here[0]}.{here[1]}; rebuild it on this GPU "
            "(or build with --hardware-compat ampere+ for any GPU from Ampere on)"
        )


def precision_expectation(
    precision: str, float32_nodes: list[str] | None = None, keep_fp32: list[str] | None = None
) -> dict[str, Any]:
    """What every convolution of the engine must run in, from the ONNX's metadata.

    FP16 engine: float32 for the Conv nodes in ``float32_nodes`` (``"Conv:node_conv2d_3"``),
    float16 for every other one. FP32 engine: float32 everywhere.
    """
    nodes = list(float32_nodes or []) if precision == "fp16" else []
    return {
        "precision": precision,
        "float32_nodes": nodes,
        "float32_convolutions": list(float32_convolutions(nodes)),
        "keep_fp32": list(keep_fp32 or []),
        "other_convolutions": "fp16" if precision == "fp16" else "fp32",
    }


def verify_engine_report(report: str | dict[str, Any], manifest: dict[str, Any]) -> PrecisionReport:
    """Verify an engine's inspector report against its manifest alone (no ONNX needed)."""
    expect = manifest.get("precision_expectation")
    if not isinstance(expect, dict):
        raise ArtifactError("the engine manifest has no precision_expectation (built by an older version)")
    if expect.get("precision") == "int8":
        from .int8_check import verify_int8_report

        return verify_int8_report(report, expect)
    return verify_precision(report, str(expect.get("precision", "fp16")), expect.get("float32_nodes", []))


def write_manifest(engine: Path, manifest: dict[str, Any]) -> Path:
    path = manifest_path(engine)
    write_text_atomic(path, jsonout.dumps(manifest, indent=2) + "\n")
    return path


# A manifest is a few kB; one claiming more is not ours and is not read into memory.
MAX_MANIFEST_BYTES = 16 << 20


def read_manifest(engine: Path) -> dict[str, Any] | None:
    """The manifest beside ``engine``; None if there is none; ArtifactError if it is unreadable
    (a FIFO, a device, more than MAX_MANIFEST_BYTES, not JSON, nested past the parser)."""
    path = manifest_path(engine)
    try:
        data = read_regular(path, MAX_MANIFEST_BYTES, "engine manifest")
    except FileNotFoundError:
        return None  # none there, or a symlink to nothing
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise ArtifactError(f"{path}: unreadable engine manifest ({why})") from None
    return parse_manifest(data, path)


def parse_manifest(data: bytes, path: Path) -> dict[str, Any]:
    """An engine manifest's bytes, as read (``deploy`` hashes the same bytes it parses):
    ArtifactError unless they are this tool's manifest."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        what = "nested too deeply" if isinstance(exc, RecursionError) else type(exc).__name__
        raise ArtifactError(f"{path}: unreadable engine manifest ({what})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ArtifactError(f"{path}: not an inception-export TensorRT manifest")
    return doc
