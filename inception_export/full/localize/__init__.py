"""Where an artifact drifts from eager PyTorch (``localize``): the diagnostic only.

What a layer is, which ONNX tensor is its output and the ``--keep-fp32`` planning are the
exporter's (``export/layers.py``, ``export/onnx_map.py``, ``export/keep_fp32.py``); this
package reads what the exporter stored and imports from ``export/``, never the reverse.
"""

from .core import LayerError, LocalizeReport, localize

__all__ = ["LayerError", "LocalizeReport", "localize"]
