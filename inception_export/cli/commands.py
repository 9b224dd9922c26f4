"""Imports each command module so it registers itself on the app."""

from . import (  # noqa: F401
    bench_cmd,
    export_cmd,
    inspect_cmd,
    localize_cmd,
    models_cmd,
    parity_cmd,
    release_cmd,
    trt_cmd,
)
