"""``--keep-fp16 auto``: the layers INT8 cannot carry, measured as ``localize`` measures them.

Here rather than in export/int8.py: the exporter never imports the diagnostic (localize reads
what the exporter stored); ``export_onnx_int8`` gets this function from its caller.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import onnx

from ..export.calibration import CalibrationSet
from ..export.int8_graph import artifact_for_localize, layer_nodes, quantize, to_float16
from .core import localize
from .table import limit_text

# At most this many rounds of (quantize, localize, keep the first divergent layer); each
# costs one calibration and one localize run.
MAX_AUTO_ROUNDS = 4


def auto_keep_fp16(
    net: Any,
    fp32: onnx.ModelProto,
    calibration: CalibrationSet,
    *,
    model: str,
    size: int,
    method: str,
    outputs_map: list[list[str]],
    images: Path | None = None,
) -> tuple[dict[str, str], onnx.ModelProto]:
    """The layers INT8 cannot carry, with the reason, and the graph that keeps them float16.

    As ``localize`` measures it (per-layer relative L2 against eager FP32 on the golden
    inputs, limit: the INT8 profile's ``rel_l2``): while a layer diverges, the first divergent
    one is left out of quantization and the graph is quantized again, at most
    :data:`MAX_AUTO_ROUNDS` times (errors grow downstream of the first divergent layer, so
    later layers are judged only once it is fixed).
    """
    kept: dict[str, str] = {}
    meta = {"model": model, "precision": "int8", "input_size": size, "layer_outputs": outputs_map}
    with tempfile.TemporaryDirectory(prefix="inception-export-keep-fp16-") as tmp:
        for round_no in range(1, MAX_AUTO_ROUNDS + 1):
            nodes = [n for ns in layer_nodes(fp32, list(kept)).values() for n in ns]
            proto = to_float16(quantize(fp32, calibration, method=method, exclude_nodes=nodes))
            report = localize(
                model, artifact_for_localize(proto, meta, Path(tmp)), reference_model=net, images=images
            )
            first = report.first_divergent
            if first is None or first.layer in kept or not layer_nodes(fp32, [first.layer])[first.layer]:
                return kept, proto
            kept[first.layer] = (
                f"first divergent layer in round {round_no}: rel_l2 {first.rel_l2:.3g} against eager "
                f"FP32 > {limit_text(report.rel_l2_limit)}"
            )
        nodes = [n for ns in layer_nodes(fp32, list(kept)).values() for n in ns]
        return kept, to_float16(quantize(fp32, calibration, method=method, exclude_nodes=nodes))
