"""Device and numeric precision: CUDA with bf16 autocast; on the CPU, bf16 only where it is faster here."""

from __future__ import annotations

import contextlib
import functools
import logging
import time

import torch
from torch import nn

log = logging.getLogger(__name__)

# bf16 must beat fp32 by this factor in the probe: a near tie is not worth the rounding.
BF16_MIN_SPEEDUP = 1.1


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"train.device={name!r} but CUDA is not available")
    return device


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on the device, or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def probe_step_seconds(device: torch.device, repeats: int = 5) -> dict[str, float]:
    """Best time of a feed-forward block's forward + backward (the bulk of a training step) in fp32
    and under bf16 autocast. Well under a second: bf16 stops early once it is clearly the slower
    (a CPU without native bf16 matmul runs it at a few hundredths of the fp32 speed)."""
    generator = torch.Generator().manual_seed(0)
    layer = nn.Sequential(nn.Linear(256, 1024), nn.GELU(), nn.Linear(1024, 256)).to(device)
    x = torch.randn(256, 256, generator=generator).to(device).requires_grad_()

    def once(precision: str) -> float:
        started = time.perf_counter()
        with autocast(device, precision):
            y = layer(x)
        y.float().sum().backward()
        return time.perf_counter() - started

    best: dict[str, float] = {}
    for precision in ("fp32", "bf16"):
        once(precision)  # warm-up
        best[precision] = float("inf")
        for _ in range(repeats):
            best[precision] = min(best[precision], once(precision))
            if precision == "bf16" and best["bf16"] > 2 * best["fp32"]:
                break
    return best


def choose_precision(probe: dict[str, float]) -> str:
    return "bf16" if probe["bf16"] * BF16_MIN_SPEEDUP < probe["fp32"] else "fp32"


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto` is bf16 on CUDA; on the CPU, bf16 only if the start-up probe shows it faster (it is slower
    on CPUs without native bf16 matmul, e.g. AVX2-only ones). The learning test holds in both."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16"
    return _cpu_precision()


@functools.cache
def _cpu_precision() -> str:
    """Probed once per process: the baselines of a run train in the main model's precision."""
    probe = probe_step_seconds(torch.device("cpu"))
    chosen = choose_precision(probe)
    log.info("precision auto on the CPU: probe fp32 %.1f ms, bf16 %.1f ms per step -> %s",
             1000 * probe["fp32"], 1000 * probe["bf16"], chosen)
    return chosen
