"""The graph input an engine profile is declared for, read from the ONNX without its weights."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ArtifactError


@dataclass(frozen=True)
class OnnxInput:
    name: str
    shape: tuple[int | str | None, ...]  # int for fixed dims, the symbol (or None) for dynamic ones

    @property
    def fixed_batch(self) -> int | None:
        b = self.shape[0] if self.shape else None
        return b if isinstance(b, int) and b > 0 else None

    @property
    def fixed_size(self) -> int | None:
        if len(self.shape) != 4:
            return None
        h, w = self.shape[2], self.shape[3]
        return h if isinstance(h, int) and h > 0 and h == w else None


def read_onnx_input(path: Path) -> OnnxInput:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError, OSError...
        raise ArtifactError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise ArtifactError(f"{path}: expected one graph input, found {len(inputs)}")
    dims: list[int | str | None] = []
    for d in inputs[0].type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        else:
            dims.append(d.dim_param or None)
    return OnnxInput(inputs[0].name, tuple(dims))
