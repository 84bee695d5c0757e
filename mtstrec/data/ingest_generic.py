"""Reader of the generic layout (DESIGN §3).

`events` (CSV or Parquet): user_id, item_id, timestamp, price?
`items`: item_id, title, description, image_path?, price?, discount?; any other
column becomes an item attribute. `image_path` is a URI, an absolute path, or a
path relative to the raw root.
"""

from __future__ import annotations

import posixpath

import polars as pl

from mtstrec.data.raw_layout import RawCatalog, RawEvents, attributes_expr
from mtstrec.data.raw_tables import collect, find_table, scan_strings
from mtstrec.data.validation import GENERIC_ID_PATTERN
from mtstrec.storage import Storage

ITEM_COLUMNS = ("item_id", "title", "description", "image_path", "price", "discount")


def read_generic_events(raw: Storage) -> RawEvents:
    rel = find_table(raw, "events")
    frame = scan_strings(raw, rel, ["user_id", "item_id", "timestamp"], optional=("price",))
    frame = frame.select(
        "line",
        pl.col("timestamp").str.strip_chars().alias("date"),
        pl.col("user_id").str.strip_chars(),
        pl.col("item_id").str.strip_chars(),
        pl.col("price").str.strip_chars(),
        pl.lit(None, pl.String).alias("channel"),
    )
    return RawEvents(frame, raw.uri(rel), GENERIC_ID_PATTERN, GENERIC_ID_PATTERN, price_required=False)


def read_generic_catalog(raw: Storage) -> RawCatalog:
    rel = find_table(raw, "items")
    frame = scan_strings(raw, rel, ["item_id", "title", "description"], ITEM_COLUMNS[3:], keep_others=True)
    others = [c for c in frame.collect_schema().names() if c not in ("line", *ITEM_COLUMNS)]
    frame = frame.select(
        "line",
        pl.col("item_id").str.strip_chars(),
        pl.col("title").fill_null(""),
        pl.col("description").fill_null(""),
        attributes_expr({name: name for name in sorted(others)}),
        "image_path",
        pl.col("price").str.strip_chars(),
        "discount",
    )
    catalog = collect(frame, raw.uri(rel))
    uris = resolve_image_paths(raw, catalog["image_path"].to_list())
    catalog = catalog.with_columns(pl.Series("image_path", uris, dtype=pl.String))
    return RawCatalog(catalog, raw.uri(rel), GENERIC_ID_PATTERN)


def resolve_image_paths(raw: Storage, paths: list[str | None]) -> list[str | None]:
    """Absolute URIs of existing images; null for blank paths and files that do not exist.

    Relative paths are looked up with one listing per top-level folder, not one
    request per item. URIs and absolute paths are kept as given.
    """
    relative = {p.strip() for p in paths if p and p.strip() and "://" not in p and not p.startswith("/")}
    folders = {p.split("/", 1)[0] for p in relative if "/" in p}
    existing = {f for folder in folders for f in raw.list_files(folder)}
    existing |= {p for p in relative if "/" not in p and raw.exists(p)}
    resolved = []
    for path in paths:
        text = (path or "").strip()
        if not text:
            resolved.append(None)
        elif "://" in text or text.startswith("/"):
            resolved.append(text)
        else:
            normal = posixpath.normpath(text)
            resolved.append(raw.uri(normal) if normal in existing else None)
    return resolved
