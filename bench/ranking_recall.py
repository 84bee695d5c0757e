"""Benchmark: exact vs. int8-shortlist ranking at the paper's configuration, latency and recall.

The paper's model (d = 512; id, style 512-d, text + 5 prompt views of 4096-d, price: an item
matrix of 100,001 x 2,049) over a 100,000-item synthetic catalog, randomly initialised. For
1,000 random histories (3-20 items, history excluded from the ranking) it reports the recall
of the exact top-10 by the int8 ranker, and per-history p50/p99 latency of ranking alone
(`ranker.top_k` for one user vector) and of the whole `recommend` call, for both rankers:

    .venv/bin/python -m bench.ranking_recall
    .venv/bin/python -m bench.ranking_recall --shortlist 50
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from bench.train_throughput import synthetic_store
from mtstrec.config import ModelConfig
from mtstrec.inference import Recommender
from mtstrec.model import MTSTRec
from mtstrec.serving.ranking import ExactRanker


def percentiles(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {"p50_ms": round(statistics.median(values), 2), "p99_ms": round(values[int(0.99 * (len(values) - 1))], 2)}


def timed(call, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--histories", type=int, default=1000)
    parser.add_argument("--shortlist", type=int, default=100)
    parser.add_argument("--calls", type=int, default=200, help="timed single-history calls per ranker")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    store = synthetic_store(args.items, text_dim=4096, views=5, style_dim=512, seed=0)
    model = MTSTRec(ModelConfig(modalities=["id", "style", "text", "prompt", "price"]), args.items, store.shapes())
    exact_rec = Recommender(model, store, torch.device("cpu"))
    matrix = exact_rec.scorer.item_matrix  # (N+1, 2049)
    int8_rec = exact_rec.with_ranking("int8", args.shortlist)

    gen = torch.Generator().manual_seed(1)
    lengths = torch.randint(3, 21, (args.histories,), generator=gen)
    histories = torch.randint(1, args.items + 1, (args.histories, 20), generator=gen)
    histories[torch.arange(20)[None, :] < (20 - lengths)[:, None]] = 0  # (H, L), left-padded
    users = torch.cat([exact_rec.scorer.users(histories[i : i + 100]) for i in range(0, args.histories, 100)])

    exact = ExactRanker(matrix).top_k(users, 10, histories).items
    approx = int8_rec.ranker.top_k(users, 10, histories).items
    hits = sum(len(set(a) & set(e)) for a, e in zip(approx.tolist(), exact.tolist(), strict=True))

    result = {"items": args.items, "item_matrix": list(matrix.shape), "histories": args.histories,
              "shortlist": args.shortlist, "threads": args.threads, "recall_at_10": round(hits / exact.numel(), 4)}
    for name, rec in (("exact", exact_rec), ("int8", int8_rec)):
        for i in range(10):  # warm-up
            rec.ranker.top_k(users[i : i + 1], 10, histories[i : i + 1])
        rank = [t for i in range(args.calls)
                for t in timed(lambda i=i, r=rec: r.ranker.top_k(users[i : i + 1], 10, histories[i : i + 1]), 1)]
        lists = [h[h > 0].tolist() for h in histories[: args.calls]]
        whole = [t for h in lists for t in timed(lambda h=h, r=rec: r.recommend([h], k=10), 1)]
        result[name] = {"ranking": percentiles(rank), "recommend": percentiles(whole)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
