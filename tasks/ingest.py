"""Pipeline step: raw layout -> bronze transactions (one partition per day) and items."""

from __future__ import annotations

from datetime import date

from mtstrec.config import PipelineConfig
from mtstrec.data.ingest import ingest_dataset
from mtstrec.storage import Storage


def ingest(cfg: PipelineConfig, logical_date: date | None) -> dict:
    """Ingest the raw rows of `logical_date`'s window (None = all dates); see docs/data.md."""
    dataset = cfg.dataset_storage()
    raw = Storage(cfg.ingest.raw)
    return ingest_dataset(dataset, raw, cfg.ingest.layout, logical_date, cfg.ingest.window_days)
