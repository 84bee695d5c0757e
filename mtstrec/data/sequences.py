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


def _per_customer(transactions: pl.LazyFrame, key: pl.Expr, max_len: int, max_targets: int) -> pl.DataFrame:
    """One row per customer: user_id, target_date, targets, history (+ dates, full length).

    Rows keep their order within a group (a polars guarantee), and the input is
    in chronological file order, so `tail` keeps the latest history items.
    `ids_differ` is true where one key holds two user ids (a hash collision).
    """
    tx = transactions.select("date", "user_id", "item_index").with_columns(key.alias("customer_key"))
    tx = tx.with_columns(pl.col("date").max().over("customer_key").alias("target_date"))
    history = (
        tx.filter(pl.col("date") < pl.col("target_date"))
        .group_by("customer_key")
        .agg(
            pl.col("item_index").tail(max_len).alias("history"),
            pl.col("date").tail(max_len).alias("history_dates"),
            pl.len().alias("history_length"),
            pl.col("user_id").min().alias("history_id_min"),
            pl.col("user_id").max().alias("history_id_max"),
        )
    )
    targets = (
        tx.filter(pl.col("date") == pl.col("target_date"))
        .group_by("customer_key")
        .agg(
            pl.col("user_id").min(),
            pl.col("user_id").max().alias("target_id_max"),
            pl.col("target_date").first(),
            pl.col("item_index").unique(maintain_order=True).head(max_targets).alias("targets"),
        )
    )
    ids_differ = (
        (pl.col("user_id") != pl.col("target_id_max"))
        | (pl.col("history_id_min") != pl.col("history_id_max")).fill_null(False)
        | (pl.col("history_id_min") != pl.col("user_id")).fill_null(False)
    )
    return (
        targets.join(history, on="customer_key", how="left")
        .with_columns(pl.col("history_length").fill_null(0), ids_differ.alias("ids_differ"))
        .collect()
    )


def build_examples(transactions: pl.LazyFrame, max_len: int, max_targets: int, min_len: int) -> Examples:
    """Examples from bronze transactions (date, user_id, item_index) in chronological file order.

    Customers are grouped by a 64-bit hash of the id, which is much faster than
    grouping 64-character strings; a group holding two ids (a hash collision) is
    detected exactly and the step then regroups by the id itself.
    """
    per_customer = _per_customer(transactions, pl.col("user_id").hash(), max_len, max_targets)
    if per_customer["ids_differ"].any():
        per_customer = _per_customer(transactions, pl.col("user_id"), max_len, max_targets)
    length = pl.col("history_length")
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
