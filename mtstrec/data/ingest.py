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
from datetime import date, timedelta

import polars as pl
from tqdm import tqdm

from mtstrec.data.catalog import validate_catalog
from mtstrec.data.ingest_generic import read_generic_catalog, read_generic_events
from mtstrec.data.ingest_hm import read_hm_catalog, read_hm_events
from mtstrec.data.item_registry import extend_registry, index_map, read_registry, write_registry
from mtstrec.data.quarantine import write_quarantine
from mtstrec.data.raw_layout import RawCatalog, RawEvents
from mtstrec.data.raw_tables import collect
from mtstrec.data.validation import (
    BAD_CHANNEL,
    BAD_DATE,
    BAD_ITEM_ID,
    BAD_PRICE,
    BAD_USER_ID,
    DUPLICATE_ROW,
    INVALID_UTF8,
    MISSING_FIELD,
    REASON,
    UNKNOWN_ITEM,
    blank,
    first_failing_reason,
    has_invalid_utf8,
    parse_channel,
    parse_date,
    parse_positive_price,
)
from mtstrec.schemas import TRANSACTIONS
from mtstrec.storage import Storage

log = logging.getLogger(__name__)

LAYOUTS: dict[str, tuple[Callable[[Storage], RawEvents], Callable[[Storage], RawCatalog]]] = {
    "hm": (read_hm_events, read_hm_catalog),
    "generic": (read_generic_events, read_generic_catalog),
}
TRANSACTIONS_DIR = "bronze/transactions"
RAW_FIELDS = ["date", "user_id", "item_id", "price", "channel"]
DEDUP_KEYS = ["date", "user_id", "item_id", "price", "channel"]


def partition_file(day: date) -> str:
    return f"{TRANSACTIONS_DIR}/date={day.isoformat()}/part-0.parquet"


def date_window(logical_date: date | None, window_days: int) -> tuple[date | None, date | None]:
    """First and last raw date a run ingests (None = unbounded)."""
    if logical_date is None:
        return None, None
    start = logical_date - timedelta(days=window_days - 1) if window_days > 0 else None
    return start, logical_date


def _in_window(start: date | None, end: date | None) -> pl.Expr:
    day = pl.col("date_value")
    inside = pl.lit(True)
    if start is not None:
        inside = inside & (day >= start)
    if end is not None:
        inside = inside & (day <= end)
    return day.is_null() | inside


def validated_events(events: RawEvents, catalog: pl.DataFrame, start: date | None, end: date | None) -> pl.LazyFrame:
    """Typed events of the window with a `reason` (null = accepted) and the raw `record` of rejects."""
    frame = events.frame.with_columns(
        date_value=parse_date("date"),
        price_value=parse_positive_price("price"),
        channel_value=parse_channel("channel"),
    ).filter(_in_window(start, end))
    known = catalog.lazy().select("item_id", "sale_price", pl.lit(True).alias("in_catalog"))
    frame = frame.join(known, on="item_id", how="left", maintain_order="left")
    missing = [(blank(name), f"{MISSING_FIELD}: {name}") for name in ("date", "user_id", "item_id")]
    if events.price_required:
        missing.append((blank("price"), f"{MISSING_FIELD}: price"))
    reason = first_failing_reason(
        [
            *missing,
            (has_invalid_utf8(RAW_FIELDS), INVALID_UTF8),
            (pl.col("date_value").is_null(), BAD_DATE),
            (~pl.col("user_id").str.contains(events.user_id_pattern), BAD_USER_ID),
            (~pl.col("item_id").str.contains(events.item_id_pattern), BAD_ITEM_ID),
            (~blank("price") & pl.col("price_value").is_null(), BAD_PRICE),
            (~blank("channel") & pl.col("channel_value").is_null(), BAD_CHANNEL),
            (pl.col("in_catalog").is_null(), UNKNOWN_ITEM),
        ]
    )
    return frame.with_columns(reason).select(
        "line",
        pl.col("date_value").alias("date"),
        "user_id",
        "item_id",
        # The sale price paid; events without one take the item's price x (1 - discount).
        pl.coalesce("price_value", "sale_price").alias("price"),
        pl.col("channel_value").alias("channel"),
        REASON,
        pl.when(pl.col(REASON).is_not_null()).then(pl.struct(RAW_FIELDS).struct.json_encode()).alias("record"),
    )


