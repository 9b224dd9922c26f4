"""Options of the INT8 export (``onnx --precision int8``, ``release --int8``), declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

CalibrationOpt = Annotated[
    Path | None,
    typer.Option(
        "--calibration",
        metavar="DIR",
        help="INT8: directory of images the activation ranges are calibrated on (the model's preprocessing).",
    ),
]
# None: not given (the INT8 export's defaults apply; on another precision, nothing to refuse).
CalibrationSamplesOpt = Annotated[
    int | None,
    typer.Option(
        "--calibration-samples",
        metavar="N",
        help="INT8: at most this many calibration images (evenly spaced; 64).",
    ),
]
CalibrationMethodOpt = Annotated[
    str | None,
    typer.Option(
        "--calibration-method",
        metavar="minmax|percentile|entropy",
        help="INT8: minmax (default, see docs/int8.md), percentile or entropy.",
    ),
]
KeepFp16Opt = Annotated[
    str | None,
    typer.Option(
        "--keep-fp16",
        metavar="auto|LAYER,...",
        help="INT8: 'auto' (measured) or LAYER[,LAYER...] module paths left in float16.",
    ),
]
