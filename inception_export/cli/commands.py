"""Imports each command module so it registers itself on the app.

Command modules import nothing heavy at the top (torch, the model code): the device role
runs ``parity --golden`` and ``trt --onnx`` where PyTorch is not installed.
"""

from . import (  # noqa: F401
    bench_cmd,
    export_cmd,
    golden_cmd,
    inspect_cmd,
    models_cmd,
    parity_cmd,
    release_cmd,
    trt_cmd,
)
