"""What an export is asked for, checked once where the request enters (the CLI or the Python
API), then taken as it is by every exporter: TorchScript, ONNX FP32/FP16 and INT8."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import UsageError
from ...registry import ModelSpec, get_spec
from ...seed import DEFAULT_SEED, check_seed

# 18 is the opset torch's exporter writes natively (it cannot go lower: asking for 17
# silently yields 18), TensorRT 10.0's parser reads up to 20 and onnxruntime >= 1.14 reads it.
DEFAULT_OPSET = 18
MIN_OPSET = 18
# TensorRT 10.x's ONNX parser stops at 22; higher opsets would only help onnxruntime.
MAX_OPSET = 22
# DequantizeLinear with a float16 scale (float16 output) is opset 19's.
INT8_MIN_OPSET = 19
PRECISIONS = ("fp32", "fp16", "int8")
METHODS = ("minmax", "percentile", "entropy")
# Chosen by measurement (docs/int8.md, benchmarks/int8_methods.py).
DEFAULT_METHOD = "minmax"

# --keep-fp16 auto (localize/int8_auto.py): (net, fp32 graph, calibration, model=, size=, method=,
# outputs_map=, images=) -> (kept layer -> reason, the graph keeping them).
AutoKeep = Callable[..., Any]


def check_opset(opset: int) -> None:
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise UsageError(
            f"opset {opset} is out of range: supported {MIN_OPSET}-{MAX_OPSET} "
            f"(torch's exporter writes >= {MIN_OPSET}; TensorRT 10.x reads <= {MAX_OPSET})"
        )


def check_method(method: str) -> str:
    m = method.strip().lower()
    if m not in METHODS:
        raise UsageError(f"--calibration-method must be one of {', '.join(METHODS)}, got {method!r}")
    return m


def layer_names(layers: str | Sequence[str] | None) -> tuple[str, ...]:
    """``--keep-fp32``/``--keep-fp16``: a list, or one comma-separated string, of module paths."""
    if layers is None:
        return ()
    items = layers.split(",") if isinstance(layers, str) else list(layers)
    return tuple(i.strip() for i in items if i.strip())


def check_layers(layers: str | Sequence[str] | None, flag: str) -> tuple[str, ...]:
    """``--keep-fp32``/``--keep-fp16``'s names: "auto" alone, or module paths."""
    names = layer_names(layers)
    if "auto" in names and names != ("auto",):
        raise UsageError(f"{flag} takes 'auto' or a list of layers, not both")
    return names


@dataclass(frozen=True)
class Int8Options:
    """The INT8 export's own settings: its calibration set and the layers left in float16."""

    calibration: Path  # a directory of images, read with the model's preprocessing
    samples: int
    method: str
    keep_fp16: tuple[str, ...] = ()  # ("auto",) or module paths
    # ``--keep-fp16 auto`` measures with localize/, which the exporter does not import: the
    # caller hands its measurement in (``localize.int8_auto.auto_keep_fp16``).
    auto_keep: AutoKeep | None = None


