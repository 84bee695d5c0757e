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


def matmul_peak_gflops(precision: str, device: torch.device, budget_s: float = 2.0) -> float:
    """Best GFLOP/s over square matmuls in `precision` ("fp32" or "bf16").

    The size doubles from 256 while one product takes under 50 ms (up to 2048 on a CPU, 8192 on a
    GPU), then products of the last size are timed for `budget_s`: a CPU without native bf16
    matmul (0.2 GFLOP/s on an AVX2-only EPYC) is measured in seconds, not hours.
    """
    largest = 8192 if device.type == "cuda" else 2048
    best, n = 0.0, 256
    while True:
        a = torch.randn(n, n, device=device).to(DTYPES[precision])
        b = torch.randn(n, n, device=device).to(DTYPES[precision])
        a @ b  # warm-up: thread pool, packing buffers, kernel selection
        seconds = _time(a, b, device)
        best = max(best, 2 * n**3 / seconds / 1e9)
        if seconds > 0.05 or n >= largest:
            break
        n *= 2
    deadline = time.perf_counter() + budget_s
    while time.perf_counter() < deadline:
        best = max(best, 2 * n**3 / _time(a, b, device) / 1e9)
    return best


def _time(a: torch.Tensor, b: torch.Tensor, device: torch.device) -> float:
    _sync(device)
    started = time.perf_counter()
    a @ b
    _sync(device)
    return time.perf_counter() - started


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
