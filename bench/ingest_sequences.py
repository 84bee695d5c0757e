"""Benchmark: ingest + sequences on a transactions file the size of H&M's.

Two commands (run them one after the other, not in one process, so that the
generator's memory does not count):

    python bench/ingest_sequences.py generate --out /tmp/hm_scale
    python bench/ingest_sequences.py run --raw /tmp/hm_scale --root /tmp/hm_scale_root

`generate` writes `transactions_train.csv` (31.8M rows, 1.37M customers, 105k
articles, 734 days) and `articles.csv` in the H&M layout, without images.
`run` times the ingest and sequences steps end to end, reports wall time, peak
RSS and the time spent in each phase, and prints one JSON line. `sequences` then
times the sequences step alone on the ingested root (a fresh process, so its peak
RSS is the step's own), e.g. `--set sequences.train_examples=last_day`:

    python bench/ingest_sequences.py sequences --root /tmp/hm_scale_root
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import time
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

ROWS = 31_788_324
CUSTOMERS = 1_371_980
ARTICLES = 105_542
DAYS = 734
START = date(2018, 9, 20)


def generate(out: Path, seed: int) -> None:
    from mtstrec.data.sample_catalog import article_rows, make_catalog
    from mtstrec.data.sample_transactions import customer_ids

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    catalog = make_catalog(rng, ARTICLES, DAYS, gaps=0)
    pl.DataFrame(article_rows(catalog, rng)).write_csv(out / "articles.csv")

    # Visits: a heavy-tailed customer activity, uniform days, baskets of 1 + Poisson(1.5) articles.
    visits = int(ROWS / 2.5 * 1.02)
    activity = rng.lognormal(0.0, 1.2, CUSTOMERS)
    visit_customer = np.searchsorted(np.cumsum(activity / activity.sum()), rng.random(visits)).astype(np.int32)
    visit_customer[:CUSTOMERS] = np.arange(CUSTOMERS)  # every customer buys at least once
    visit_day = rng.integers(0, DAYS, visits).astype(np.int16)
    basket = 1 + rng.poisson(1.5, visits)
    row_visit = np.repeat(np.arange(visits), basket)[:ROWS]
    popularity = 1.0 / np.arange(1, ARTICLES + 1) ** 0.8
    article = rng.permutation(ARTICLES)[
        np.minimum(np.searchsorted(np.cumsum(popularity / popularity.sum()), rng.random(ROWS)), ARTICLES - 1)
    ].astype(np.int32)
    day = visit_day[row_visit]
    order = np.argsort(day, kind="stable")
    day, customer, article = day[order], visit_customer[row_visit][order], article[order]
    discount = np.where(rng.random(ROWS) < 0.3, 0.3, 0.0)
    price = catalog.base_price[article] * (1.0 - discount)
    channel = (1 + (rng.random(ROWS) < 0.7)).astype(np.int8)
    del order, row_visit

    days = pl.Series([(START + timedelta(days=d)).isoformat() for d in range(DAYS)])
    customers = pl.Series(customer_ids(CUSTOMERS, seed))
    articles = pl.Series(catalog.article_id)
    frame = pl.DataFrame(
        {
            "t_dat": days.gather(day),
            "customer_id": customers.gather(customer),
            "article_id": articles.gather(article),
            "price": price,
            "sales_channel_id": channel,
        }
    )
    frame.write_csv(out / "transactions_train.csv")
    print(json.dumps({"rows": frame.height, "customers": frame["customer_id"].n_unique(),
                      "articles": frame["article_id"].n_unique(), "days": frame["t_dat"].n_unique(),
                      "bytes": (out / "transactions_train.csv").stat().st_size}))


def _timed(module, name: str, phases: dict[str, float], label: str) -> None:
    """Wrap `module.name` so that its wall time adds up under `label`."""
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            phases[label] += time.perf_counter() - start

    setattr(module, name, wrapper)


def _time_sequence_phases(phases: dict[str, float]) -> None:
    import tasks.sequences as sequences_task

    for name, label in [
        ("build_examples", "sequences: build examples"),
        ("select_examples", "sequences: select examples per split"),
        ("run_checks", "sequences: SQL checks"),
        ("_write_candidates", "sequences: monthly candidates"),
    ]:
        _timed(sequences_task, name, phases, label)


def sequences_only(root: Path, train_examples: str) -> None:
    from mtstrec.config import PipelineConfig
    from mtstrec.data.config import SequenceConfig
    from tasks.sequences import build_sequences

    phases: dict[str, float] = defaultdict(float)
    _time_sequence_phases(phases)
    cfg = PipelineConfig(root=str(root), dataset="hm_scale", sequences=SequenceConfig(train_examples=train_examples))
    load_before = os.getloadavg()[0]
    start, cpu_start = time.perf_counter(), time.process_time()
    built = build_sequences(cfg, None)
    print(json.dumps({
        "train_examples": train_examples, "wall_s": round(time.perf_counter() - start, 1),
        "cpu_s": round(time.process_time() - cpu_start, 1), "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "examples": built["counts"], "customers": built["customers"],
        "single_day_customers": built["single_day_customers"], "short_history_days": built["short_history_days"],
        "phases_s": {k: round(v, 1) for k, v in phases.items()},
    }, indent=2))


def run(raw: Path, root: Path) -> None:
    import mtstrec.data.ingest as ingest_lib
    from mtstrec.config import PipelineConfig
    from mtstrec.data.config import IngestConfig
    from tasks.ingest import ingest
    from tasks.sequences import build_sequences

    phases: dict[str, float] = defaultdict(float)
    for name, label in [
        ("validate_catalog", "ingest: read + validate articles"),
        ("collect", "ingest: read CSV + parse + validate + join catalog"),
        ("rejection_reasons", "ingest: reasons of rejected rows"),
        ("find_repeats", "ingest: dedup"),
        ("assign_item_indexes", "ingest: item registry + indexes"),
        ("write_partitions", "ingest: write day partitions"),
        ("write_quarantine", "ingest: write quarantine"),
    ]:
        _timed(ingest_lib, name, phases, label)
    _time_sequence_phases(phases)

    shutil.rmtree(root, ignore_errors=True)
    cfg = PipelineConfig(root=str(root), dataset="hm_scale", ingest=IngestConfig(raw=str(raw), layout="hm"))
    load_before = os.getloadavg()[0]
    start, cpu_start = time.perf_counter(), time.process_time()
    ingested = ingest(cfg, None)
    ingest_s = time.perf_counter() - start
    built = build_sequences(cfg, None)
    total_s = time.perf_counter() - start
    cpu_s = time.process_time() - cpu_start
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux
    print(json.dumps({
        "wall_s": round(total_s, 1), "ingest_s": round(ingest_s, 1), "sequences_s": round(total_s - ingest_s, 1),
        "cpu_s": round(cpu_s, 1),
        "load_average_before": round(load_before, 2), "load_average_after": round(os.getloadavg()[0], 2),
        "peak_rss_gib": round(peak_gib, 2), "rows_in": ingested["rows_in"], "rows_written": ingested["rows_written"],
        "rows_quarantined": ingested["rows_quarantined"], "items": ingested["items_total"],
        "partitions": ingested["partitions_written"], "examples": built["counts"],
        "phases_s": {k: round(v, 1) for k, v in phases.items()},
    }, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("generate", help="write an H&M-sized raw layout")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("run", help="time ingest + sequences")
    p.add_argument("--raw", type=Path, required=True)
    p.add_argument("--root", type=Path, required=True)
    p = sub.add_parser("sequences", help="time the sequences step alone on an ingested root")
    p.add_argument("--root", type=Path, required=True)
    p.add_argument("--train-examples", choices=["every_day", "last_day"], default="every_day")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.command == "generate":
        generate(args.out, args.seed)
    elif args.command == "sequences":
        sequences_only(args.root, args.train_examples)
    else:
        run(args.raw, args.root)


if __name__ == "__main__":
    main()
