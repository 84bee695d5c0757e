"""Batch recommendations step: the champion's top-k for every active customer of the logical date.

Writes `recommendations/date=D/part-*.parquet` (schema `mtstrec.schemas.RECOMMENDATIONS`)
and `_manifest.json`; a re-run for the same date replaces the partition whole.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from mtstrec.config import PipelineConfig
from mtstrec.serving.batch import recommend_customers
from mtstrec.serving.customers import active_customers, latest_partition_date
from mtstrec.serving.publish import StagedPartition
from mtstrec.serving.served_model import load_served_model

log = logging.getLogger(__name__)

RECOMMENDATIONS_DIR = "recommendations"


def recommendations_partition(day: date) -> str:
    return f"{RECOMMENDATIONS_DIR}/date={day.isoformat()}"


def recommend_batch(cfg: PipelineConfig, logical_date: date | None) -> dict[str, Any]:
    """Score every customer active up to `logical_date` (default: the latest bronze day)."""
    started = time.perf_counter()
    dataset = cfg.dataset_storage()
    day = logical_date or latest_partition_date(dataset)
    served = load_served_model(cfg)
    customers = active_customers(dataset, day, cfg.serve.active_days)
    generated_at = datetime.now(UTC)
    out = StagedPartition(dataset, recommendations_partition(day))
    try:
        stats = recommend_customers(served, customers, cfg.serve, out, generated_at)
        out.publish({"date": day, "model_uri": served.uri, "model_version": served.version,
                     "generated_at": generated_at.isoformat(), "k": cfg.serve.k,
                     "exclude_seen": cfg.serve.exclude_seen, "active_days": cfg.serve.active_days,
                     "ranking": cfg.serve.ranking})
    except BaseException:
        out.discard()
        raise
    seconds = time.perf_counter() - started
    log.info("recommended %d items to %s active customers with %s in %.1f s (%d unknown history items ignored)",
             cfg.serve.k, f"{stats.customers:,}", served.uri, seconds, stats.unknown_history_items)
    return {"date": str(day), "uri": dataset.uri(recommendations_partition(day)), "model_version": served.version,
            "parts": len(out.parts), "seconds": round(seconds, 1), **asdict(stats)}
