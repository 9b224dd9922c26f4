"""The ONNX exporter's own imports, loaded in a thread while the caller computes something else.

``torch.onnx.export(dynamo=True)`` imports about 1,600 modules on its first call (torch.export,
dynamo, functorch, sympy, networkx, onnxscript, onnx_ir): about 2 s of one core on the 2-core
development machine, with the other core idle. ``release`` computes the eager reference (torch
kernels, which release the GIL) meanwhile, so those seconds overlap instead of adding up.

Only imports run in the thread, never torch operations: tracing patches ``torch.nn.Module.__call__``
process-wide, so an eager forward pass in another thread during an export would be traced.
A module that fails to import here is left alone: the exporter's own import raises the real error.
"""

from __future__ import annotations

import importlib
import threading

# Roots whose imports pull in the rest (measured with a sys.modules diff around one export).
EXPORTER_MODULES = (
    "torch.onnx._internal.exporter._compat",
    "torch.onnx._internal.exporter._core",
    "torch.onnx._internal.exporter._decomp",
    "torch.onnx._internal.exporter._registration",
    "torch.export._trace",
    "torch._dynamo",
    "torch._functorch.aot_autograd",
    "torch._inductor.decomposition",
    "torch.fx.experimental.symbolic_shapes",
    "onnxscript",
    "onnxscript.optimizer",
    "onnx_ir",
    "onnx.reference",
    "onnxscript.function_libs.torch_lib.ops",
    "onnxscript.rewriter.onnx_fusions",
    "torch.onnx._internal.exporter._torchlib.ops",
    "torch._export.passes.replace_set_grad_with_hop_pass",
    "torch._export.passes.replace_autocast_with_hop_pass",
    "torch.fx.experimental.validator",
    "torch._inductor.fx_passes.dedupe_symint_uses",
    "sympy.combinatorics",
    "inception_export.export.fp16_graph",
)


class Prefetch:
    """Imports ``modules`` in a daemon thread; :meth:`wait` before the work that needs them."""

    def __init__(self, modules: tuple[str, ...] = EXPORTER_MODULES) -> None:
        self._modules = modules
        self._thread = threading.Thread(target=self._run, name="exporter-imports", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for name in self._modules:
            try:
                importlib.import_module(name)
            except Exception:  # the exporter's own import reports it
                return

    def wait(self) -> None:
        self._thread.join()
