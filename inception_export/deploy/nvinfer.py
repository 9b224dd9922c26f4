"""DeepStream ``nvinfer``: its input scaling for a model's recipe, and its config and label files.

nvinfer normalises each frame as ``y = net-scale-factor * (pixel - offsets[c])`` on 0..255
pixels in ``model-color-format`` order, one scalar for all channels. A recipe
``((pixel / 255 * (hi - lo) + lo) - mean[c]) / std[c]`` becomes exactly that with
``offsets[c] = 255 * (mean[c] - lo) / (hi - lo)`` when every ``std[c]`` is equal; ImageNet's
per-channel std is not, so the per-channel factor ``1 / std[c]`` moves into the weights of
the first convolution (exact: zero padding stays zero) and nvinfer's scalar is
``(hi - lo) / 255``. torchvision's ``transform_input`` maps the ImageNet-normalised tensor to
``(pixel / 255 - 0.5) / 0.5``, so its models get ``2/255`` and ``127.5`` and no module at all.

Torch-free: the gate on a device reads these files without the model code.
"""

from __future__ import annotations

import configparser
import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import ArtifactError, UsageError
from ..text import first_line, printable

SECTION = "property"
# model-color-format: 0 RGB, 1 BGR, 2 GRAY (gstnvinfer_property_parser.c).
COLOR_FORMATS = {"RGB": 0, "BGR": 1}
NETWORK_MODE_FP32 = 0
NETWORK_TYPE_CLASSIFIER = 1
PROCESS_MODE_PRIMARY = 1
OUTPUT_NAME = "probabilities"
INPUT_NAME = "input"
# The constants torchvision's transform_input undoes (models/layers.py: TorchvisionTransformInput).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# A config file is a few hundred bytes; anything far larger is not one.
MAX_CONFIG_BYTES = 1 << 20


@dataclass(frozen=True)
class NvinferScaling:
    """What nvinfer must be told, and what the artifact must absorb, for one model recipe."""

    net_scale_factor: float
    offsets: tuple[float, float, float]
    color_format: int  # model-color-format
    # Multipliers of the first convolution's input channels (1/std[c]), or None: not folded.
    first_conv_scale: tuple[float, float, float] | None
    # torchvision's transform_input is absorbed by the scaling: the artifact leaves it out.
    drops_transform_input: bool

    def describe(self) -> str:
        if self.drops_transform_input:
            return "transform_input's (pixel/255 - 0.5)/0.5 is nvinfer's scaling; the module is left out"
        if self.first_conv_scale is not None:
            return "per-channel 1/std folded into the first convolution; nvinfer's scalar is exact"
        return "nvinfer's scalar scaling is the recipe exactly (equal std on every channel)"


def _fmt(x: float) -> str:
    # 12 significant digits: float32 (what nvinfer computes in) needs 9; no float64 noise
    # (123.67499999999998) in a file users read.
    text = f"{x:.12g}"
    return text if any(c in text for c in ".e") else text + ".0"


def scaling_for(
    mean: tuple[float, ...],
    std: tuple[float, ...],
    value_range: tuple[float, float],
    colour_order: str,
    transform_input: bool,
) -> NvinferScaling:
    """nvinfer's scaling for a recipe; UsageError when no scalar form can be exact."""
    if colour_order not in COLOR_FORMATS:
        raise UsageError(f"colour order {colour_order!r}: nvinfer takes RGB or BGR")
    lo, hi = (float(v) for v in value_range)
    if not hi > lo:
        raise UsageError(f"value range {value_range}: the upper end must exceed the lower")
    color = COLOR_FORMATS[colour_order]
    if transform_input:
        if tuple(mean) != IMAGENET_MEAN or tuple(std) != IMAGENET_STD or (lo, hi) != (0.0, 1.0):
            raise UsageError("transform_input undoes ImageNet's RGB mean/std; this recipe is another")
        return NvinferScaling(2.0 / 255.0, (127.5, 127.5, 127.5), color, None, True)
    if len(mean) != 3 or len(std) != 3:
        raise UsageError(f"mean {mean} / std {std}: nvinfer's offsets take 3 channels")
    m0, m1, m2 = (float(_fmt(255.0 * (m - lo) / (hi - lo))) for m in mean)
    offsets = (m0, m1, m2)
    factors = [(hi - lo) / (255.0 * s) for s in std]
    if all(math.isclose(f, factors[0], rel_tol=1e-12) for f in factors):
        return NvinferScaling(float(_fmt(factors[0])), offsets, color, None, False)
    inv = (1.0 / std[0], 1.0 / std[1], 1.0 / std[2])
    return NvinferScaling(float(_fmt((hi - lo) / 255.0)), offsets, color, inv, False)


