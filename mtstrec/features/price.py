"""The `price` modality: mean sale price per item over the training period, min-max scaled.

Only transactions dated before the validation start count, and the min and max come from
those same training means, so nothing from validation or test leaks into the feature.
Items never sold in training get value 0 and present = false.
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import polars as pl

from mtstrec.data.split import read_cut_dates
from mtstrec.storage import Storage

log = logging.getLogger(__name__)

TRANSACTIONS_DIR = "bronze/transactions"


def read_val_start(dataset: Storage) -> dt.date:
    try:
        return read_cut_dates(dataset).val_start
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{exc}; price features need the split dates") from exc


def training_partitions(dataset: Storage, val_start: dt.date) -> list[str]:
    """Relative paths of the `date=YYYY-MM-DD` transaction partitions before val_start."""
    keep = []
    for name in dataset.list_dirs(TRANSACTIONS_DIR):
        if not name.startswith("date="):
            continue
        try:
            day = dt.date.fromisoformat(name.removeprefix("date="))
        except ValueError as exc:
            raise ValueError(f"{dataset.uri(TRANSACTIONS_DIR, name)}: partition name is not date=YYYY-MM-DD") from exc
        if day < val_start:
            keep.append(f"{TRANSACTIONS_DIR}/{name}")
    return keep


def mean_train_prices(dataset: Storage, val_start: dt.date) -> pl.DataFrame:
    """item_index, mean_price over priced training transactions.

    Each item's prices are summed in partition (date) and row order: a multi-threaded group-by sums in
    whatever order its threads meet the rows, and the last bits of the mean (and of the min-max statistics
    stored with the feature table) would differ from run to run.
    """
    frames = []
    for rel in training_partitions(dataset, val_start):
        table = dataset.read_parquet(rel, columns=["date", "item_index", "price"])
        frames.append(pl.from_arrow(table).filter(pl.col("date") < val_start).select("item_index", "price"))
    priced = pl.concat(frames).drop_nulls("price").filter(pl.col("price").is_finite()) if frames else None
    if priced is None or priced.height == 0:
        return pl.DataFrame(schema={"item_index": pl.Int32, "mean_price": pl.Float64})
    item_index = priced["item_index"].to_numpy()
    order = np.argsort(item_index, kind="stable")
    items, starts, counts = np.unique(item_index[order], return_index=True, return_counts=True)
    sums = np.add.reduceat(priced["price"].to_numpy().astype(np.float64)[order], starts)
    return pl.DataFrame({"item_index": items.astype(np.int32), "mean_price": sums / counts})


def scaled_price_values(item_index: np.ndarray, means: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, dict]:
    """For each item_index: (value in [0, 1], present) and the training statistics used."""
    items = pl.DataFrame({"item_index": item_index.astype(np.int32)})
    joined = items.join(means.cast({"item_index": pl.Int32}), on="item_index", how="left", maintain_order="left")
    raw = joined["mean_price"].fill_null(np.nan).to_numpy().astype(np.float64)
    present = ~np.isnan(raw)
    if means.height == 0:
        return np.zeros(len(item_index), np.float32), present, {"train_min": None, "train_max": None}
    low, high = float(means["mean_price"].min()), float(means["mean_price"].max())
    span = high - low
    scaled = (raw - low) / span if span > 0 else np.where(present, 0.5, 0.0)
    values = np.where(present, scaled, 0.0).astype(np.float32)
    return values, present, {"train_min": low, "train_max": high}


def price_table_inputs(dataset: Storage, item_index: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    val_start = read_val_start(dataset)
    means = mean_train_prices(dataset, val_start)
    values, present, stats = scaled_price_values(item_index, means)
    stats["val_start"] = val_start.isoformat()
    log.info("price: %s of %s items sold before %s (train min %s, max %s)",
             f"{int(present.sum()):,}", f"{len(item_index):,}", val_start, stats["train_min"], stats["train_max"])
    return values, present, stats

