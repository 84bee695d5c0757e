"""The stable item index in `bronze/items`: append-only, 1..N, 0 is padding.

Items enter the registry the first day they are sold. New items get the next
indexes in (first_seen, item_id) order, so ingesting day by day and ingesting
all days at once number items alike. An existing row is never renumbered or
rewritten, except that `first_seen` moves earlier when an older day is backfilled.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from mtstrec.schemas import ITEMS, PADDING_INDEX
from mtstrec.storage import Storage

ITEMS_FILE = "bronze/items/part-0.parquet"


def read_registry(dataset: Storage) -> pa.Table:
    """The current `bronze/items` table (empty with the ITEMS schema when absent)."""
    if not dataset.exists(ITEMS_FILE):
        return ITEMS.empty_table()
    return dataset.read_parquet(ITEMS_FILE).cast(ITEMS)


def index_map(registry: pa.Table) -> pl.DataFrame:
    """item_id -> item_index of a registry table."""
    return pl.from_arrow(registry.select(["item_id", "item_index"]))


def extend_registry(registry: pa.Table, sold: pl.DataFrame, catalog: pl.DataFrame) -> tuple[pa.Table, int]:
    """Registry with newly sold items appended; returns it and the number appended.

    `sold`: item_id, first_seen (the earliest accepted sale in this run).
    `catalog`: validated catalog rows (item_id, title, description, attributes, image_path).
    """
    known = index_map(registry)
    first_seen = dict(zip(registry["item_id"].to_pylist(), registry["first_seen"].to_pylist(), strict=True))
    for item_id, day in zip(sold["item_id"].to_list(), sold["first_seen"].to_list(), strict=True):
        if item_id in first_seen and day < first_seen[item_id]:
            first_seen[item_id] = day
    if first_seen:
        registry = registry.set_column(
            registry.schema.get_field_index("first_seen"),
            ITEMS.field("first_seen"),
            pa.array([first_seen[i] for i in registry["item_id"].to_pylist()], pa.date32()),
        )
    new = (
        sold.join(known, on="item_id", how="anti")
        .sort("first_seen", "item_id")
        .join(catalog, on="item_id", how="left", maintain_order="left")
    )
    if new.height == 0:
        return registry, 0
    start = max(registry["item_index"].to_pylist(), default=PADDING_INDEX) + 1
    attributes = [[(a["key"], a["value"]) for a in attrs] for attrs in new["attributes"].to_list()]
    appended = pa.table(
        {
            "item_index": pa.array(range(start, start + new.height), pa.int32()),
            "item_id": new["item_id"].to_arrow(),
            "title": new["title"].to_arrow(),
            "description": new["description"].to_arrow(),
            "attributes": pa.array(attributes, ITEMS.field("attributes").type),
            "image_path": new["image_path"].to_arrow(),
            "first_seen": new["first_seen"].to_arrow(),
        }
    ).cast(ITEMS)
    return pa.concat_tables([registry, appended]), new.height


def write_registry(dataset: Storage, registry: pa.Table) -> None:
    dataset.write_parquet(ITEMS_FILE, registry.cast(ITEMS))
