"""Benchmark: batch recommendations at H&M scale (1.37 M customers, 105 k items, 12 items each).

Two commands, run one after the other (the generator's memory must not count):

    python -m bench.recommend_batch generate --root /tmp/hm_serve
    /usr/bin/time -v python -m bench.recommend_batch run --root /tmp/hm_serve

`generate` writes bronze transactions in the contract layout (31.8 M rows, 1.37 M customers,
105,542 items, 734 days; heavy-tailed customer activity, Zipf-like item popularity). `run`
scores every customer with the batch step's own code (`active_customers`, then
`recommend_customers` into a staged partition, then `publish`) with a randomly initialised
model of the demo's size (configs/demo.toml: d = 64, id, style 512, image 1280, text 384,
price); the MLflow load is left out (it is a constant few seconds). With `--paper`, it
instead times `--sample` customers with a model of the paper's configuration (d = 512) and
projects the whole run: a projection, not a measurement, for the GPU figure above all.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from mtstrec.config import ModelConfig, PipelineConfig
from mtstrec.config_loading import load_config
from mtstrec.data.ingest import partition_file
from mtstrec.data.item_features import ItemFeatureStore, ModalityTable
from mtstrec.inference import Recommender
from mtstrec.model import MTSTRec
from mtstrec.schemas import TRANSACTIONS
from mtstrec.serving.batch import ServedModel, recommend_customers
from mtstrec.serving.config import ServeConfig
from mtstrec.serving.customers import active_customers
from mtstrec.serving.publish import StagedPartition
from mtstrec.storage import Storage

ROWS = 31_788_324
CUSTOMERS = 1_371_980
ITEMS = 105_542
DAYS = 734
START = date(2018, 9, 20)
REPO = Path(__file__).resolve().parent.parent


def generate(root: str, seed: int, scale: float) -> None:
    rng = np.random.default_rng(seed)
    rows, customers = int(ROWS * scale), int(CUSTOMERS * scale)
    visits = int(rows / 2.5 * 1.02)
    activity = rng.lognormal(0.0, 1.2, customers)
    visit_customer = np.searchsorted(np.cumsum(activity / activity.sum()), rng.random(visits)).astype(np.int32)
    visit_customer[:customers] = np.arange(customers)  # every customer buys at least once
    visit_customer = np.minimum(visit_customer, customers - 1)
    visit_day = rng.integers(0, DAYS, visits).astype(np.int16)
    row_visit = np.repeat(np.arange(visits), 1 + rng.poisson(1.5, visits))[:rows]
    popularity = 1.0 / np.arange(1, ITEMS + 1) ** 0.8
    item = 1 + rng.permutation(ITEMS)[
        np.minimum(np.searchsorted(np.cumsum(popularity / popularity.sum()), rng.random(len(row_visit))), ITEMS - 1)
    ].astype(np.int32)
    day = visit_day[row_visit]
    order = np.argsort(day, kind="stable")
    customer, day, item = visit_customer[row_visit][order], day[order], item[order]
    ids = np.array([f"{i:064x}" for i in rng.permutation(customers)], dtype=object)
    dataset = Storage(root).child("hm")
    bounds = np.searchsorted(day, np.arange(DAYS + 1))
    for d in range(DAYS):
        lo, hi = bounds[d], bounds[d + 1]
        when = START + timedelta(days=d)
        dataset.write_parquet(partition_file(when), pa.table({
            "date": pa.array(np.full(hi - lo, np.datetime64(when, "D"))),
            "user_id": pa.array(ids[customer[lo:hi]], pa.string()),
            "item_index": pa.array(item[lo:hi]),
            "price": pa.array(np.full(hi - lo, 0.03)),
            "channel": pa.array(np.ones(hi - lo, dtype=np.int8)),
        }, schema=TRANSACTIONS))
    print(json.dumps({"rows": len(item), "customers": customers, "items": ITEMS, "days": DAYS,
                      "last_day": str(START + timedelta(days=DAYS - 1))}))


def synthetic_store(shapes: dict[str, list[int]], seed: int) -> ItemFeatureStore:
    gen = torch.Generator().manual_seed(seed)
    present = torch.ones(ITEMS + 1, dtype=torch.bool)
    tables = {}
    for modality, shape in shapes.items():
        if modality == "price":
            tables[modality] = ModalityTable("scalar", torch.rand(ITEMS + 1, 1, generator=gen), present, "bench", {})
        elif len(shape) == 2:  # views share one table (expanded, not copied), as bench/train_throughput.py does
            values = torch.randn(ITEMS + 1, 1, shape[1], generator=gen).expand(-1, shape[0], -1)
            tables[modality] = ModalityTable("views", values, present, "bench", {})
        else:
            tables[modality] = ModalityTable("vector", torch.randn(ITEMS + 1, *shape, generator=gen), present,
                                             "bench", {})
    return ItemFeatureStore(ITEMS, tables)


def model_and_store(paper: bool) -> tuple[MTSTRec, ItemFeatureStore]:
    if paper:
        config = ModelConfig(modalities=["id", "style", "text", "prompt", "price"])
        shapes = {"style": [512], "text": [4096], "prompt": [5, 4096], "price": [1]}
    else:
        config = load_config(PipelineConfig, REPO / "configs" / "demo.toml", []).model
        shapes = {"style": [512], "image": [1280], "text": [384], "price": [1]}
    torch.manual_seed(0)
    store = synthetic_store({m: s for m, s in shapes.items() if m in config.modalities}, seed=1)
    return MTSTRec(config, ITEMS, store.shapes()).eval(), store


def run(root: str, args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    dataset = Storage(root).child("hm")
    timings = {}
    started = time.perf_counter()
    model, store = model_and_store(args.paper)
    t = time.perf_counter()
    recommender = Recommender(model, store, torch.device("cpu"), ranking=args.ranking)
    timings["item_matrix_s"] = time.perf_counter() - t
    item_ids = pa.array([""] + [f"{i:010d}" for i in range(1, ITEMS + 1)], pa.string())
    served = ServedModel(recommender, item_ids, "bench", "bench")
    cfg = ServeConfig(active_days=args.active_days, k=12, batch_size=args.batch_size, ranking=args.ranking)
    t = time.perf_counter()
    customers = active_customers(dataset, START + timedelta(days=DAYS - 1), cfg.active_days)
    timings["read_histories_s"] = time.perf_counter() - t
    if args.sample:
        customers = customers.slice(0, args.sample)
    out = StagedPartition(dataset, f"recommendations/date={START + timedelta(days=DAYS - 1)}")
    t = time.perf_counter()
    stats = recommend_customers(served, customers, cfg, out, datetime.now(UTC))
    timings["score_and_write_s"] = time.perf_counter() - t
    out.publish({"bench": True})
    timings["wall_s"] = time.perf_counter() - started
    per_customer_ms = 1000 * timings["score_and_write_s"] / stats.customers
    result = {
        "model": "paper" if args.paper else "demo", "ranking": args.ranking, "threads": args.threads,
        "parameters": sum(p.numel() for p in model.parameters()),
        "item_matrix": list(recommender.scorer.item_matrix.shape), "customers": stats.customers,
        "batch_size": cfg.batch_size, **{k: round(v, 1) for k, v in timings.items()},
        "per_customer_ms": round(per_customer_ms, 3),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }
    if args.sample:
        result["projected_cpu_h_for_all"] = round(per_customer_ms * CUSTOMERS / 3.6e6, 2)
    return result


def flops_per_customer(paper: bool) -> float:
    """FLOPs to encode one history and score it against the whole catalog (forward only)."""
    from torch.utils.flop_counter import FlopCounterMode

    model, store = model_and_store(paper)
    histories = torch.randint(1, ITEMS + 1, (64, model.config.max_len))
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model.encode_histories(histories, store)
    out_dim = model.out_dim
    return counter.get_total_flops() / 64 + 2 * out_dim * (ITEMS + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--root", required=True)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--scale", type=float, default=1.0, help="fraction of H&M's rows and customers (items stay)")
    r = sub.add_parser("run")
    r.add_argument("--root", required=True)
    r.add_argument("--paper", action="store_true", help="the paper's model (d = 512) instead of the demo's")
    r.add_argument("--sample", type=int, default=0, help="score only the first N customers and project")
    r.add_argument("--active-days", type=int, default=DAYS, help="default: every customer is active")
    r.add_argument("--batch-size", type=int, default=1024)
    r.add_argument("--ranking", choices=["exact", "int8"], default="exact")
    r.add_argument("--threads", type=int, default=2)
    sub.add_parser("flops", help="FLOPs per customer of the demo and paper models")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "generate":
        generate(args.root, args.seed, args.scale)
    elif args.command == "run":
        print(json.dumps(run(args.root, args)))
    else:
        print(json.dumps({"demo_gflop": flops_per_customer(False) / 1e9,
                          "paper_gflop": flops_per_customer(True) / 1e9}))


if __name__ == "__main__":
    main()
