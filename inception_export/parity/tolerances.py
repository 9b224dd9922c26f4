"""Tolerance profiles per precision, derived from measurement (see README, "Parity gate").

Measured on v1/v2/v3 with the reference recipe's weights and the golden inputs
(``python benchmarks/gate_figures.py``, results/gate-figures.json): FP32 artifacts land
at 3.1e-7 to 4.3e-7 relative L2 (max abs / max logit <= 6.5e-7), FP16-in-graph at
5.2e-4 to 6.1e-4 (<= 7.0e-4). The default limits leave ~20x (FP32) and ~8x (FP16) over
the worst of those, well below what the breakages the tests inject produce.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..reading import read_regular

# JetPack 6's Python is 3.10, which has no tomllib; tomli is the same parser under its PyPI name.
if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

# A profile is a few lines of limits; anything larger is not one.
MAX_PROFILE_BYTES = 1 << 20


@dataclass(frozen=True)
class Limits:
    rel_l2: float
    max_abs_rel: float
    min_cosine: float
    top1_agreement: float
    top5_overlap: float
    max_kl: float
    batch_consistency: float  # max |batched - single| / max |single|
    # Top-1/top-5 accuracy an artifact may lose against eager PyTorch on `--labelled-images`,
    # in percentage points (parity/accuracy.py). Not a logits metric, so not in CHECKS; the
    # default is INT8's budget, for profiles that predate the limit.
    accuracy_drop: float = 1.0

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


# Each check: metric name -> (limit field, "max" if the value must be <= limit else "min").
CHECKS: dict[str, str] = {
    "rel_l2": "max",
    "max_abs_rel": "max",
    "min_cosine": "min",
    "top1_agreement": "min",
    "top5_overlap": "min",
    "max_kl": "max",
    "batch_consistency": "max",
}

# Points of top-1/top-5 accuracy (see README, "Accuracy on labelled images"). Measured on the
# 359 held-out digits with the trained GoogLeNet (tests/data/digits_googlenet.json): neither
# FP32 nor FP16 ONNX flips an image against eager PyTorch (FP16's largest logit error, 4.7e-3,
# is 80x below the smallest top-1 margin, 0.38). FP32 may lose nothing; FP16 may lose less than
# two images in 359 (one is 0.28 points: 0.2 would fail FP16 for a single near-tie). INT8
# (docs/int8.md, benchmarks/int8_digits.py): calibrated on 100 training digits it flips no image;
# calibrated on all-black pictures it loses 0.56 points (two images). INT8 may lose one image in
# 359, not two; 0.5 rather than FP16's 0.3 because its logit error is ~100x FP16's, so on larger
# labelled sets more near-ties flip honestly.
ACCURACY_DROP = {"fp32": 0.0, "fp16": 0.3, "int8": 0.5}
LIMIT_NAMES = (*CHECKS, "accuracy_drop")

# INT8 (QDQ, docs/int8.md): measured on the synthetic-weight models against eager FP32
# (python benchmarks/int8_figures.py, results/int8-figures.json; minmax calibration on 12
# scikit-image photographs). Honest: v1 at 224 px rel_l2 0.078, max_abs_rel 0.093, cosine 0.984,
# top-1 100 %, top-5 97 %, max KL 0.18; ResNet-50 at 128 px rel_l2 0.117, max_abs_rel 0.14,
# top-5 83 % (synthetic weights' top logits tie within INT8's step); v1 at 64 px (the tests) rel_l2
# 0.10, max_abs_rel 0.125, cosine 0.975, and 0.939 on a constant input in a release calibrated
# on 12 photographs (min_cosine is the worst single input: edge inputs sit lowest). One weight
# scale off by 2x (the breakage the tests inject): v1 rel_l2 0.30, max_abs_rel 0.32, top-5 66 %,
# KL 1.0; ResNet-50 rel_l2 0.20, top-5 71 %.
# The default limits sit between the worst honest figure and the mildest breakage.
INT8_DEFAULT = Limits(
    rel_l2=0.15,
    max_abs_rel=0.2,
    min_cosine=0.9,
    top1_agreement=0.75,
    top5_overlap=0.75,
    max_kl=0.4,
    batch_consistency=1e-2,
    accuracy_drop=ACCURACY_DROP["int8"],
)
INT8_STRICT = Limits(
    rel_l2=0.13,
    max_abs_rel=0.16,
    min_cosine=0.95,
    top1_agreement=0.9,
    top5_overlap=0.75,
    max_kl=0.25,
    batch_consistency=5e-3,
    accuracy_drop=ACCURACY_DROP["int8"],
)

PROFILES: dict[str, dict[str, Limits]] = {
    "default": {
        "fp32": Limits(
            rel_l2=1e-5,
            max_abs_rel=1e-5,
            min_cosine=0.99999,
            top1_agreement=1.0,
            top5_overlap=1.0,
            max_kl=1e-6,
            batch_consistency=1e-5,
            accuracy_drop=ACCURACY_DROP["fp32"],
        ),
        "fp16": Limits(
            rel_l2=5e-3,
            max_abs_rel=1e-2,
            min_cosine=0.9999,
            top1_agreement=1.0,
            top5_overlap=0.8,
            max_kl=1e-3,
            batch_consistency=1e-2,
            accuracy_drop=ACCURACY_DROP["fp16"],
        ),
        "int8": INT8_DEFAULT,
    },
    "strict": {
        "fp32": Limits(
            rel_l2=2e-6,
            max_abs_rel=3e-6,
            min_cosine=0.999999,
            top1_agreement=1.0,
            top5_overlap=1.0,
            max_kl=1e-7,
            batch_consistency=3e-6,
            accuracy_drop=ACCURACY_DROP["fp32"],
        ),
        "fp16": Limits(
            rel_l2=2e-3,
            max_abs_rel=5e-3,
            min_cosine=0.99995,
            top1_agreement=1.0,
            top5_overlap=0.9,
            max_kl=2e-4,
            batch_consistency=5e-3,
            accuracy_drop=ACCURACY_DROP["fp16"],
        ),
        "int8": INT8_STRICT,
    },
}


# --- the bound: how loose any limits may be ----------------------------------------------------

# Limits come from files (a --tolerance-profile, a golden bundle) that anyone can edit: a
# bundle re-hashed with rel_l2 = 1e308 and top1_agreement = 0 would pass any artifact. So
# no limit may be looser than this bound of the default profile for its precision: at most
# BOUND_FACTOR times its error limits (1 - min_cosine counts as an error), and no agreement
# limit below the default's. Past it, a profile file is taken only with --allow-loose-limits
# (and the report says so); a bundle is refused (exit 2) unless the gate is given the same option.
BOUND_FACTOR = 10.0
ERROR_LIMITS = ("rel_l2", "max_abs_rel", "max_kl", "batch_consistency", "accuracy_drop")
AGREEMENT_LIMITS = ("top1_agreement", "top5_overlap")
ALLOW_LOOSE = "--allow-loose-limits"


def bound(precision: str) -> Limits:
    """The loosest limits a profile or a bundle may hold for ``precision`` without --allow-loose-limits."""
    base = PROFILES["default"][precision]
    return replace(
        base,
        min_cosine=1.0 - BOUND_FACTOR * (1.0 - base.min_cosine),
        **{name: BOUND_FACTOR * getattr(base, name) for name in ERROR_LIMITS},
    )


def _looser(name: str, value: float, cap: float) -> bool:
    # A hair of slack: 1 - 10 * (1 - 0.99999) is not exactly 0.9999 in binary.
    if name == "min_cosine":
        return 1.0 - value > (1.0 - cap) * (1 + 1e-9) + 1e-15
    if name in AGREEMENT_LIMITS:
        return value < cap - 1e-12
    return value > cap * (1 + 1e-9)


def beyond_bound(limits: dict[str, Limits]) -> list[str]:
    """Each limit looser than :func:`bound`, as ``"[fp32] rel_l2 = 1e+308 (bound 0.0001)"``."""
    found = []
    for precision, lim in limits.items():
        cap = bound(precision)
        for name in LIMIT_NAMES:
            value, most = float(getattr(lim, name)), float(getattr(cap, name))
            if _looser(name, value, most):
                found.append(f"[{precision}] {name} = {value:g} (bound {most:g})")
    return found


def bound_message(where: str, beyond: list[str]) -> str:
    more = f" and {len(beyond) - 1} more" if len(beyond) > 1 else ""
    return (
        f"{where}: limit {beyond[0]}{more} is looser than the built-in bound ({BOUND_FACTOR:g}x the default "
        f"profile's error limits, no agreement limit below the default's); give {ALLOW_LOOSE} to use it"
    )


@dataclass(frozen=True)
class ToleranceProfile:
    """A ``--tolerance-profile`` read once: its name as given (``default``, ``strict`` or the
    file), its limits per precision, where those came from (for the report), and which of
    them are beyond the built-in bound (only with --allow-loose-limits)."""

    name: str
    limits: dict[str, Limits]
    source: str  # "built-in profile" or "file NAME"
    beyond: tuple[str, ...] = ()

    @classmethod
    def parse(cls, spec: str, allow_loose: bool = False) -> ToleranceProfile:
        """``spec`` read and checked (UsageError when malformed, or looser than the bound without
        ``allow_loose``): at the edge, once; below it functions take the profile."""
        source = "built-in profile" if spec in PROFILES else f"file {Path(spec).name}"
        limits = load_profile(spec, allow_loose=allow_loose)
        return cls(spec, limits, source, tuple(beyond_bound(limits)))


def load_profile(spec: str, *, allow_loose: bool = False) -> dict[str, Limits]:
    """``default``, ``strict``, or a TOML/JSON file overriding the default profile.

    The file holds tables per precision, e.g. ``[fp16]\\nrel_l2 = 1e-2``; an optional
    top-level ``base = "strict"`` picks the profile it starts from. A file looser than the
    bound is refused (UsageError naming the limit) unless ``allow_loose``.
    """
    if spec in PROFILES:
        return dict(PROFILES[spec])
    limits = _load_profile_file(spec)
    beyond = beyond_bound(limits)
    if beyond and not allow_loose:
        raise UsageError(bound_message(f"--tolerance-profile {spec}", beyond))
    return limits


def _load_profile_file(spec: str) -> dict[str, Limits]:
    path = Path(spec)
    if not path.exists():
        raise UsageError(f"tolerance profile {spec!r} is neither 'default', 'strict' nor an existing file")
    try:
        text = read_regular(path, MAX_PROFILE_BYTES, "--tolerance-profile").decode("utf-8")
        data: dict[str, Any] = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except RecursionError:
        raise UsageError(f"{path}: cannot read tolerance profile (nested too deeply)") from None
    except (ValueError, OSError) as exc:
        raise UsageError(f"{path}: cannot read tolerance profile ({exc})") from None
    if not isinstance(data, dict):  # JSON may hold a list or a string at the top
        raise UsageError(f"{path}: a tolerance profile is a table of [fp32]/[fp16]/[int8] limits")
    base = str(data.pop("base", "default"))
    if base not in PROFILES:
        raise UsageError(f"{path}: base must be one of {', '.join(PROFILES)}, got {base!r}")
    out = dict(PROFILES[base])
    for precision, overrides in data.items():
        if precision not in out or not isinstance(overrides, dict):
            raise UsageError(f"{path}: unknown section {precision!r} (expected fp32, fp16 or int8 tables)")
        unknown = set(overrides) - set(LIMIT_NAMES)
        if unknown:
            raise UsageError(
                f"{path}: unknown limit(s) {', '.join(sorted(unknown))}; known: {', '.join(LIMIT_NAMES)}"
            )
        for key, value in overrides.items():
            check_limit(path, precision, key, value)
        out[precision] = replace(out[precision], **{k: float(v) for k, v in overrides.items()})
    return out


# Limits that are fractions (a cosine, an agreement rate) must lie in [0, 1]; the others
# are error sizes, which must be >= 0. Both must be finite: a NaN limit would make every
# comparison false and turn a broken profile into a parity failure.
FRACTIONS = frozenset({"min_cosine", "top1_agreement", "top5_overlap"})


def check_limit(path: Path, precision: str, key: str, value: Any) -> None:
    where = f"{path}: [{precision}] {key} = {value!r}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"{where}: a limit must be a number")
    if not math.isfinite(value):
        raise UsageError(f"{where}: a limit must be a finite number")
    if key in FRACTIONS and not 0.0 <= value <= 1.0:
        raise UsageError(f"{where}: this limit is a fraction and must lie between 0 and 1")
    if value < 0:
        raise UsageError(f"{where}: a limit must not be negative")


# What a gate applies when given no profile: the built-in ``default``, read once.
DEFAULT_PROFILE = ToleranceProfile.parse("default")
