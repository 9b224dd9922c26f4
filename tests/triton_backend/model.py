"""A Python-based Triton backend named ``onnxruntime``: the real Triton core (from the
``nvidia-pytriton`` wheel) loads, validates, batches and serves the tool's
``onnxruntime_onnx`` models with it where Triton's C++ onnxruntime backend is not installed.

It does what Triton's onnxruntime_backend does with a model (``src/onnxruntime.cc``): the
session's graph optimization level from ``optimization { graph { level } }`` (-1 basic,
1 extended, 2 disable all, anything else or none: all), and the requests Triton's dynamic
batcher hands over in one call run as one batch. ``tests/triton_server.py`` copies it into the
server's backend directory with ``site-paths.txt`` beside it: the stub does not inherit
PYTHONPATH and is built for numpy 1.x, so the paths to numpy 1.26 and onnxruntime are read here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
for _entry in reversed((_HERE / "site-paths.txt").read_text(encoding="utf-8").splitlines()):
    if _entry:
        sys.path.insert(0, _entry)

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402

_LEVELS = {
    -1: ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    1: ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    2: ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
}


def graph_level(config: dict[str, Any]) -> Any:
    level = int(((config.get("optimization") or {}).get("graph") or {}).get("level", 0))
    return _LEVELS.get(level, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        options = ort.SessionOptions()
        options.graph_optimization_level = graph_level(config)
        options.intra_op_num_threads = 1
        name = config.get("default_model_filename") or "model.onnx"
        path = Path(args["model_repository"]) / args["model_version"] / name
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i["name"] for i in config["input"]]
        self.outputs = [o["name"] for o in config["output"]]
        self.batching = int(config.get("max_batch_size", 0)) > 0

    def execute(self, requests: list[Any]) -> list[Any]:
        feeds = {
            name: [pb_utils.get_input_tensor_by_name(r, name).as_numpy() for r in requests]
            for name in self.inputs
        }
        if self.batching:  # one run over every request, as onnxruntime_backend does
            sizes = [len(x) for x in feeds[self.inputs[0]]]
            outs = self.session.run(self.outputs, {k: np.concatenate(v) for k, v in feeds.items()})
            splits = np.cumsum(sizes)[:-1]
            per_request = list(zip(*(np.split(y, splits) for y in outs), strict=True))
        else:
            per_request = [
                tuple(self.session.run(self.outputs, {k: v[i] for k, v in feeds.items()}))
                for i in range(len(requests))
            ]
        return [
            pb_utils.InferenceResponse(
                [pb_utils.Tensor(n, np.ascontiguousarray(y)) for n, y in zip(self.outputs, ys, strict=True)]
            )
            for ys in per_request
        ]
