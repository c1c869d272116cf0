#!/usr/bin/env bash
# GPU baseline of the networks in PyTorch, for a GPU host that has PyTorch with CUDA but no
# onnxruntime GPU build (issue 31): the exporter's modules of toklip-l-384 and toklip-s-256 with
# random weights, float16 and bfloat16, batch 1..256; images/s for image -> ids, ids -> embedding,
# image -> ids + embedding and ids -> image, and the fraction of the GPU's dense float16 peak.
# One command, finished within 10 minutes (no new measurement starts after BUDGET_SECONDS):
#
#   bash bench/gpu-baseline.sh         # results: bench/results/gpu-baseline/gpu-baseline.{json,md}
#
# Environment: PY (a python3 whose torch sees the GPU; default python3), OUT (results folder),
# BUDGET_SECONDS (default 480). Further arguments go to bench/python/gpu_baseline.py (--help).
# Needs torch (CUDA build) and numpy; not onnx, not onnxruntime.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/results/gpu-baseline}
PY=${PY:-python3}
"$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else f"torch {torch.__version__} sees no CUDA device")'
mkdir -p "$OUT"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$OUT/nvidia-smi.csv"
fi
TOKLIP_PYTHON=$(command -v "$PY") timeout 600 tools/python bench/python/gpu_baseline.py --device cuda --out "$OUT" \
  --budget-seconds "${BUDGET_SECONDS:-480}" "$@" | tee "$OUT/gpu-baseline.log" | grep -v '^{'
cat "$OUT/gpu-baseline.md"
echo "GPU baseline: $OUT (raw figures in gpu-baseline.json)"