@dataclass(frozen=True)
class NvinferConfig:
    """The ``[property]`` values this tool writes (and the gate reads back)."""

    onnx_file: str
    engine_file: str
    labels_file: str
    batch_size: int
    channels: int
    height: int
    width: int
    scaling: NvinferScaling
    output_name: str = OUTPUT_NAME
    classifier_threshold: float = 0.2
    process_mode: int = PROCESS_MODE_PRIMARY
    network_mode: int = NETWORK_MODE_FP32
    gie_unique_id: int = 1


# network-mode: 0 FP32, 1 INT8, 2 FP16 (gstnvinfer_property_parser.c).
PRECISION_OF_MODE = {0: "fp32", 1: "int8", 2: "fp16"}


def engine_file_name(
    onnx_file: str, batch: int, network_mode: int = NETWORK_MODE_FP32, gpu_id: int = 0
) -> str:
    """The name nvinfer gives the engine it builds from ``onnx-file`` and caches beside it, so a
    second start finds it (DeepStream 6+: ``<onnx>_b<batch>_gpu<id>_<precision>.engine``)."""
    return f"{onnx_file}_b{batch}_gpu{gpu_id}_{PRECISION_OF_MODE[network_mode]}.engine"


def render_config(cfg: NvinferConfig, header: list[str]) -> str:
    """The key file nvinfer reads (GLib GKeyFile: ``[group]``, ``key=value``, lists split by ';')."""
    s = cfg.scaling
    lines = [f"# {printable(line)}" for line in header]
    lines += [
        f"[{SECTION}]",
        "gpu-id=0",
        "# the id downstream elements (and a secondary nvinfer's operate-on-gie-id) name this model by",
        f"gie-unique-id={cfg.gie_unique_id}",
        f"onnx-file={cfg.onnx_file}",
        "# nvinfer builds this engine from onnx-file on the first start and reuses it afterwards",
        f"model-engine-file={cfg.engine_file}",
        f"labelfile-path={cfg.labels_file}",
        f"batch-size={cfg.batch_size}",
        "# 0 = FP32: the precision the artifact was gated in (2 = FP16 is faster and not gated here);",
        "# TensorRT computes FP32 layers in TF32 on Ampere and later GPUs (Orin too) unless TF32 is off",
        f"network-mode={cfg.network_mode}",
        "# 1 = classifier; 1 = primary (whole frame), 2 = secondary (objects of an upstream detector)",
        f"network-type={NETWORK_TYPE_CLASSIFIER}",
        f"process-mode={cfg.process_mode}",
        f"infer-dims={cfg.channels};{cfg.height};{cfg.width}",
        "# y = net-scale-factor * (pixel - offsets[c]), channels in model-color-format order (0 RGB, 1 BGR)",
        f"model-color-format={s.color_format}",
        f"net-scale-factor={_fmt(s.net_scale_factor)}",
        "offsets=" + ";".join(_fmt(o) for o in s.offsets),
        f"output-blob-names={cfg.output_name}",
        f"classifier-threshold={_fmt(cfg.classifier_threshold)}",
    ]
    return "\n".join(lines) + "\n"


def labels_text(names: list[str]) -> str:
    """nvinfer's classifier label file: one line per output layer, its labels separated by ';'."""
    return ";".join(names) + "\n"


def parse_labels(text: str) -> list[list[str]]:
    """The label file back: one list of names per output layer (line)."""
    # Lines end at "\n" only, as nvinfer reads them (splitlines would also break at \f, U+2028...).
    return [line.removesuffix("\r").split(";") for line in text.split("\n") if line.removesuffix("\r")]


