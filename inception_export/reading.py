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


def _first_int(path: str, key: str | None = None) -> int | None:
    """An integer from a small /proc or /sys file: the first word, or the one after ``key``."""
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            text = fh.read(1 << 16)
    except OSError:
        return None
    for line in text.splitlines() if key else text.split()[:1]:
        words = line.split() if key else [line]
        if key and (not words or words[0] != key):
            continue
        value = words[1] if key else words[0]
        return int(value) if value.isdigit() else None
    return None


def _cgroup_room() -> int | None:
    """What the memory cgroup (v2, else v1) still lets this process allocate."""
    where = "/"
    try:
        with open("/proc/self/cgroup", encoding="ascii", errors="replace") as fh:
            for line in fh.read(1 << 16).splitlines():
                if line.startswith("0::"):
                    where = line[3:] or "/"
    except OSError:
        pass
    rooms = []
    for base in dict.fromkeys([f"/sys/fs/cgroup{where.rstrip('/')}", "/sys/fs/cgroup"]):
        limit, used = _first_int(f"{base}/memory.max"), _first_int(f"{base}/memory.current")
        if limit is not None and used is not None:
            rooms.append(limit - used)
    limit = _first_int("/sys/fs/cgroup/memory/memory.limit_in_bytes")
    used = _first_int("/sys/fs/cgroup/memory/memory.usage_in_bytes")
    if limit is not None and used is not None and limit < 1 << 60:  # v1's "no limit" is ~2**63
        rooms.append(limit - used)
    return min(rooms) if rooms else None


def memory_room() -> int | None:
    """Bytes this process may still allocate, as far as Linux says: the least of the system's
    MemAvailable, the memory cgroup's limit less its use, and the address-space limit
    (``ulimit -v``) less what is mapped. None where none of them can be read."""
    import resource

    rooms = []
    available = _first_int("/proc/meminfo", "MemAvailable:")
    if available is not None:
        rooms.append(available * 1024)
    cgroup = _cgroup_room()
    if cgroup is not None:
        rooms.append(cgroup)
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    mapped = _first_int("/proc/self/status", "VmSize:")
    if soft != resource.RLIM_INFINITY and mapped is not None:
        rooms.append(soft - mapped * 1024)
    return max(0, min(rooms)) if rooms else None


def check_fits_memory(path: Path, what: str) -> None:
    """Refuse, before loading it, a file (an ONNX: parsed whole into memory) larger than the
    memory this process may still use: loading it would end in the kernel's OOM killer or a
    MemoryError deep in a parser, not in one line."""
    try:
        size = os.stat(path).st_size
    except OSError:
        return  # the loader says what is wrong with the path
    room = memory_room()
    if room is not None and size > room:
        raise UsageError(
            f"{what} {path}: {size / 2**20:,.0f} MiB, more than the {room / 2**20:,.0f} MiB of memory this "
            "process may still use (MemAvailable, cgroup limit, ulimit -v); it is not loaded"
        )
