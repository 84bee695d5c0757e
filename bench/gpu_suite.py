"""The model half of the GPU suite (bench/gpu_suite.sh): training throughput and `recommend` latency.

Training at the paper's configuration in bf16, torch.compile off and on, with MFU against the GPU's
bf16 dense peak from its spec sheet (a measured matmul peak for a GPU not listed, and on the CPU);
then `recommend` latency over a 100,000-item catalog. `--smoke` shrinks every size so that the
same code runs on a CPU in a minute or two (tests/bench/test_gpu_suite.py runs it that way).
"""

from __future__ import annotations

import argparse
import json
import os

import torch

from bench import recommend_latency, train_throughput

# bf16 dense tensor-core peak, GFLOP/s (NVIDIA spec sheets, SXM parts, without sparsity).
SPEC_BF16_DENSE_GFLOPS = {"H200": 989_000.0, "H100": 989_000.0, "A100": 312_000.0}


def spec_peak(device: torch.device) -> float:
    """The spec-sheet bf16 peak of this GPU; 0 (= measure one) when unknown or on a CPU."""
    if device.type != "cuda":
        return 0.0
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in SPEC_BF16_DENSE_GFLOPS.items() if key in name), 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check the suite on a CPU")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", required=True, help="JSON file to write")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
    if args.smoke:
        train_size = {"items": 300, "steps": 1, "text_dim": 64, "d_model": 32, "batch_size": 8, "blocks": 1,
                      "fusion_layers": 1}
        recommend_size = {"items": 500, "calls": 5, "text_dim": 64, "d_model": 32, "blocks": 1}
    else:
        train_size = {"items": 20000, "steps": 20}
        recommend_size = {"items": 100_000, "calls": 200}
    peak = spec_peak(device)
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "smoke": args.smoke,
        "train_bf16": {
            mode: train_throughput.measure("bf16", mode, device=args.device, peak_gflops=peak, **train_size)
            for mode in ("off", "on")
        },
        "recommend": recommend_latency.measure(device=args.device, **recommend_size),
    }
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
