#!/usr/bin/env bash
# GPU suite for the first lent device (one H200 with 16 cores: under 8 minutes): prints one JSON with
#   - training throughput at the paper's configuration, bf16, torch.compile off and on, MFU against
#     the GPU's bf16 dense peak (bench/gpu_suite.py);
#   - end-to-end image feature extraction on 10,000 generated JPEGs (bench/features_gpu.sh; target
#     >= 2,000 images/s);
#   - `recommend` latency over a 100,000-item catalog.
#
#   bash bench/gpu_suite.sh            # from the repository root, with .venv built
#   bash bench/gpu_suite.sh --smoke    # tiny sizes on the CPU: checks the suite itself
#
# Progress goes to stderr, the JSON to stdout (and to $OUT/gpu_suite.json when OUT is set).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHON=${PYTHON:-.venv/bin/python}
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
SMOKE=""
if [ "${1:-}" = "--smoke" ]; then
    SMOKE="--smoke"
    export N=16 WIDTH=64 HEIGHT=96 BATCH=8 WORKERS=1 DEVICE=cpu
fi
started=$(date +%s)

echo "== training throughput and recommend latency" >&2
"$PYTHON" -m bench.gpu_suite $SMOKE --out "$SCRATCH/model.json" >&2

echo "== image feature extraction" >&2
FEATURES_OUT="$SCRATCH"
SCRATCH="$SCRATCH/features" OUT="$FEATURES_OUT" bash bench/features_gpu.sh >&2

"$PYTHON" - "$SCRATCH/model.json" "$SCRATCH/features_gpu.json" "$(( $(date +%s) - started ))" \
    > "$SCRATCH/gpu_suite.json" <<'PY'
import json
import sys

result = json.load(open(sys.argv[1]))
result["features"] = json.load(open(sys.argv[2]))
result["suite_seconds"] = int(sys.argv[3])
print(json.dumps(result))
PY
cat "$SCRATCH/gpu_suite.json"
if [ -n "${OUT:-}" ]; then cp "$SCRATCH/gpu_suite.json" "$OUT/"; fi
