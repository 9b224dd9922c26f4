"""What an engine build needs from the ONNX, read without its weights and without torch.

The graph input (name, fixed or dynamic batch, size) and this package's metadata: the model,
its precision, and which nodes an FP16 graph keeps in float32 (``float32_nodes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ArtifactError
from ..facts import check_claim
from ..metadata import NO_METADATA, ArtifactMeta, record_from_props
from ..onnx_graph import parse_onnx_or_why
from ..reading import check_fits_memory
from ..text import describe_kind


@dataclass(frozen=True)
class OnnxInput:
    name: str
    shape: tuple[int | str | None, ...]  # int for fixed dims, the symbol (or None) for dynamic ones
    # This package's metadata record; NO_METADATA for a foreign ONNX.
    metadata: ArtifactMeta = NO_METADATA
    # What the graph computes in (onnx_graph.graph_facts, the gate's rule), never the metadata's word.
    graph_precision: str | None = None
    dtype: str = "float32"  # the input's element type, numpy's name ("uint8" for embedded preprocessing)

    @property
    def layout(self) -> str:
        """NCHW, or NHWC for a graph that takes pixels (``--embed-preprocessing``: uint8 [N, S, S, 3])."""
        if len(self.shape) == 4 and self.shape[3] == 3 and self.shape[1] != 3:
            return "NHWC"
        return "NCHW"

    @property
    def fixed_batch(self) -> int | None:
        b = self.shape[0] if self.shape else None
        return b if isinstance(b, int) and b > 0 else None

    @property
    def fixed_size(self) -> int | None:
        if len(self.shape) != 4:
            return None
        h, w = (self.shape[1], self.shape[2]) if self.layout == "NHWC" else (self.shape[2], self.shape[3])
        return h if isinstance(h, int) and h > 0 and h == w else None

    @property
    def model(self) -> str | None:
        return self.metadata.model or None

    @property
    def precision(self) -> str | None:
        """fp32/fp16/int8 as read from the graph (:func:`read_onnx_input` refuses metadata that
        says otherwise)."""
        return self.graph_precision or self.metadata.precision

    @property
    def float32_nodes(self) -> list[str]:
        return list(self.metadata.float32_nodes)

    @property
    def keep_fp32(self) -> list[str]:
        return list(self.metadata.keep_fp32)


def read_onnx_input(path: Path) -> OnnxInput:
    if not path.is_file():
        what = "not found" if not path.exists() else f"{describe_kind(path)}, not a regular file"
        raise ArtifactError(f"--onnx {path}: {what}")
    if path.stat().st_size == 0:
        raise ArtifactError(f"{path}: an empty file, not an ONNX model")
    check_fits_memory(path, "--onnx")  # before the parse's own check: this message names the option
    parsed = parse_onnx_or_why(path)
    if isinstance(parsed, str):  # protobuf DecodeError, OSError...
        raise ArtifactError(f"{path}: not a readable ONNX model ({parsed})")
    if not parsed.summary.nodes:
        # Protobuf parses many non-ONNX byte strings as an empty model.
        raise ArtifactError(f"{path}: not an ONNX model (no graph nodes), or it is corrupt")
    inputs = parsed.fed_inputs
    if len(inputs) != 1:
        raise ArtifactError(f"{path}: expected one graph input, found {len(inputs)}")
    meta = record_from_props(parsed.summary.metadata_props, path)
    # One rule for what a graph computes in, the gate's: a foreign QDQ graph (int8 weights,
    # float32 scales) is INT8, a kept-FP32 FP16 graph FP16; a record saying otherwise is refused.
    facts = parsed.facts
    check_claim(path, "precision", meta.precision, facts.precision, facts.evidence)
    return OnnxInput(
        inputs[0].name,
        inputs[0].dims,
        metadata=meta,
        graph_precision=facts.precision,
        dtype=_numpy_dtype(inputs[0].elem_type),
    )


def _numpy_dtype(elem: int) -> str:
    import onnx

    try:
        return str(onnx.helper.tensor_dtype_to_np_dtype(elem)) if elem else "float32"
    except (KeyError, ValueError, TypeError):
        return f"onnx type {elem}"
