"""Where an artifact drifts from eager PyTorch (``localize``), and ``--keep-fp32``."""
