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
    min_len: int = 3
    max_targets: int = 50
    # Split by target date: explicit cut dates (YYYY-MM-DD) win over fractions.
    val_start: str = ""
    test_start: str = ""
    val_fraction: float = 0.1
    test_fraction: float = 0.1
