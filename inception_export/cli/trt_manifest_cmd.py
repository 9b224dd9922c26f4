"""``inception-export trt-manifest``: verify an engine trtexec built and write its manifest.

The device route where TensorRT's Python builder is missing: ``trt`` prints a trtexec line,
trtexec builds the engine, and this command (on the device, TensorRT present) checks the
engine against its ONNX and verifies its precision as ``trt`` does, so ``parity`` can gate it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ..console import emit_json, err
from ..text import printable
from .boundary import command
from .options import ForceOpt, JsonOpt


@command("trt-manifest")
def trt_manifest(
    engine: Annotated[
        Path, typer.Argument(metavar="ENGINE", help="Engine file trtexec wrote (--saveEngine).")
    ],
    onnx: Annotated[
        Path, typer.Option("--onnx", metavar="FILE", help="The ONNX it was built from (trtexec --onnx).")
    ],
    model: Annotated[
        str | None,
        typer.Option(
            "--model", "-m", metavar="NAME", help="Model name, if the ONNX has no metadata naming it."
        ),
    ] = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Verify a trtexec-built engine against its ONNX (I/O, batch range, each convolution's type) and
    write its manifest, so that `parity` can gate it."""
    from ..atomic import check_apart, with_sidecars
    from ..tensorrt.adopt import adopt_engine
    from ..tensorrt.manifest import manifest_path

    # The manifest is written beside the engine: never over the ONNX's sidecar or either input.
    inputs = [("ENGINE", engine), *with_sidecars("--onnx", [onnx])]
    check_apart(inputs, files={"the engine's manifest": manifest_path(engine)})
    result = adopt_engine(engine, onnx, force=force, model=model)
    if json_out:
        data = {k: v for k, v in result.manifest_data.items() if k not in ("format", "format_version")}
        emit_json({"status": "ok", "engine": str(result.engine), "manifest": str(result.manifest), **data})
        return
    p = result.precision
    err.print(
        f"verified {escape(printable(engine))} ({p.convolutions} convolutions: {p.fp16_convolutions} FP16, "
        f"{p.fp32_convolutions} FP32, as the ONNX asks) and wrote {escape(printable(result.manifest))}"
    )
