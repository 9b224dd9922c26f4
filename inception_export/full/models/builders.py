"""The full role's half of the registry: spec name -> the callable that builds its ``nn.Module``.

timm's ``register_model`` pattern: each model file decorates its builder with the name of
the spec it builds (``specs/<arch>.py``), and importing ``full.models`` runs them all. A
name registered twice is refused on import, so each spec has at most one builder; the tests
check that every spec has one and every builder a spec.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from torch import nn

Builder = Callable[..., nn.Module]
B = TypeVar("B", bound=Builder)

BUILDERS: dict[str, Builder] = {}


def register_builder(name: str) -> Callable[[B], B]:
    """Record the decorated class or function as the builder of spec ``name``.

    A builder takes ``num_classes`` and ``transform_input`` (keywords) and returns the
    float32 model in the checkpoint's layout.
    """

    def record(builder: B) -> B:
        if name in BUILDERS:
            raise ValueError(f"model {name!r} has two builders: {BUILDERS[name]!r} and {builder!r}")
        BUILDERS[name] = builder
        return builder

    return record
