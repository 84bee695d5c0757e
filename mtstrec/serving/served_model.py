"""Load the model to serve from the MLflow registry: by default the version holding the champion alias."""

from __future__ import annotations

import logging

import mlflow.pyfunc
from mlflow.tracking import MlflowClient

from mtstrec.config import PipelineConfig
from mtstrec.serving.batch import ServedModel
from mtstrec.tracking.settings import fluent_tracking, tracking_settings

log = logging.getLogger(__name__)


def resolve_model_uri(cfg: PipelineConfig, client: MlflowClient) -> tuple[str, str]:
    """(model URI pinned to one version, version label).

    The alias is resolved once, so that a promotion during the run cannot mix two models.
    """
    if cfg.serve.model_uri:
        return cfg.serve.model_uri, cfg.serve.model_uri
    name, alias = cfg.registry.model_name, cfg.registry.alias
    try:
        version = client.get_model_version_by_alias(name, alias)
    except mlflow.exceptions.MlflowException as exc:
        raise LookupError(f"no version of registered model {name!r} holds the alias {alias!r} yet: "
                          "train and promote one first") from exc
    return f"models:/{name}/{version.version}", str(version.version)


def load_served_model(cfg: PipelineConfig) -> ServedModel:
    """The pyfunc of the served version, unwrapped, with `serve.ranking` applied."""
    settings = tracking_settings(cfg)
    client = MlflowClient(settings.tracking_uri, settings.registry_uri)
    uri, version = resolve_model_uri(cfg, client)
    with fluent_tracking(settings):
        pyfunc = mlflow.pyfunc.load_model(
            uri, model_config={"ranking": cfg.serve.ranking, "shortlist": cfg.serve.shortlist})
    model = pyfunc.unwrap_python_model()
    log.info("serving %s (version %s): %d items, ranking %s", uri, version, model.recommender.num_items,
             cfg.serve.ranking)
    return ServedModel(model.recommender, model.item_ids, version, uri)
