"""An input file the user named, read whole: only a regular file, only up to a size, never
blocking on it.

A FIFO would block the read until a writer came, and a device such as /dev/zero never ends (a
release manifest linked to it filled 24 GB before the kernel killed the process): the file is
opened without blocking and its kind and size are checked on the open descriptor, so a path
swapped after the check is caught too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import UsageError
from .text import describe_kind


def read_regular(path: Path, limit: int, what: str) -> bytes:
    """The bytes of ``path``; UsageError naming ``what`` unless it is a regular file of at most
    ``limit`` bytes. FileNotFoundError (and other OSErrors of opening it) propagate."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{what} {path}: {describe_kind(path)}, not a regular file")
        if info.st_size > limit:
            raise UsageError(f"{what} {path}: {info.st_size} bytes, more than the {limit} this can be")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise UsageError(f"{what} {path}: more than the {limit} bytes this can be")
    return data
