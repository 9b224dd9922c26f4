"""``release``: export every artifact, gate them all, and write one manifest.

The manifest is what a deployment pipeline consumes: each artifact with its sha256,
format, precision and input shape, the weights' hash, tool versions, and the gate's
verdict with its metrics. The exit code is the gate's.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from .. import __version__, jsonout
from ..atomic import check_apart, check_output_dir, staged_directory, write_text_atomic
from ..console import expect_steps
from ..errors import BackendUnavailable, UsageError
from ..hashing import file_sha256
from ..parity.bundle import BUNDLE_NAME, check_bundle_classes
from ..parity.gate import GateReport, check_artifacts
from ..parity.report import junit_xml
from ..parity.tolerances import DEFAULT_PROFILE, ToleranceProfile
from ..registry import ModelSpec
from ..release_manifest import GATE_REPORT, MANIFEST, check_weights_file, own_manifest
from ..seed import DEFAULT_SEED, recorded_source
from ..tensorrt.config import DEFAULT_MAX_BATCH, DEFAULT_MIN_BATCH, DEFAULT_OPT_BATCH
from .build import build_model, load_report
from .eager import EagerReference, bundle_from_reference
from .export.options import ExportOptions
from .golden import check_inputs

REPORT_JUNIT = "parity.junit.xml"


# The engine's batch range when none is given: batches up to 8, tuned for 1 (the same as `trt`).
ENGINE_MIN_BATCH = DEFAULT_MIN_BATCH
ENGINE_OPT_BATCH = DEFAULT_OPT_BATCH
ENGINE_MAX_BATCH = DEFAULT_MAX_BATCH


@dataclass(frozen=True)
class ReleaseOptions:
    """How a deployment wants its artifacts shaped; the defaults give the model's own."""

    input_size: int | None = None  # default: the model's
    batch: int | None = None  # ONNX batch dimension: None is dynamic
    opset: int | None = None
    embed_preprocessing: bool = False
    images: Path | None = None  # photographs added to the gate's inputs (and --keep-fp32 auto's)
    min_batch: int | None = None  # the TensorRT engine's profile
    opt_batch: int | None = None
    max_batch: int | None = None
    torchscript: bool = False  # TorchScript is one flag away: Triton's libtorch backend needs it
    int8_calibration: Path | None = None  # `--int8 --calibration DIR`: also the INT8 QDQ ONNX
    deploy: tuple[str, ...] = ()  # deployment packages written into the release (deploy/package.py)
    class_names: Path | None = None  # their label files' names (default: ImageNet-1k's)

    def engine_batches(self) -> tuple[int, int, int]:
        """The engine's (min, opt, max) batch: the ONNX's fixed batch, or the range asked for."""
        asked = (self.min_batch, self.opt_batch, self.max_batch)
        if self.batch is not None:
            if {b for b in asked if b is not None} - {self.batch}:
                raise UsageError(
                    f"--batch {self.batch} fixes the ONNX's batch, so its engine takes batch {self.batch} "
                    "only; drop --min/--opt/--max-batch or use --batch dynamic"
                )
            return self.batch, self.batch, self.batch
        lo = ENGINE_MIN_BATCH if self.min_batch is None else self.min_batch
        opt = max(lo, ENGINE_OPT_BATCH) if self.opt_batch is None else self.opt_batch
        hi = max(opt, ENGINE_MAX_BATCH) if self.max_batch is None else self.max_batch
        return lo, opt, hi

    def engine_config(self, size: int) -> Any:
        from ..tensorrt.config import EngineConfig

        lo, opt, hi = self.engine_batches()
        layout = "NHWC" if self.embed_preprocessing else "NCHW"
        return EngineConfig(
            precision="fp16", input_size=size, min_batch=lo, opt_batch=opt, max_batch=hi, layout=layout
        )

    def check(self, size: int, trt: bool | None) -> None:
        """The release's own flags (the engine's batch range); the exports' options (size,
        batch, opset, INT8's) are :meth:`ExportOptions.create`'s to check."""
        engine_flags = [
            f"--{name}-batch"
            for name, value in (("min", self.min_batch), ("opt", self.opt_batch), ("max", self.max_batch))
            if value is not None
        ]
        if engine_flags and trt is False:
            raise UsageError(f"{', '.join(engine_flags)} shape the TensorRT engine; --no-trt builds none")
        self.engine_config(size).validate()


