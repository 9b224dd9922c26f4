"""Where the gate's reference logits come from: the interface both sources implement.

The gate (:func:`inception_export.parity.gate.check_artifacts`) holds a :class:`Reference`
and never asks which one it is, the way it holds a ``Runner`` and never asks for the
backend. The two sources sit side by side:
:class:`~inception_export.full.eager.EagerReference` builds the model and runs it (CI,
full role: torch), :class:`~inception_export.parity.golden_reference.GoldenReference` reads
logits that eager PyTorch computed in CI (edge device, no torch). Both judge an artifact's
model name here, the registry's way (:func:`inception_export.registry.model_key`). This
module imports no torch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ArtifactError
from ..registry import model_key

if TYPE_CHECKING:
    from ..metadata import ArtifactMeta
    from ..runners.base import Runner

Progress = Callable[[str], None]
EAGER = "eager PyTorch, float32, CPU; metrics computed in float64"


@dataclass(frozen=True)
class ReferenceSet:
    """Golden inputs in the form an artifact takes, with eager PyTorch's logits for each."""

    names: list[str]
    kinds: list[str]
    feed: np.ndarray  # float32 NCHW, or uint8 NHWC pixels for artifacts that normalise in-graph
    logits: np.ndarray  # (N, classes) float32
    inputs: list[dict[str, str]]  # name, kind and content hash of each input (for reports)

    @property
    def pixels(self) -> bool:
        return self.feed.dtype == np.uint8


def run_batched(runner: Runner, x: np.ndarray, batch: int) -> np.ndarray:
    """Run ``x`` in chunks of exactly ``batch`` rows (the last chunk padded by repetition)."""
    outs = []
    for start in range(0, len(x), batch):
        chunk = x[start : start + batch]
        pad = batch - len(chunk)
        if pad:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)])
        got = runner.infer(chunk)
        if got.ndim != 2 or got.shape[0] != batch:
            # An output whose batch does not follow the input's cannot be matched row by row.
            raise ArtifactError(
                f"{runner.info.artifact or 'artifact'}: gives output of shape {tuple(got.shape)} for a batch "
                f"of {batch}; the gate needs (batch, classes) logits"
            )
        outs.append(got[: batch - pad])
    return np.concatenate(outs)


class Reference(ABC):
    """The source of reference logits and of what an artifact must match to be compared."""

    model: str
    aliases: tuple[str, ...] = ()
    num_classes: int
    transform_input: bool
    weights: dict[str, Any]
    description: str  # how the reference logits were made, for the reports
    # The end of the refusals below, in the source's words.
    other_model = "not {model}"
    other_classes = "the weights have {classes}"

    def load(self, progress: Progress) -> None:  # noqa: B027 - a bundle is loaded up front
        """The slow part (building the model), run after every artifact passed the cheap checks."""

    def accepts(self, name: str) -> bool:
        """Whether ``name`` names this reference's model (by name or alias, as the registry reads names)."""
        return model_key(name) in {model_key(n) for n in (self.model, *self.aliases)}

    def check_identity(self, path: Path, meta: ArtifactMeta) -> None:
        """Refuse (ArtifactError, exit 2) an artifact made for another model or class count.

        A transform_input mismatch is deliberately not refused: it is a real-world failure
        (the metadata may be wrong too), so the gate must catch it numerically.
        """
        if meta.model is not None and not self.accepts(meta.model):
            raise ArtifactError(
                f"{path}: artifact is for model {meta.model}, " + self.other_model.format(model=self.model)
            )
        if meta.num_classes is not None and meta.num_classes != self.num_classes:
            raise ArtifactError(
                f"{path}: artifact has {meta.num_classes} classes, "
                + self.other_classes.format(classes=self.num_classes)
            )

    @abstractmethod
    def resolve(self, path: Path, meta: ArtifactMeta) -> tuple[int, bool]:
        """The input size and whether the artifact takes uint8 pixels; refuse what cannot be compared."""

    @abstractmethod
    def inputs(self, size: int, pixels: bool, progress: Progress) -> ReferenceSet:
        """The golden inputs at ``size`` (as pixels or float tensors) and their reference logits."""

    def info(self) -> dict[str, Any] | None:
        """Extra facts about the reference for the JSON report (the bundle's file and hash)."""
        return None
