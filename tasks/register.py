"""Register step: log a trained + evaluated run to MLflow and register its model version."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from mtstrec.config import PipelineConfig
from mtstrec.tracking.lineage import dataset_lineage, split_fingerprint
from mtstrec.tracking.mlflow_run import log_and_register

log = logging.getLogger(__name__)


def register(cfg: PipelineConfig, logical_date: date | None, run_dir: str, evaluation: dict[str, Any],
             step_summaries: dict[str, Any] | None = None) -> dict[str, Any]:
    """Log params, metrics, report, lineage and the pyfunc model of `run_dir`; register a new version.

    `evaluation` is what `tasks.evaluate.evaluate` returned for the run; `step_summaries`
    (the upstream steps' summaries, keyed by step) is stored beside the lineage.
    """
    dataset = cfg.dataset_storage()
    lineage = dataset_lineage(dataset, logical_date, cfg.model.modalities)
    registered = log_and_register(cfg, logical_date, run_dir, evaluation, lineage, split_fingerprint(dataset),
                                  step_summaries or {})
    return {
        "run_id": registered.run_id,
        "model_uri": registered.model_uri,
        "model_name": cfg.registry.model_name,
        "version": registered.version,
        "metric": cfg.registry.metric,
        "score": registered.score,
        "lineage_rows": {entry.name: entry.rows for entry in lineage},
    }
