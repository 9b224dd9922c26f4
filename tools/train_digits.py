"""Train GoogLeNet (v1) on scikit-learn's handwritten digits: real learned weights, offline.

No ImageNet checkpoint exists on this machine, so the accuracy gate (``parity
--labelled-images``) and INT8 calibration are tested on a model that learned something real:
the 1,797 labelled 8x8 digits that ship inside scikit-learn. Each digit becomes an RGB image
(grey 0..16 scaled to 0..255, each pixel a 4x4 block: a 32x32 picture) and then goes through
the model's own preprocessing recipe (``preprocess.preprocess_image``, as `parity --images`
and `--labelled-images` read real files), at a 32x32 input.

Reproducible: fixed seeds, ``torch.use_deterministic_algorithms``, a fixed stratified
train/held-out split (recorded by index in the JSON), one thread (see THREADS). The weights are
saved as float16 safetensors (the loader converts them to float32, and says so): 11 MB, not 22.

    python tools/train_digits.py              # writes tests/data/digits_googlenet.{safetensors,json}
    python tools/train_digits.py --check      # retrain in memory and compare with the stored file
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
WEIGHTS = DATA / "digits_googlenet.safetensors"
RECORD = DATA / "digits_googlenet.json"

MODEL = "googlenet"
SIZE = 32
UPSCALE = 4  # 8x8 digit -> 32x32 picture, nearest neighbour (each digit pixel a block)
SEED = 20261130
HELD_OUT = 0.2  # of each class
EPOCHS = 10
BATCH = 64
LR = 2e-3
# One thread: on this shared 2-core machine (load average ~9) a training step of batch 64 took
# 1.1 s wall / 0.3 s CPU with one thread and 9-22 s wall with two (threads spin-waiting for a
# core). Results are reproducible for a given thread count; the record states it.
THREADS = 1


def digit_pictures(images: np.ndarray) -> np.ndarray:
    """scikit-learn's (N, 8, 8) digits, ink 0..16, -> uint8 RGB pictures (N, 32, 32, 3)."""
    grey = np.clip(np.round(np.asarray(images, np.float64) * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    big = grey.repeat(UPSCALE, axis=1).repeat(UPSCALE, axis=2)
    return np.ascontiguousarray(np.repeat(big[..., None], 3, axis=3))


def split(labels: np.ndarray, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Stratified: per class, a seeded permutation; its first 20 % are held out."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        n = round(HELD_OUT * len(idx))
        held.append(idx[:n])
        train.append(idx[n:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def load() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return np.asarray(digits.images), np.asarray(digits.target, dtype=np.int64)


def preprocess(pictures: np.ndarray) -> np.ndarray:
    from inception_export.full.preprocess import preprocess_image
    from inception_export.registry import get_spec

    spec = get_spec(MODEL)
    return np.stack([preprocess_image(p, spec.preprocessing, SIZE) for p in pictures])


def train(
    seed: int = SEED, epochs: int = EPOCHS, threads: int = THREADS
) -> tuple[dict[str, object], dict[str, object]]:
    """The trained state dict (float16 floats) and the record of how it was made."""
    import torch
    from torch import nn

    from inception_export.full.models import builder
    from inception_export.registry import get_spec

    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    images, labels = load()
    train_idx, held_idx = split(labels, seed)
    x = torch.from_numpy(preprocess(digit_pictures(images)))
    y = torch.from_numpy(labels)
    spec = get_spec(MODEL)
    spec.check_size(SIZE)
    net = builder(spec.name)(num_classes=10, transform_input=False)
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=1e-4)
    steps = epochs * -(-len(train_idx) // BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    tr = torch.from_numpy(train_idx)
    for _epoch in range(epochs):
        net.train()
        order = tr[torch.randperm(len(tr), generator=gen)]
        for start in range(0, len(order), BATCH):
            batch = order[start : start + BATCH]
            if len(batch) < 2:  # BatchNorm needs two samples in training mode
                continue
            opt.zero_grad()
            loss = loss_fn(net(x[batch]), y[batch])
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    state = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in net.state_dict().items()}
    # Accuracy of the weights as stored (float16, loaded back as float32), not of the
    # float32 weights that existed only in memory.
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    with torch.no_grad():
        pred = torch.cat([net(x[i : i + 128]) for i in range(0, len(x), 128)]).argmax(1).numpy()
    seconds = time.perf_counter() - t0
    record: dict[str, object] = {
        "command": "python tools/train_digits.py",
        "model": MODEL,
        "num_classes": 10,
        "input_size": SIZE,
        "dataset": "sklearn.datasets.load_digits (1,797 labelled 8x8 digits, ink 0..16)",
        "pictures": f"ink*255/16 rounded to uint8, each pixel a {UPSCALE}x{UPSCALE} block, grey->RGB "
        f"({8 * UPSCALE}x{8 * UPSCALE}); then the model's preprocessing recipe at {SIZE}px",
        "seed": seed,
        "split": f"stratified, per class a numpy default_rng({seed}) permutation, first "
        f"{int(HELD_OUT * 100)} % held out",
        "train_count": len(train_idx),
        "held_out_count": len(held_idx),
        "held_out_indices": held_idx.tolist(),
        "training": {
            "optimizer": "AdamW",
            "max_lr": LR,
            "weight_decay": 1e-4,
            "schedule": "OneCycleLR",
            "epochs": epochs,
            "batch": BATCH,
            "threads": threads,
            "deterministic": True,
        },
        "stored_dtype": "float16",
        "accuracy_fp32": {
            "train_top1": round(float((pred[train_idx] == labels[train_idx]).mean()), 6),
            "held_out_top1": round(float((pred[held_idx] == labels[held_idx]).mean()), 6),
        },
        "train_seconds": round(seconds, 1),
        "torch": torch.__version__,
    }
    return state, record


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--threads", type=int, default=THREADS)
    ap.add_argument("--check", action="store_true", help="retrain and compare with the stored weights")
    args = ap.parse_args(argv)
    from safetensors.torch import save

    state, record = train(epochs=args.epochs, threads=args.threads)
    blob = save(state)  # type: ignore[arg-type]
    digest = hashlib.sha256(blob).hexdigest()
    if args.check:
        stored = hashlib.sha256(WEIGHTS.read_bytes()).hexdigest()
        print(f"retrained sha256 {digest}\nstored    sha256 {stored}")
        print(f"{record['train_seconds']} s wall, {time.process_time():.0f} s CPU; {record['accuracy_fp32']}")
        return 0 if digest == stored else 1
    record["weights"] = {"file": WEIGHTS.name, "bytes": len(blob), "sha256": digest}
    WEIGHTS.write_bytes(blob)
    RECORD.write_text(json.dumps(record, indent=1) + "\n")
    acc = record["accuracy_fp32"]
    print(f"wrote {WEIGHTS} ({len(blob):,} bytes, sha256 {digest}) in {record['train_seconds']} s; {acc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