@dataclass
class ReleaseResult:
    out_dir: Path
    manifest: dict[str, Any]
    gate: GateReport

    @property
    def exit_code(self) -> int:
        return 0 if self.gate.passed else 1


def _versions() -> dict[str, str]:
    # Imported here, not at module level: every CLI start imports this module.
    import onnx
    import onnxruntime

    return {
        "inception_export": __version__,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "python": platform.python_version(),
    }


def is_release(directory: Path) -> bool:
    return own_manifest(directory) is not None


def _names(entries: Any, key: str = "file") -> list[str]:
    return (
        [e[key] for e in entries if isinstance(e, dict) and isinstance(e.get(key), str)]
        if isinstance(entries, list)
        else []
    )


def release_files(directory: Path) -> list[str]:
    """Every file the release in ``directory`` lists (relative paths): its artifacts and their
    sidecars (``<artifact>.json``: metadata or engine manifest), the golden bundle, the gate's
    reports, the deployment packages' files and the manifest. ``--force`` replaces a release
    only when nothing else is in it."""
    doc = own_manifest(directory) or {}
    artifacts = doc.get("artifacts")
    files = [MANIFEST, *_names(artifacts), *_names(artifacts, "sidecar")]
    files += [f"{name}.json" for name in _names(artifacts)]
    files += _names([doc.get("golden")])
    gate = doc.get("gate")
    if isinstance(gate, dict):
        files += [v for v in (gate.get("report"), gate.get("junit")) if isinstance(v, str)]
    deploy = doc.get("deploy")
    for target in deploy.values() if isinstance(deploy, dict) else []:
        files += _names(target.get("files") if isinstance(target, dict) else None)
    return files


@dataclass
class ReleaseArtifact:
    """One file a release makes: which one, where it is staged, and its sha256 as written (the
    manifest does not read the file again)."""

    kind: str  # "torchscript", "fp32", "fp16", "int8" (ONNX) or "tensorrt"
    path: Path
    sha256: str | None = None


@dataclass(frozen=True)
class ReleasePlan:
    """A release's inputs, checked and resolved once by :func:`check_release_options`: the
    model, the exports (their :class:`ExportOptions`), the gate's inputs and tolerance profile,
    and whether (else why not) a TensorRT engine is built. :func:`run_release` follows it."""

    spec: ModelSpec
    out_dir: Path
    profile: ToleranceProfile
    options: ReleaseOptions
    build_trt: bool
    trt_missing: str | None  # why no engine can be built here, if none can
    export: ExportOptions  # the FP16 ONNX's (its FP32 twin differs only in precision), else the FP32's
    int8: ExportOptions | None  # the INT8 QDQ ONNX's, exactly when a calibration set is given
    samples: int = 6  # the gate's seeded random inputs
    force: bool = False  # replace an earlier release in out_dir

    def artifacts(self, stage: Path) -> list[ReleaseArtifact]:
        """The files, in the order they are made and listed in the manifest."""
        stem = self.spec.name
        names = {
            "torchscript": f"{stem}.pt",
            "fp32": f"{stem}-fp32.onnx",
            "fp16": f"{stem}-fp16.onnx",
            "tensorrt": f"{stem}-fp16.engine",
            "int8": f"{stem}-int8.onnx",
        }
        kinds = ["torchscript"] if self.options.torchscript else []
        kinds += ["fp32", "fp16"] if self.export.half else ["fp32"]
        kinds += ["int8"] if self.int8 is not None else []
        kinds += ["tensorrt"] if self.build_trt else []
        return [ReleaseArtifact(k, stage / names[k]) for k in kinds]

    def steps(self) -> int:
        """Progress steps: build, each export (FP32 and FP16 together), the engine, the gate's
        start, its reference, the golden inputs of each input form the artifacts take, three
        gate steps per artifact, and the deployment packages (one step for all)."""
        kinds = [a.kind for a in self.artifacts(Path())]
        exports = len(kinds) - int("fp16" in kinds)  # FP32 and FP16 are one step
        # TorchScript takes float32 NCHW; with --embed-preprocessing the ONNX (and its engine)
        # take uint8 NHWC pixels: each form is its own golden inputs step.
        pixels = {self.export.embed_preprocessing and k != "torchscript" for k in kinds}
        gate = 2 + len(pixels) + 3 * len(kinds)
        return 1 + exports + gate + int(bool(self.options.deploy))


