"""Training throughput at the paper's configuration: sequences/s for a full step, peak RSS, MFU.

A full step = batch assembly (gather histories and targets from contiguous tensors,
sample negatives) + forward + backward + optimizer step, through the training loop's own
`train_step`. MFU is against this machine's matmul peak measured in the same process
(bench/matmul_peak.py, best of a sample before and one after the timed steps) unless
`--peak-gflops` names a spec sheet's; it is given for the mean step and for the median one. Run by hand, e.g.

    .venv/bin/python -m bench.train_throughput --precision fp32
    .venv/bin/python -m bench.train_throughput --precision bf16 --profile
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import statistics
import time
from functools import partial

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from bench.matmul_peak import matmul_peak_gflops
from mtstrec.config import ModelConfig, TrainConfig
from mtstrec.data.item_features import ItemFeatureStore, ModalityTable
from mtstrec.model import MTSTRec
from mtstrec.modules import Dropout
from mtstrec.training.compiled import StepModule
from mtstrec.training.loop import train_step
from mtstrec.training.negatives import catalog_negatives


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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _mark(device: torch.device) -> float | torch.cuda.Event:
    """A point in time on the device: the host clock on the CPU, a recorded event on CUDA (no sync)."""
    if device.type != "cuda":
        return time.perf_counter()
    event = torch.cuda.Event(enable_timing=True)
    event.record()
    return event


def _intervals(marks: list, device: torch.device) -> list[float]:
    """Seconds between consecutive marks (after a sync on CUDA)."""
    if device.type != "cuda":
        return [b - a for a, b in itertools.pairwise(marks)]
    return [a.elapsed_time(b) / 1000 for a, b in itertools.pairwise(marks)]


def measure(precision: str = "fp32", compile_mode: str = "off", items: int = 20000, steps: int = 8,
            device: str = "cpu", text_dim: int = 4096, d_model: int = 512, batch_size: int = 64, blocks: int = 0,
            fusion_layers: int = 3,
            peak_gflops: float = 0.0, profile: bool = False, without: tuple[str, ...] = ()) -> dict:
    """Time `steps` full training steps (after warm-up) and return the figures as a dict.

    `blocks` (0 = the paper's per modality) and `fusion_layers` shrink the model for smoke runs.
    `without` turns speed levers off to measure what each one brings: "fold" standardises features
    in every step instead of once in the stored tables, "dropout" uses torch's own dropout masks.
    """
    torch.manual_seed(0)
    dev = torch.device(device)
    model_cfg = ModelConfig(modalities=["id", "style", "text", "prompt", "price"], d_model=d_model,
                            fusion_layers=fusion_layers)
    for encoder in model_cfg.encoders.values():
        encoder.blocks = blocks or encoder.blocks
        encoder.ffn = min(encoder.ffn, 4 * d_model)
    train_cfg = TrainConfig(batch_size=batch_size)  # 100 negatives, paper optimizer settings
    store = synthetic_store(items, text_dim=text_dim, views=5, style_dim=512, seed=0).to(dev)
    model = MTSTRec(model_cfg, items, store.shapes()).to(dev)
    model.fit_feature_scaling(store, torch.ones(items + 1, dtype=torch.bool))  # every item is a training item
    if "fold" not in without:
        store = model.standardised_store(store)
    if "dropout" in without:
        for module in list(model.modules()):
            for name, child in module.named_children():
                if isinstance(child, Dropout):
                    setattr(module, name, nn.Dropout(child.p))
    optimizer = torch.optim.Adam(model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay, fused=True)
    warmup = 2
    histories, targets = synthetic_examples(batch_size * (steps + warmup + 1), items, model_cfg.max_len, 50, seed=1)
    generator = torch.Generator().manual_seed(2)
    # The peak is sampled before and after the timed steps and the higher kept: on a shared VM one sample
    # can land in a slow spell (182 against 283-304 GFLOP/s in three runs of 2026-12-01) and inflate the MFU.
    peak_samples = [] if peak_gflops else [matmul_peak_gflops(precision, dev)]
    started = time.perf_counter()
    trainable = StepModule(model, compile_mode, dev)
    model.train()

    def step(i: int) -> None:
        rows = torch.arange(i * batch_size, (i + 1) * batch_size)
        batch_targets = targets[rows]
        negatives, negative_mask = catalog_negatives(batch_targets, items, train_cfg.negatives, generator)
        optimizer.zero_grad(set_to_none=True)
        trainable.run(partial(train_step, batch_histories=histories[rows].to(dev), batch_targets=batch_targets.to(dev),
                              negatives=negatives.to(dev), negative_mask=negative_mask.to(dev), store=store,
                              cfg=train_cfg, precision=precision))
        optimizer.step()

    for i in range(warmup):
        step(i)
    _sync(dev)
    warmup_s = time.perf_counter() - started
    marks = [_mark(dev)]
    for i in range(warmup, warmup + steps):
        step(i)
        marks.append(_mark(dev))
    _sync(dev)
    step_seconds = _intervals(marks, dev)
    seconds = sum(step_seconds)
    with FlopCounterMode(display=False) as counter:  # the eager model: compiled code hides its FLOPs
        i = warmup + steps
        rows = torch.arange(i * batch_size, (i + 1) * batch_size)
        negatives, negative_mask = catalog_negatives(targets[rows], items, train_cfg.negatives, generator)
        train_step(model, histories[rows].to(dev), targets[rows].to(dev), negatives.to(dev), negative_mask.to(dev),
                   store, train_cfg, precision)
    flop_per_sequence = counter.get_total_flops() / batch_size
    sequences_per_s = steps * batch_size / seconds
    achieved = flop_per_sequence * sequences_per_s / 1e9
    # The median step as well as the mean: on a shared VM a single descheduled step moves the mean.
    median_step_s = statistics.median(step_seconds)
    achieved_median = flop_per_sequence * batch_size / median_step_s / 1e9
    if not peak_gflops:
        peak_samples.append(matmul_peak_gflops(precision, dev))
    peak = peak_gflops or max(peak_samples)
    result = {
        "precision": precision, "compile": compile_mode, "without": list(without), "device": str(dev),
        "threads": torch.get_num_threads(),
        "items": items, "batch_size": batch_size, "params": sum(p.numel() for p in model.parameters()),
        "sequences_per_s": round(sequences_per_s, 2), "seconds_per_step": round(seconds / steps, 3),
        "median_seconds_per_step": round(median_step_s, 3),
        "step_seconds": [round(t, 3) for t in step_seconds],
        "warmup_s": round(warmup_s, 1), "gflop_per_sequence": round(flop_per_sequence / 1e9, 2),
        "achieved_gflops": round(achieved, 1), "peak_gflops": round(peak, 1),
        "peak_source": "given" if peak_gflops else "measured",
        "peak_samples_gflops": [round(x, 1) for x in peak_samples], "mfu": float(f"{achieved / peak:.3g}"),
        "median_step_mfu": float(f"{achieved_median / peak:.3g}"),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
    }
    if dev.type == "cuda":
        result["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated() / 1024**3, 2)
    if profile:
        from torch.profiler import profile as torch_profile

        with torch_profile() as prof:
            step(warmup + steps)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--compile", choices=["off", "on"], default="off")
    parser.add_argument("--items", type=int, default=20000, help="catalog size")
    parser.add_argument("--steps", type=int, default=8, help="timed steps (after 2 warm-up steps)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--peak-gflops", type=float, default=0.0, help="MFU denominator; 0 measures it now")
    parser.add_argument("--profile", action="store_true", help="print where one step's time goes")
    parser.add_argument("--without", nargs="*", default=[], choices=["fold", "dropout"],
                        help="speed levers to turn off, to measure their gain")
    parser.add_argument("--json", action="store_true", help="print one JSON line only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    r = measure(args.precision, args.compile, args.items, args.steps, args.device, peak_gflops=args.peak_gflops,
                profile=args.profile, without=tuple(args.without))
    if args.json:
        print(json.dumps(r))
        return
    print(f"precision {r['precision']}, compile {r['compile']}, without {r['without']}, threads {r['threads']}, "
          f"items {r['items']:,}, params {r['params']:,}")
    print(f"{r['sequences_per_s']:.2f} sequences/s ({r['seconds_per_step']:.2f} s/step of {r['batch_size']}, "
          f"median {r['median_seconds_per_step']:.2f} s), warm-up {r['warmup_s']} s")
    print(f"{r['gflop_per_sequence']:.2f} GFLOP/sequence (forward+backward), {r['achieved_gflops']:.1f} GFLOP/s, "
          f"MFU {100 * r['mfu']:.1f}% (median step {100 * r['median_step_mfu']:.1f}%) of {r['peak_gflops']:.0f} "
          f"GFLOP/s ({r['peak_source']})")
    print(f"peak RSS {r['peak_rss_gb']:.2f} GB")


if __name__ == "__main__":
    main()