def mark_duplicates(events: pl.DataFrame) -> pl.DataFrame:
    """Sort by (date, user, line) and reject every accepted row that repeats an earlier one."""
    events = events.sort("date", "user_id", "line", nulls_last=True)
    accepted = pl.col(REASON).is_null()
    repeat = accepted & ~pl.struct(DEDUP_KEYS).is_first_distinct().over(accepted)
    return events.with_columns(
        pl.when(repeat).then(pl.lit(DUPLICATE_ROW)).otherwise(pl.col(REASON)).alias(REASON),
        pl.when(repeat).then(pl.struct(DEDUP_KEYS).struct.json_encode()).otherwise(pl.col("record")).alias("record"),
    )


def write_partitions(dataset: Storage, accepted: pl.DataFrame, start: date | None, end: date | None) -> tuple[int, int]:
    """Write one partition per day; remove partitions of window days that now have no rows."""
    by_day = accepted.partition_by("date", as_dict=True, maintain_order=True)
    for (day,), rows in tqdm(sorted(by_day.items()), desc="bronze partitions", unit="day", leave=False):
        table = rows.select(TRANSACTIONS.names).to_arrow().cast(TRANSACTIONS)
        dataset.write_parquet(partition_file(day), table)
    written = {day for (day,) in by_day}
    removed = 0
    for name in dataset.list_dirs(TRANSACTIONS_DIR):
        day = date.fromisoformat(name.removeprefix("date="))
        in_window = (start is None or day >= start) and (end is None or day <= end)
        if in_window and day not in written:
            dataset.delete(f"{TRANSACTIONS_DIR}/{name}")
            removed += 1
    return len(written), removed


def ingest_dataset(dataset: Storage, raw: Storage, layout: str, logical_date: date | None, window_days: int) -> dict:
    """Ingest one logical date (None = all dates) of a raw layout into `dataset`'s bronze tables."""
    if layout not in LAYOUTS:
        raise ValueError(f"ingest.layout: unknown layout {layout!r}; choose from {sorted(LAYOUTS)}")
    read_events, read_catalog = LAYOUTS[layout]
    catalog = validate_catalog(read_catalog(raw))
    start, end = date_window(logical_date, window_days)
    events = read_events(raw)
    frame = collect(validated_events(events, catalog.items, start, end), events.source)
    frame = mark_duplicates(frame)
    accepted = frame.filter(pl.col(REASON).is_null())
    rejected = frame.filter(pl.col(REASON).is_not_null())

    sold = accepted.group_by("item_id").agg(pl.col("date").min().alias("first_seen"))
    registry, new_items = extend_registry(read_registry(dataset), sold, catalog.items)
    write_registry(dataset, registry)
    accepted = accepted.join(index_map(registry), on="item_id", how="left", maintain_order="left")
    written, removed = write_partitions(dataset, accepted, start, end)

    run = logical_date.isoformat() if logical_date else "all"
    tx_rejects = rejected.select("line", REASON, "record").with_columns(source_file=pl.lit(events.source))
    by_reason = write_quarantine(
        dataset,
        "ingest",
        run,
        [tx_rejects.select("source_file", "line", REASON, "record"), catalog.quarantined],
    )
    summary = {
        "layout": layout,
        "logical_date": logical_date.isoformat() if logical_date else None,
        "window": [start.isoformat() if start else None, end.isoformat() if end else None],
        "rows_in": frame.height,
        "rows_written": accepted.height,
        "rows_quarantined": rejected.height,
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
    if summary["rows_in"] != summary["rows_written"] + summary["rows_quarantined"]:
        raise RuntimeError(f"ingest does not reconcile: {summary}")
    log.info(
        "ingested %s rows into %s partitions, quarantined %s %s; %s new items (%s in total)",
        f"{accepted.height:,}", written, f"{rejected.height:,}", by_reason, new_items, registry.num_rows,
    )
    return summary
