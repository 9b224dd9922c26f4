"""``inception-export trt``: build a strongly typed, precision-verified TensorRT engine.

Without TensorRT or a GPU it still writes the ONNX beside the requested engine and prints the
``trtexec`` line that builds the same engine on the target, then exits 2 naming what is missing.

``trt --onnx FILE`` is the device role's command: it reads the model, precision and size from
the ONNX's metadata and imports neither torch nor the model code; only exporting from a model
(``--model`` without ``--onnx``) does.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from ..atomic import check_output, writes_into
from ..console import emit_json, err, status
from ..errors import ArtifactError, BackendUnavailable, UsageError
from ..tensorrt.availability import missing_reason
from ..tensorrt.config import DEFAULT_MAX_BATCH, DEFAULT_MIN_BATCH, DEFAULT_OPT_BATCH, EngineConfig
from ..tensorrt.manifest import manifest_path
from ..tensorrt.onnx_input import OnnxInput, read_onnx_input
from ..tensorrt.trtexec import trtexec_command
from ..text import printable
from .boundary import command
from .options import (
    ForceOpt,
    Fp16Fp32Alias,
    JsonOpt,
    KeepFp32Opt,
    MinBatchOpt,
    TransformInputOpt,
    WeightsOpt,
    checkpoint_transform_input,
    one_precision,
    output_option,
    precision_option,
)

if TYPE_CHECKING:
    from ..tensorrt.builder import BuildResult


@command("trt")
def trt(
    output: Annotated[Path, output_option("Engine file to write (e.g. model.engine).")],
    model: Annotated[
        str | None,
        typer.Option(
            "--model", "-m", metavar="NAME", help="Model name or alias (see `models`); optional with --onnx."
        ),
    ] = None,
    weights: WeightsOpt = None,
    onnx: Annotated[
        Path | None,
        typer.Option("--onnx", metavar="FILE", help="Build from this ONNX (its metadata names the model)."),
    ] = None,
    precision: Annotated[
        str | None,
        precision_option("The engine's, as the graph is (default: the ONNX's, else fp16)."),
    ] = None,
    min_batch: MinBatchOpt = None,
    opt_batch: Annotated[
        int | None,
        typer.Option("--opt-batch", metavar="N", help="Batch the kernels are tuned for (1, at least min)."),
    ] = None,
    max_batch: Annotated[
        int | None,
        typer.Option(
            "--max-batch",
            metavar="N",
            help="Largest batch of the profile (8, the max_batch_size `deploy triton` writes; at least opt).",
        ),
    ] = None,
    workspace: Annotated[
        float, typer.Option("--workspace", metavar="GIB", help="Workspace memory pool in GiB.")
    ] = 2.0,
    timing_cache: Annotated[
        Path | None,
        typer.Option("--timing-cache", metavar="FILE", help="Timing cache file to load and update."),
    ] = None,
    opt_level: Annotated[
        int, typer.Option("--opt-level", metavar="N", help="Builder optimisation level 0-5.")
    ] = 3,
    hardware_compat: Annotated[
        str,
        typer.Option(
            "--hardware-compat",
            metavar="none|ampere+",
            help="none, or ampere+ to run on any GPU from Ampere on.",
        ),
    ] = "none",
    transform_input: TransformInputOpt = None,
    keep_fp32: KeepFp32Opt = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", help="Also show TensorRT's info messages (warnings and errors always)."),
    ] = False,
    fp16: Fp16Fp32Alias = None,
) -> None:
    """Build a TensorRT engine (strongly typed; each convolution's type verified by the inspector)."""
    asked = one_precision(precision, fp16)
    if asked == "int8" and onnx is None:
        # Calibration belongs to the ONNX export; the engine only follows the QDQ graph.
        raise UsageError(
            "--precision int8 builds from a QDQ ONNX: make it with `inception-export onnx --model M "
            "--precision int8 --calibration DIR` and give it with --onnx"
        )
    # 1. What to build: the ONNX given (its metadata) or the model, refused before any work.
    given = _given_onnx(onnx, model, weights, transform_input, keep_fp32, asked)
    name, size = _model_and_size(model, given)
    lo, opt, hi = _batches(min_batch, opt_batch, max_batch, given)
    cfg = EngineConfig(
        precision=_precision(asked, given),
        min_batch=lo,
        opt_batch=opt,
        max_batch=hi,
        input_size=size,
        workspace_gib=workspace,
        opt_level=opt_level,
        timing_cache=timing_cache,
        hardware_compat=hardware_compat,
        layout=given.layout if given is not None else "NCHW",
    )
    cfg.validate()
    _check_outputs(output, force)
    _check_apart(output, onnx, weights, timing_cache)
    # 2. The ONNX: the one given (its precision checked), or exported here beside the engine.
    if given is not None and onnx is not None:
        _check_graph_precision(onnx, given, cfg.precision, name)
        onnx_path, onnx_sha, info = onnx, None, given
    else:
        ti = checkpoint_transform_input(name, weights, transform_input)
        onnx_path, onnx_sha = _export(name, output, weights, ti, cfg.precision, force, json_out, keep_fp32)
        info = read_onnx_input(onnx_path)
    command_line = trtexec_command(onnx_path, output, cfg, info.name, dynamic_batch=info.fixed_batch is None)
    # 3. Without TensorRT here: the lines that build and adopt the same engine on the target.
    reason = missing_reason()
    if reason is not None:
        _no_tensorrt(reason, name, output, onnx_path, command_line, cfg, json_out)
    # 4. Build, verify each convolution's precision, and report.
    from ..tensorrt.builder import build_engine

    if not json_out:
        err.print(f"building {escape(printable(output))} with TensorRT (this takes minutes)...")
    with status(f"building {output.name} with TensorRT"):
        result = build_engine(
            onnx_path, output, cfg, model=name, onnx_sha256=onnx_sha, onnx_info=info, verbose=verbose
        )
    _report_built(result, output, onnx_path, command_line, json_out)


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


def _no_tensorrt(
    reason: str,
    name: str,
    output: Path,
    onnx_path: Path,
    command_line: str,
    cfg: EngineConfig,
    json_out: bool,
) -> None:
    """Say how to build and adopt the engine on the target, then fail (exit 2) with ``reason``."""
    adopt_line = shlex.join(["inception-export", "trt-manifest", str(output), "--onnx", str(onnx_path)])
    if json_out:
        emit_json(
            {
                "status": "tensorrt-unavailable",
                "error": reason,
                "model": name,
                "onnx": str(onnx_path),
                "engine": None,
                "trtexec": command_line,
                "manifest_command": adopt_line,
                "config": cfg.to_dict(),
            }
        )
    else:
        err.print("build it on the target with:", highlight=False)
        err.print(escape(printable(command_line)), highlight=False, soft_wrap=True)
        err.print("then verify it and write its manifest (for parity) there with:", highlight=False)
        err.print(escape(printable(adopt_line)), highlight=False, soft_wrap=True)
    raise BackendUnavailable(reason)


def _report_built(
    result: BuildResult, output: Path, onnx_path: Path, command_line: str, json_out: bool
) -> None:
    if json_out:
        emit_json(
            {
                "status": "ok",
                "engine": str(result.engine),
                "manifest": str(result.manifest),
                "onnx": str(onnx_path),
                "trtexec": command_line,
                "seconds": round(result.seconds, 1),
                **{k: v for k, v in result.manifest_data.items() if k not in ("format", "format_version")},
            }
        )
        return
    p = result.precision
    err.print(
        f"wrote {escape(printable(result.engine))} (sha256 {result.engine_sha256[:12]}, {p.convolutions} "
        f"convolutions verified: {p.fp16_convolutions} FP16, {p.fp32_convolutions} FP32) and "
        f"{escape(printable(manifest_path(output)))} in {result.seconds:.0f}s"
    )


def _model_and_size(model: str | None, given: OnnxInput | None) -> tuple[str, int]:
    """Canonical model name and input size: the ONNX's own metadata, or the registry's spec for --model."""
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
        return made_for, size
    from ..registry import get_spec

    spec = get_spec(model)
    if given is None:
        return spec.name, spec.default_size
    if made_for is not None and made_for != spec.name:
        raise UsageError(
            f"the ONNX was exported for {made_for}, not {spec.name} (--model {model}); "
            "drop --model or give that model's ONNX"
        )
    size = given.fixed_size or spec.default_size
    spec.check_size(size)
    return spec.name, size


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
    weights = info.metadata.weights
    if not str(weights.get("source", "synthetic")).startswith("synthetic"):
        flags += ["--weights", "CHECKPOINT"]
    out = onnx.with_name(f"{onnx.stem.removesuffix('-' + graph)}-{precision}.onnx")
    make = shlex.join(["inception-export", "onnx", *flags, "-o", str(out)])
    raise UsageError(
        f"{onnx} is an {graph.upper()} graph, but a strongly typed {precision.upper()} engine needs the "
        f"{precision.upper()} graph (TensorRT takes the precision from the ONNX); make it with: {make}"
    )


def _export(
    name: str,
    output: Path,
    weights: Path | None,
    transform_input: bool,
    precision: str,
    force: bool,
    quiet: bool,
    keep_fp32: str | None = None,
) -> tuple[Path, str]:
    import tempfile

    from ..atomic import rename_noreplace, temp_stem
    from ..full.export import export_onnx
    from ..hashing import file_sha256

    onnx_path = output.with_suffix(".onnx")
    # An ONNX of this tool already there (this command's own from an earlier run, or a release's
    # artifact that its manifest hashes) is kept unless --force: it is exported beside it and
    # only an identical one is accepted, so re-running the same command still works.
    earlier = not force and onnx_path.is_file() and _written_by_us(onnx_path)
    if not earlier:
        check_output(onnx_path, force)
    side = None
    if earlier:
        side = Path(
            tempfile.mkdtemp(prefix=f".{temp_stem(onnx_path.name)}.", suffix=".partial", dir=onnx_path.parent)
        )
    try:
        target = onnx_path if side is None else side / onnx_path.name
        with status(f"exporting {name} to ONNX {precision}"):
            res = export_onnx(
                name,
                target,
                weights=weights,
                transform_input=transform_input,
                precision=precision,
                batch=None,
                input_size=None,
                force=force,
                keep_fp32=keep_fp32,
            )
        if earlier:
            if file_sha256(onnx_path) != res.sha256:
                raise UsageError(
                    f"{onnx_path} already exists and is not this export (another run's or a release's "
                    "artifact); it is left as it is: pass --force to overwrite it, or choose another -o"
                )
            with contextlib.suppress(FileExistsError):
                rename_noreplace(res.sidecar, onnx_path.parent / res.sidecar.name)
    finally:
        if side is not None:
            shutil.rmtree(side, ignore_errors=True)
    if not quiet:
        done = "kept the identical" if earlier else "wrote"
        err.print(f"{done} {escape(printable(onnx_path))} ({precision} ONNX)")
    return onnx_path, res.sha256


def _written_by_us(path: Path) -> bool:
    try:
        return read_onnx_input(path).model is not None
    except ArtifactError:
        return False
