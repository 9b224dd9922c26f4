"""The ``trtexec`` command line that builds the same engine on the target machine."""

from __future__ import annotations

import shlex
from pathlib import Path

from .config import EngineConfig


def _shape(name: str, shape: tuple[int, ...]) -> str:
    return f"{name}:{'x'.join(str(d) for d in shape)}"


def trtexec_argv(onnx: Path, engine: Path, cfg: EngineConfig, input_name: str = "input") -> list[str]:
    """Flags as trtexec 10.x spells them; strongly typed, so no precision flag (the ONNX carries it)."""
    argv = [
        "trtexec",
        f"--onnx={onnx}",
        f"--saveEngine={engine}",
        "--stronglyTyped",
        f"--minShapes={_shape(input_name, cfg.shape(cfg.min_batch))}",
        f"--optShapes={_shape(input_name, cfg.shape(cfg.opt_batch))}",
        f"--maxShapes={_shape(input_name, cfg.shape(cfg.max_batch))}",
        f"--memPoolSize=workspace:{cfg.workspace_mib}M",
        f"--builderOptimizationLevel={cfg.opt_level}",
        # Detailed layer info lets the engine inspector verify precision, as our builder does.
        "--profilingVerbosity=detailed",
    ]
    if cfg.timing_cache is not None:
        argv.append(f"--timingCacheFile={cfg.timing_cache}")
    if cfg.hardware_compat == "ampere+":
        argv.append("--hardwareCompatibilityLevel=ampere+")
    return argv


def trtexec_command(onnx: Path, engine: Path, cfg: EngineConfig, input_name: str = "input") -> str:
    return shlex.join(trtexec_argv(onnx, engine, cfg, input_name))