def run_release(plan: ReleasePlan, progress: Callable[[str], None] | None = None) -> ReleaseResult:
    """Export what ``plan`` lists (ONNX FP32, FP16, INT8, TorchScript, a TensorRT engine), then gate.

    The release is built in a staging directory beside ``plan.out_dir`` and renamed into place
    at the end, so ``out_dir`` either holds a complete release or is left as it was (an earlier
    release is replaced only with ``plan.force``).
    """
    step = progress or (lambda _msg: None)
    expect_steps(progress, plan.steps())
    with staged_directory(plan.out_dir, force=plan.force, ours=is_release, listed=release_files) as stage:
        result = _release_into(stage, plan, step)
        deploy = plan.options.deploy
        if deploy:
            from ..deploy.package import deploy_into_release

            step(f"deploy {', '.join(deploy)}")
            result.manifest = deploy_into_release(
                stage,
                result.manifest,
                deploy,
                weights=plan.export.weights,
                class_names=plan.options.class_names,
            )
    return result


def check_release_options(
    spec: str | ModelSpec,
    out_dir: Path,
    *,
    weights: Path | None = None,
    transform_input: bool | None = None,
    trt: bool | None = None,
    force: bool = False,
    seed: int = DEFAULT_SEED,
    samples: int = 6,
    profile: ToleranceProfile = DEFAULT_PROFILE,
    fp16: bool = True,
    keep_fp32: str | None = None,
    options: ReleaseOptions | None = None,
) -> ReleasePlan:
    """Every check that needs no slow work, so bad input is refused in a second (exit 2); what
    it resolves (the profile, the exports' options, ``transform_input`` as the weights decide
    it) is the plan :func:`run_release` follows.

    ``spec``: a model's spec or name. ``trt=None`` builds an engine only where TensorRT and a
    GPU are present; ``trt=True`` makes their absence an error. ``options`` carries the
    deployment's shape of the artifacts (input size, batch, opset, in-graph preprocessing, the
    engine's batch range) and whether TorchScript, INT8 and deployment packages are wanted.
    """
    from ..registry import get_spec, resolve_transform_input
    from ..tensorrt import missing_reason

    spec = get_spec(spec)
    opts = options or ReleaseOptions()
    if keep_fp32 and not fp16:
        raise UsageError("--keep-fp32 applies to the FP16 export (--precision fp32,fp16)")
    # transform_input is resolved from the weights below, once they are checked.
    export, int8 = _export_options(spec, opts, weights=weights, seed=seed, fp16=fp16, keep_fp32=keep_fp32)
    opts.check(export.size, trt)
    check_inputs(samples, opts.images)
    limits = profile  # parsed at the edge (a malformed or out-of-range one never gets here)
    check_weights_file(weights)
    # The engine is built from the FP16 ONNX: a release without one has no engine to build.
    no_fp16 = None if fp16 else "no FP16 ONNX to build it from (--precision without fp16)"
    if trt is True and no_fp16:
        raise UsageError(f"--trt: {no_fp16}")
    trt_missing = missing_reason()
    if trt is True and trt_missing:
        raise BackendUnavailable(f"--trt: {trt_missing}")
    _check_deploy(opts, weights)
    check_apart(
        [
            ("--weights", weights),
            ("--images", opts.images),
            ("--calibration", opts.int8_calibration),
            ("--class-names", opts.class_names),
            ("--tolerance-profile", None if limits.source == "built-in profile" else limits.name),
        ],
        dirs={"-o": Path(out_dir)},
    )
    check_output_dir(out_dir, force, MANIFEST, ours=is_release, listed=release_files)
    ti = resolve_transform_input(spec, weights, transform_input)[0]
    missing = no_fp16 or trt_missing
    return ReleasePlan(
        spec=spec,
        out_dir=Path(out_dir),
        profile=limits,
        options=opts,
        build_trt=trt is not False and not missing,
        trt_missing=missing,
        export=replace(export, transform_input=ti),
        int8=None if int8 is None else replace(int8, transform_input=ti),
        samples=samples,
        force=force,
    )


def _check_deploy(opts: ReleaseOptions, weights: Path | None) -> None:
    if opts.deploy or opts.class_names is not None:
        from ..deploy.package import check_release_deploy

        # Synthetic weights have ImageNet's 1000 classes; a checkpoint's count is known only
        # once it is loaded, and is checked then (before anything is written).
        classes = None if weights is not None else 1000
        check_release_deploy(opts.deploy, opts.class_names, classes, opts.engine_batches())


