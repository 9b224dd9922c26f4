"""Reading users' checkpoints safely and fitting them to a model.

Only tensor containers are accepted: ``.safetensors`` through safetensors, everything
else through ``torch.load(weights_only=True)``, which refuses arbitrary pickles.
"""

from __future__ import annotations

import argparse
import pickle
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import WeightsError
from ..registry import ModelSpec
from ..text import clip, describe_kind, first_line

# Training scripts wrap the weights in one of these keys (timm, torchvision references,
# Lightning-style trainers).
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "module")


@dataclass
class LoadReport:
    path: str
    sha256: str
    dropped_aux: list[str] = field(default_factory=list)
    num_classes: int = 1000


def _is_safetensors(head: bytes, size: int) -> bool:
    """safetensors: an 8-byte little-endian header length, then that many bytes of JSON."""
    if len(head) < 9:
        return False
    n = int.from_bytes(head[:8], "little")
    return 2 <= n <= size - 8 and head[8:9] == b"{"


def _is_torchscript(path: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            return any(
                n.endswith("/constants.pkl") or n.endswith("/code/__torch__.py") for n in zf.namelist()
            )
    except (OSError, zipfile.BadZipFile):
        return False


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a flat ``{key: tensor}`` mapping from a checkpoint file.

    The reader is chosen by the file's content, not its name: a safetensors file named
    ``.pth`` loads, and a pickle named ``.safetensors`` is still refused unless
    ``torch.load(weights_only=True)`` accepts it.
    """
    p = Path(path)
    if p.is_dir():
        raise WeightsError(f"--weights {p} is a directory; give a checkpoint file (.pth, .pt, .safetensors)")
    if not p.is_file():
        if p.exists():  # a FIFO or /dev/zero exists; "not found" would send the user looking
            raise WeightsError(f"--weights {p} is {describe_kind(p)}, not a checkpoint file")
        raise WeightsError(f"weights file not found: {p}")
    with p.open("rb") as fh:
        head = fh.read(16)
    size = p.stat().st_size
    if _is_safetensors(head, size):
        try:
            from safetensors.torch import load_file

            raw: Any = load_file(str(p), device="cpu")
        except Exception as exc:  # safetensors raises its own SafetensorError
            raise WeightsError(
                f"{p}: corrupt safetensors file ({first_line(str(exc)) or type(exc).__name__})"
            ) from None
        return unwrap_state_dict(raw, p)
    # torch.save writes a zip archive (or, legacy, a pickle starting with PROTO); anything
    # else is not worth handing to an unpickler.
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
        raise WeightsError(f"{p}: corrupt or not a PyTorch checkpoint (unrecognised file header)")
    if head.startswith(b"PK") and _is_torchscript(p):
        raise WeightsError(
            f"{p}: a TorchScript archive (an exported model), not a checkpoint; "
            "give the state_dict it came from"
        )
    try:
        # timm's train.py and torchvision's reference scripts save their argparse Namespace
        # beside the weights; it is a plain attribute bag (its values still go through the
        # weights_only unpickler), so it is allowed.
        with torch.serialization.safe_globals([argparse.Namespace]):
            raw = torch.load(str(p), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "weights only" not in text.lower() and "weights_only" not in text:
            raise WeightsError(f"{p}: corrupt or not a PyTorch checkpoint ({_last_line(text)})") from None
        found = re.search(r"GLOBAL ([\w.]+)", text)
        what = f" (it needs {found.group(1)})" if found else ""
        raise WeightsError(
            f"{p}: refused by torch.load(weights_only=True): it pickles Python objects other than "
            f"tensors{what}; re-save it as a plain state_dict or .safetensors"
        ) from None
    except Exception as exc:  # torch and zipfile each raise their own types
        raise WeightsError(
            f"{p}: corrupt or not a checkpoint ({_last_line(str(exc)) or type(exc).__name__})"
        ) from None
    return unwrap_state_dict(raw, p)


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return clip(lines[-1], 160) if lines else ""


def unwrap_state_dict(raw: Any, path: Path) -> dict[str, torch.Tensor]:
    for _ in range(3):
        if isinstance(raw, Mapping):
            inner = next((raw[k] for k in _WRAPPER_KEYS if isinstance(raw.get(k), Mapping)), None)
            if inner is not None and not any(isinstance(v, torch.Tensor) for v in raw.values()):
                raw = inner
                continue
        break
    if not isinstance(raw, Mapping) or not raw:
        raise WeightsError(f"{path}: no state_dict found (expected a mapping of tensor names to tensors)")
    tensors = {str(k): v for k, v in raw.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise WeightsError(f"{path}: no tensors found in the checkpoint")
    if all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module.") :]: v for k, v in tensors.items()}
    return tensors


def _names(keys: list[str], limit: int = 3) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def infer_num_classes(spec: ModelSpec, state: Mapping[str, torch.Tensor], path: Path) -> int:
    weight = state.get(spec.classifier_key)
    if weight is not None and weight.dim() != 2:
        raise WeightsError(
            f"{path}: classifier {spec.classifier_key!r} has shape {tuple(weight.shape)}; "
            f"{spec.name}'s is 2-D (classes, features)"
        )
    if weight is None:
        raise WeightsError(
            f"{path}: not a checkpoint for {spec.name}: classifier {spec.classifier_key!r} is missing"
            + (f"; it has e.g. {_names(sorted(state))}" if state else "")
        )
    return int(weight.shape[0])


def fit_state_dict(
    spec: ModelSpec, model: nn.Module, state: dict[str, torch.Tensor], path: Path
) -> list[str]:
    """Check ``state`` against ``model`` key by key, load it, return dropped aux keys.

    In phases, each refusing with what it found: the aux heads (training only) are dropped;
    the keys and shapes must be the model's (else it is another model's checkpoint); the
    values must be finite floats; other float widths are converted to the model's, with a
    warning; then the model loads it strictly.
    """
    aux = _drop_aux(spec, state)
    expected = model.state_dict()
    _check_layout(spec, expected, state, path)
    _check_values(expected, state, path)
    _warn_conversions(expected, state, path)
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)
    return aux


def _drop_aux(spec: ModelSpec, state: dict[str, torch.Tensor]) -> list[str]:
    aux = [k for k in state if spec.aux_prefixes and k.startswith(spec.aux_prefixes)]
    for k in aux:
        del state[k]
    return aux


def _check_layout(
    spec: ModelSpec, expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], path: Path
) -> None:
    """WeightsError naming the missing, unexpected and mis-shaped keys, if any."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshaped = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or misshaped:
        parts = []
        if missing:
            parts.append(f"missing {_names(missing)}")
        if unexpected:
            parts.append(f"unexpected {_names(unexpected)}")
        if misshaped:
            parts.append(f"mis-shaped {_names(misshaped, 2)}")
        raise WeightsError(
            f"{path}: not a checkpoint for {spec.name} ({spec.layout} layout): " + "; ".join(parts)
        )


def _check_values(
    expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], path: Path
) -> None:
    # Integers or booleans where the model holds floats would load as silent all-zero or
    # all-one weights: refuse them. Other float widths are converted, and said so.
    wrong = [
        f"{k} ({str(v.dtype).replace('torch.', '')})"
        for k, v in state.items()
        if expected[k].is_floating_point() and not v.is_floating_point()
    ]
    if wrong:
        raise WeightsError(
            f"{path}: integer or boolean tensors where float weights belong: {_names(wrong, 2)}; "
            "is this a quantised or non-weight file?"
        )
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise WeightsError(f"{path}: checkpoint has NaN/Inf values in {_names(bad)}")


def _warn_conversions(
    expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], path: Path
) -> None:
    converted = [v for k, v in state.items() if v.is_floating_point() and v.dtype != expected[k].dtype]
    widths = sorted({str(v.dtype).replace("torch.", "") for v in converted})
    if widths:
        warnings.warn(
            f"{path.name}: converted {len(converted)} {'/'.join(widths)} tensors to float32 "
            "(the model computes in float32)",
            stacklevel=4,  # build_model's caller, as when this was fit_state_dict's own warning
        )
