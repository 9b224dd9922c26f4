"""The full role: everything that needs PyTorch (``errors.FULL_INSTALL`` says how to install it).

Models, checkpoints, synthetic weights, the exporters, the eager reference, the torch
runners, localize, bench, the DeepStream exporter and its gate, and release orchestration.
Nothing outside this folder imports it (or torch) at module level; the few function-level
seams into it are named in ``tests/test_import_contract.py``. The device role (the golden
gate, TensorRT engines, Triton packages) lives outside it and runs where torch is absent.
"""
