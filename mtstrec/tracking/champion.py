"""Read and move the champion alias in the MLflow model registry."""

from __future__ import annotations

from datetime import UTC, datetime

from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient

from mtstrec.config import PipelineConfig
from mtstrec.tracking.mlflow_run import TAG_METRIC, TAG_SCORE, TAG_SPLIT
from mtstrec.tracking.promotion import PromotionDecision, ScoredVersion
from mtstrec.tracking.settings import tracking_settings


def registry_client(cfg: PipelineConfig) -> MlflowClient:
    settings = tracking_settings(cfg)
    return MlflowClient(settings.tracking_uri, settings.registry_uri)


def current_champion(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version holding `alias`, or None when no version holds it yet."""
    aliases = client.get_registered_model(name).aliases
    return client.get_model_version(name, aliases[alias]) if alias in aliases else None


def scored(version: ModelVersion, metric: str) -> ScoredVersion:
    """The score a version was registered with; it must be of the metric the gate uses."""
    tags = version.tags
    if tags.get(TAG_METRIC) != metric:
        raise ValueError(f"version {version.version} was scored on {tags.get(TAG_METRIC)!r}, the gate uses {metric!r}")
    return ScoredVersion(version=str(version.version), score=float(tags[TAG_SCORE]), split=tags[TAG_SPLIT])


def record_decision(client: MlflowClient, name: str, alias: str, candidate: str, decision: PromotionDecision,
                    previous_champion: str | None) -> None:
    """Tag the candidate with the decision and, if it won, move the alias to it."""
    tags = decision.tags() | {
        "promotion.previous_champion": previous_champion or "",
        "promotion.decided_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, candidate, key, value)
    if decision.promote:
        client.set_registered_model_alias(name, alias, candidate)
