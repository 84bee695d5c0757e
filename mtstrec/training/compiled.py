"""`train.compile`: the training step through torch.compile, with a clean fallback to eager.

`auto` compiles on CUDA only: on a CPU the compile costs minutes on a few cores, and the compiled step
was slower than the eager one (13.9 against 16.3 sequences/s, docs/benchmarks.md). A compile failure
(no C++ compiler, an unsupported op) logs a warning and the step reruns eagerly, then and for the rest of the run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import torch
from torch import nn

log = logging.getLogger(__name__)


def wants_compile(mode: str, device: torch.device) -> bool:
    if mode not in ("auto", "on", "off"):
        raise ValueError(f"train.compile must be auto, on or off, got {mode!r}")
    return mode == "on" or (mode == "auto" and device.type == "cuda")


class StepModule:
    """The module a training step calls: compiled when asked, the eager one after a compile failure.

    `run(step)` calls `step(module)` (forward and backward); the first compiled call's time, which
    includes compiling the forward and backward graphs, is logged.
    """

    def __init__(self, module: nn.Module, mode: str, device: torch.device) -> None:
        self.eager = module
        self.module: nn.Module = module
        self.compiled = wants_compile(mode, device)
        self.compile_s: float | None = None
        if self.compiled:
            self.module = torch.compile(module)

    def run(self, step: Callable[[nn.Module], torch.Tensor]) -> torch.Tensor:
        if not self.compiled:
            return step(self.eager)
        started = time.perf_counter()
        try:
            loss = step(self.module)
        except Exception as exc:  # a compiler problem: the same step runs eagerly below
            log.warning("torch.compile failed (%s: %s); training eagerly", type(exc).__name__, exc)
            self.compiled, self.module = False, self.eager
            self.eager.zero_grad(set_to_none=True)
            return step(self.eager)
        if self.compile_s is None:
            self.compile_s = time.perf_counter() - started
            log.info("torch.compile: first training step (compiling forward and backward) took %.1f s",
                     self.compile_s)
        return loss
