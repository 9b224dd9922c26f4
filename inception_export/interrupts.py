"""A stop signal, remembered, so that nothing is published after one.

The CLI's handler (``cli/boundary.py``) raises KeyboardInterrupt where a signal lands. Code it
lands in may not let it through: torch's exporters re-raise it wrapped in their own error types,
and ``torch.onnx.export`` answers any Exception from one capture strategy by trying the next. So
the flag set here backs the exception up: every atomic write checks it before its rename, every
progress step before its phase, and the boundary after the command returns; each raises
KeyboardInterrupt again. Torch-free: the device role writes files too.
"""

from __future__ import annotations

_signum: int | None = None


def record(signum: int) -> None:
    """Called by the signal handler (the first signal only)."""
    global _signum
    if _signum is None:
        _signum = signum


def pending() -> int | None:
    """The signal that arrived, if one did."""
    return _signum


def check() -> None:
    """Raise KeyboardInterrupt again if a stop signal arrived (the boundary reports it)."""
    if _signum is not None:
        raise KeyboardInterrupt


def reset() -> None:
    """Forget a signal (a new command in the same process starts clean)."""
    global _signum
    _signum = None
