"""`recommend` latency: top-10 over a 100,000-item catalog for one history, p50 and p99 on CPU.

The model has the paper's configuration (id, style 512-d, text + 5 prompt views of
4096-d, price; d = 512). The item matrix is computed once when the Recommender is
built; each call encodes one history and ranks the whole catalog. Run by hand:

    .venv/bin/python -m bench.recommend_latency
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from bench.train_throughput import synthetic_store
from mtstrec.config import ModelConfig
from mtstrec.inference import Recommender
from mtstrec.model import MTSTRec


def measure(items: int = 100_000, calls: int = 200, text_dim: int = 4096, d_model: int = 512, blocks: int = 0,
            device: str = "cpu") -> dict:
    """p50/p99 of `recommend` (top-10, one history) and of ranking the catalog alone, in ms."""
    torch.manual_seed(0)
    dev = torch.device(device)
    store = synthetic_store(items, text_dim=text_dim, views=5, style_dim=512, seed=0)
    config = ModelConfig(modalities=["id", "style", "text", "prompt", "price"], d_model=d_model)
    for encoder in config.encoders.values():
        encoder.blocks = blocks or encoder.blocks
        encoder.ffn = min(encoder.ffn, 4 * d_model)
    model = MTSTRec(config, items, store.shapes()).to(dev)
    started = time.perf_counter()
    recommender = Recommender(model, store, dev)
    build_s = time.perf_counter() - started

    gen = torch.Generator().manual_seed(1)
    histories = [torch.randint(1, items + 1, (int(n),), generator=gen).tolist()
                 for n in torch.randint(3, 21, (calls + 10,), generator=gen)]
    for history in histories[:10]:
        recommender.recommend([history], k=10)
    latencies = []
    for history in histories[10:]:
        started = time.perf_counter()
        recommender.recommend([history], k=10)  # returns Python lists: the device has finished
        latencies.append((time.perf_counter() - started) * 1000)
    matrix = recommender.scorer.item_matrix  # (N+1, D)
    user = torch.nn.functional.normalize(torch.randn(1, matrix.shape[1], device=dev), dim=-1)
    ranking = []
    for _ in range(calls):
        started = time.perf_counter()
        torch.topk(user @ matrix.T, 10)[1].tolist()
        ranking.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    return {
        "device": str(dev), "items": items, "d_model": d_model, "calls": calls,
        "params": sum(p.numel() for p in model.parameters()), "item_matrix": list(matrix.shape),
        "build_s": round(build_s, 1), "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 2),
        "ranking_p50_ms": round(statistics.median(ranking), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--text-dim", type=int, default=4096, help="text and prompt-view feature width")
    parser.add_argument("--d-model", type=int, default=512, help="model width (the paper's is 512)")
    parser.add_argument("--blocks", type=int, default=0, help="blocks per modality; 0 keeps the paper's")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    r = measure(args.items, args.calls, args.text_dim, args.d_model, args.blocks)
    print(f"d_model {r['d_model']}, {r['params']:,} parameters; catalog {r['items']:,} items, item matrix "
          f"{tuple(r['item_matrix'])} built in {r['build_s']:.1f} s, threads {args.threads}")
    print(f"recommend top-10, {r['calls']} calls: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms; "
          f"of which ranking the catalog (matmul + top-k) p50 {r['ranking_p50_ms']:.1f} ms")


if __name__ == "__main__":
    main()
