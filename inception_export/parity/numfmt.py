"""Numbers in failure messages: enough digits that a value and its limit read differently."""

from __future__ import annotations

import math


def _fmt(x: float, digits: int) -> str:
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    return f"{x:.{digits}g}"


def value_vs_limit(value: float, limit: float, min_digits: int = 3, max_digits: int = 17) -> tuple[str, str]:
    """``value`` and ``limit`` as short strings that differ whenever the numbers differ.

    The limit is written exactly as configured (``0.99999``, never rounded to ``1``); the
    value starts at ``min_digits`` significant digits, at least the limit's, and gains one
    until the two strings are not equal, so ``0.9999665`` against ``0.99999`` reads
    ``0.99997`` vs ``0.99999``, and ``0`` against ``0.99999`` reads ``0`` vs ``0.99999``.
    """
    start = min_digits
    for digits in range(min_digits, max_digits + 1):
        if not math.isfinite(limit) or float(_fmt(limit, digits)) == limit:
            start = digits
            break
    else:
        start = max_digits
    bound = _fmt(limit, start)
    for digits in range(start, max_digits + 1):
        shown = _fmt(value, digits)
        if shown != bound or value == limit:
            return shown, bound
    return repr(value), repr(limit)


def failure_message(name: str, value: float, limit: float, direction: str) -> str:
    """``min_cosine = 0.99997 is below limit 0.99999`` (``direction``: "max" or "min")."""
    shown, bound = value_vs_limit(value, limit)
    word = "exceeds" if direction == "max" else "is below"
    return f"{name} = {shown} {word} limit {bound}"


def near_one(x: float, min_decimals: int = 6, max_decimals: int = 12) -> str:
    """A value close to 1 (a cosine) with the decimals its distance from 1 needs.

    Six fixed decimals showed 0.9999998 as ``1.000000``, hiding that the artifact is not
    exact; this keeps one significant digit of ``1 - x``: ``0.9999998``, ``0.99999``.
    """
    if not math.isfinite(x):
        return f"{x:g}"
    gap = abs(1.0 - x)
    need = math.ceil(-math.log10(gap)) if gap > 0 else min_decimals
    decimals = min(max(min_decimals, need), max_decimals)
    return f"{x:.{decimals}f}"
