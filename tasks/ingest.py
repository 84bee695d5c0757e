"""Pipeline step: raw layout -> bronze transactions (one partition per day) and items."""

from __future__ import annotations

from datetime import date

from mtstrec.config import PipelineConfig
from mtstrec.data.ingest import ingest_dataset
from mtstrec.lease import hold
from mtstrec.storage import Storage

INGEST_LEASE = "ingest"


def ingest(cfg: PipelineConfig, logical_date: date | None) -> dict:
    """Ingest the raw rows of `logical_date`'s window (None = all dates); see docs/data.md.

    Ingests of one dataset take turns (lease `ingest`): the item registry is read, extended and
    rewritten, and two writers at once would lose each other's items.
    """
    dataset = cfg.dataset_storage().undated()
    raw = Storage(cfg.ingest.raw)
    with hold(dataset, INGEST_LEASE, ttl_s=cfg.lease.ttl_s):
        return ingest_dataset(dataset, raw, cfg.ingest.layout, logical_date, cfg.ingest.window_days)
