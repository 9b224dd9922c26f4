"""Exception hierarchy; the CLI maps each class to one stderr line and an exit code."""

from __future__ import annotations

# What to install where a command needs the full role (torch and the exporters): no package
# index has inception-export, so the hint works from a clone. Every such message quotes this.
FULL_INSTALL = (
    "install the full role: PyTorch for your platform first, then `pip install '.[full]'` "
    "in a clone of inception-export (see README, Install)"
)


class InceptionExportError(Exception):
    """Base class: a problem the user can act on, reported without a traceback."""

    exit_code = 2


class UsageError(InceptionExportError):
    """Bad arguments or input (unknown model, missing file, size too small...): exit 2."""


class WeightsError(UsageError):
    """A checkpoint that cannot be read or does not fit the architecture."""


class ArtifactError(UsageError):
    """An artifact that is missing, corrupt, or for another model."""


class ArtifactRunFailure(ArtifactError):
    """An artifact that loads but fails when run (a node's shapes or scales do not fit): exit 2
    where it is the command's one subject, a failed check where a gate judges several."""

    def __init__(self, message: str, node: str = "") -> None:
        super().__init__(message)
        self.node = node


class BackendUnavailable(UsageError):
    """An optional backend (TensorRT, a GPU) is not installed or not present."""


class ResourceError(InceptionExportError):
    """The machine, not the input, fell short (memory, threads): exit 2, named as such."""


class GateFailure(InceptionExportError):
    """An artifact failed a parity or precision check: exit 1."""

    exit_code = 1