def _export_options(
    spec: ModelSpec,
    opts: ReleaseOptions,
    *,
    weights: Path | None,
    seed: int,
    fp16: bool,
    keep_fp32: str | None,
) -> tuple[ExportOptions, ExportOptions | None]:
    """The release's ONNX exports, checked by :meth:`ExportOptions.create` as `onnx`'s are:
    the FP16 (else FP32) one, and the INT8 one beside it when a calibration set is given (the
    same model and shape, its own opset default, the calibration's default samples and method)."""
    shared: dict[str, Any] = {
        "weights": weights,
        "seed": seed,
        "opset": opts.opset,
        "batch": opts.batch,
        "input_size": opts.input_size,
        "embed_preprocessing": opts.embed_preprocessing,
        "images": opts.images,
    }
    export = ExportOptions.create(spec, precision="fp16" if fp16 else "fp32", keep_fp32=keep_fp32, **shared)
    if opts.int8_calibration is None:
        return export, None
    return export, ExportOptions.create(spec, precision="int8", calibration=opts.int8_calibration, **shared)


def _release_into(stage: Path, plan: ReleasePlan, step: Callable[[str], None]) -> ReleaseResult:
    """Export, gate and write the manifest into the empty directory ``stage``."""
    spec, opts, export = plan.spec, plan.options, plan.export
    artifacts = plan.artifacts(stage)
    step("build model")
    net = build_model(spec, export.weights, transform_input=export.transform_input, seed=export.seed)
    check_bundle_classes(load_report(net).num_classes, load_report(net).path)  # before any export
    _export(artifacts, plan, net, step)
    if plan.build_trt:
        _build_engine(artifacts, plan, export.size, step)
    step("gate")
    reference = EagerReference(
        spec,  # the plan's: not looked up again by name
        weights=export.weights,
        transform_input=export.transform_input,
        samples=plan.samples,
        images=opts.images,
        reference_model=net,
    )
    gate = check_artifacts(reference, [a.path for a in artifacts], profile=plan.profile, progress=step)
    # The gate's inputs and eager logits, for checking on the device where the engine is built
    # (`parity --golden`): the sets the gate just computed are reused, not recomputed.
    golden = bundle_from_reference(
        reference,
        stage / BUNDLE_NAME,
        input_size=export.size,
        pixels=any(a.metadata.embedded_preprocessing for a in gate.artifacts),
        profile=plan.profile.name,
        limits=plan.profile.limits,
        allow_loose_limits=bool(plan.profile.beyond),
    )
    manifest = _manifest(plan, artifacts, gate, golden, load_report(net))
    # The reports name the artifacts where they will live, not in the staging directory.
    for a in gate.artifacts:
        a.path = str(plan.out_dir / Path(a.path).name)
    write_text_atomic(stage / GATE_REPORT, jsonout.dumps(gate.to_dict(), indent=2) + "\n")
    write_text_atomic(stage / REPORT_JUNIT, junit_xml(gate))
    write_text_atomic(stage / MANIFEST, jsonout.dumps(manifest, indent=2) + "\n")
    return ReleaseResult(plan.out_dir, manifest, gate)


def _export(
    artifacts: list[ReleaseArtifact], plan: ReleasePlan, net: Any, step: Callable[[str], None]
) -> None:
    """TorchScript (if asked for) and the ONNX: FP32 and FP16 from one trace, or FP32 alone; INT8."""
    from .export import write_onnx, write_onnx_pair, write_torchscript

    by_kind = {a.kind: a for a in artifacts}
    if "torchscript" in by_kind:
        ts = by_kind["torchscript"]
        step(f"export {ts.path.name}")
        ts.sha256 = write_torchscript(plan.export, ts.path, model_obj=net).sha256
    fp32 = by_kind["fp32"]
    if "fp16" in by_kind:
        fp16 = by_kind["fp16"]
        step(f"export {fp32.path.name} and {fp16.path.name}")
        pair = write_onnx_pair(plan.export, fp32.path, fp16.path, model_obj=net)
        fp32.sha256, fp16.sha256 = (res.sha256 for res in pair)
    else:
        step(f"export {fp32.path.name}")
        fp32.sha256 = write_onnx(plan.export, fp32.path, model_obj=net).sha256
    if plan.int8 is not None:
        int8 = by_kind["int8"]
        step(f"export {int8.path.name}")
        int8.sha256 = write_onnx(plan.int8, int8.path, model_obj=net).sha256


