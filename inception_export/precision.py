"""The precisions the tool speaks, and reading them from a command line.

Every command spells a precision the same way (``--precision fp32``, or a comma list where a
command makes several artifacts); a new precision is one more entry in :data:`PRECISIONS`.
Which backend can build which precision stays with the backend (it refuses the others).
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import UsageError

# name -> what it means, in the order help texts and lists show them.
PRECISIONS: dict[str, str] = {
    "fp32": "float32 throughout",
    "fp16": "FP16 compute with float32 input/output",
    "int8": "INT8 by explicit quantization (QDQ, needs --calibration), float32 input/output",
}


def parse_precision(
    value: str, allowed: Sequence[str] = tuple(PRECISIONS), option: str = "--precision"
) -> str:
    """One precision name, case and spaces forgiven; anything else is refused (exit 2)."""
    name = value.strip().lower()
    if name not in allowed:
        raise UsageError(f"{option} {value!r}: choose from {', '.join(allowed)}")
    return name


def parse_precisions(
    value: str, allowed: Sequence[str] = tuple(PRECISIONS), option: str = "--precision"
) -> tuple[str, ...]:
    """A comma list of precisions, each once, in the order :data:`PRECISIONS` lists them."""
    items = value.split(",")
    if not value.strip():
        raise UsageError(f"{option} is empty; choose from {', '.join(allowed)}")
    if not all(v.strip() for v in items):
        # "fp32,,fp16" is a typo of an intended list, not a shorter list.
        raise UsageError(f"{option} {value!r}: an empty name between commas; give a list like fp32,fp16")
    names = {parse_precision(v, allowed, option) for v in items}
    return tuple(p for p in PRECISIONS if p in names)
