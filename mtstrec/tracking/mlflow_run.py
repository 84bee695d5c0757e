"""Log one trained and evaluated run to MLflow and register its model.

What a run holds: the pipeline config as params, per-epoch training metrics (step = epoch),
the test metrics of MTSTRec and its baselines, MTSTRec's validation metrics (under `val/`),
the evaluation report (markdown, JSON, PNG),
the dataset lineage (URIs, row counts, digests) and the pyfunc model, registered as a new
version of `registry.model_name` with tags that the promotion gate reads.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import time
import warnings
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import mlflow
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

import mtstrec
from mtstrec.config import PipelineConfig
from mtstrec.config_loading import to_dict
from mtstrec.tracking.lineage import DatasetEntry
from mtstrec.tracking.pyfunc_model import SIGNATURE, input_example, stage_artifacts
from mtstrec.tracking.requirements import pip_requirements
from mtstrec.tracking.settings import TrackingSettings, fluent_tracking, tracking_settings

log = logging.getLogger(__name__)

PRIMARY_MODEL = "MTSTRec"  # the evaluation report's name for the trained model
PYFUNC_ENTRY = Path(__file__).with_name("pyfunc_entry.py")
# Tags on each registered version, read back by the promotion gate.
TAG_SCORE = "eval.score"  # validation score: the gate selects on it
TAG_TEST_SCORE = "eval.test_score"  # reported, never selected on
TAG_METRIC = "eval.metric"
TAG_SPLIT = "eval.split"
TAG_RUN_DIR = "run_dir"


def metric_key(name: str) -> str:
    """An MLflow-legal metric name: `full/ndcg@10` -> `full/ndcg_at_10`."""
    return re.sub(r"[^\w./\- :]", "_", name.replace("@", "_at_"))


def flatten_params(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config -> {"model.d_model": "512", "model.modalities": '["id", "price"]', ...}."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten_params(value, f"{name}."))
        else:
            flat[name] = value if isinstance(value, str) else json.dumps(value)
    return flat


def history_metrics(history: list[dict[str, Any]]) -> list[tuple[str, float, int]]:
    """(metric, value, epoch) for every numeric entry of every epoch in history.json."""
    rows = []
    for entry in history:
        epoch = int(entry["epoch"])
        rows += [(metric_key(k), float(v), epoch) for k, v in entry.items()
                 if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool)]
    return rows


def evaluation_metrics(metrics: dict[str, dict[str, float]]) -> dict[str, float]:
    """MTSTRec's test metrics unprefixed, every other model's under `<model>/`."""
    flat = {}
    for model, values in metrics.items():
        prefix = "" if model == PRIMARY_MODEL else f"{model}/"
        flat.update({metric_key(f"{prefix}{name}"): float(v) for name, v in values.items()})
    return flat


def primary_score(evaluation: dict[str, Any], metric: str, split: str = "validation") -> float:
    """MTSTRec's `metric` on validation (what promotion compares) or on test ("metrics", reported only)."""
    try:
        return float(evaluation[split][PRIMARY_MODEL][metric])
    except KeyError as exc:
        raise KeyError(f"evaluation has no {split} {PRIMARY_MODEL} metric {metric!r}") from exc


def _experiment_id(client: MlflowClient, settings: TrackingSettings, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=settings.artifact_location)


def _log_lineage(lineage: list[DatasetEntry]) -> None:
    for entry in lineage:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # local paths match two equivalent sources
            source = resolve_dataset_source(entry.uri)
        dataset = MetaDataset(source, name=entry.name, digest=entry.digest)
        context = "testing" if entry.name == "sequences/test" else "training"
        mlflow.log_input(dataset, context=context, tags={"rows": str(entry.rows), "files": str(entry.files)})
    mlflow.log_dict({"datasets": [e.as_dict() for e in lineage]}, "lineage/datasets.json")


@dataclass(frozen=True)
class RegisteredRun:
    run_id: str
    model_uri: str
    version: str
    score: float


