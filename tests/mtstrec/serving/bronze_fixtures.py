"""Bronze transactions written straight in the contract layout, for the serving tests."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pyarrow as pa

from mtstrec.data.ingest import partition_file
from mtstrec.schemas import TRANSACTIONS
from mtstrec.storage import Storage


def write_transactions(dataset: Storage, purchases: list[tuple[date, str, int]]) -> None:
    """(date, user_id, item_index) rows, one partition per day, in the given order."""
    by_day: dict[date, list[tuple[str, int]]] = defaultdict(list)
    for day, user, item in purchases:
        by_day[day].append((user, item))
    for day, rows in by_day.items():
        dataset.write_parquet(partition_file(day), pa.table({
            "date": pa.array([day] * len(rows), pa.date32()),
            "user_id": [u for u, _ in rows],
            "item_index": pa.array([i for _, i in rows], pa.int32()),
            "price": pa.array([1.0] * len(rows), pa.float64()),
            "channel": pa.array([1] * len(rows), pa.int8()),
        }, schema=TRANSACTIONS))
