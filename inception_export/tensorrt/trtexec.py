"""The ``trtexec`` command line that builds the same engine on the target machine.

One line that trtexec 10.3 (JetPack 6) and 11.x both accept (samples/common/sampleOptions.cpp):
``--stronglyTyped`` (a no-op in 11, where every network is strongly typed) and no precision
flag (``--fp16`` is gone in 11; the ONNX carries the types); ``--noTF32``, as our builder
clears TF32; shape flags only for a dynamic batch, since trtexec refuses them for a static
model ("Static model does not take explicit shapes").
"""

from __future__ import annotations

import shlex
from pathlib import Path

from .config import EngineConfig


def _shape(name: str, shape: tuple[int, ...]) -> str:
    return f"{name}:{'x'.join(str(d) for d in shape)}"


def trtexec_argv(
    onnx: Path, engine: Path, cfg: EngineConfig, input_name: str = "input", *, dynamic_batch: bool = True
) -> list[str]:
    argv = [
        "trtexec",
        f"--onnx={onnx}",
        f"--saveEngine={engine}",
        "--stronglyTyped",
        "--noTF32",
    ]
    if dynamic_batch:
        argv += [
            f"--minShapes={_shape(input_name, cfg.shape(cfg.min_batch))}",
            f"--optShapes={_shape(input_name, cfg.shape(cfg.opt_batch))}",
            f"--maxShapes={_shape(input_name, cfg.shape(cfg.max_batch))}",
        ]
    argv += [
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


def trtexec_command(
    onnx: Path, engine: Path, cfg: EngineConfig, input_name: str = "input", *, dynamic_batch: bool = True
) -> str:
    return shlex.join(trtexec_argv(onnx, engine, cfg, input_name, dynamic_batch=dynamic_batch))
