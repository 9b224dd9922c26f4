#!/usr/bin/env bash
# The GPU checks, as one prepared script for a lent CUDA machine (torch with CUDA, no
# TensorRT; its own python3 with onnx/onnxruntime/typer/rich/pytest, nothing installed by us).
# Writes into $OUT (default ./gpu-out), at most 8 files: environment and exit codes, FP16/FP32
# numerics of every model, `bench --device cuda` of v3, `parity --device cuda` on TorchScript
# and ONNX artifacts, and the GPU-marked tests.
#   OUT=/tmp/gpu bash benchmarks/gpu_check.sh
set -uo pipefail
OUT="${OUT:-gpu-out}"; mkdir -p "$OUT"
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
IE="python3 -m inception_export"
LOG="$OUT/env.txt"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
  python3 -c "import torch, onnxruntime as o, onnx; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'onnx', onnx.__version__, 'onnxruntime', o.__version__, o.get_available_providers())"
  nproc; uptime
} > "$LOG" 2>&1
python3 -m pytest -q -p no:cacheprovider tests/test_gpu_numerics.py tests/test_tensorrt_cuda.py > "$OUT/pytest.log" 2>&1
echo "pytest rc=$?" >> "$LOG"
T=$(mktemp -d)
{
  $IE torchscript --model v3 -o "$T/v3.pt"
  $IE onnx --model v3 -o "$T/v3.onnx"
  for a in v3.pt v3.onnx; do
    echo "== parity --device cuda $a"
    $IE parity --model v3 "$T/$a" --device cuda --json
    echo "== rc=$?"
  done
} > "$OUT/parity.log" 2>&1
$IE bench --model v3 --device cuda --backends torch,torchscript,cudagraph \
  --precision fp32,fp16 --batch 1,8,64 --json --plot "$OUT/bench-v3-cuda.png" \
  > "$OUT/bench-v3-cuda.json" 2>> "$LOG"
echo "bench rc=$?" >> "$LOG"
python3 benchmarks/gpu_numerics.py --json "$OUT/gpu-numerics.json" > "$OUT/gpu-numerics.md" 2>> "$LOG"
echo "numerics rc=$?" >> "$LOG"
