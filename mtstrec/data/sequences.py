"""Chronological examples (DESIGN §1–§2): one per customer, on the customer's last purchase day.

The history is every item bought before that day (oldest first, within a day in
file order), keeping the last `max_len`; the targets are that day's items,
deduplicated in order of purchase and capped at `max_targets`. Customers with a
single purchase day have no history and yield no example; customers whose
history is shorter than `min_len` yield none either. Both are counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass
class Examples:
    """`frame`: user_id, history, history_dates, targets, target_date (sorted by target_date, user_id)."""

    frame: pl.DataFrame
    customers: int
    single_day_customers: int
    short_history_customers: int


def build_examples(transactions: pl.LazyFrame, max_len: int, max_targets: int, min_len: int) -> Examples:
    """Examples from bronze transactions (date, user_id, item_index) in chronological file order."""
    tx = transactions.select("date", "user_id", "item_index").with_row_index("order")
    tx = tx.with_columns(pl.col("date").max().over("user_id").alias("target_date"))
    history = (
        tx.filter(pl.col("date") < pl.col("target_date"))
        .group_by("user_id")
        .agg(
            pl.col("item_index").sort_by("order").tail(max_len).alias("history"),
            pl.col("date").sort_by("order").tail(max_len).alias("history_dates"),
            pl.len().alias("history_length"),
        )
    )
    targets = (
        tx.filter(pl.col("date") == pl.col("target_date"))
        .group_by("user_id")
        .agg(
            pl.col("target_date").first(),
            pl.col("item_index").sort_by("order").unique(maintain_order=True).head(max_targets).alias("targets"),
        )
    )
    per_customer = targets.join(history, on="user_id", how="left").collect(engine="streaming")
    length = pl.col("history_length").fill_null(0)
    counts = per_customer.select(
        pl.len().alias("customers"),
        (length == 0).sum().alias("single_day"),
        ((length > 0) & (length < min_len)).sum().alias("short"),
    ).row(0, named=True)
    frame = (
        per_customer.filter(length >= min_len)
        .select("user_id", "history", "history_dates", "targets", "target_date")
        .sort("target_date", "user_id")
    )
    return Examples(frame, counts["customers"], counts["single_day"], counts["short"])


def monthly_candidates(transactions: pl.LazyFrame) -> dict[str, pl.DataFrame]:
    """Items sold in each month, keyed by YYYY-MM, sorted by item_index."""
    sold = (
        transactions.select(pl.col("date").dt.strftime("%Y-%m").alias("month"), "item_index")
        .unique()
        .sort("month", "item_index")
        .collect(engine="streaming")
    )
    return {month: rows.select("item_index") for (month,), rows in sold.partition_by("month", as_dict=True).items()}
