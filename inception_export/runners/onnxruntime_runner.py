"""onnxruntime runner: CPU provider always, CUDA where the machine really has it.

``get_available_providers()`` lists what the onnxruntime build contains, not what loads: the
x86_64 ``onnxruntime-gpu`` wheel lists ``CUDAExecutionProvider`` on a machine without a GPU
or without CUDA's libraries, and a session asked for it quietly falls back to the CPU (after
printing its own banners, the Python ``EP Error`` one on stdout). So the session's real
providers are checked after creation, and its messages are captured instead of printed.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..bounds import MAX_BATCH
from ..errors import ArtifactError, ArtifactRunFailure, BackendUnavailable, ResourceError
from ..metadata import record_from_props
from ..reading import check_fits_memory
from ..text import clip, first_line
from .base import InputSpec, Runner, RunnerInfo

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}

# What onnxruntime says when the machine, not the model, is the problem: its thread pool could
# not start threads (memory pressure, a thread limit) or an allocation failed.
RESOURCE_MARKERS = ("pthread_create", "Resource temporarily unavailable", "bad_alloc", "Failed to allocate")


def load_error(path: str | Path, exc: BaseException) -> Exception:
    """The error for an InferenceSession that did not start: the artifact's fault, or the machine's."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    for marker in RESOURCE_MARKERS:
        at = text.find(marker)
        if at >= 0:
            # Quote from the failing call on: the useful part sits after ~200 characters of
            # onnxruntime's source locations.
            return ResourceError(
                f"onnxruntime could not start for {path}: the machine is short of memory or threads "
                f"({clip(text[at:])}); free memory or pass fewer --threads, then retry"
            )
    return ArtifactError(f"{path}: onnxruntime cannot load it ({first_line(str(exc)) or type(exc).__name__})")


# "Non-zero status code returned while running Reshape node. Name:'node_Reshape_10' Status
# Message: /onnxruntime_src/.../reshape_helper.h:84 onnxruntime::ReshapeHelper::...(...) size != 0
# && ... was false. The input tensor cannot be reshaped to the requested shape. ..."
_NODE_FAILURE = re.compile(r"running (\S+) node\. Name:'(.*?)' Status Message: (.*)", re.S)


def run_error(path: str | Path, exc: BaseException) -> Exception:
    """The error for a session that loaded but failed in ``run``: a node the graph holds cannot
    compute on this input (a Reshape target, a scale of the wrong shape), so the artifact is at
    fault, named by the node; or the machine ran short (ResourceError)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if any(marker in text for marker in RESOURCE_MARKERS):
        return load_error(path, exc)
    found = _NODE_FAILURE.search(text)
    if found is None:
        return ArtifactRunFailure(f"{path}: onnxruntime cannot run it ({clip(text)})")
    op, node, status = found.groups()
    # The reason follows onnxruntime's failed source assertion ("... was false. The input ...").
    _, sep, reason = status.partition(" was false. ")
    return ArtifactRunFailure(
        f"{path}: onnxruntime cannot run its {op} node '{node}': {clip(reason if sep else status)}", node=node
    )


def run_session(
    session: Any, path: str | Path, outputs: list[str] | None, feed: dict[str, np.ndarray]
) -> list[Any]:
    """``session.run`` with a failing node as one ArtifactRunFailure (run_error) instead of
    onnxruntime's exception and its raw log line (colour codes, the file's node name) on stderr."""
    import onnxruntime as ort

    options = ort.RunOptions()
    options.log_severity_level = 4
    try:
        return list(session.run(outputs, feed, options))
    except MemoryError:
        raise  # the machine's shortage (cli/boundary.py says so), not the artifact's fault
    except Exception as exc:  # onnxruntime raises Fail, InvalidArgument, RuntimeException...
        raise run_error(path, exc) from None


# onnxruntime's WeightBiasQuantization rewrites a float bias beside a QDQ Conv into int32 with
# scale input_scale * weight_scale, computed in the graph's float type: in an INT8 graph whose
# floats are float16 (export/int8.py), bias / scale overflows 65504 for any bias much larger
# than the scales (a bias of 1e4 came out as 0; onnxruntime 1.31.1). TensorRT keeps biases in
# float; so must the CPU check.
INT8_DISABLED_OPTIMIZERS = ["WeightBiasQuantization"]


def disabled_optimizers(precision: str | None) -> list[str]:
    return list(INT8_DISABLED_OPTIMIZERS) if precision == "int8" else []


def _dim_bound(dim: object) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


@contextlib.contextmanager
def _captured_output() -> Iterator[list[str]]:
    """Everything written to stdout/stderr inside the block, Python and C++ alike, into the list.

    onnxruntime prints from Python (``print``) and logs from C++ to the process's file
    descriptors, so both levels are redirected; a command's ``--json`` stdout stays JSON.
    """
    captured: list[str] = []
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved: dict[int, int] = {}
    with tempfile.TemporaryFile(mode="w+b") as sink:
        try:
            for fd in (1, 2):
                try:
                    saved[fd] = os.dup(fd)
                    os.dup2(sink.fileno(), fd)
                except OSError:  # no such descriptor (an embedding host): Python level only
                    saved.pop(fd, None)
            text = open(sink.fileno(), "w", closefd=False, encoding="utf-8", errors="replace")  # noqa: SIM115
            with text, contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
                yield captured
        finally:
            for fd, dup in saved.items():
                os.dup2(dup, fd)
                os.close(dup)
            sink.seek(0)
            captured.append(sink.read().decode("utf-8", errors="replace"))


def _provider_failure(log: str, provider: str) -> str:
    """onnxruntime's own reason for not loading ``provider``, from what it logged (or '')."""
    lines = [ln for ln in log.splitlines() if ln.strip()]
    for key in ("Failed to load library", "Failed to create", "EP Error", provider):
        for line in lines:
            if key in line:
                # "... with error: libcublasLt.so.13: cannot open shared object file: ..."
                _, sep, tail = line.partition("with error: ")
                return clip(tail if sep else line, 160)
    return ""


