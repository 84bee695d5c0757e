"""Register step: log a trained + evaluated run to MLflow and register its model version."""

from __future__ import annotations

import hashlib
import logging
from datetime import date
from typing import Any

from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient

from mtstrec.config import PipelineConfig
from mtstrec.tracking.champion import registry_client
from mtstrec.tracking.lineage import dataset_lineage, split_fingerprint
from mtstrec.tracking.mlflow_run import TAG_RUN_DIR, TAG_SCORE, log_and_register
from mtstrec.tracking.registry_lock import registry_lock
from mtstrec.training.run_location import RunLocation

log = logging.getLogger(__name__)

TAG_MODEL_SHA256 = "model_sha256"


def registered_version(client: MlflowClient, name: str, run_uri: str, model_sha256: str) -> ModelVersion | None:
    """The version already registered for this run directory and these exact weights, if any."""
    for version in client.search_model_versions(f"name = '{name}'"):
        if version.tags.get(TAG_RUN_DIR) == run_uri and version.tags.get(TAG_MODEL_SHA256) == model_sha256:
            return version
    return None


def register(cfg: PipelineConfig, logical_date: date | None, run_dir: str, evaluation: dict[str, Any],
             step_summaries: dict[str, Any] | None = None) -> dict[str, Any]:
    """Log params, metrics, report, lineage and the pyfunc model of `run_dir`; register a new version.

    `run_dir` is the run's path or URI; `evaluation` is what `tasks.evaluate.evaluate` returned for
    the run; `step_summaries` (the upstream steps' summaries, keyed by step) is stored beside the lineage.
    A run whose model is already registered (a re-run of the same date) gets its existing version back,
    not a duplicate: the check and the registration hold the model's registry lease.
    """
    cfg = cfg.at_date(logical_date)
    dataset = cfg.dataset_storage()
    location = RunLocation(run_dir)
    local = location.pull()
    model_sha256 = hashlib.sha256((local / "model.pt").read_bytes()).hexdigest()
    lineage = dataset_lineage(dataset, logical_date, cfg.model.modalities)
    name = cfg.registry.model_name
    summary = {"model_name": name, "metric": cfg.registry.metric,
               "lineage_rows": {entry.name: entry.rows for entry in lineage}}
    with registry_lock(cfg):
        client = registry_client(cfg)
        existing = registered_version(client, name, location.uri, model_sha256)
        if existing is not None:
            log.info("%s is already registered as %s version %s: not registered again", location.uri, name,
                     existing.version)
            return {**summary, "run_id": existing.run_id, "model_uri": f"models:/{name}/{existing.version}",
                    "version": str(existing.version), "score": float(existing.tags[TAG_SCORE]), "reused": True}
        reports = {kind: str(location.to_local(uri)) for kind, uri in evaluation.get("report", {}).items()}
        registered = log_and_register(cfg, logical_date, str(local), {**evaluation, "report": reports}, lineage,
                                      split_fingerprint(dataset), step_summaries or {}, run_uri=location.uri)
        client.set_model_version_tag(name, registered.version, TAG_MODEL_SHA256, model_sha256)
    return {**summary, "run_id": registered.run_id, "model_uri": registered.model_uri,
            "version": registered.version, "score": registered.score, "reused": False}
