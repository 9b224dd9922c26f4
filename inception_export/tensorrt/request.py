"""What ``inception-export trt`` is asked to build, checked before any work: the model and
input size (from ``--onnx``'s metadata, or ``--model``), the engine's precision, batch range and
builder settings, and that no output is an input. The command parses its options, turns them
into a :class:`BuildRequest` here, and prints what the build gives.

Torch-free, as the registry it reads model specs from is.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..atomic import check_output, writes_into
from ..errors import ArtifactError, UsageError
from ..registry import get_spec
from ..seed import is_synthetic
from ..text import printable
from .config import DEFAULT_MAX_BATCH, DEFAULT_MIN_BATCH, DEFAULT_OPT_BATCH, EngineConfig
from .manifest import manifest_path
from .onnx_input import OnnxInput, read_onnx_input

if TYPE_CHECKING:
    from ..registry import ModelSpec


@dataclass(frozen=True)
class BuildRequest:
    """An engine build, checked: what to build it from and how."""

    output: Path  # the engine; its manifest goes beside it
    model: str  # the canonical model name
    config: EngineConfig
    onnx: Path | None  # --onnx; None: the ONNX is exported from the model beside the engine
    given: OnnxInput | None  # --onnx's input and metadata
    spec: ModelSpec | None = None  # where --model was looked up (always when exporting)
    weights: Path | None = None  # the export's (never with --onnx)
    transform_input: bool | None = None  # the export's flag, as given
    keep_fp32: str | None = None  # the FP16 export's kept layers
    force: bool = False  # replace existing outputs

    @property
    def exported_onnx(self) -> Path:
        """Where the ONNX exported for this engine goes (without --onnx)."""
        return self.output.with_suffix(".onnx")


@dataclass(frozen=True)
class BuilderSettings:
    """The builder's own options, as the command gives them."""

    workspace_gib: float = 2.0
    timing_cache: Path | None = None
    opt_level: int = 3
    hardware_compat: str = "none"


def build_request(
    output: Path,
    *,
    model: str | None,
    onnx: Path | None,
    precision: str | None,
    batches: tuple[int | None, int | None, int | None],
    settings: BuilderSettings,
    weights: Path | None = None,
    transform_input: bool | None = None,
    keep_fp32: str | None = None,
    force: bool = False,
) -> BuildRequest:
    """The command's options checked into a request (exit 2 on anything that cannot apply)."""
    if precision == "int8" and onnx is None:
        # Calibration belongs to the ONNX export; the engine only follows the QDQ graph.
        raise UsageError(
            "--precision int8 builds from a QDQ ONNX: make it with `inception-export onnx --model M "
            "--precision int8 --calibration DIR` and give it with --onnx"
        )
    given = _given_onnx(onnx, model, weights, transform_input, keep_fp32, precision)
    name, size, spec = _model_and_size(model, given)
    lo, opt, hi = _batches(*batches, given)
    cfg = EngineConfig(
        precision=_precision(precision, given),
        min_batch=lo,
        opt_batch=opt,
        max_batch=hi,
        input_size=size,
        workspace_gib=settings.workspace_gib,
        opt_level=settings.opt_level,
        timing_cache=settings.timing_cache,
        hardware_compat=settings.hardware_compat,
        layout=given.layout if given is not None else "NCHW",
    )
    cfg.validate()
    _check_outputs(output, force)
    _check_apart(output, onnx, weights, settings.timing_cache)
    if given is not None and onnx is not None:
        _check_graph_precision(onnx, given, cfg.precision, name)
    return BuildRequest(output, name, cfg, onnx, given, spec, weights, transform_input, keep_fp32, force)


def _given_onnx(
    onnx: Path | None,
    model: str | None,
    weights: Path | None,
    transform_input: bool | None,
    keep_fp32: str | None,
    precision: str | None,
) -> OnnxInput | None:
    """The ``--onnx`` graph's input and metadata, after refusing options that cannot apply."""
    if keep_fp32 and (onnx is not None or precision == "fp32"):
        raise UsageError(
            "--keep-fp32 applies when trt exports the FP16 ONNX itself (no --onnx, no --precision fp32)"
        )
    if onnx is None:
        if model is None:
            raise UsageError("give --model, or --onnx with an ONNX exported by inception-export")
        return None
    if not onnx.is_file():
        raise UsageError(f"{onnx}: no such ONNX file")
    if weights is not None or transform_input is not None:
        raise UsageError("--weights and --transform-input shape an export; the --onnx graph already has them")
    return read_onnx_input(onnx)


def _check_outputs(output: Path, force: bool) -> None:
    if output.suffix.lower() == ".onnx":
        raise UsageError(f"{output}: the engine output must not end in .onnx (the ONNX is written beside it)")
    if writes_into(output):
        # Its manifest (which the gate needs) lives beside it: /dev/null.json is nobody's file.
        raise UsageError(
            f"-o {printable(output)} is a FIFO or device; an engine is written as a file with its "
            "manifest beside it: give a file name"
        )
    check_output(output, force)
    check_output(manifest_path(output), force)  # written beside the engine


