"""Where MLflow lives: the tracking URI and the artifact location for a pipeline config.

Order of precedence: `registry.tracking_uri` in the config, then `MLFLOW_TRACKING_URI`,
then a local SQLite file `<root>/mlflow.db` with artifacts under `<root>/mlartifacts`.
A team points `MLFLOW_TRACKING_URI` at an MLflow server (whose artifacts may live in S3
or MinIO) or sets `registry.artifact_location` to `s3://bucket/prefix` with
`MLFLOW_S3_ENDPOINT_URL` for the client.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.tracking._model_registry import utils as registry_state
from mlflow.tracking._tracking_service import utils as tracking_state

from mtstrec.config import PipelineConfig
from mtstrec.storage import Storage


@dataclass(frozen=True)
class TrackingSettings:
    tracking_uri: str
    registry_uri: str
    # Artifact location for a newly created experiment; None lets the server decide.
    artifact_location: str | None


def tracking_settings(cfg: PipelineConfig) -> TrackingSettings:
    uri = cfg.registry.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
    artifact_location = cfg.registry.artifact_location or None
    if not uri:
        storage = Storage(cfg.root)
        if storage.is_s3:
            raise ValueError(
                f"root {cfg.root!r} is on S3, so there is no local default for MLflow: "
                "set MLFLOW_TRACKING_URI or registry.tracking_uri"
            )
        root = Path(storage.path())
        root.mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{root / 'mlflow.db'}"
        artifact_location = artifact_location or (root / "mlartifacts").as_uri()
    registry_uri = os.environ.get("MLFLOW_REGISTRY_URI", uri)
    return TrackingSettings(tracking_uri=uri, registry_uri=registry_uri, artifact_location=artifact_location)


@contextmanager
def fluent_tracking(settings: TrackingSettings) -> Iterator[None]:
    """Point MLflow's fluent API (start_run, log_model) at `settings` for the block, then restore.

    `mlflow.set_tracking_uri` also exports MLFLOW_TRACKING_URI; without the restore, the next
    run in the same process (two DAG runs under `dag.test()`, a notebook) would silently log
    to this one's store instead of its own root's.
    """
    saved_env = {key: os.environ.get(key) for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    saved_tracking, saved_registry = tracking_state._tracking_uri, registry_state._registry_uri
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.registry_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved_tracking)
        mlflow.set_registry_uri(saved_registry)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
