"""Nightly MTSTRec pipeline.

ingest -> quality -> features (mapped over item shards) + sequences -> price -> train -> evaluate
-> register -> promote -> recommend_batch.

Each task calls one `tasks/` function with the PipelineConfig built from the run's params
(`tasks.pipeline_config`) and passes a small summary on. Every run reads and writes its
logical date's partitions and snapshot through the storage root, so `airflow backfill create`
replays past days (several at once), any task may run on another machine, and a new dataset
needs params only (see docs/operations.md).
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag, task

from tasks.pipeline_config import LAYOUTS, MODALITIES, config_from_params, partition_date

BRONZE = Asset(name="mtstrec_bronze", uri="x-mtstrec://bronze", group="mtstrec")
FEATURES = Asset(name="mtstrec_features", uri="x-mtstrec://features", group="mtstrec")
SEQUENCES = Asset(name="mtstrec_sequences", uri="x-mtstrec://sequences", group="mtstrec")
RECOMMENDATIONS = Asset(name="mtstrec_recommendations", uri="x-mtstrec://recommendations", group="mtstrec")

# I/O steps retry with exponential backoff (30 s, 60 s, 120 s); training never retries on its own.
IO_RETRIES = {"retries": 3, "retry_delay": timedelta(seconds=30), "retry_exponential_backoff": 2.0,
              "max_retry_delay": timedelta(minutes=10)}
GPU_POOL = "gpu"

PARAMS = {
    "dataset": Param(os.environ.get("MTSTREC_DATASET", "demo"), type="string", pattern=r"^[A-Za-z0-9_.-]+$",
                     description="dataset name under the root"),
    "root": Param(os.environ.get("MTSTREC_ROOT", "data"), type="string", minLength=1,
                  description="storage root: a local path or s3://bucket/prefix"),
    "raw": Param(None, type=["null", "string"], description="raw data location (default: config ingest.raw)"),
    "layout": Param(None, type=["null", "string"], enum=[None, *LAYOUTS], description="raw layout"),
    "modalities": Param(None, type=["null", "array"], items={"type": "string", "enum": list(MODALITIES)},
                        minItems=1, uniqueItems=True, description="active modalities (default: config)"),
    "config": Param(os.environ.get("MTSTREC_CONFIG", ""), type="string",
                    description="pipeline config file (TOML/JSON); relative paths resolve against the repo"),
    "epochs": Param(None, type=["null", "integer"], minimum=1, description="training epochs (default: config)"),
    "overrides": Param([], type="array", items={"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_.]*=.*$"},
                       description="extra config overrides, e.g. train.lr=0.001"),
}


def _bound(params, logical_date):
    """The run's config and the day it processes."""
    return config_from_params(params), partition_date(logical_date)


def _mark(outlet_events, asset: Asset, cfg, day) -> None:
    outlet_events[asset].extra = {"root": cfg.root, "dataset": cfg.dataset, "date": str(day or "")}


@dag(
    dag_id="mtstrec_pipeline",
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2020, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params=PARAMS,
    tags=["mtstrec"],
    doc_md=__doc__,
)
def mtstrec_pipeline():
    @task(**IO_RETRIES, outlets=[BRONZE])
    def ingest(params=None, logical_date=None, outlet_events=None) -> dict:
        from tasks.ingest import ingest as run_ingest

        cfg, day = _bound(params, logical_date)
        summary = run_ingest(cfg, day)
        _mark(outlet_events, BRONZE, cfg, day)
        return summary

    @task(retries=0)
    def check_bronze(params=None, logical_date=None) -> dict:
        from tasks.quality import check_bronze as run_checks

        return run_checks(*_bound(params, logical_date))

    @task(**IO_RETRIES)
    def plan_feature_shards(params=None, logical_date=None) -> list[int]:
        from tasks.features import plan_shards

        return plan_shards(*_bound(params, logical_date))

    @task(**IO_RETRIES, pool=GPU_POOL, map_index_template="shard {{ task.op_kwargs['shard'] }}")
    def extract_features(shard: int, params=None, logical_date=None) -> dict:
        from tasks.features import extract_features as run_extract

        cfg, day = _bound(params, logical_date)
        return run_extract(cfg, day, shard=shard)

    @task(**IO_RETRIES, outlets=[SEQUENCES])
    def build_sequences(params=None, logical_date=None, outlet_events=None) -> dict:
        from tasks.sequences import build_sequences as run_sequences

        cfg, day = _bound(params, logical_date)
        summary = run_sequences(cfg, day)
        _mark(outlet_events, SEQUENCES, cfg, day)
        return summary

    # Runs even when no image/text shard was planned (e.g. a price-only config).
    @task(**IO_RETRIES, trigger_rule="none_failed", outlets=[FEATURES])
    def extract_price_features(params=None, logical_date=None, outlet_events=None) -> dict:
        from tasks.features import extract_price_features as run_price

        cfg, day = _bound(params, logical_date)
        summary = run_price(cfg, day)
        _mark(outlet_events, FEATURES, cfg, day)
        return summary

    # A failed training run is deterministic more often than not: no automatic retry.
    @task(retries=0, pool=GPU_POOL)
    def train(params=None, logical_date=None) -> dict:
        from tasks.train import train as run_train

        return run_train(*_bound(params, logical_date))

    # Evaluation is deterministic compute: a failure would fail again.
    @task(retries=0)
    def evaluate(trained: dict) -> dict:
        from tasks.evaluate import evaluate as run_evaluate

        return run_evaluate(trained["run_dir"])

    @task(**IO_RETRIES)
    def register(trained: dict, evaluation: dict, steps: dict, params=None, logical_date=None) -> dict:
        from tasks.register import register as run_register

        cfg, day = _bound(params, logical_date)
        return run_register(cfg, day, trained["run_dir"], evaluation, steps)

    @task(**IO_RETRIES)
    def promote(registered: dict, params=None, logical_date=None) -> dict:
        from tasks.promote import promote as run_promote

        cfg, day = _bound(params, logical_date)
        return run_promote(cfg, day, registered["version"])

    # Serving: the champion (not necessarily tonight's model) scores every active customer.
    @task(**IO_RETRIES, outlets=[RECOMMENDATIONS])
    def recommend_batch(promoted: dict, params=None, logical_date=None, outlet_events=None) -> dict:
        from tasks.recommend_batch import recommend_batch as run_recommend

        cfg, day = _bound(params, logical_date)
        summary = run_recommend(cfg, day)
        _mark(outlet_events, RECOMMENDATIONS, cfg, day)
        return summary

    ingested = ingest()
    checked = check_bronze()
    shards = plan_feature_shards()
    features = extract_features.expand(shard=shards)
    sequences = build_sequences()
    price = extract_price_features()
    trained = train()
    evaluation = evaluate(trained)
    steps = {"ingest": ingested, "quality": checked, "sequences": sequences, "price": price, "train": trained}
    registered = register(trained, evaluation, steps)
    ingested >> checked >> [shards, sequences]
    [features, sequences] >> price >> trained
    recommend_batch(promote(registered))


mtstrec_pipeline()
