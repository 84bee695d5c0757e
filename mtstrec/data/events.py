"""Validation and deduplication of raw transactions, built for tens of millions of rows.

The hot path only decides accept/reject with cheap vectorised checks and keeps
the raw text of rejected rows; the ordered list of reasons is evaluated on the
rejected rows alone. Duplicates are found with a row hash as a pre-filter and
confirmed by exact comparison among the rows that share a hash.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from mtstrec.data.raw_layout import RawEvents
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

RAW_FIELDS = ["date", "user_id", "item_id", "price", "channel"]
RAW_KEPT = ("date", "item_id", "price", "channel")  # user_id is kept for every row anyway
DEDUP_KEYS = ["date", "user_id", "catalog_row", "price", "channel"]


def _in_window(start: date | None, end: date | None) -> pl.Expr:
    day = pl.col("date_value")
    inside = pl.lit(True)
    if start is not None:
        inside = inside & (day >= start)
    if end is not None:
        inside = inside & (day <= end)
    return day.is_null() | inside


def _parsed() -> dict[str, pl.Expr]:
    return {
        "date_value": parse_date("date"),
        "price_value": parse_positive_price("price"),
        "channel_value": parse_channel("channel"),
    }


def validated_events(events: RawEvents, catalog: pl.DataFrame, start: date | None, end: date | None) -> pl.LazyFrame:
    """Events of the window: typed columns, `rejected`, and the raw text of rejected rows.

    Columns: line, date, user_id, catalog_row (row of `catalog`), price (the sale
    price paid; events without one take the item's price x (1 - discount)),
    channel, rejected, raw_date/raw_item_id/raw_price/raw_channel (null when
    accepted), row_hash (of the dedup keys) and order_key (date, then line).
    """
    known = catalog.lazy().select(
        "item_id", pl.int_range(pl.len(), dtype=pl.Int32).alias("catalog_row"), "sale_price"
    )
    frame = events.frame.with_columns(**_parsed()).filter(_in_window(start, end))
    frame = frame.join(known, on="item_id", how="left", maintain_order="left")
    price_ok = pl.col("price_value").is_not_null() | (blank("price") if not events.price_required else pl.lit(False))
    good = (
        pl.col("date_value").is_not_null()
        & pl.col("user_id").str.contains(events.user_id_pattern).fill_null(False)
        & ~has_invalid_utf8(["user_id"])
        & pl.col("catalog_row").is_not_null()  # the catalog already rejected malformed ids
        & price_ok
        & (pl.col("channel_value").is_not_null() | blank("channel"))
    )
    rejected = pl.col("rejected")
    typed = frame.with_columns((~good).alias("rejected")).select(
        "line",
        pl.col("date_value").alias("date"),
        "user_id",
        "catalog_row",
        pl.coalesce("price_value", "sale_price").alias("price"),
        pl.col("channel_value").alias("channel"),
        "rejected",
        *[pl.when(rejected).then(pl.col(name)).alias(f"raw_{name}") for name in RAW_KEPT],
    )
    # Computed here, in the parallel streaming pass: the dedup pre-filter and one integer sort key.
    return typed.with_columns(
        pl.struct(DEDUP_KEYS).hash().alias("row_hash"),
        (pl.col("date").cast(pl.Int64) * 2**32 + pl.col("line")).alias("order_key"),
    )


def rejection_reasons(rejected: pl.DataFrame, events: RawEvents) -> pl.DataFrame:
    """Rejected rows with the first reason each fails (ordered checks) and the raw record as JSON."""
    frame = rejected.select(
        "line",
        pl.col("raw_date").alias("date"),
        "user_id",
        pl.col("raw_item_id").alias("item_id"),
        pl.col("raw_price").alias("price"),
        pl.col("raw_channel").alias("channel"),
        "catalog_row",
    ).with_columns(**_parsed())
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
            (pl.col("catalog_row").is_null(), UNKNOWN_ITEM),
        ]
    )
    return frame.select(
        pl.lit(events.source).alias("source_file"),
        "line",
        reason,
        pl.struct(RAW_FIELDS).struct.json_encode().alias("record"),
    )


def find_repeats(accepted: pl.DataFrame) -> pl.DataFrame:
    """Rows equal to an earlier row on date, user, item, price and channel.

    `accepted` must be in line order within each day and carry `row_hash`; the
    first line of each group is the one kept. Only rows that share a hash are
    compared exactly, so the cost is one pass over a u64 column.
    """
    suspects = accepted.filter(pl.col("row_hash").is_duplicated())
    return suspects.filter(~pl.struct(DEDUP_KEYS).is_first_distinct())


def duplicate_records(repeats: pl.DataFrame, catalog: pl.DataFrame, source: str) -> pl.DataFrame:
    """Quarantine rows for repeats, with the typed values as the record."""
    item_ids = catalog["item_id"]
    return repeats.select(
        pl.lit(source).alias("source_file"),
        "line",
        pl.lit(DUPLICATE_ROW).alias(REASON),
        pl.struct(
            pl.col("date").cast(pl.String),
            "user_id",
            pl.lit(item_ids).gather(pl.col("catalog_row")).alias("item_id"),
            "price",
            "channel",
        ).struct.json_encode().alias("record"),
    )
