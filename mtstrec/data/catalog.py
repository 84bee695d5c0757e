"""Validation of a raw catalog: one accepted row per item id, the rest quarantined."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from mtstrec.data.quarantine import quarantine_rows
from mtstrec.data.raw_layout import RawCatalog
from mtstrec.data.validation import (
    BAD_DISCOUNT,
    BAD_ITEM_ID,
    BAD_PRICE,
    DUPLICATE_ITEM,
    INVALID_UTF8,
    MISSING_FIELD,
    REASON,
    blank,
    first_failing_reason,
    has_invalid_utf8,
    parse_discount,
    parse_positive_price,
)

TEXT_FIELDS = ["item_id", "title", "description"]


@dataclass
class ValidCatalog:
    """Accepted items (item_id, title, description, attributes, image_path, sale_price) and rejects."""

    items: pl.DataFrame
    quarantined: pl.DataFrame
    rows_in: int


def validate_catalog(raw: RawCatalog) -> ValidCatalog:
    frame = raw.frame.with_columns(
        list_price=parse_positive_price("price"),
        discount_value=parse_discount("discount"),
    )
    frame = frame.with_columns(
        first_failing_reason(
            [
                (blank("item_id"), f"{MISSING_FIELD}: item_id"),
                (has_invalid_utf8(TEXT_FIELDS), INVALID_UTF8),
                (~pl.col("item_id").str.contains(raw.item_id_pattern), BAD_ITEM_ID),
                (~blank("price") & pl.col("list_price").is_null(), BAD_PRICE),
                (~blank("discount") & pl.col("discount_value").is_null(), BAD_DISCOUNT),
            ]
        )
    )
    valid = pl.col(REASON).is_null()
    frame = frame.with_columns(
        pl.when(valid & ~pl.col("item_id").is_first_distinct().over(valid))
        .then(pl.lit(DUPLICATE_ITEM))
        .otherwise(pl.col(REASON))
        .alias(REASON)
    )
    accepted = frame.filter(pl.col(REASON).is_null()).select(
        "item_id",
        "title",
        "description",
        "attributes",
        "image_path",
        (pl.col("list_price") * (1 - pl.col("discount_value").fill_null(0.0))).alias("sale_price"),
    )
    rejected = quarantine_rows(
        frame.filter(pl.col(REASON).is_not_null()), raw.source, ["item_id", "title", "description", "price", "discount"]
    )
    return ValidCatalog(accepted, rejected, frame.height)
