"""Training throughput at the paper's configuration: sequences/s for a full step, peak RSS, MFU.

A full step = batch assembly (gather histories and targets from contiguous tensors,
sample negatives) + forward + backward + optimizer step. Run by hand, e.g.

    .venv/bin/python -m bench.train_throughput --precision fp32
    .venv/bin/python -m bench.train_throughput --precision bf16 --profile
"""

from __future__ import annotations

import argparse
import resource
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from mtstrec.config import ModelConfig, TrainConfig
from mtstrec.data.item_features import ItemFeatureStore, ModalityTable
from mtstrec.model import MTSTRec
from mtstrec.training.loop import train_step
from mtstrec.training.negatives import catalog_negatives

PEAK_GFLOPS = {"fp32": 175.0, "bf16": 380.0}  # this CPU's measured 2-thread matmul peak


def synthetic_store(items: int, text_dim: int, views: int, style_dim: int, seed: int) -> ItemFeatureStore:
    gen = torch.Generator().manual_seed(seed)
    present = torch.ones(items + 1, dtype=torch.bool)
    return ItemFeatureStore(items, {
        "style": ModalityTable("vector", torch.randn(items + 1, style_dim, generator=gen), present, "bench", {}),
        "text": ModalityTable("vector", torch.randn(items + 1, text_dim, generator=gen), present, "bench", {}),
        # The views share one random table (expanded, not copied) to keep a 100k-item catalog in memory;
        # gathering a batch still copies real (B, K, D) tensors, so the compute is unchanged.
        "prompt": ModalityTable("views", torch.randn(items + 1, 1, text_dim, generator=gen).expand(-1, views, -1),
                                present, "bench", {}),
        "price": ModalityTable("scalar", torch.rand(items + 1, 1, generator=gen), present, "bench", {}),
    })


def synthetic_examples(count: int, items: int, max_len: int, max_targets: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    histories = torch.randint(1, items + 1, (count, max_len), generator=gen)
    lengths = torch.randint(3, max_len + 1, (count,), generator=gen)
    histories[torch.arange(max_len)[None, :] < (max_len - lengths)[:, None]] = 0  # left padding
    targets = torch.randint(1, items + 1, (count, max_targets), generator=gen)
    n_targets = torch.randint(1, 4, (count,), generator=gen)  # most H&M target days hold 1-3 items
    targets[torch.arange(max_targets)[None, :] >= n_targets[:, None]] = 0
    return histories, targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--items", type=int, default=20000, help="catalog size")
    parser.add_argument("--steps", type=int, default=8, help="timed steps (after 2 warm-up steps)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="print where one step's time goes")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model_cfg = ModelConfig(modalities=["id", "style", "text", "prompt", "price"])
    train_cfg = TrainConfig()  # batch 64, 100 negatives, paper optimizer settings
    store = synthetic_store(args.items, text_dim=4096, views=5, style_dim=512, seed=0)
    model = MTSTRec(model_cfg, args.items, store.shapes())
    optimizer = torch.optim.Adam(model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay, fused=True)
    histories, targets = synthetic_examples(train_cfg.batch_size * (args.steps + 2), args.items,
                                            model_cfg.max_len, 50, seed=1)
    generator = torch.Generator().manual_seed(2)
    model.train()

    def step(i: int) -> None:
        rows = torch.arange(i * train_cfg.batch_size, (i + 1) * train_cfg.batch_size)
        batch_targets = targets[rows]
        negatives, negative_mask = catalog_negatives(batch_targets, args.items, train_cfg.negatives, generator)
        optimizer.zero_grad(set_to_none=True)
        train_step(model, histories[rows], batch_targets, negatives, negative_mask, store, train_cfg, args.precision)
        optimizer.step()

    with FlopCounterMode(display=False) as counter:
        step(0)
    flop_per_sequence = counter.get_total_flops() / train_cfg.batch_size
    step(1)
    started = time.perf_counter()
    for i in range(2, args.steps + 2):
        step(i)
    seconds = time.perf_counter() - started
    sequences_per_s = args.steps * train_cfg.batch_size / seconds
    achieved = flop_per_sequence * sequences_per_s / 1e9
    peak_rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    params = sum(p.numel() for p in model.parameters())
    print(f"precision {args.precision}, threads {args.threads}, items {args.items:,}, params {params:,}")
    print(f"{sequences_per_s:.2f} sequences/s ({seconds / args.steps:.2f} s/step of {train_cfg.batch_size})")
    print(f"{flop_per_sequence / 1e9:.2f} GFLOP/sequence (forward+backward), {achieved:.1f} GFLOP/s, "
          f"MFU {100 * achieved / PEAK_GFLOPS[args.precision]:.1f}% of {PEAK_GFLOPS[args.precision]:.0f} GFLOP/s")
    print(f"peak RSS {peak_rss_gb:.2f} GB")
    if args.profile:
        from torch.profiler import profile

        with profile() as prof:
            step(2)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
