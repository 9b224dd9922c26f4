"""Imports each command module so it registers itself on the app.

``ORDER`` is the one place that decides how ``--help`` lists the commands: the order a
user meets them, not the alphabet. A command missing from it is listed last.

Command modules import nothing heavy at the top (torch, the model code): the device role
runs ``parity --golden`` and ``trt --onnx`` where PyTorch is not installed.
"""

from . import (  # noqa: F401
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

ORDER = (
    "models",
    "inspect",
    "torchscript",
    "onnx",
    "trt",
    "trt-manifest",
    "release",
    "deploy",
    "deepstream-check",
    "golden",
    "parity",
    "localize",
    "bench",
)
