"""Benchmarking: interleaved timing, the backend x precision x batch matrix, GEMM rate, charts."""

from .timing import Stats, interleaved_schedule, summarize

__all__ = ["Stats", "interleaved_schedule", "summarize"]
