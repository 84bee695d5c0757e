"""Reader of the H&M Kaggle layout (DESIGN §3).

`transactions_train.csv`: t_dat, customer_id, article_id, price, sales_channel_id.
`articles.csv`: article_id, prod_name, detail_desc and descriptive columns.
`images/<first 3 digits>/<10-digit article_id>.jpg`, not for every article.
"""

from __future__ import annotations

import polars as pl

from mtstrec.data.raw_layout import RawCatalog, RawEvents, attributes_expr
from mtstrec.data.raw_tables import collect, find_table, scan_strings
from mtstrec.storage import Storage

CUSTOMER_ID_PATTERN = r"^[0-9a-f]{64}$"
ARTICLE_ID_PATTERN = r"^\d{10}$"
# Descriptive article columns kept as item attributes, with their short keys.
ATTRIBUTE_COLUMNS = {
    "product_type_name": "product_type",
    "product_group_name": "product_group",
    "colour_group_name": "colour",
    "perceived_colour_master_name": "colour_master",
    "graphical_appearance_name": "pattern",
    "department_name": "department",
    "index_name": "index",
    "section_name": "section",
    "garment_group_name": "garment_group",
}


def article_id(name: str) -> pl.Expr:
    """The 10-digit article id; the leading zero that spreadsheets drop is restored.

    A 9-character id is zero-filled without checking its digits: an id that is not
    10 digits afterwards matches no catalog row and is rejected with its reason.
    """
    text = pl.col(name)
    return pl.when(text.str.len_bytes() == 9).then(text.str.zfill(10)).otherwise(text)


def read_hm_events(raw: Storage) -> RawEvents:
    rel = find_table(raw, "transactions_train")
    frame = scan_strings(raw, rel, ["t_dat", "customer_id", "article_id", "price"], optional=("sales_channel_id",))
    frame = frame.select(
        "line",
        pl.col("t_dat").alias("date"),
        pl.col("customer_id").alias("user_id"),
        article_id("article_id").alias("item_id"),
        "price",
        pl.col("sales_channel_id").alias("channel"),
    )
    return RawEvents(frame, raw.uri(rel), CUSTOMER_ID_PATTERN, ARTICLE_ID_PATTERN, price_required=True)


def read_hm_catalog(raw: Storage) -> RawCatalog:
    rel = find_table(raw, "articles")
    frame = scan_strings(raw, rel, ["article_id", "prod_name", "detail_desc"], optional=tuple(ATTRIBUTE_COLUMNS))
    frame = frame.select(
        "line",
        article_id("article_id").alias("item_id"),
        pl.col("prod_name").fill_null("").alias("title"),
        pl.col("detail_desc").fill_null("").alias("description"),
        attributes_expr(ATTRIBUTE_COLUMNS),
        pl.lit(None, pl.String).alias("price"),
        pl.lit(None, pl.String).alias("discount"),
    )
    catalog = collect(frame, raw.uri(rel))
    images = set(raw.list_files("images", ".jpg"))
    paths = [f"images/{i[:3]}/{i}.jpg" if i else "" for i in catalog["item_id"].to_list()]
    uris = [raw.uri(p) if p in images else None for p in paths]
    catalog = catalog.with_columns(pl.Series("image_path", uris, dtype=pl.String))
    return RawCatalog(catalog, raw.uri(rel), ARTICLE_ID_PATTERN)
