"""Temporal split of examples by target date (DESIGN §2).

Train holds target dates before `val_start`, validation those in
[`val_start`, `test_start`), test those from `test_start` on. Explicit cut dates
in the config win; otherwise each cut is the earliest target date such that about
the configured fraction of examples (whole days, never a split day) lies at or after it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from mtstrec.data.config import SequenceConfig
from mtstrec.storage import Storage

SPLIT_FILE = "sequences/split.json"


@dataclass(frozen=True)
class CutDates:
    val_start: date
    test_start: date


def _cut_at_fraction(sorted_dates: list[date], tail_fraction: float) -> date:
    """Earliest date d with about `tail_fraction` of the dates >= d (the day after the last when 0)."""
    position = math.ceil(len(sorted_dates) * (1.0 - tail_fraction))
    if position >= len(sorted_dates):
        return sorted_dates[-1] + timedelta(days=1)
    return sorted_dates[position]


def cut_dates(target_dates: pl.Series, cfg: SequenceConfig) -> CutDates:
    if target_dates.is_empty():
        raise ValueError("sequences: no examples to split (no customer has a history of min_len items)")
    dates = target_dates.sort().to_list()
    for name, fraction in (("val_fraction", cfg.val_fraction), ("test_fraction", cfg.test_fraction)):
        if not 0.0 <= fraction < 1.0:
            raise ValueError(f"sequences.{name}: {fraction} is not in [0, 1)")
    if cfg.val_fraction + cfg.test_fraction >= 1.0:
        raise ValueError("sequences: val_fraction + test_fraction must be < 1 so that train is not empty")
    test_start = date.fromisoformat(cfg.test_start) if cfg.test_start else _cut_at_fraction(dates, cfg.test_fraction)
    val_start = (
        date.fromisoformat(cfg.val_start)
        if cfg.val_start
        else min(test_start, _cut_at_fraction(dates, cfg.val_fraction + cfg.test_fraction))
    )
    if val_start > test_start:
        raise ValueError(f"sequences: val_start {val_start} is after test_start {test_start}")
    return CutDates(val_start, test_start)


def split_label(cuts: CutDates) -> pl.Expr:
    """'train', 'val' or 'test' of each example from its target_date."""
    day = pl.col("target_date")
    return (
        pl.when(day < cuts.val_start)
        .then(pl.lit("train"))
        .when(day < cuts.test_start)
        .then(pl.lit("val"))
        .otherwise(pl.lit("test"))
        .alias("split")
    )


def read_cut_dates(dataset: Storage) -> CutDates:
    """The cut dates that the sequences step recorded in `sequences/split.json`."""
    if not dataset.exists(SPLIT_FILE):
        raise FileNotFoundError(f"{dataset.uri(SPLIT_FILE)} does not exist: run `mtstrec sequences` first")
    record = json.loads(dataset.read_bytes(SPLIT_FILE))
    try:
        return CutDates(date.fromisoformat(str(record["val_start"])), date.fromisoformat(str(record["test_start"])))
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{dataset.uri(SPLIT_FILE)}: no valid val_start/test_start ({exc})") from exc
