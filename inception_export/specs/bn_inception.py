"""Inception v2 (BN-Inception), the Caffe-converted ``pretrainedmodels`` layout: the spec and the
sizes its graph can run at (the module is ``full/models/bn_inception.py``)."""

from __future__ import annotations

from .model_spec import ModelSpec, Preprocessing


def feature_sizes(size: int) -> dict[str, int]:
    """Spatial size entering each stage, following the stem's ceil-mode pools."""

    def pool_ceil(h: int) -> int:
        return -(-(h - 3) // 2) + 1

    h = (size + 6 - 7) // 2 + 1  # conv1 7x7/2, pad 3
    h = pool_ceil(h)
    h = pool_ceil(h)  # conv2 keeps the size
    at_3c = h
    at_4e = h // 2 if h % 2 == 0 else -1
    return {"inception_3c": at_3c, "inception_4e": at_4e}


def size_problem(size: int) -> str | None:
    """Why BN-Inception cannot run at ``size``, or None.

    The stride-2 convs (pad 1, floor) and the stride-2 ceil-mode max-pool of the
    reduction blocks only agree on even feature maps; on odd ones the branches differ by
    one pixel and cannot be concatenated. That leaves sizes 32k-1 .. 32k+6.
    """
    bad = _odd_stages(size)
    if not bad:
        return None
    below = max((s for s in range(SPEC_MIN_SIZE, size) if not _odd_stages(s)), default=None)
    above = next(s for s in range(size + 1, size + 33) if not _odd_stages(s))
    nearest = " or ".join(str(s) for s in (below, above) if s is not None)
    return (
        f"bn_inception cannot run at {size}x{size}: the stride-2 branches of {bad[0]} need an "
        f"even feature map; sizes that work run from 32k-1 to 32k+6 (223-230, 255-262, ...), "
        f"nearest {nearest}"
    )


def _odd_stages(size: int) -> list[str]:
    return [name for name, h in feature_sizes(size).items() if h < 0 or h % 2 == 1]


SPEC_MIN_SIZE = 31


SPEC = ModelSpec(
    name="bn_inception",
    aliases=("v2", "inception_v2", "bninception"),
    description="Inception v2 (BN-Inception), Caffe-converted pretrainedmodels layout",
    default_size=224,
    min_size=SPEC_MIN_SIZE,
    preprocessing=Preprocessing(
        mean=(104.0, 117.0, 128.0),
        std=(1.0, 1.0, 1.0),
        colour_order="BGR",
        value_range=(0.0, 255.0),
        resize=256,
        crop=224,
    ),
    params=11_295_240,
    gmacs=2.033,
    layout="caffe",
    classifier_key="last_linear.weight",
    size_check=size_problem,
)
