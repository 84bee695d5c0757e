"""Ingest raw transactions and catalog into validated, deduplicated bronze Parquet.

Logical-date semantics: a run for date D reads the raw rows dated in
[D - window_days + 1, D] (every day up to D when window_days is 0; every day when
D is None) and rewrites exactly one partition per day of that window, so running
the same date twice writes the same bytes. Rows whose date cannot be parsed belong
to no day; every run reports them in its quarantine file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import polars as pl
import pyarrow as pa
from tqdm import tqdm

from mtstrec.data.catalog import validate_catalog
from mtstrec.data.events import duplicate_records, find_repeats, rejection_reasons, validated_events
from mtstrec.data.ingest_generic import read_generic_catalog, read_generic_events
from mtstrec.data.ingest_hm import read_hm_catalog, read_hm_events
from mtstrec.data.item_registry import extend_registry, index_map, read_registry, write_registry
from mtstrec.data.quarantine import write_quarantine
from mtstrec.data.raw_layout import RawCatalog, RawEvents
from mtstrec.data.raw_tables import collect
from mtstrec.schemas import TRANSACTIONS
from mtstrec.storage import Storage

log = logging.getLogger(__name__)

LAYOUTS: dict[str, tuple[Callable[[Storage], RawEvents], Callable[[Storage], RawCatalog]]] = {
    "hm": (read_hm_events, read_hm_catalog),
    "generic": (read_generic_events, read_generic_catalog),
}
TRANSACTIONS_DIR = "bronze/transactions"
WRITER_THREADS = 2


def partition_file(day: date) -> str:
    return f"{TRANSACTIONS_DIR}/date={day.isoformat()}/part-0.parquet"


def date_window(logical_date: date | None, window_days: int) -> tuple[date | None, date | None]:
    """First and last raw date a run ingests (None = unbounded)."""
    if logical_date is None:
        return None, None
    start = logical_date - timedelta(days=window_days - 1) if window_days > 0 else None
    return start, logical_date


def write_partitions(dataset: Storage, rows: pl.DataFrame, start: date | None, end: date | None) -> tuple[int, int]:
    """Write one partition per day; remove partitions of window days that now have no rows.

    `rows` is sorted by (date, line) and has a `keep` flag: dropping rows per day
    slice, not up front, avoids copying the whole frame.
    """
    days = rows.group_by("date", maintain_order=True).len()
    offsets = [0, *days["len"].cum_sum().to_list()]

    def write(position: int) -> None:
        day = rows.slice(offsets[position], offsets[position + 1] - offsets[position]).filter(pl.col("keep"))
        table = day.select(TRANSACTIONS.names).to_arrow().cast(TRANSACTIONS)
        dataset.write_parquet(partition_file(days["date"][position]), table)

    with ThreadPoolExecutor(WRITER_THREADS) as pool:
        list(tqdm(pool.map(write, range(days.height)), total=days.height, desc="bronze partitions", leave=False))
    written = set(days["date"].to_list())
    removed = 0
    for name in dataset.list_dirs(TRANSACTIONS_DIR):
        day = date.fromisoformat(name.removeprefix("date="))
        in_window = (start is None or day >= start) and (end is None or day <= end)
        if in_window and day not in written:
            dataset.delete(f"{TRANSACTIONS_DIR}/{name}")
            removed += 1
    return len(written), removed


def assign_item_indexes(
    dataset: Storage, accepted: pl.DataFrame, catalog: pl.DataFrame
) -> tuple[pl.DataFrame, pa.Table, int]:
    """Register newly sold items and replace `catalog_row` by `item_index`; returns (rows, registry, new)."""
    item_id_of_row = catalog["item_id"]
    sold = accepted.group_by("catalog_row").agg(pl.col("date").min().alias("first_seen"))
    sold = sold.select(pl.lit(item_id_of_row).gather(pl.col("catalog_row")).alias("item_id"), "first_seen")
    registry, new_items = extend_registry(read_registry(dataset), sold, catalog)
    write_registry(dataset, registry)
    index_of_row = catalog.select("item_id").join(index_map(registry), on="item_id", how="left", maintain_order="left")
    item_index = pl.lit(index_of_row["item_index"]).gather(pl.col("catalog_row")).alias("item_index")
    return accepted.with_columns(item_index), registry, new_items


def ingest_dataset(dataset: Storage, raw: Storage, layout: str, logical_date: date | None, window_days: int) -> dict:
    """Ingest one logical date (None = all dates) of a raw layout into `dataset`'s bronze tables."""
    if layout not in LAYOUTS:
        raise ValueError(f"ingest.layout: unknown layout {layout!r}; choose from {sorted(LAYOUTS)}")
    read_events, read_catalog = LAYOUTS[layout]
    catalog = validate_catalog(read_catalog(raw))
    start, end = date_window(logical_date, window_days)
    events = read_events(raw)
    frame = collect(validated_events(events, catalog.items, start, end), events.source)
    rows_in = frame.height
    rejected = rejection_reasons(frame.filter(pl.col("rejected")), events)
    columns = ["line", "date", "user_id", "catalog_row", "price", "channel", "row_hash", "order_key"]
    # Filtering copies every column; clean input (the common case) skips it.
    accepted = frame.filter(~pl.col("rejected")).select(columns) if rejected.height else frame.select(columns)
    del frame
    if not accepted["order_key"].is_sorted():  # H&M's file is already in date order
        accepted = accepted.sort("order_key")
    repeats = find_repeats(accepted)
    accepted = accepted.with_columns(~pl.col("line").is_in(repeats["line"].implode()).alias("keep"))

    # Repeats equal kept rows on date and item, so they do not change first_seen.
    accepted, registry, new_items = assign_item_indexes(dataset, accepted, catalog.items)
    written, removed = write_partitions(dataset, accepted, start, end)

    run = logical_date.isoformat() if logical_date else "all"
    duplicates = duplicate_records(repeats, catalog.items, events.source)
    by_reason = write_quarantine(dataset, "ingest", run, [rejected, duplicates, catalog.quarantined])
    quarantined = rejected.height + repeats.height
    summary = {
        "layout": layout,
        "logical_date": logical_date.isoformat() if logical_date else None,
        "window": [start.isoformat() if start else None, end.isoformat() if end else None],
        "rows_in": rows_in,
        "rows_written": accepted.height - repeats.height,
        "rows_quarantined": quarantined,
        "quarantined_by_reason": by_reason,
        "partitions_written": written,
        "partitions_removed": removed,
        "catalog_rows_in": catalog.rows_in,
        "catalog_rows_quarantined": catalog.quarantined.height,
        "items_new": new_items,
        "items_total": registry.num_rows,
        "items_without_image": registry["image_path"].null_count,
        "items_empty_description": sum(1 for d in registry["description"].to_pylist() if not d.strip()),
        "quarantine_file": dataset.uri(f"quarantine/ingest/{run}.parquet"),
    }
    if rows_in != summary["rows_written"] + quarantined:
        raise RuntimeError(f"ingest does not reconcile: {summary}")
    log.info(
        "ingested %s rows into %s partitions, quarantined %s %s; %s new items (%s in total)",
        f"{summary['rows_written']:,}", written, f"{quarantined:,}", by_reason, new_items, registry.num_rows,
    )
    return summary
