"""The gate's full-role side: eager PyTorch as the reference, and the golden bundle made from it.

Everything here needs torch, the model code and the checkpoint, so nothing on the device
path imports this module (``tests/test_import_contract.py`` lists it as the one full-role
module in ``parity/``). The checks themselves are in :mod:`.gate`, shared with the golden
bundle's path; the bundle's file format is in :mod:`.bundle`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..atomic import check_output
from ..console import expect_steps
from ..errors import UsageError
from ..metadata import ArtifactMeta
from ..parity.bundle import BundleResult, bundle_metadata, check_bundle_classes, write_bundle
from ..parity.gate import GateReport, check_artifacts, check_device, labelled_check, labelled_steps
from ..parity.reference import EAGER, Progress, Reference, ReferenceSet, run_batched
from ..parity.tolerances import DEFAULT_PROFILE, Limits, ToleranceProfile
from ..registry import ModelSpec, get_spec
from ..runners.base import Runner
from .build import build_model, load_report
from .golden import check_inputs, golden_inputs, golden_pixels
from .runners.torch_runner import TorchRunner

# Inputs per eager call: one pass for the default 13 inputs; chunks bound the memory when
# --images brings many photographs.
EAGER_BATCH = 16


class EagerReference(Reference):
    """Build the model in-process and run eager PyTorch (float32, CPU) on the golden inputs."""

    def __init__(
        self,
        model: str | ModelSpec,
        *,
        weights: Path | None = None,
        transform_input: bool = False,
        samples: int = 6,
        images: Path | None = None,
        reference_model: Any = None,
        seed: int | None = None,
    ) -> None:
        self.spec: ModelSpec = get_spec(model)
        check_inputs(samples, images)
        self.model = self.spec.name
        self.aliases = tuple(self.spec.aliases)
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

    def resolve(self, path: Path, meta: ArtifactMeta) -> tuple[int, bool]:
        size = meta.input_size or self.spec.default_size
        self.spec.check_size(size)
        return size, meta.embedded_preprocessing

    def inputs(self, size: int, pixels: bool, progress: Progress) -> ReferenceSet:
        if (size, pixels) not in self._sets:
            if self._runner is None:
                raise RuntimeError("EagerReference.load() must run before inputs()")
            progress(f"golden inputs at {size}px and reference logits")
            # Artifacts with in-graph preprocessing take uint8 pixels; eager PyTorch gets the
            # same pixels normalised by the float pipeline.
            gold = (golden_pixels if pixels else golden_inputs)(self.spec, size, self.samples, self.images)
            logits = run_batched(self._runner, gold.batch, min(EAGER_BATCH, len(gold.batch)))
            feed = gold.pixels if gold.pixels is not None else gold.batch
            self._sets[size, pixels] = ReferenceSet(gold.names, gold.kinds, feed, logits, gold.describe())
        return self._sets[size, pixels]


def check_cuda_visible(device: str) -> None:
    """``--device cuda`` for the eager gate: torch must see a GPU (checked before any work)."""
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is visible to torch here")


def run_gate(
    model: str,
    artifacts: Sequence[Path],
    *,
    weights: Path | None = None,
    transform_input: bool = False,
    images: Path | None = None,
    samples: int = 6,
    profile: ToleranceProfile = DEFAULT_PROFILE,
    device: str = "cpu",
    progress: Progress | None = None,
    reference_model: Any = None,
    labelled_images: Path | None = None,
    class_names: Path | None = None,
    threads: int | None = None,
) -> GateReport:
    """Check every artifact against eager PyTorch, within ``profile`` (read at the edge:
    ``ToleranceProfile.parse``); raise UsageError/ArtifactError on bad input.

    ``threads``: torch's CPU threads (the eager reference) and each artifact's runtime's."""
    if threads is not None:
        torch.set_num_threads(threads)
    labelled = labelled_check(labelled_images, class_names)
    reference = EagerReference(
        model,
        weights=weights,
        transform_input=transform_input,
        samples=samples,
        images=images,
        reference_model=reference_model,
    )
    if not artifacts:
        raise UsageError("no artifacts given")
    check_device(device)
    check_cuda_visible(device)
    # reference, golden inputs, three per artifact (and the labelled images')
    expect_steps(progress, 2 + 3 * len(artifacts) + labelled_steps(labelled_images, artifacts, eager=True))
    return check_artifacts(
        reference,
        artifacts,
        profile=profile,
        device=device,
        progress=progress,
        labelled=labelled,
        threads=threads,
    )


# --- making a golden bundle (CI side) ---------------------------------------------------------


def reference_versions() -> dict[str, str]:
    return {"inception_export": __version__, "torch": str(torch.__version__), "numpy": np.__version__}


def bundle_from_reference(
    reference: EagerReference,
    path: Path,
    *,
    input_size: int,
    pixels: bool,
    profile: str,
    limits: dict[str, Limits],
    progress: Progress | None = None,
    allow_loose_limits: bool = False,
) -> BundleResult:
    """Write the bundle of an :class:`EagerReference` that is already loaded.

    Sets the gate has computed already are reused (``release`` writes the bundle of the
    reference it has just gated with).
    """
    step = progress or (lambda _msg: None)
    check_bundle_classes(reference.num_classes, reference.weights.get("path"))
    sets = {"float": reference.inputs(input_size, False, step)}
    if pixels:
        sets["pixels"] = reference.inputs(input_size, True, step)
    spec = reference.spec
    meta = bundle_metadata(
        reference,
        input_size=input_size,
        aliases=list(spec.aliases),
        preprocessing=dict(spec.to_dict()["preprocessing"]),
        profile=profile,
        limits=limits,
        versions=reference_versions(),
        allow_loose_limits=allow_loose_limits,
    )
    step(f"write {path.name}")
    sha, size = write_bundle(path, meta, sets)
    summary = {form: {"names": s.names, "kinds": s.kinds} for form, s in sets.items()}
    return BundleResult(path, sha, size, dict(meta, sets=summary))


def make_bundle(
    model: str,
    path: Path,
    *,
    weights: Path | None = None,
    transform_input: bool = False,
    input_size: int | None = None,
    pixels: bool = False,
    samples: int = 6,
    images: Path | None = None,
    profile: ToleranceProfile = DEFAULT_PROFILE,
    seed: int | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> BundleResult:
    """Run eager PyTorch on the golden inputs and write the bundle (CI side; needs torch), with
    ``profile``'s limits for the device to apply (read at the edge: ``ToleranceProfile.parse``)."""
    reference = EagerReference(
        model,
        weights=weights,
        transform_input=transform_input,
        samples=samples,
        images=images,
        seed=seed,
    )
    size = input_size or reference.spec.default_size
    reference.spec.check_size(size)
    if samples < 1:
        raise UsageError("--samples must be at least 1")
    check_output(path, force)
    expect_steps(progress, 3 + int(pixels))  # the model, its inputs, one per input form
    step = progress or (lambda _msg: None)
    reference.load(step)
    return bundle_from_reference(
        reference,
        path,
        input_size=size,
        pixels=pixels,
        profile=profile.name,
        limits=profile.limits,
        progress=step,
        allow_loose_limits=bool(profile.beyond),
    )
