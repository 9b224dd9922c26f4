"""The one ordered table of commands: ``app.py`` registers them from it, and ``--help`` lists
them in its order (the order a user meets them, not the alphabet).

Each command module declares its function with ``boundary.command("name")``; adding a command
is that decorator plus one line here. Command modules import nothing heavy at the top (torch,
the model code): the device role runs ``parity --golden`` and ``trt --onnx`` where PyTorch is
not installed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import (
    bench_cmd,
    deepstream_check_cmd,
    deploy_cmd,
    export_cmd,
    golden_cmd,
    inspect_cmd,
    localize_cmd,
    models_cmd,
    parity_cmd,
    release_cmd,
    trt_cmd,
    trt_manifest_cmd,
)
from .boundary import command_name

_TABLE: tuple[Callable[..., Any], ...] = (
    models_cmd.models,
    inspect_cmd.inspect,
    export_cmd.torchscript_cmd,
    export_cmd.onnx_cmd,
    trt_cmd.trt,
    trt_manifest_cmd.trt_manifest,
    release_cmd.release,
    deploy_cmd.deploy,
    deepstream_check_cmd.deepstream_check,
    golden_cmd.golden,
    parity_cmd.parity,
    localize_cmd.localize_cmd,
    bench_cmd.bench,
)

COMMANDS: tuple[tuple[str, Callable[..., Any]], ...] = tuple((command_name(fn), fn) for fn in _TABLE)
