"""Class names for the label files Triton and DeepStream show next to a prediction.

``imagenet_classes.txt`` is the ImageNet-1k list in class-index order (the names torchvision's
ImageNet weights report), vendored from pytorch/hub at commit
c7895df70c7767403e36f82786d6b611b7984557 (``imagenet_classes.txt``, one name a line). Two
names repeat ("crane", "maillot"): ImageNet has two synsets for each, so the list keeps both.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import UsageError
from ..reading import read_regular
from ..text import control_character, printable

IMAGENET_NUM_CLASSES = 1000
IMAGENET_FILE = "imagenet_classes.txt"

# A label file of 100 000 classes with long names is well under this; anything bigger is
# not a label file, and is refused before it is read.
MAX_LABEL_FILE_BYTES = 16 << 20
# DeepStream's label file separates one output layer's labels with ';' and Triton's
# separates classes by line: a name holding either would shift every class after it.
# "Line" is wider than '\n': Python's str.splitlines (and readers built on it) also breaks at
# \v, \f, \x1c-\x1e, U+0085, U+2028 and U+2029; every other control character would be
# printed raw by the servers that show the name. All are refused.
_FORBIDDEN = {";": "';'", "\n": "a line break", "\r": "a carriage return", "\x00": "a NUL byte"}


def imagenet_names() -> list[str]:
    """The 1000 ImageNet-1k class names, index ``i`` naming logit ``i``."""
    text = resources.files(__package__).joinpath(IMAGENET_FILE).read_text(encoding="utf-8")
    names = text.splitlines()
    if len(names) != IMAGENET_NUM_CLASSES:  # the package data itself is damaged: a bug
        raise RuntimeError(f"{IMAGENET_FILE}: {len(names)} names, expected {IMAGENET_NUM_CLASSES}")
    return names


def check_names(names: list[str], source: str) -> list[str]:
    """``names`` if every one can go into both label formats; else one UsageError line."""
    for i, name in enumerate(names):
        if not name.strip():
            raise UsageError(f"{source}: class {i} has an empty name (line {i + 1})")
        for char, what in _FORBIDDEN.items():
            if char in name:
                raise UsageError(
                    f"{source}: class {i} ('{name}') contains {what}, which label files use as a separator"
                )
        bad = control_character(name)
        if bad is not None:
            # The name itself is escaped where the error is printed (cli/boundary.py).
            raise UsageError(
                f"{source}: class {i} ('{name}') contains the control character {printable(bad)}, "
                "which label files and the servers that show them take for a line break or a command"
            )
    return names


def load_class_names(path: Path) -> list[str]:
    """One class name a line (UTF-8; a final newline and CRLF endings are accepted)."""
    source = f"--class-names {path}"
    try:
        if Path(path).is_dir():
            raise UsageError(f"{source}: is a directory; give a text file with one class name a line")
        data = read_regular(Path(path), MAX_LABEL_FILE_BYTES, "--class-names")
    except FileNotFoundError:
        raise UsageError(f"{source}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{source}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last name; it does not start another
    names = [line[:-1] if line.endswith("\r") else line for line in lines]
    if not names:
        raise UsageError(f"{source}: empty; give one class name a line")
    return check_names(names, source)


def class_names_for(num_classes: int, path: Path | None) -> list[str]:
    """The names of a model's ``num_classes`` outputs: from ``path`` when given, else
    ImageNet-1k's for a 1000-class model; any other count needs ``--class-names``."""
    if path is not None:
        names = load_class_names(path)
        if len(names) != num_classes:
            raise UsageError(
                f"--class-names {path}: {len(names)} names, but the model has {num_classes} classes"
            )
        return names
    if num_classes == IMAGENET_NUM_CLASSES:
        return imagenet_names()
    raise UsageError(
        f"the model has {num_classes} classes, not ImageNet-1k's {IMAGENET_NUM_CLASSES}: "
        "give their names with --class-names FILE (one a line)"
    )


def labels_text(names: list[str]) -> str:
    """Triton's ``label_filename`` format: one name a line, in class order."""
    return "".join(f"{name}\n" for name in names)