class OnnxRuntimeRunner(Runner):
    def __init__(
        self,
        path: str | Path,
        device: str = "cpu",
        threads: int | None = None,
        precision: str | None = None,
        spin: bool = True,
    ) -> None:
        import onnxruntime as ort

        check_fits_memory(Path(path), "ONNX")
        if device not in PROVIDERS:
            raise BackendUnavailable(f"onnxruntime runs on cpu or cuda, not {device!r}")
        wanted = PROVIDERS[device]
        available = ort.get_available_providers()
        if wanted not in available:
            raise BackendUnavailable(
                f"onnxruntime {ort.__version__} has no {wanted} here (it has {', '.join(available)}); "
                "install onnxruntime-gpu for --device cuda"
            )
        # Only what is available, the requested one first; CPU stays as onnxruntime's fallback for
        # single nodes the CUDA provider lacks, while the session as a whole must get CUDA.
        providers = [wanted] + ([PROVIDERS["cpu"]] if wanted != PROVIDERS["cpu"] else [])
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        if not spin:
            # Idle workers sleep instead of spinning between runs: the same arithmetic, but a
            # few runs on a shared 2-core machine no longer burn the cores the next one needs
            # (the device gate on v3: ~27 % less CPU time under load).
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        try:
            with _captured_output() as log:
                self.session = ort.InferenceSession(
                    str(path),
                    sess_options=opts,
                    providers=providers,
                    disabled_optimizers=disabled_optimizers(precision),
                )
        except Exception as exc:  # onnxruntime raises several unrelated exception types
            raise load_error(path, exc) from None
        got = list(self.session.get_providers())
        if wanted not in got:
            why = _provider_failure("".join(log), wanted)
            raise BackendUnavailable(
                f"onnxruntime could not use {wanted} for --device {device} (the session got "
                f"{', '.join(got) or 'no provider'}{': ' + why if why else ''}); "
                "check the GPU, its driver and the CUDA/cuDNN libraries onnxruntime-gpu needs, "
                "or use --device cpu"
            )
        self.provider = wanted
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ArtifactError(f"{path}: expected one input, found {len(inputs)}")
        self.input_name = inputs[0].name
        shape = inputs[0].shape
        self.channels_last = inputs[0].type == "tensor(uint8)"
        size_dim = shape[2] if not self.channels_last else shape[1]
        fixed_batch = _dim_bound(shape[0])
        if fixed_batch is not None and fixed_batch > MAX_BATCH:
            # Its every run would ask for that many inputs' memory: refused by name, not as
            # the machine's shortage.
            raise ArtifactError(
                f"{path}: its batch is fixed at {fixed_batch}; the tool runs batches of 1 to {MAX_BATCH}"
            )
        meta = record_from_props(self.session.get_modelmeta().custom_metadata_map, path)
        prec = precision or meta.precision or "fp32"
        self.info = RunnerInfo(
            backend="onnxruntime",
            precision=prec,
            device=device,
            input_size=int(size_dim) if isinstance(size_dim, int) else (meta.input_size or 0),
            min_batch=fixed_batch or 1,
            max_batch=fixed_batch,
            artifact=str(path),
            num_outputs=len(self.session.get_outputs()),
            detail=f"onnxruntime {ort.__version__} on {wanted}",
        )
        # What the graph declares after the batch (a symbolic dimension takes any extent).
        dims = [_dim_bound(d) for d in shape[1:]] if len(shape) == 4 else [None, None, None]
        self.input_spec = InputSpec(
            InputSpec.of(self.channels_last, None).dtype,
            "NHWC" if self.channels_last else "NCHW",
            (dims[0], dims[1], dims[2]),
        )
        self.batch_reason = "its fixed batch dimension" if fixed_batch else ""

    def _infer(self, x: np.ndarray) -> np.ndarray:
        # uint8 NHWC for graphs with embedded preprocessing, float32 NCHW otherwise (checked).
        feed = {self.input_name: np.ascontiguousarray(x)}
        out = run_session(self.session, self.info.artifact or "artifact", None, feed)
        return np.asarray(out[0], dtype=np.float32)
