"""Lever check: two modality stacks of equal shape as one batched call (torch.func) vs one after another.

The paper's text and prompt encoders have the same shape (d 512, 8 heads, FFN 1024); this times one
block of each, forward + backward at batch 64 x 21 positions, run (a) as two modules in turn and
(b) as one `vmap` over their stacked parameters (stacked every step, as training would need).
Run by hand:

    .venv/bin/python -m bench.stacked_modalities --threads 2
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.func import functional_call, stack_module_state, vmap

from mtstrec.fusion import self_attention_mask
from mtstrec.modules import TransformerBlock


def best_ms(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return 1000 * best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    blocks = [TransformerBlock(512, 8, 1024, 0.0, 0.0) for _ in range(2)]
    xs = torch.randn(2, 64, 21, 512, requires_grad=True)  # (modalities, B, S, d)
    mask = self_attention_mask(torch.rand(64, 21) > 0.2)  # (B, 1, 1, S)

    def one_after_another() -> None:
        out = torch.stack([block(xs[i], mask) for i, block in enumerate(blocks)])
        out.sum().backward()

    params, buffers = stack_module_state(blocks)  # leaves, as stacked parameters would be

    def batched() -> None:
        def call(p, b, x):
            return functional_call(blocks[0], (p, b), (x, mask))

        out = vmap(call)(params, buffers, xs)
        out.sum().backward()

    plain = best_ms(one_after_another, args.repeats)
    stacked = best_ms(batched, args.repeats)
    print(f"one after another {plain:.1f} ms, one vmap call {stacked:.1f} ms (forward + backward, best of "
          f"{args.repeats}, {args.threads} threads)")


if __name__ == "__main__":
    main()
