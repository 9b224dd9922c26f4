"""Runners that execute through PyTorch (eager and TorchScript, CUDA graphs)."""
