"""Message helpers: shorten text for one-line errors without cutting a word in half."""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# C0 and C1 controls, DEL, and the Unicode line/paragraph separators: each can move the
# cursor, recolour, or start a new line that reads like the tool's own output.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: object) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``, ``\\n``).

    For anything that came from a file, a bundle or a name and is printed for people:
    a model name holding ``ESC[32m`` or a newline must not colour or forge a line.
    """
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], str(text))


def control_character(text: str) -> str | None:
    """The first control character of ``text`` (None if it has none): C0/C1 controls, DEL, and
    everything ``str.splitlines`` breaks a line at (\\v, \\f, \\x1c-\\x1e, U+0085, U+2028/2029).
    For names that become lines of a file (class names, labels): any of these moves them."""
    found = _CONTROL.search(text)
    return found.group() if found else None


def clip(text: str, limit: int = 200) -> str:
    """``text`` on one line, at most about ``limit`` characters, cut only between words.

    A single word longer than ``limit`` (a path, a key) is kept whole rather than cut.
    Terminal escape codes that libraries put in their messages are removed.
    """
    flat = " ".join(_ANSI.sub("", text).split())
    if len(flat) <= limit:
        return flat
    cut = flat.rfind(" ", 0, limit + 1)
    if cut <= 0:
        cut = flat.find(" ", limit)
        if cut < 0:
            return flat
    return flat[:cut].rstrip(" ,;:") + " …"


def first_line(text: str, limit: int = 200) -> str:
    """The first non-empty line of ``text``, clipped."""
    for line in text.strip().splitlines():
        if line.strip():
            return clip(line, limit)
    return ""


def describe_kind(path: object) -> str:
    """What a path that is not a regular file is, in words ("a directory", "a FIFO (named pipe)")."""
    import os
    import stat

    try:
        mode = os.stat(str(path)).st_mode
    except OSError:
        return "missing or unreadable"
    for test, words in (
        (stat.S_ISREG, "a regular file"),  # --calibration FILE: "a regular file, not a directory"
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return words
    return "not a regular file"