class KeyFile:
    """A parsed nvinfer config, the values as GLib's GKeyFile gives them to nvinfer: ``get``
    raises one ArtifactError line for a missing or bad value."""

    def __init__(self, path: Path, groups: dict[str, dict[str, str]]) -> None:
        self.path = path
        self.groups = groups

    def sections(self) -> list[str]:
        return list(self.groups)

    def keys(self, section: str = SECTION) -> list[str]:
        return list(self.groups.get(section, {}))

    def has(self, key: str) -> bool:
        return key in self.groups.get(SECTION, {})

    def get(self, key: str) -> str:
        if key not in self.groups.get(SECTION, {}):
            raise ArtifactError(f"{self.path}: [{SECTION}] has no {key}")
        return self.groups[SECTION][key].strip()

    def number(self, key: str) -> float:
        text = self.get(key)
        try:
            value = float(text)
        except ValueError:
            raise ArtifactError(f"{self.path}: {key}={printable(text)} is not a number") from None
        if not math.isfinite(value):
            raise ArtifactError(f"{self.path}: {key}={printable(text)} is not a finite number")
        return value

    def integer(self, key: str) -> int:
        text = self.get(key)
        try:
            return int(text)
        except ValueError:
            raise ArtifactError(f"{self.path}: {key}={printable(text)} is not an integer") from None

    def numbers(self, key: str, count: int) -> list[float]:
        # GKeyFile lists: items split by ';', a trailing ';' allowed.
        parts = [p.strip() for p in self.get(key).split(";")]
        if parts and parts[-1] == "":
            parts.pop()
        if len(parts) != count:
            raise ArtifactError(f"{self.path}: {key} holds {len(parts)} values, expected {count}")
        values = []
        for p in parts:
            try:
                v = float(p)
            except ValueError:
                raise ArtifactError(f"{self.path}: {key}: {printable(p)} is not a number") from None
            if not math.isfinite(v):
                raise ArtifactError(f"{self.path}: {key}: {printable(p)} is not a finite number")
            values.append(v)
        return values

    def resolve(self, key: str) -> Path:
        """A path value as nvinfer resolves it: relative to the config file's directory."""
        return (self.path.parent / self.get(key)).resolve()


def read_config(path: Path) -> KeyFile:
    """Parse ``path`` strictly as the key file nvinfer reads: one ``[property]`` group, no
    duplicate keys or groups, ``key=value`` lines, ``#`` comments; ArtifactError otherwise.

    Read twice: by GLib's GKeyFile, as nvinfer reads it (the values used), and by a strict
    configparser, as a person or another tool reads it; a file the two read differently (an
    indented line, an escape such as ``\\s`` in a file name) is refused, since what the gate
    checks must be what nvinfer runs."""
    from .gkeyfile import read_key_file

    path = Path(path)
    try:
        if not path.is_file():
            raise ArtifactError(
                f"{path}: no such config file" if not path.exists() else f"{path}: not a file"
            )
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ArtifactError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes; not an nvinfer config")
        data = path.read_bytes()
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ArtifactError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ArtifactError(f"{path}: {exc.strerror or exc}") from None
    parser = configparser.ConfigParser(
        delimiters=("=",),
        comment_prefixes=("#",),
        inline_comment_prefixes=None,
        strict=True,
        empty_lines_in_values=False,
        interpolation=None,
        default_section="\x00no-default",  # GKeyFile has no DEFAULT group
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # GKeyFile keys are case-sensitive
    try:
        parser.read_string(text, source=str(path))
    except (configparser.DuplicateOptionError, configparser.DuplicateSectionError) as exc:
        # GLib reads such a file (the last value wins); refused all the same, since a reader who
        # sees the first value reads another config than nvinfer runs, but named as what it is.
        twice = f"key {exc.option!r} in [{exc.section}]" if isinstance(
            exc, configparser.DuplicateOptionError
        ) else f"group [{exc.section}]"
        raise ArtifactError(
            f"{path}: {printable(twice)} is given twice (line {exc.lineno}); nvinfer (GLib) takes the "
            "last, a reader the first: give it once"
        ) from None
    except configparser.Error as exc:
        raise ArtifactError(f"{path}: not a key file ({first_line(str(exc))})") from None
    groups = read_key_file(data, str(path))
    _same_reading(path, parser, groups)
    if SECTION not in groups:
        raise ArtifactError(f"{path}: no [{SECTION}] group")
    return KeyFile(path, groups)


def _shown(value: str | None) -> str:
    return "no such key" if value is None else printable(repr(value))


def _same_reading(path: Path, parser: configparser.ConfigParser, groups: dict[str, dict[str, str]]) -> None:
    """ArtifactError naming the first key that GKeyFile (nvinfer) and configparser read differently."""
    if parser.sections() != list(groups):
        raise ArtifactError(
            f"{path}: nvinfer's parser (GLib) reads the groups {list(groups)}, another reader "
            f"{parser.sections()}; not a plain key file"
        )
    for group, values in groups.items():
        theirs = dict(parser[group])
        for key in dict.fromkeys([*theirs, *values]):
            glib, other = values.get(key), theirs.get(key)
            if glib is None or other is None or glib.strip() != other.strip():
                raise ArtifactError(
                    f"{path}: [{group}] {key}: nvinfer's parser (GLib) reads {_shown(glib)}, a plain "
                    f"key-file reader {_shown(other)}; write it so both agree (no indented lines, no escapes)"
                )
