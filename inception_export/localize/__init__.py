"""Where an artifact drifts from eager PyTorch (``localize``), and ``--keep-fp32``."""

from .core import LayerError, LocalizeReport, localize

__all__ = ["LayerError", "LocalizeReport", "localize"]
