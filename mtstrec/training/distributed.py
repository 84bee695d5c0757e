"""Data-parallel training under torchrun (DDP): one process per device, set up from the environment.

`torchrun --nproc_per_node=N -m mtstrec.cli train ...` sets WORLD_SIZE, RANK and LOCAL_RANK;
without them everything here is a single-process no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from mtstrec.training.device import resolve_device


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def broadcast(self, value: float, device: torch.device) -> float:
        """Rank 0's value on every rank (`device` is this process's: nccl needs a CUDA tensor)."""
        if not self.enabled:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=device)
        dist.broadcast(tensor, src=0)
        return float(tensor.item())


def from_environment() -> Distributed:
    """The process group torchrun describes (joined once), or a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Distributed()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return Distributed(dist.get_rank(), world_size)


def process_device(name: str, ctx: Distributed) -> torch.device:
    """The configured device; under DDP on CUDA, this process's own GPU (LOCAL_RANK)."""
    device = resolve_device(name)
    if ctx.enabled and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return device
