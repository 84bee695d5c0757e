"""Readers of the bronze tables for the steps after ingest."""

from __future__ import annotations

from datetime import date

import polars as pl

from mtstrec.data.ingest import TRANSACTIONS_DIR
from mtstrec.storage import Storage


def partition_dates(dataset: Storage, start: date | None = None, end: date | None = None) -> list[date]:
    """Days with a bronze transactions partition in [start, end] (None = unbounded), sorted."""
    days = [date.fromisoformat(name.removeprefix("date=")) for name in dataset.list_dirs(TRANSACTIONS_DIR)]
    return sorted(d for d in days if (start is None or d >= start) and (end is None or d <= end))


def scan_transactions(dataset: Storage, start: date | None = None, end: date | None = None) -> pl.LazyFrame:
    """Lazy bronze transactions of the days in [start, end], in date order then file order."""
    days = partition_dates(dataset, start, end)
    if not days:
        raise FileNotFoundError(f"{dataset.uri(TRANSACTIONS_DIR)}: no transaction partitions up to {end or 'now'}")
    files = [dataset.uri(f"{TRANSACTIONS_DIR}/date={d.isoformat()}/part-0.parquet") for d in days]
    return pl.scan_parquet(files, storage_options=dataset.polars_storage_options(), hive_partitioning=False)
