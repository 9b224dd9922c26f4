"""Agreement metrics between reference logits and an artifact's logits, in float64."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Metrics:
    max_abs: float
    p99_abs: float
    mean_abs: float
    # max_abs divided by the reference's largest |logit|: comparable across models/weights.
    max_abs_rel: float
    rel_l2: float
    min_cosine: float
    top1_agreement: float
    top5_overlap: float
    max_kl: float
    nonfinite: int
    samples: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def percentile(a: np.ndarray, q: float) -> float:
    """``np.percentile(a, q)`` (its default, linear method), without the ``numpy.ma`` import
    that ``np.percentile`` triggers: 0.1-0.25 s of the device gate's start-up on 2 cores."""
    flat = np.asarray(a, dtype=np.float64).ravel()
    pos = q / 100 * (flat.size - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, flat.size - 1)
    part = np.partition(flat, [lo, hi])
    low, high, t = part[lo], part[hi], pos - lo
    # numpy's _lerp: from the nearer end, so that t = 1 gives ``high`` exactly.
    return float(high - (high - low) * (1 - t) if t >= 0.5 else low + (high - low) * t)


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def topk_agreement(ref: np.ndarray, out: np.ndarray, k: int) -> np.ndarray:
    """Per sample, the largest share of a top-``k`` of ``ref`` that a top-``k`` of ``out`` holds,
    over every way of breaking ties: tied values are ties, not an order.

    A class is surely in a top-k when its value is above the k-th largest, and may be when it
    equals it (a tie at the border: any of those fills the places left). A saturated softmax
    (BN-Inception's synthetic logits: most probabilities exactly 0) ties hundreds of classes,
    and an artifact whose top-5 is the reference's up to such ties agrees with it.
    """
    return np.array([_best_overlap(r, o, k) for r, o in zip(ref, out, strict=True)]) / k


def _best_overlap(ref: np.ndarray, out: np.ndarray, k: int) -> int:
    ref_kth, out_kth = np.partition(ref, -k)[-k], np.partition(out, -k)[-k]
    ref_sure, ref_tied = ref > ref_kth, ref == ref_kth
    out_sure, out_tied = out > out_kth, out == out_kth
    # Places each side still fills from its tied classes.
    ref_free, out_free = k - int(ref_sure.sum()), k - int(out_sure.sum())
    both = int((ref_sure & out_sure).sum())
    # A tied class of one side that the other holds surely costs only its own side's place.
    ref_fill = min(ref_free, int((ref_tied & out_sure).sum()))
    out_fill = min(out_free, int((out_tied & ref_sure).sum()))
    shared = min(ref_free - ref_fill, out_free - out_fill, int((ref_tied & out_tied).sum()))
    return both + ref_fill + out_fill + shared


def compare(reference: np.ndarray, candidate: np.ndarray) -> Metrics:
    """Metrics of ``candidate`` against ``reference`` (both (N, classes)).

    Non-finite candidate values are counted and make every error metric infinite, so
    no threshold can let them through.
    """
    ref = np.asarray(reference, dtype=np.float64)
    out = np.asarray(candidate, dtype=np.float64)
    if ref.shape != out.shape:
        raise ValueError(f"shape mismatch: reference {ref.shape} vs artifact {out.shape}")
    n, classes = ref.shape
    nonfinite = int((~np.isfinite(out)).sum())
    if nonfinite:
        inf = float("inf")
        return Metrics(inf, inf, inf, inf, inf, -1.0, 0.0, 0.0, inf, nonfinite, n)
    diff = np.abs(out - ref)
    ref_norm = max(float(np.linalg.norm(ref)), 1e-300)
    ref_peak = max(float(np.abs(ref).max()), 1e-300)
    cos = (ref * out).sum(1) / np.maximum(np.linalg.norm(ref, axis=1) * np.linalg.norm(out, axis=1), 1e-300)
    k = min(5, classes)
    lp, lq = log_softmax(ref), log_softmax(out)
    kl = (np.exp(lp) * (lp - lq)).sum(1)
    return Metrics(
        max_abs=float(diff.max()),
        p99_abs=percentile(diff, 99),
        mean_abs=float(diff.mean()),
        max_abs_rel=float(diff.max()) / ref_peak,
        rel_l2=float(np.linalg.norm(out - ref)) / ref_norm,
        min_cosine=float(cos.min()),
        top1_agreement=float((topk_agreement(ref, out, 1) == 1.0).mean()),
        top5_overlap=float(topk_agreement(ref, out, k).mean()),
        max_kl=max(float(kl.max()), 0.0),
        nonfinite=0,
        samples=n,
    )
