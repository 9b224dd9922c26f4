"""Message helpers: shorten text for one-line errors without cutting a word in half."""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


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