@dataclass(frozen=True)
class ExportOptions:
    """One export's request, resolved and checked: the exporters trust it."""

    spec: ModelSpec
    size: int
    precision: str = "fp32"
    weights: Path | None = None
    transform_input: bool = False
    seed: int = DEFAULT_SEED
    opset: int = DEFAULT_OPSET
    batch: int | None = None  # the ONNX's batch dimension; None is dynamic
    embed_preprocessing: bool = False
    keep_fp32: tuple[str, ...] = ()  # FP16: ("auto",) or module paths kept float32
    images: Path | None = None  # photographs added to what --keep-fp32/--keep-fp16 auto measure
    int8: Int8Options | None = None  # set exactly when precision is int8

    @property
    def half(self) -> bool:
        return self.precision == "fp16"

    @classmethod
    def create(
        cls,
        model: str | ModelSpec,
        *,
        precision: str = "fp32",
        weights: Path | None = None,
        transform_input: bool = False,
        seed: int | None = None,
        opset: int | None = None,
        batch: int | None = None,
        input_size: int | None = None,
        embed_preprocessing: bool = False,
        keep_fp32: str | Sequence[str] | None = None,
        images: Path | None = None,
        calibration: Path | None = None,
        calibration_samples: int | None = None,
        calibration_method: str | None = None,
        keep_fp16: str | Sequence[str] | None = None,
        auto_keep: AutoKeep | None = None,
        model_obj: Any = None,
    ) -> ExportOptions:
        """Check a request (exit 2 on anything wrong) before any slow work; ``model_obj``, a
        model the caller built, must be the one named."""
        int8_given = {
            "--calibration": calibration,
            "--calibration-samples": calibration_samples,
            "--calibration-method": calibration_method,
            "--keep-fp16": keep_fp16,
        }
        _check_precision_pairing(precision, int8_given, keep_fp32)
        int8 = None
        if precision == "int8":
            int8 = _int8_options(calibration, calibration_samples, calibration_method, keep_fp16, auto_keep)
            opset = _int8_opset(opset, embed_preprocessing)
        else:
            if layer_names(keep_fp32) and precision != "fp16":
                raise UsageError("--keep-fp32 applies to FP16 exports only (--precision fp16)")
            opset = DEFAULT_OPSET if opset is None else int(opset)
            check_opset(opset)
        if batch is not None and batch < 1:
            raise UsageError(f"batch must be a positive integer or dynamic, got {batch}")
        seed = DEFAULT_SEED if seed is None else seed
        check_seed(seed)
        spec, size = _resolve(model, model_obj, input_size)
        if int8 is not None:
            from .calibration import list_calibration

            list_calibration(int8.calibration, int8.samples)  # refused before the model is built
        return cls(
            spec=spec,
            size=size,
            precision=precision,
            weights=weights,
            transform_input=transform_input,
            seed=seed,
            opset=opset,
            batch=batch,
            embed_preprocessing=embed_preprocessing,
            keep_fp32=check_layers(keep_fp32, "--keep-fp32"),
            images=images,
            int8=int8,
        )


def _check_precision_pairing(
    precision: str, int8_given: dict[str, Any], keep_fp32: str | Sequence[str] | None
) -> None:
    """Options of one precision refused on another, naming the flag."""
    if precision not in PRECISIONS:
        raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    given = [flag for flag, value in int8_given.items() if value is not None]
    if precision != "int8" and given:
        raise UsageError(f"{given[0]} applies to INT8 exports only (--precision int8)")
    if precision == "int8" and keep_fp32 is not None:
        raise UsageError(
            "--keep-fp32 applies to FP16 exports; INT8 leaves layers in float16 with --keep-fp16"
        )


def _int8_options(
    calibration: Path | None,
    samples: int | None,
    method: str | None,
    keep_fp16: str | Sequence[str] | None,
    auto_keep: AutoKeep | None,
) -> Int8Options:
    from .calibration import DEFAULT_SAMPLES, check_samples

    if calibration is None:
        raise UsageError(
            "--precision int8 needs --calibration DIR (images the activation ranges are measured on)"
        )
    method = check_method(DEFAULT_METHOD if method is None else method)
    samples = DEFAULT_SAMPLES if samples is None else samples
    check_samples(samples)
    names = check_layers(keep_fp16, "--keep-fp16")
    if names == ("auto",) and auto_keep is None:
        # The measurement is localize's, which the exporter does not import: without it "auto"
        # would be refused only after the model is built, calibrated and traced.
        raise UsageError("--keep-fp16 auto needs the localize measurement (auto_keep) from the caller")
    return Int8Options(Path(calibration), samples, method, names, auto_keep)


def _int8_opset(opset: int | None, embed_preprocessing: bool) -> int:
    if embed_preprocessing:
        raise UsageError(
            "--embed-preprocessing is not available with --precision int8 (float32 NCHW input only)"
        )
    opset = INT8_MIN_OPSET if opset is None else int(opset)
    check_opset(opset)
    if opset < INT8_MIN_OPSET:
        raise UsageError(f"INT8 needs opset >= {INT8_MIN_OPSET} (float16 scales), got --opset {opset}")
    return opset


def _resolve(model: str | ModelSpec, model_obj: Any, input_size: int | None) -> tuple[ModelSpec, int]:
    spec = get_spec(model)
    built_spec = getattr(model_obj, "spec", None)
    if isinstance(built_spec, ModelSpec) and built_spec.name != spec.name:
        raise UsageError(f"model_obj is a {built_spec.name}, not a {spec.name}")
    size = spec.default_size if input_size is None else int(input_size)
    spec.check_size(size)
    return spec, size