def _check_apart(output: Path, onnx: Path | None, weights: Path | None, timing_cache: Path | None) -> None:
    """No output (the engine, its manifest, an ONNX exported beside it) may be an input."""
    from ..atomic import check_apart, with_sidecars
    from ..metadata import sidecar_path

    files = {"-o": output, "-o's engine manifest": manifest_path(output)}
    if onnx is None:
        made = output.with_suffix(".onnx")
        files.update({"the ONNX written beside -o": made, "that ONNX's sidecar": sidecar_path(made)})
    check_apart([*with_sidecars("--onnx", [onnx]), ("--weights", weights)], files=files)
    # The timing cache is read and rewritten: apart from the other inputs and every output.
    check_apart(
        [*with_sidecars("--onnx", [onnx]), ("--weights", weights)], files={"--timing-cache": timing_cache}
    )
    check_apart([("--timing-cache", timing_cache)], files=files)


def _model_and_size(model: str | None, given: OnnxInput | None) -> tuple[str, int, ModelSpec | None]:
    """Canonical model name, input size and (where it was looked up) the spec: the ONNX's own
    metadata, or the registry's spec for --model."""
    made_for = given.model if given is not None else None
    if model is None or model == made_for:
        if given is None or made_for is None:
            raise UsageError(
                f"{'the ONNX' if given is None else 'this ONNX'} has no inception-export metadata "
                "naming its model: give --model"
            )
        size = given.fixed_size or given.metadata.input_size or 0
        if not size:
            raise ArtifactError(f"the ONNX for {made_for} states no input size (input shape {given.shape})")
        return made_for, size, None
    spec = get_spec(model)
    if given is None:
        return spec.name, spec.default_size, spec
    if made_for is not None and made_for != spec.name:
        raise UsageError(
            f"the ONNX was exported for {made_for}, not {spec.name} (--model {model}); "
            "drop --model or give that model's ONNX"
        )
    size = given.fixed_size or spec.default_size
    spec.check_size(size)
    return spec.name, size, spec


def _precision(asked: str | None, given: OnnxInput | None) -> str:
    if asked is not None:
        return asked
    from_graph = given.precision if given is not None else None
    return from_graph if from_graph in ("fp16", "fp32", "int8") else "fp16"


def _batches(
    lo: int | None, opt: int | None, hi: int | None, given: OnnxInput | None
) -> tuple[int, int, int]:
    fixed = given.fixed_batch if given is not None else None
    if fixed is not None:
        asked = {b for b in (lo, opt, hi) if b is not None}
        if asked - {fixed}:
            raise UsageError(
                f"the ONNX has a fixed batch of {fixed}, so its engine takes batch {fixed} only; "
                "drop --min/--opt/--max-batch or export it with --batch dynamic"
            )
        return fixed, fixed, fixed
    # Unasked, a dynamic-batch ONNX gets the range a release's engine and its Triton configs
    # serve (1..8), so an engine built on the device fits the repository `deploy triton` writes.
    lo = DEFAULT_MIN_BATCH if lo is None else lo
    opt = max(lo, DEFAULT_OPT_BATCH) if opt is None else opt
    return lo, opt, max(opt, DEFAULT_MAX_BATCH) if hi is None else hi


def _check_graph_precision(onnx: Path, info: OnnxInput, precision: str, name: str) -> None:
    """A strongly typed engine runs in the graph's types: the graph must be the precision asked for."""
    graph = info.precision
    if graph is None or graph == precision:
        return
    flags = ["--model", name, "--precision", precision]
    if info.fixed_batch is not None:
        flags += ["--batch", str(info.fixed_batch)]
    if info.metadata.preprocessing.get("transform_input"):
        flags.append("--transform-input")
    if info.metadata.embedded_preprocessing:
        if precision == "int8":
            raise UsageError(
                f"{onnx} is an {graph.upper()} graph with embedded preprocessing; an INT8 engine needs an "
                "INT8 QDQ graph, which takes float32 NCHW input only (export it without "
                "--embed-preprocessing, with --precision int8 --calibration DIR)"
            )
        flags.append("--embed-preprocessing")
    if precision == "int8":
        flags += ["--calibration", "DIR"]
    source = info.metadata.weights.get("source")
    if source is not None and not is_synthetic(str(source)):
        flags += ["--weights", "CHECKPOINT"]
    out = onnx.with_name(f"{onnx.stem.removesuffix('-' + graph)}-{precision}.onnx")
    make = shlex.join(["inception-export", "onnx", *flags, "-o", str(out)])
    raise UsageError(
        f"{onnx} is an {graph.upper()} graph, but a strongly typed {precision.upper()} engine needs the "
        f"{precision.upper()} graph (TensorRT takes the precision from the ONNX); make it with: {make}"
    )
