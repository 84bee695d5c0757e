#!/usr/bin/env bash
# End-to-end image feature extraction on one GPU (issue 4 target: >= 2,000 images/s on one H200
# with 16 CPU cores): generates 10k product-like JPEGs, then runs the pipeline's own
# extract_features with open_clip ViT-B-32 (random weights, bf16) from those files to Parquet.
#
#   bash bench/features_gpu.sh            # from the repository root, with .venv built
#
# Env: N (images, 10000), WIDTH x HEIGHT (512 x 768), BATCH (256), WORKERS (cores - 1), DEVICE (cuda),
#      SCRATCH (a temp dir), OUT (copy the JSON result there when set), PYTHON (.venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
N=${N:-10000}
WIDTH=${WIDTH:-512}
HEIGHT=${HEIGHT:-768}
BATCH=${BATCH:-256}
WORKERS=${WORKERS:-$(( $(nproc) - 1 ))}
SCRATCH=${SCRATCH:-$(mktemp -d)}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

echo "generating $N JPEGs (${WIDTH}x${HEIGHT}) in $SCRATCH/images"
"$PYTHON" - "$SCRATCH/images" "$N" "$WIDTH" "$HEIGHT" <<'PY'
import os
import sys
from multiprocessing import Pool

import numpy as np
from PIL import Image

folder, n, width, height = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
os.makedirs(folder, exist_ok=True)


def make(i: int) -> None:
    rng = np.random.default_rng(i)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(40, 220, 3)
    stripes = (np.sin(x / rng.uniform(4, 40) + y / rng.uniform(8, 80)) > 0)[..., None] * rng.uniform(-60, 60, 3)
    noise = rng.normal(0, 8, (height, width, 3))
    pixels = np.clip(base + stripes + noise, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(os.path.join(folder, f"{i:06d}.jpg"), quality=90)


with Pool(os.cpu_count()) as pool:
    pool.map(make, range(n), chunksize=64)
PY

nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
"$PYTHON" bench/features_gpu.py --images "$SCRATCH/images" --work "$SCRATCH/work" --batch "$BATCH" ${DEVICE:+--device "$DEVICE"} \
    --workers "$WORKERS" | tee "$SCRATCH/features_gpu.json"
if [ -n "${OUT:-}" ]; then cp "$SCRATCH/features_gpu.json" "$OUT/"; fi
