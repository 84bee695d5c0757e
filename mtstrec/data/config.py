"""Configs of the data steps: ingest and sequence building."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class IngestConfig:
    raw: str = "data/raw/demo"
    layout: Literal["hm", "generic"] = "hm"
    # Days of raw transactions up to the logical date to ingest; 0 ingests every day up to it.
    window_days: int = 0


@dataclass
class SequenceConfig:
    # Training examples: every purchase day before val_start, or each customer's last purchase day (the paper's).
    train_examples: Literal["every_day", "last_day"] = "every_day"
    # Validation/test examples: each customer's last purchase day in the window, or every purchase day (small data).
    eval_examples: Literal["last_day", "every_day"] = "last_day"
    min_len: int = 3
    max_targets: int = 50
    # Split by target date: explicit cut dates (YYYY-MM-DD) win over fractions.
    val_start: str = ""
    test_start: str = ""
    val_fraction: float = 0.1
    test_fraction: float = 0.1