def _build_engine(
    artifacts: list[ReleaseArtifact], plan: ReleasePlan, size: int, step: Callable[[str], None]
) -> None:
    """The TensorRT engine from the FP16 ONNX just written (its sha256 goes into the manifest)."""
    from ..tensorrt.builder import build_engine

    by_kind = {a.kind: a for a in artifacts}
    onnx, engine = by_kind["fp16"], by_kind["tensorrt"]
    step(f"build {engine.path.name}")
    built = build_engine(
        onnx.path,
        engine.path,
        plan.options.engine_config(size),
        model=plan.spec.name,
        onnx_sha256=onnx.sha256,
    )
    engine.sha256 = built.engine_sha256


def _manifest_entry(
    art: ReleaseArtifact, result: Any, opts: ReleaseOptions, size: int, num_classes: int
) -> dict[str, Any]:
    """One artifact in the manifest: file, hash, input/output contract, and its gate verdict."""
    meta = result.metadata
    art_size = meta.input_size or size
    batch = (
        "dynamic"
        if result.runner.get("max_batch") is None
        else [result.runner["min_batch"], result.runner["max_batch"]]
    )
    pixels = meta.embedded_preprocessing
    dim0: Any = opts.batch if opts.batch and result.format == "onnx" else "batch"
    sidecar = art.path.with_name(art.path.name + ".json")
    return {
        "file": art.path.name,
        "sidecar": sidecar.name if sidecar.is_file() else None,  # metadata, or the engine's manifest
        "sha256": art.sha256 or meta.artifact_sha256 or meta.engine_sha256 or file_sha256(art.path),
        "format": result.format,
        "precision": result.precision,
        "input": {
            "name": "input",
            "shape": [dim0, art_size, art_size, 3] if pixels else [dim0, 3, art_size, art_size],
            "layout": "NHWC" if pixels else "NCHW",
            "batch": batch,
            "dtype": "uint8" if pixels else "float32",
        },
        "output": {"name": "logits", "shape": ["batch", num_classes], "dtype": "float32"},
        "opset": meta.opset,
        **_engine_manifest_record(art),
        "gate": {
            "passed": result.passed,
            "metrics": result.metrics.to_dict(),
            "failed_checks": [c.to_dict() for c in result.failures],
        },
    }


def _engine_manifest_record(art: ReleaseArtifact) -> dict[str, Any]:
    """An engine's manifest (its profile and TensorRT version, which deploy reads) is hashed
    with the release like the engine, so an edit beside the engine is refused."""
    if art.kind != "tensorrt":
        return {}
    from ..tensorrt.manifest import manifest_path

    side = manifest_path(art.path)
    return {"manifest": {"file": side.name, "sha256": file_sha256(side)}}


def _manifest(
    plan: ReleasePlan, artifacts: list[ReleaseArtifact], gate: GateReport, golden: Any, report: Any
) -> dict[str, Any]:
    """What a deployment pipeline reads: the model, the weights' hash, the tool versions, each
    artifact (read before the gate's paths are renamed to ``out_dir``), the golden bundle, the verdict."""
    spec, opts, size = plan.spec, plan.options, plan.export.size
    by_path = {a.path: a for a in gate.artifacts}
    if plan.build_trt:
        tensorrt = "built"
    else:
        tensorrt = f"skipped: {plan.trt_missing}" if plan.trt_missing else "skipped: --no-trt"
    return {
        "schema": 1,
        "model": spec.name,
        "input_size": size,
        "num_classes": report.num_classes,
        "preprocessing": dict(spec.to_dict()["preprocessing"], transform_input=plan.export.transform_input),
        "weights": {
            "source": recorded_source(report.path),
            "sha256": report.sha256,
        },
        "versions": _versions(),
        "tensorrt": tensorrt,
        "engine_batch": dict(zip(("min", "opt", "max"), opts.engine_batches(), strict=True))
        if plan.build_trt
        else None,
        "artifacts": [
            _manifest_entry(a, by_path[str(a.path)], opts, size, report.num_classes) for a in artifacts
        ],
        "golden": {
            "file": BUNDLE_NAME,
            "sha256": golden.sha256,
            "bytes": golden.size_bytes,
            "inputs": {form: len(rec["names"]) for form, rec in golden.meta["sets"].items()},
        },
        "gate": {
            "passed": gate.passed,
            "exit_code": 0 if gate.passed else 1,
            "profile": plan.profile.name,
            "report": GATE_REPORT,
            "junit": REPORT_JUNIT,
        },
    }
