"""Pipeline step: bronze -> train/val/test sequences, monthly candidates and the split record.

A run for logical date D writes them into D's snapshot (`snapshots/date=D/`, see
`mtstrec/storage.py`), together with the catalog as of D: the registry items first seen on
or before D. Runs for other dates never touch them. `sequences/split.json` records the cut
dates and counts; it is written last, so a reader that sees it sees the sequences and
candidates of the same run.
"""

from __future__ import annotations

import json
import logging
from datetime import date

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from mtstrec.config import PipelineConfig
from mtstrec.data.bronze import scan_transactions
from mtstrec.data.item_registry import read_registry, write_registry
from mtstrec.data.sequences import build_examples, monthly_candidates, select_examples
from mtstrec.data.split import SPLIT_FILE, cut_dates
from mtstrec.data.sql_checks import run_checks
from mtstrec.schemas import CANDIDATES, MAX_TARGETS, SEQUENCES, SPLITS
from mtstrec.storage import Storage

log = logging.getLogger(__name__)


def _write_candidates(dataset: Storage, candidates: dict) -> int:
    for month, items in candidates.items():
        dataset.write_parquet(f"candidates/month={month}.parquet", items.to_arrow().cast(CANDIDATES))
    stale = [f for f in dataset.list_files("candidates", ".parquet") if f.split("month=")[-1][:7] not in candidates]
    for rel in stale:
        dataset.delete(rel)
    return len(candidates)


def _write_catalog(dataset: Storage, logical_date: date) -> None:
    """The snapshot's `bronze/items`: registry rows first seen on or before `logical_date`.

    The registry numbers items by (first_seen, item_id) and only grows, so this is the catalog a
    run for `logical_date` would have seen had no later date been ingested yet.
    """
    registry = read_registry(dataset.undated())
    seen = registry.filter(pc.less_equal(registry["first_seen"], pa.scalar(logical_date, pa.date32())))
    write_registry(dataset, seen)


def build_sequences(cfg: PipelineConfig, logical_date: date | None) -> dict:
    """Examples from every bronze day up to `logical_date` (None = all), split by target date."""
    seq = cfg.sequences
    if not 1 <= seq.max_targets <= MAX_TARGETS:
        raise ValueError(f"sequences.max_targets: {seq.max_targets} is not in 1..{MAX_TARGETS} (the contract)")
    if not 1 <= seq.min_len <= cfg.model.max_len:
        raise ValueError(f"sequences.min_len: {seq.min_len} is not in 1..model.max_len ({cfg.model.max_len})")
    dataset = cfg.at_date(logical_date).dataset_storage()
    if logical_date is not None:
        _write_catalog(dataset, logical_date)
    transactions = scan_transactions(dataset, end=logical_date)
    examples = build_examples(transactions, cfg.model.max_len, seq.max_targets, seq.min_len)
    # Cut dates from each customer's last purchase day (the paper's split), whatever the example modes.
    cuts = cut_dates(examples.frame.filter(pl.col("last_day"))["target_date"], seq)
    labelled = select_examples(examples.frame, cuts, seq.train_examples, seq.eval_examples)

    items = read_registry(dataset).select(["item_index"])
    params = {"min_len": seq.min_len, "max_len": cfg.model.max_len, "max_targets": seq.max_targets}
    checks = run_checks("sequences", {"examples": labelled.to_arrow(), "items": items}, params)

    counts = {}
    for split in SPLITS:
        rows = labelled.filter(pl.col("split") == split).select(SEQUENCES.names)
        counts[split] = rows.height
        dataset.write_parquet(f"sequences/{split}.parquet", rows.to_arrow().cast(SEQUENCES))
    if counts["train"] == 0:
        raise ValueError(f"sequences: the train split is empty (val_start {cuts.val_start}); move the cut dates")
    for split in ("val", "test"):
        if counts[split] == 0:
            log.warning("sequences: the %s split is empty (cut dates %s)", split, cuts)
    months = _write_candidates(dataset, monthly_candidates(transactions))

    record = {
        "logical_date": logical_date.isoformat() if logical_date else None,
        "val_start": cuts.val_start.isoformat(),
        "test_start": cuts.test_start.isoformat(),
        "first_target_date": labelled["target_date"].min().isoformat(),
        "last_target_date": labelled["target_date"].max().isoformat(),
        "counts": counts,
        "customers": examples.customers,
        "single_day_customers": examples.single_day_customers,
        "short_history_days": examples.short_history_days,
        "train_examples": seq.train_examples,
        "eval_examples": seq.eval_examples,
        "min_len": seq.min_len,
        "max_len": cfg.model.max_len,
        "max_targets": seq.max_targets,
    }
    dataset.write_bytes(SPLIT_FILE, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    log.info(
        "built %s examples from %s customers (train %s, val %s, test %s); %s single-day customers, %s purchase days "
        "with a history under min_len; candidates for %s months",
        f"{sum(counts.values()):,}", f"{examples.customers:,}", f"{counts['train']:,}", f"{counts['val']:,}",
        f"{counts['test']:,}", f"{examples.single_day_customers:,}", f"{examples.short_history_days:,}", months,
    )
    return {**record, "checks": checks, "candidate_months": months, "split_file": dataset.uri(SPLIT_FILE)}
