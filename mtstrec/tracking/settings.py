"""Where MLflow lives: the tracking URI and the artifact location for a pipeline config.

Order of precedence: `registry.tracking_uri` in the config, then `MLFLOW_TRACKING_URI`,
then a local SQLite file `<root>/mlflow.db` with artifacts under `<root>/mlartifacts`.
A team points `MLFLOW_TRACKING_URI` at an MLflow server (whose artifacts may live in S3
or MinIO) or sets `registry.artifact_location` to `s3://bucket/prefix` with
`MLFLOW_S3_ENDPOINT_URL` for the client.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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
