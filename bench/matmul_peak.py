"""This machine's dense matmul peak, measured now: the denominator of MFU.

The best of several timed square products (fp32, or bf16 inputs) on the current device with the
current thread count. A peak is a maximum, so the best trial is kept: background load only lowers
it, never raises it. Run alone:

    .venv/bin/python -m bench.matmul_peak --threads 2
"""

from __future__ import annotations

import argparse
import json
import time

import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak_gflops(precision: str, device: torch.device, budget_s: float = 2.0, min_trials: int = 3) -> float:
    """Best GFLOP/s over square matmuls in `precision` ("fp32" or "bf16")."""
    sizes = (4096, 8192) if device.type == "cuda" else (1024, 2048)
    best = 0.0
    for n in sizes:
        a = torch.randn(n, n, device=device, dtype=DTYPES[precision])
        b = torch.randn(n, n, device=device, dtype=DTYPES[precision])
        a @ b  # warm-up: thread pool, packing buffers, kernel selection
        _sync(device)
        deadline = time.perf_counter() + budget_s / len(sizes)
        trials = 0
        while trials < min_trials or time.perf_counter() < deadline:
            started = time.perf_counter()
            a @ b
            _sync(device)
            best = max(best, 2 * n**3 / (time.perf_counter() - started) / 1e9)
            trials += 1
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(json.dumps({p: round(matmul_peak_gflops(p, device), 1) for p in DTYPES}))


if __name__ == "__main__":
    main()
