"""Imports each command module so it registers itself on the app."""

from . import inspect_cmd, models_cmd, parity_cmd, release_cmd  # noqa: F401
from . import bench_cmd  # noqa: F401
from . import trt_cmd  # noqa: F401
from . import export_cmd  # noqa: F401
