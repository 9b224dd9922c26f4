"""The engine manifest: what an engine was built with and for (TensorRT build, GPU, platform,
hardware compatibility, the ONNX it came from), checked before an engine is trusted."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from inception_export.errors import ArtifactError
from inception_export.tensorrt.config import EngineConfig
from inception_export.tensorrt.manifest import (
    FORMAT,
    RuntimeEnv,
    check_manifest,
    precision_expectation,
)


def _manifest(cc: str = "8.7", compat: str = "none", trt: str = "10.3.0.30") -> dict[str, object]:
    return {
        "format": FORMAT,
        "engine": {"file": "v3.engine", "sha256": "ab" * 32, "bytes": 1},
        "tensorrt_version": trt,
        "gpu": {"name": "Orin", "compute_capability": cc},
        "hardware_compatibility": compat,
    }


def _env(cc: tuple[int, int] = (8, 7), trt: str = "10.3.0.30", sha: str = "ab" * 32) -> RuntimeEnv:
    return RuntimeEnv(tensorrt_version=trt, gpu_name="GPU here", compute_capability=cc, engine_sha256=sha)


def test_manifest_matches() -> None:
    check_manifest(_manifest(), _env())


def test_manifest_version_includes_the_build_number() -> None:
    """TensorRT's deserializer refuses a plan of another build of the same release."""
    with pytest.raises(ArtifactError, match=r"TensorRT 10\.3\.0\.26 but this is TensorRT 10\.3\.0\.30"):
        check_manifest(_manifest(trt="10.3.0.26"), _env())


def test_manifest_version_mismatch() -> None:
    with pytest.raises(ArtifactError, match=r"TensorRT 10\.3\.0\.30 but this is TensorRT 10\.13\.0\.35"):
        check_manifest(_manifest(), _env(trt="10.13.0.35"))


def test_manifest_compute_capability() -> None:
    with pytest.raises(ArtifactError, match=r"compute capability 8\.7.*is 8\.6"):
        check_manifest(_manifest(), _env(cc=(8, 6)))
    check_manifest(_manifest(compat="ampere+"), _env(cc=(8, 6)))
    check_manifest(_manifest(compat="ampere+"), _env(cc=(9, 0)))
    with pytest.raises(ArtifactError, match="Ampere"):
        check_manifest(_manifest(compat="ampere+"), _env(cc=(7, 5)))


def test_manifest_engine_sha_mismatch() -> None:
    with pytest.raises(ArtifactError, match="does not match its manifest"):
        check_manifest(_manifest(), _env(sha="cd" * 32))


def _platform_env(
    platform: str = "Linux-aarch64", integrated: bool | None = True, cc: tuple[int, int] = (8, 7)
) -> RuntimeEnv:
    return RuntimeEnv(
        tensorrt_version="10.3.0.30",
        gpu_name="GPU here",
        compute_capability=cc,
        platform=platform,
        integrated=integrated,
    )


def test_manifest_refuses_another_platform_naming_both() -> None:
    jetson = {**_manifest(), "platform": {"os": "Linux", "arch": "aarch64", "integrated_gpu": True}}
    check_manifest(jetson, _platform_env())
    with pytest.raises(ArtifactError, match=r"built on Linux-aarch64 but this is Linux-x86_64"):
        check_manifest(jetson, _platform_env("Linux-x86_64", False))
    # ampere+ covers GPU generations, never platforms.
    with pytest.raises(ArtifactError, match=r"built on Linux-aarch64 but this is Windows-AMD64"):
        check_manifest({**jetson, "hardware_compatibility": "ampere+"}, _platform_env("Windows-AMD64"))
    # Same OS and architecture, but an integrated (Jetson) engine on a discrete GPU (an arm64 server).
    with pytest.raises(ArtifactError, match=r"integrated \(Jetson\) GPU but GPU here is a discrete GPU"):
        check_manifest(jetson, _platform_env(integrated=False))
    # TensorRT does not support hardware compatibility on Jetson.
    compat = {**jetson, "hardware_compatibility": "ampere+"}
    with pytest.raises(ArtifactError, match="not support on an integrated"):
        check_manifest(compat, _platform_env())


def test_hardware_compat_is_refused_before_building_where_it_cannot_apply() -> None:
    from inception_export.errors import UsageError
    from inception_export.tensorrt.builder import check_hardware_compat

    cfg = EngineConfig(hardware_compat="ampere+")
    check_hardware_compat(cfg, _platform_env("Linux-x86_64", False, (8, 6)))
    check_hardware_compat(EngineConfig(), _platform_env())  # "none" applies anywhere
    with pytest.raises(UsageError, match=r"not supported by TensorRT on an integrated \(Jetson\) GPU"):
        check_hardware_compat(cfg, _platform_env())
    with pytest.raises(UsageError, match=r"GPU here is 7\.5"):
        check_hardware_compat(cfg, _platform_env("Linux-x86_64", False, (7, 5)))


def test_runtime_env_records_the_platform() -> None:
    from inception_export.tensorrt.manifest import current_platform

    env = _platform_env(platform=current_platform())
    system, arch = env.platform_dict()["os"], env.platform_dict()["arch"]
    assert f"{system}-{arch}" == current_platform() and system and arch
    assert env.platform_dict()["integrated_gpu"] is True


def _stand_in_engine(tmp_path: Path, **fields: Any) -> tuple[Path, dict[str, Any]]:
    """Engine bytes (not loadable, TensorRT is not needed to hash them) and a manifest the way
    the builder writes one: the engine's sha256, its precision, the inspector's expectation."""
    import hashlib

    engine = tmp_path / "v1.engine"
    engine.write_bytes(b"ftrt" + bytes(range(256)) * 4)
    manifest: dict[str, Any] = {
        "format": "inception-export/tensorrt-engine",
        "model": "googlenet",
        "precision": "fp16",
        "engine": {"file": engine.name, "sha256": hashlib.sha256(engine.read_bytes()).hexdigest()},
        "precision_expectation": precision_expectation("fp16"),
    }
    manifest.update(fields)
    (tmp_path / "v1.engine.json").write_text(json.dumps(manifest))
    return engine, manifest


def test_engine_precision_comes_from_a_manifest_whose_sha_is_the_engines(tmp_path: Path) -> None:
    """An engine's precision (so its limits) is the manifest's only while the manifest's sha256 is
    the engine file's and its precision is what the inspector verified at build time."""
    from inception_export.artifacts import artifact_metadata
    from inception_export.facts import artifact_precision

    engine, _ = _stand_in_engine(tmp_path)
    fact = artifact_precision(engine, "tensorrt", artifact_metadata(engine, "tensorrt"))
    assert (fact.precision, fact.source) == ("fp16", "manifest")
    engine.write_bytes(engine.read_bytes() + b"\0")  # replaced after the manifest was written
    with pytest.raises(ArtifactError, match="does not match its manifest"):
        artifact_precision(engine, "tensorrt", artifact_metadata(engine, "tensorrt"))
    cases = [
        ({"precision": "int8"}, "says precision 'int8' but the inspector verified 'fp16'"),
        ({"precision": "fp64"}, "its manifest says precision 'fp64', which is none of"),
        ({"engine": {"file": "v1.engine"}}, "records no sha256 of the engine"),
    ]
    for fields, needle in cases:
        engine, _ = _stand_in_engine(tmp_path, **fields)
        with pytest.raises(ArtifactError, match=re.escape(needle)):
            artifact_precision(engine, "tensorrt", artifact_metadata(engine, "tensorrt"))
