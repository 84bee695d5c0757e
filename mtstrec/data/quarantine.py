"""Rejected rows, kept with their reason in `quarantine/<step>/<run>.parquet`."""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from mtstrec.schemas import QUARANTINE_REASON_FIELD
from mtstrec.storage import Storage

QUARANTINE = pa.schema(
    [
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("line", pa.int64(), nullable=False),
        pa.field(QUARANTINE_REASON_FIELD, pa.string(), nullable=False),
        pa.field("record", pa.string(), nullable=False),  # the raw fields as JSON
    ]
)


def quarantine_rows(rejected: pl.DataFrame, source: str, fields: list[str]) -> pl.DataFrame:
    """Rejected rows (with `line` and `reason`) in the quarantine shape."""
    return rejected.select(
        pl.lit(source).alias("source_file"),
        pl.col("line").cast(pl.Int64),
        pl.col(QUARANTINE_REASON_FIELD),
        pl.struct(fields).struct.json_encode().alias("record"),
    )


def write_quarantine(dataset: Storage, step: str, run: str, parts: list[pl.DataFrame]) -> dict[str, int]:
    """Write one run's rejected rows (an empty file when none) and count them by reason."""
    frames = [p for p in parts if p.height]
    rows = pl.concat(frames) if frames else pl.DataFrame(schema=pl.Schema(QUARANTINE))
    rows = rows.sort("source_file", "line", QUARANTINE_REASON_FIELD)
    dataset.write_parquet(f"quarantine/{step}/{run}.parquet", rows.to_arrow().cast(QUARANTINE))
    counts = rows.group_by(QUARANTINE_REASON_FIELD).len().sort(QUARANTINE_REASON_FIELD)
    return dict(zip(counts[QUARANTINE_REASON_FIELD].to_list(), counts["len"].to_list(), strict=True))
