"""What a raw layout reader hands to ingest: events and a catalog in one common shape."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

# Columns of `RawEvents.frame`, all raw strings except `line`.
EVENT_COLUMNS = ("line", "date", "user_id", "item_id", "price", "channel")
# Columns of `RawCatalog.frame` (all strings except `line` and `attributes`).
CATALOG_COLUMNS = ("line", "item_id", "title", "description", "attributes", "image_path", "price", "discount")
ATTRIBUTE = pl.Struct({"key": pl.String, "value": pl.String})


@dataclass
class RawEvents:
    """Raw transactions with the layout's rules for well-formed ids."""

    frame: pl.LazyFrame
    source: str
    user_id_pattern: str
    item_id_pattern: str
    price_required: bool


@dataclass
class RawCatalog:
    """Raw catalog rows; `image_path` is already resolved to a URI (null when no image exists)."""

    frame: pl.DataFrame
    source: str
    item_id_pattern: str


def attributes_expr(columns: dict[str, str]) -> pl.Expr:
    """A list of {key, value} structs from raw columns, leaving out blank values.

    `columns` maps the raw column name to the attribute key.
    """
    if not columns:
        return pl.lit([], dtype=pl.List(ATTRIBUTE)).alias("attributes")
    entries = [
        pl.when(pl.col(raw).str.strip_chars() != "").then(
            pl.struct(pl.lit(key).alias("key"), pl.col(raw).str.strip_chars().alias("value"))
        )
        for raw, key in columns.items()
    ]
    return pl.concat_list(entries).list.drop_nulls().alias("attributes")
