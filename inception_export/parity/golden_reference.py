"""The gate's reference on the device: logits eager PyTorch computed in CI, read from a bundle.

No torch, no model code, no checkpoint: the bundle (:mod:`.bundle`) carries what they would
have told. Its counterpart in the full role is :class:`~.eager.EagerReference`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ArtifactError
from .bundle import GoldenBundle
from .reference import Progress, Reference, ReferenceSet

if TYPE_CHECKING:
    from ..metadata import ArtifactMeta


class GoldenReference(Reference):
    """Reference logits read from a bundle: no torch, no model code, no checkpoint."""

    other_model = "the golden bundle for {model}"
    other_classes = "the golden bundle {classes}"

    def __init__(self, bundle: GoldenBundle) -> None:
        self.bundle = bundle
        self.model = bundle.model
        self.aliases = tuple(bundle.aliases)
        self.num_classes = bundle.num_classes
        self.transform_input = bundle.transform_input
        self.weights = dict(bundle.meta.get("weights", {}), num_classes=bundle.num_classes)
        versions = bundle.meta.get("versions", {})
        self.description = (
            f"golden bundle {bundle.path.name} (sha256 {bundle.sha256[:16]}): eager PyTorch "
            f"{versions.get('torch', '?')}, float32, CPU, computed by {bundle.meta['tool']}; "
            "metrics computed in float64"
        )

    def resolve(self, path: Path, meta: ArtifactMeta) -> tuple[int, bool]:
        want = self.bundle.input_size
        size = meta.input_size or want
        if size != want:
            raise ArtifactError(
                f"{path}: artifact takes {size}x{size} input, the golden bundle holds {want}x{want} "
                f"(make one with `inception-export golden --input-size {size}`)"
            )
        pixels = meta.embedded_preprocessing
        form = "pixels" if pixels else "float"
        if form not in self.bundle.sets:
            what = "uint8 pixels (embedded preprocessing)" if pixels else "float32 tensors"
            flag = " --embed-preprocessing" if pixels else ""
            raise ArtifactError(
                f"{path}: artifact takes {what} but the golden bundle holds none "
                f"(make one with `inception-export golden{flag}`)"
            )
        return size, pixels

    def inputs(self, size: int, pixels: bool, progress: Progress) -> ReferenceSet:
        return self.bundle.sets["pixels" if pixels else "float"]

    def info(self) -> dict[str, Any]:
        return self.bundle.info()
