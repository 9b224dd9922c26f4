"""Accuracy on labelled images (``parity --labelled-images DIR``): top-1/top-5 of eager PyTorch
and of each artifact, and the drop in points, gated by the profile's ``accuracy_drop``.

Parity metrics say how close an artifact's logits are to eager PyTorch's; this says what the
difference costs on real labelled data, which is what INT8 trades. ``DIR`` holds one
sub-folder per class, named by class index (``0``, ``7``, ``042``) or, with ``--class-names
FILE`` (one name per line, in class order), by those names. A subset of the classes may be
present (an ImageNet validation subset); every folder must name a class, hold at least one
image, and every image must read.

The images are read with ``golden.read_image`` and preprocessed with the model's recipe
(``preprocess.resize_crop``/``normalise``), exactly as ``--images`` photographs are: eager
PyTorch gets the float tensors, an artifact with in-graph preprocessing the uint8 pixels.

With ``--golden`` (no eager model) each artifact's absolute accuracy is reported but no drop
can be computed, so nothing is gated on it; reading images needs the full role's libraries
(PyTorch for the resize, Pillow), which the device role lacks: refused there with one line.

This module imports numpy only at module level (the device role imports ``parity``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import FULL_INSTALL, UsageError
from ..images import IMAGE_SUFFIXES, MAX_IMAGE_BYTES, read_image
from ..text import control_character, describe_kind, first_line, printable
from .numfmt import failure_message
from .reference import run_batched

if TYPE_CHECKING:
    from ..registry import Preprocessing
    from ..runners.base import Runner
    from .reference import Reference
    from .tolerances import Limits

Progress = Callable[[str], None]

# Each image is held as uint8 pixels at the artifact's input size (299x299x3: 268 kB) and
# fed in chunks: 5,000 images at 299 px are 1.3 GB.
MAX_LABELLED_IMAGES = 5000
MAX_CLASS_NAMES_BYTES = 4 << 20
CHUNK = 256
TOP_K = 5
EAGER_BATCH = 16  # eager.EAGER_BATCH (that module imports torch: the device role imports this one)


@dataclass(frozen=True)
class LabelledImages:
    """The files of a labelled folder, each with its class index, checked before any is read."""

    root: Path
    files: list[Path]
    labels: np.ndarray  # int64 class index per file
    folders: dict[str, int]  # folder name -> class index
    class_names: list[str] | None  # from --class-names, in class order

    def describe(self) -> dict[str, Any]:
        return {
            "directory": str(self.root),
            "images": len(self.files),
            "classes_present": len(self.folders),
            "class_names_file": self.class_names is not None,
        }


def read_class_names(path: Path) -> list[str]:
    """``--class-names FILE``: one name per line, UTF-8, no blank or repeated names."""
    if not path.is_file():
        what = "not found" if not path.exists() else f"{describe_kind(path)}, not a regular file"
        raise UsageError(f"--class-names {path}: {what}")
    if path.stat().st_size > MAX_CLASS_NAMES_BYTES:
        raise UsageError(f"--class-names {path}: larger than {MAX_CLASS_NAMES_BYTES >> 20} MiB")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"--class-names {path}: cannot read it as UTF-8 text ({type(exc).__name__})"
        ) from None
    # Lines end at "\n" (CRLF accepted) only: splitlines would also break at \f, \v, \x1c-\x1e,
    # U+0085, U+2028/2029, so one name holding one would become two and shift every class after it.
    raw = [ln.removesuffix("\r") for ln in text.split("\n")]
    for i, line in enumerate(raw, 1):
        bad = control_character(line)
        if bad is not None:
            raise UsageError(
                f"--class-names {path}: line {i} holds the control character {printable(bad)}; "
                "give one plain name per line"
            )
    lines = [ln.strip() for ln in raw]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise UsageError(f"--class-names {path}: no class names (one per line, in class order)")
    blank = [i + 1 for i, ln in enumerate(lines) if not ln]
    if blank:
        raise UsageError(f"--class-names {path}: line {blank[0]} is blank; give one name per line")
    seen: dict[str, int] = {}
    for i, name in enumerate(lines, 1):
        if name in seen:
            raise UsageError(f"--class-names {path}: {name!r} on lines {seen[name]} and {i}")
        seen[name] = i
    return lines


def list_labelled(root: Path, class_names: Path | None = None) -> LabelledImages:
    """Check ``--labelled-images DIR``'s layout (not the class count: the model gives that)."""
    if not root.is_dir():
        what = "not found" if not root.exists() else f"{describe_kind(root)}, not a directory"
        raise UsageError(f"--labelled-images {root}: {what}")
    names = read_class_names(class_names) if class_names is not None else None
    index = {n: i for i, n in enumerate(names)} if names is not None else None
    folders: dict[str, int] = {}
    by_class: dict[int, str] = {}
    files: list[Path] = []
    labels: list[int] = []
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    stray = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if stray:
        raise UsageError(
            f"--labelled-images {root}: image {stray[0].name} lies directly in it; put each image in "
            "the sub-folder of its class"
        )
    for folder in (p for p in entries if p.is_dir()):
        cls = _class_of(folder.name, index, root, class_names)
        if cls in by_class:
            raise UsageError(
                f"--labelled-images {root}: folders {by_class[cls]!r} and {folder.name!r} "
                f"are both class {cls}"
            )
        by_class[cls] = folder.name
        found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise UsageError(
                f"--labelled-images: class folder {folder} holds no image files "
                f"({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        for p in found:
            # Checked before any is read: a FIFO would block the read, a device never end.
            if not p.is_file():
                raise UsageError(f"--labelled-images: {p} is {describe_kind(p)}, not a regular file")
            if p.stat().st_size > MAX_IMAGE_BYTES:
                raise UsageError(f"--labelled-images: {p} is larger than {MAX_IMAGE_BYTES >> 20} MiB")
        folders[folder.name] = cls
        files += found
        labels += [cls] * len(found)
        if len(files) > MAX_LABELLED_IMAGES:
            raise UsageError(
                f"--labelled-images {root}: more than {MAX_LABELLED_IMAGES} images; pick a subset "
                "(each is held in memory at the input size)"
            )
    if not folders:
        raise UsageError(
            f"--labelled-images {root}: no class folders (one sub-folder per class, named by class "
            "index or by --class-names)"
        )
    return LabelledImages(root, files, np.asarray(labels, np.int64), folders, names)


def _class_of(name: str, index: dict[str, int] | None, root: Path, class_names: Path | None) -> int:
    if index is not None:
        if name not in index:
            raise UsageError(
                f"--labelled-images {root}: folder {name!r} is not a class name in "
                f"--class-names {class_names}"
            )
        return index[name]
    if not (name.isascii() and name.isdigit()):
        raise UsageError(
            f"--labelled-images {root}: folder {name!r} is not a class index; name the folders "
            "0, 1, 2, ... or give --class-names FILE"
        )
    if len(name) > 9:  # int64 labels: 23 digits overflowed numpy (exit 3)
        raise UsageError(
            f"--labelled-images {root}: folder {name!r} is class {int(name):,}, beyond any model's classes"
        )
    return int(name)


def check_classes(images: LabelledImages, num_classes: int) -> None:
    """The folders against the model's classes (count mismatch: exit 2, before any image is read)."""
    where = f"--labelled-images {images.root}"
    if images.class_names is not None and len(images.class_names) != num_classes:
        raise UsageError(
            f"--class-names lists {len(images.class_names)} classes; the model has {num_classes}"
        )
    if len(images.folders) > num_classes:
        raise UsageError(f"{where}: {len(images.folders)} class folders; the model has {num_classes} classes")
    over = sorted((c, n) for n, c in images.folders.items() if c >= num_classes)
    if over:
        cls, name = over[-1]
        raise UsageError(
            f"{where}: folder {name!r} is class {cls}; the model has {num_classes} classes "
            f"(0..{num_classes - 1})"
        )


def topk_hits(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image: label is a top-1 class; label is among the top-5. Ties are ties: the label is
    in the top-k when its logit is at least the k-th largest (an order among equal logits would
    be arbitrary, and differ between an artifact and eager PyTorch)."""
    k = min(TOP_K, logits.shape[1])
    z = logits.astype(np.float64)
    own = z[np.arange(len(labels)), labels]
    kth = np.partition(z, -k, axis=1)[:, -k]
    return own >= z.max(axis=1), own >= kth


def _points(hits: np.ndarray) -> float:
    return 100.0 * float(hits.sum()) / len(hits)


@dataclass
class Accuracy:
    top1: float  # percent
    top5: float
    top1_hits: np.ndarray = field(repr=False)
    top5_hits: np.ndarray = field(repr=False)

    @classmethod
    def of(cls, logits: np.ndarray, labels: np.ndarray) -> Accuracy:
        h1, h5 = topk_hits(logits, labels)
        return cls(_points(h1), _points(h5), h1, h5)

    def to_dict(self) -> dict[str, Any]:
        return {"top1": round(self.top1, 4), "top5": round(self.top5, 4), "images": len(self.top1_hits)}


class LabelledCheck:
    """Reads and preprocesses the labelled images once per input form, runs eager PyTorch on
    them when the reference has a model, and measures each artifact's accuracy and drop."""

    def __init__(self, images: LabelledImages) -> None:
        self.images = images
        self._recipe: Preprocessing | None = None
        self._eager: Runner | None = None
        self._pixels: dict[int, np.ndarray] = {}
        self._eager_acc: dict[int, Accuracy] = {}

    def start(self, reference: Reference) -> None:
        """After the reference loaded: the class count, the recipe and eager PyTorch if any."""
        check_classes(self.images, reference.num_classes)
        self._recipe = _recipe_of(reference)
        net = getattr(reference, "net", None)  # EagerReference's model; a golden bundle has none
        if net is not None:
            from ..full.runners.torch_runner import TorchRunner

            self._eager = TorchRunner(net, 0)

    def pixels(self, size: int, progress: Progress) -> np.ndarray:
        """uint8 (N, size, size, 3) in the checkpoint's colour order."""
        if size not in self._pixels:
            assert self._recipe is not None, "start() first"
            try:
                import PIL  # noqa: F401 - golden.read_image imports it inside

                from ..full.preprocess import resize_crop
            except ImportError as exc:
                raise UsageError(
                    "--labelled-images needs PyTorch and Pillow to read and preprocess images "
                    f"({first_line(str(exc), 80)}: the device role); {FULL_INSTALL}"
                ) from None
            progress(f"labelled images at {size}px")
            out = np.empty((len(self.images.files), size, size, 3), np.uint8)
            for i, p in enumerate(self.images.files):
                out[i] = resize_crop(read_image(p), self._recipe, size)
            self._pixels[size] = out
        return self._pixels[size]

    def eager(self, size: int, progress: Progress) -> Accuracy | None:
        if self._eager is None:
            return None
        if size not in self._eager_acc:
            pixels = self.pixels(size, progress)
            progress(f"eager PyTorch on {len(self.images.files)} labelled images")
            logits = _run(self._eager, pixels, False, EAGER_BATCH, self._recipe)
            self._eager_acc[size] = Accuracy.of(logits, self.images.labels)
        return self._eager_acc[size]

    def measure(
        self, runner: Runner, size: int, pixels: bool, batch: int, limits: Limits, progress: Progress
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The artifact's accuracy, eager's, the drops in points and their checks (the fields
        of ``gate.Check``: this module does not import the gate, which imports it)."""
        eager = self.eager(size, progress)
        progress(f"{runner.info.artifact or 'artifact'}: labelled images")
        logits = _run(runner, self.pixels(size, progress), pixels, batch, self._recipe)
        got = Accuracy.of(logits, self.images.labels)
        result: dict[str, Any] = {"artifact": got.to_dict(), "eager": None, "drop_points": None}
        if eager is None:
            result["note"] = "no eager reference (golden bundle): absolute accuracy only, no drop gated"
            return result, []
        result["eager"] = eager.to_dict()
        # Points from counts: 1 image in 359 is 0.2786 points, exactly, on every platform.
        n = len(self.images.labels)
        drops = {
            "top1": 100.0 * (int(eager.top1_hits.sum()) - int(got.top1_hits.sum())) / n,
            "top5": 100.0 * (int(eager.top5_hits.sum()) - int(got.top5_hits.sum())) / n,
        }
        result["drop_points"] = {k: round(v, 4) for k, v in drops.items()}
        result["flipped_top1"] = int((eager.top1_hits != got.top1_hits).sum())
        checks: list[dict[str, Any]] = []
        for k, drop in drops.items():
            name = f"{k}_accuracy_drop"
            ok = drop <= limits.accuracy_drop + 1e-9
            message = (
                ""
                if ok
                else (
                    failure_message(name, drop, limits.accuracy_drop, "max")
                    + f" points ({k} accuracy {got.top1 if k == 'top1' else got.top5:.2f} % vs eager "
                    f"{eager.top1 if k == 'top1' else eager.top5:.2f} % on {n} labelled images)"
                )
            )
            checks.append(
                {
                    "name": name,
                    "passed": ok,
                    "value": drop,
                    "limit": limits.accuracy_drop,
                    "direction": "max",
                    "message": message,
                }
            )
        return result, checks

    def summary(self) -> dict[str, Any]:
        info = self.images.describe()
        info["directory"] = printable(info["directory"])
        info["sha256"] = self.content_sha256()
        info["eager"] = {str(s): a.to_dict() for s, a in self._eager_acc.items()}
        return info

    def content_sha256(self) -> str:
        """Labels and preprocessed pixels, so two runs on the same set can be matched."""
        h = hashlib.sha256(self.images.labels.tobytes())
        for size in sorted(self._pixels):
            h.update(self._pixels[size].tobytes())
        return h.hexdigest()[:16]


def _acc(a: Any, key: str) -> str:  # a gate.ArtifactResult
    acc = a.accuracy["artifact"] if a.accuracy else None
    return f"{acc[key]:.2f}%" if acc else "-"


def _drop(a: Any, key: str) -> str:
    drops = a.accuracy.get("drop_points") if a.accuracy else None
    return f"{drops[key]:+.2f}" if drops else "n/a"


# Rows of the report's metrics table (parity/report.py), one cell per artifact.
accuracy_rows: tuple[tuple[str, Callable[[Any], str]], ...] = (
    ("acc top-1", lambda a: _acc(a, "top1")),
    ("acc top-5", lambda a: _acc(a, "top5")),
    ("drop top-1 pt", lambda a: _drop(a, "top1")),
    ("drop top-5 pt", lambda a: _drop(a, "top5")),
)


def labelled_line(summary: dict[str, Any]) -> str:
    """The labelled set and eager PyTorch's accuracy on it, above the metrics table."""
    head = (
        f"labelled images: {summary['images']} in {summary['classes_present']} classes "
        f"({summary['directory']})"
    )
    eager = summary.get("eager") or {}
    if not eager:
        return head + "; no eager reference (golden bundle): accuracy reported, drop not gated"
    return (
        head
        + "; eager PyTorch "
        + ", ".join(
            f"top-1 {a['top1']:.2f}%, top-5 {a['top5']:.2f}%" + (f" at {s}px" if len(eager) > 1 else "")
            for s, a in eager.items()
        )
    )


def _recipe_of(reference: Reference) -> Preprocessing:
    spec = getattr(reference, "spec", None)
    if spec is not None:
        return spec.preprocessing
    from ..registry import Preprocessing

    # The bundle records the recipe its inputs were made with (and transform_input beside it).
    recorded = dict(getattr(reference, "bundle").meta["preprocessing"])  # noqa: B009
    fields = set(Preprocessing.__dataclass_fields__)
    kept: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in recorded.items() if k in fields
    }
    return Preprocessing(**kept)


def _run(
    runner: Runner, pixels: np.ndarray, as_pixels: bool, batch: int, recipe: Preprocessing | None
) -> np.ndarray:
    """Logits for every image, normalised chunk by chunk (float32 for all would be 4x the pixels)."""
    from ..images import normalise

    assert recipe is not None
    outs = []
    for start in range(0, len(pixels), CHUNK):
        chunk = pixels[start : start + CHUNK]
        feed = chunk if as_pixels else normalise(chunk, recipe)
        # A dynamic-batch artifact takes the last, shorter chunk as it is; a fixed one is padded.
        fits = batch if runner.info.max_batch is not None else min(batch, len(feed))
        outs.append(run_batched(runner, feed, fits))
    return np.concatenate(outs)
