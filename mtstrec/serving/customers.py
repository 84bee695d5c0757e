"""Active customers and their purchase histories, read from the bronze transactions.

A customer is active on day D with a purchase in the `active_days` days up to D. Their
history is every purchase up to D (oldest first, in bronze order: date, then file order);
the model sees the last `max_len` of it and `seen` holds every distinct item bought.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import numpy as np
import polars as pl
import pyarrow as pa

from mtstrec.data.bronze import partition_dates, scan_transactions
from mtstrec.storage import Storage

log = logging.getLogger(__name__)


def latest_partition_date(dataset: Storage) -> date:
    days = partition_dates(dataset)
    if not days:
        raise FileNotFoundError(f"{dataset.uri('bronze/transactions')}: no transaction partitions")
    return days[-1]


def active_customers(dataset: Storage, day: date, active_days: int) -> pa.Table:
    """`user_id`, `history` (every item bought up to `day`, oldest first), sorted by user_id.

    Only customers with a purchase in [day - active_days + 1, day] are kept.
    """
    first_active = day - timedelta(days=active_days - 1)
    purchases = scan_transactions(dataset, None, day).select("date", "user_id", "item_index").with_row_index("order")
    active = purchases.filter(pl.col("date") >= first_active).select("user_id").unique()
    table = (
        purchases.join(active, on="user_id", how="semi")
        .group_by("user_id")
        .agg(pl.col("item_index").sort_by("order").alias("history"))
        .sort("user_id")
        .collect(engine="streaming")
        .to_arrow()
    )
    log.info("%s customers active in the %d days up to %s", f"{table.num_rows:,}", active_days, day)
    return table


def list_parts(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A list<int> column -> (offsets (B+1,), values) as int64 numpy arrays."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    offsets = array.offsets.to_numpy().astype(np.int64)
    values = array.values.to_numpy().astype(np.int64)
    return offsets - offsets[0], values[offsets[0] : offsets[-1]]


def keep_in_lists(offsets: np.ndarray, values: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lists with only the values where `keep` is true, order kept."""
    rows = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    lengths = np.bincount(rows[keep], minlength=len(offsets) - 1)
    return np.concatenate([[0], np.cumsum(lengths)]), values[keep]


def pad_last(offsets: np.ndarray, values: np.ndarray, width: int, align: str = "left") -> np.ndarray:
    """The last `width` values of each list in a (B, width) int64 array padded with 0.

    `align="left"` pads in front (oldest first, as the model reads histories); `"right"` after.
    """
    lengths = np.minimum(np.diff(offsets), width)
    rows = np.repeat(np.arange(len(lengths)), lengths)
    within = np.arange(len(rows)) - np.repeat(np.cumsum(lengths) - lengths, lengths)  # 0..len-1 per row
    source = np.repeat(offsets[1:] - lengths, lengths) + within
    columns = within + (np.repeat(width - lengths, lengths) if align == "left" else 0)
    out = np.zeros((len(lengths), width), dtype=np.int64)
    out[rows, columns] = values[source]
    return out