def log_and_register(cfg: PipelineConfig, logical_date: date | None, run_dir: str, evaluation: dict[str, Any],
                     lineage: list[DatasetEntry], split: str, step_summaries: dict[str, Any],
                     run_uri: str = "") -> RegisteredRun:
    """One MLflow run for a trained + evaluated run directory (a local copy of `run_uri`, which the
    tags record; default `run_dir` itself); registers its model as a new version."""
    settings = tracking_settings(cfg)
    with fluent_tracking(settings):
        return _log_and_register(cfg, logical_date, run_dir, evaluation, lineage, split, step_summaries, settings,
                                 run_uri or run_dir)


def _log_and_register(cfg: PipelineConfig, logical_date: date | None, run_dir: str, evaluation: dict[str, Any],
                      lineage: list[DatasetEntry], split: str, step_summaries: dict[str, Any],
                      settings: TrackingSettings, run_uri: str) -> RegisteredRun:
    client = MlflowClient(settings.tracking_uri, settings.registry_uri)
    experiment_id = _experiment_id(client, settings, cfg.registry.experiment)
    run_path = Path(run_dir)
    history = json.loads((run_path / "history.json").read_text())
    score = primary_score(evaluation, cfg.registry.metric)
    dataset = cfg.dataset_storage()
    run_name = f"{cfg.dataset}-{run_path.name}"
    tags = {"dataset": cfg.dataset, "root": cfg.root, "logical_date": str(logical_date or ""), TAG_RUN_DIR: run_uri}

    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
        mlflow.log_params(flatten_params(to_dict(cfg)))
        now = int(time.time() * 1000)
        client.log_batch(run.info.run_id, metrics=[Metric(name, value, now, epoch)
                                                   for name, value, epoch in history_metrics(history)])
        mlflow.log_metrics(evaluation_metrics(evaluation["metrics"]))
        mlflow.log_metrics({metric_key(f"val/{name}"): float(v)
                            for name, v in evaluation.get("validation", {}).get(PRIMARY_MODEL, {}).items()})
        mlflow.log_metric("test_examples", float(evaluation.get("test_examples", 0)))
        for path in evaluation.get("report", {}).values():
            if isinstance(path, str) and Path(path).is_file():
                mlflow.log_artifact(path, artifact_path="report")
        for name in ("config.json", "history.json"):
            mlflow.log_artifact(str(run_path / name), artifact_path="run")
        _log_lineage(lineage)
        mlflow.log_dict(step_summaries, "lineage/steps.json")

        with tempfile.TemporaryDirectory(prefix="mtstrec-pyfunc-") as staging:
            artifacts = stage_artifacts(run_dir, dataset, Path(staging))
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(PYFUNC_ENTRY),
                artifacts=artifacts,
                code_paths=[str(Path(mtstrec.__file__).parent)],
                signature=SIGNATURE,
                input_example=input_example(dataset),
                pip_requirements=pip_requirements(),
                model_config={"ranking": cfg.serve.ranking, "shortlist": cfg.serve.shortlist},
                registered_model_name=cfg.registry.model_name,
            )
    version_id = str(info.registered_model_version)
    test_score = primary_score(evaluation, cfg.registry.metric, split="metrics")
    for key, value in {TAG_SCORE: repr(score), TAG_TEST_SCORE: repr(test_score), TAG_METRIC: cfg.registry.metric,
                       TAG_SPLIT: split,
                       TAG_RUN_DIR: run_uri, "dataset": cfg.dataset, "logical_date": str(logical_date or "")}.items():
        client.set_model_version_tag(cfg.registry.model_name, version_id, key, value)
    log.info("logged run %s; registered %s version %s (%s = %.4f)", run.info.run_id, cfg.registry.model_name,
             version_id, cfg.registry.metric, score)
    return RegisteredRun(run_id=run.info.run_id, model_uri=info.model_uri, version=version_id, score=score)
