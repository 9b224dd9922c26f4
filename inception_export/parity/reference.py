"""Where the gate's reference logits come from: eager PyTorch here, or a golden bundle.

The gate (:func:`inception_export.parity.gate.check_artifacts`) holds a :class:`Reference`
and never asks which one it is, the way it holds a ``Runner`` and never asks for the
backend. :class:`EagerReference` builds the model and runs it (CI, full role);
:class:`~inception_export.parity.bundle.GoldenReference` reads logits that eager PyTorch
computed in CI (edge device, no torch). This module imports torch only inside
:class:`EagerReference`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ArtifactError

if TYPE_CHECKING:
    from ..registry import ModelSpec
    from ..runners.base import Runner

Progress = Callable[[str], None]
EAGER = "eager PyTorch, float32, CPU; metrics computed in float64"
EAGER_BATCH = 16


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
    num_classes: int
    transform_input: bool
    weights: dict[str, Any]
    description: str  # how the reference logits were made, for the reports

    def load(self, progress: Progress) -> None:  # noqa: B027 - a bundle is loaded up front
        """The slow part (building the model), run after every artifact passed the cheap checks."""

    @abstractmethod
    def check_identity(self, path: Path, meta: dict[str, Any]) -> None:
        """Refuse (ArtifactError, exit 2) an artifact made for another model or class count."""

    @abstractmethod
    def resolve(self, path: Path, meta: dict[str, Any]) -> tuple[int, bool]:
        """The input size and whether the artifact takes uint8 pixels; refuse what cannot be compared."""

    @abstractmethod
    def inputs(self, size: int, pixels: bool, progress: Progress) -> ReferenceSet:
        """The golden inputs at ``size`` (as pixels or float tensors) and their reference logits."""

    def info(self) -> dict[str, Any] | None:
        """Extra facts about the reference for the JSON report (the bundle's file and hash)."""
        return None


class EagerReference(Reference):
    """Build the model in-process and run eager PyTorch (float32, CPU) on the golden inputs."""

    def __init__(
        self,
        model: str,
        *,
        weights: Path | None = None,
        transform_input: bool = False,
        samples: int = 6,
        images: Path | None = None,
        reference_model: Any = None,
        seed: int | None = None,
    ) -> None:
        from ..registry import get_spec
        from .golden import check_inputs

        self.spec: ModelSpec = get_spec(model)
        check_inputs(samples, images)
        self.model = self.spec.name
        self.weights_path = weights
        self.transform_input = transform_input
        self.samples = samples
        self.images = images
        self.net = reference_model
        self.seed = seed
        self.description = EAGER
        self.num_classes = 0
        self.weights = {}
        self._runner: Runner | None = None
        self._sets: dict[tuple[int, bool], ReferenceSet] = {}

    def load(self, progress: Progress) -> None:
        from ..build import build_model, load_report
        from ..runners.torch_runner import TorchRunner

        progress("reference model")
        if self.net is None:
            seed = {} if self.seed is None else {"seed": self.seed}
            self.net = build_model(
                self.spec.name, self.weights_path, transform_input=self.transform_input, **seed
            )
        report = load_report(self.net)
        self.num_classes = report.num_classes
        self.weights = {"path": report.path, "sha256": report.sha256, "num_classes": report.num_classes}
        self._runner = TorchRunner(self.net, self.spec.default_size)

    def check_identity(self, path: Path, meta: dict[str, Any]) -> None:
        from ..registry import get_spec

        model = meta.get("model")
        if model is not None and get_spec(str(model)).name != self.spec.name:
            raise ArtifactError(f"{path}: artifact is for model {model}, not {self.spec.name}")
        classes = meta.get("num_classes")
        if classes is not None and int(classes) != self.num_classes:
            raise ArtifactError(
                f"{path}: artifact has {classes} classes, the weights have {self.num_classes}"
            )
        # A transform_input mismatch is deliberately not refused here: it is a real-world
        # failure (the metadata may be wrong too), so the gate must catch it numerically.

    def resolve(self, path: Path, meta: dict[str, Any]) -> tuple[int, bool]:
        size = int(meta.get("input_size") or self.spec.default_size)
        self.spec.check_size(size)
        return size, bool(meta.get("embedded_preprocessing"))

    def inputs(self, size: int, pixels: bool, progress: Progress) -> ReferenceSet:
        from .golden import golden_inputs, golden_pixels

        if (size, pixels) not in self._sets:
            if self._runner is None:
                raise RuntimeError("EagerReference.load() must run before inputs()")
            progress(f"golden inputs at {size}px and reference logits")
            # Artifacts with in-graph preprocessing take uint8 pixels; eager PyTorch gets the
            # same pixels normalised by the float pipeline.
            gold = (golden_pixels if pixels else golden_inputs)(self.spec, size, self.samples, self.images)
            # One pass for the default 13 inputs; chunks of EAGER_BATCH bound the memory when
            # --images brings many photographs.
            logits = run_batched(self._runner, gold.batch, min(EAGER_BATCH, len(gold.batch)))
            feed = gold.pixels if gold.pixels is not None else gold.batch
            self._sets[size, pixels] = ReferenceSet(gold.names, gold.kinds, feed, logits, gold.describe())
        return self._sets[size, pixels]
