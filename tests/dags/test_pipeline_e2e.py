"""The whole pipeline DAG with `dag.test()` on the tiny sample: data, MLflow run, registry and champion gate.

Two runs for the same logical date: a small real config, then a deliberately crippled one
(price only, one epoch). The second registers a version, must not take the champion alias,
and must leave the data partitions exactly as they were. Both end with the champion's batch
recommendations for every active customer.
"""

import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import mlflow
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest
from mlflow.tracking import MlflowClient

from mtstrec.data.sample import generate_sample
from mtstrec.tracking.settings import TrackingSettings, fluent_tracking

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
LOGICAL_DATE = datetime(2020, 8, 30, tzinfo=UTC)  # the tiny sample's last day
TINY = ["model.d_model=16", "train.baselines=false", "train.negatives=20", "eval.sampled_negatives=20",
        "features.batch_size=32"]


def rows(path: Path) -> int:
    files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
    return sum(pq.read_metadata(f).num_rows for f in files)


def check_recommendations(dataset: Path, day: date, version: str, k: int = 12, active_days: int = 90) -> None:
    """One row per customer active in the `active_days` up to `day`: k distinct catalog ids, none bought."""
    bought = (pl.scan_parquet(str(dataset / "bronze" / "transactions" / "**" / "*.parquet"))
              .filter(pl.col("date") <= day)
              .group_by("user_id").agg(pl.col("item_index").unique().alias("bought"), pl.col("date").max())
              .collect())
    active = bought.filter(pl.col("date") > day - timedelta(days=active_days))
    items = pl.read_parquet(dataset / "bronze" / "items")
    id_of = dict(zip(items["item_index"].to_list(), items["item_id"].to_list(), strict=True))
    bought_ids = {row["user_id"]: {id_of[i] for i in row["bought"]} for row in active.iter_rows(named=True)}
    recs = pl.read_parquet(dataset / "recommendations" / f"date={day.isoformat()}" / "*.parquet")
    assert recs.height == active.height > 0
    assert set(recs["user_id"]) == set(bought_ids)
    assert set(recs["model_version"]) == {version}
    for user, top in zip(recs["user_id"], recs["items"], strict=True):
        assert len(top) == k == len(set(top)) and set(top) <= set(id_of.values())
        assert not set(top) & bought_ids[user]


def digests(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*.parquet"))}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Migrate a fresh Airflow DB, generate the tiny sample and return a runner for the DAG."""
    subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"], env=os.environ.copy(),
                   check=True, capture_output=True)
    from airflow.dag_processing.dagbag import DagBag

    work = tmp_path_factory.mktemp("pipeline")
    sample = generate_sample(str(work / "raw"), preset="tiny", seed=0)
    dag = DagBag(dag_folder=str(REPO / "dags")).dags["mtstrec_pipeline"]
    base = {"root": str(work / "data"), "dataset": "tiny", "raw": str(work / "raw"), "config": "configs/demo.toml"}

    def run(**conf):
        return dag.test(logical_date=LOGICAL_DATE, run_conf={**base, **conf})

    return run, work / "data", sample


def test_pipeline_end_to_end_and_promotion_gate(pipeline):
    run, root, sample = pipeline
    dataset = root / "tiny"
    snapshot = dataset / "snapshots" / f"date={LOGICAL_DATE.date().isoformat()}"  # the date's own files

    first = run(epochs=2, modalities=["id", "style", "image", "text", "price"], overrides=TINY)
    assert first.state == "success"

    # Data: every raw row is in bronze or in quarantine; every item has one row per feature table.
    bronze_rows = rows(dataset / "bronze" / "transactions")
    assert bronze_rows + rows(dataset / "quarantine" / "ingest") == sample["transactions"]
    items = rows(dataset / "bronze" / "items")
    assert 0 < items <= sample["articles"]
    for modality in ("style", "image", "text"):
        assert rows(dataset / "features" / modality) == items, modality
    assert rows(snapshot / "features" / "price") == rows(snapshot / "bronze" / "items") == items  # the last day
    split = json.loads((snapshot / "sequences" / "split.json").read_text())
    for name in ("train", "val", "test"):
        assert rows(snapshot / "sequences" / f"{name}.parquet") == split["counts"][name] > 0
    data_before = digests(dataset / "bronze") | digests(snapshot)

    # MLflow: a run with per-epoch and test metrics, the report, and a registered champion.
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri)
    (run_info,) = client.search_runs([client.get_experiment_by_name("mtstrec").experiment_id])
    assert "full/ndcg_at_10" in run_info.data.metrics
    assert len(client.get_metric_history(run_info.info.run_id, "train_loss")) == 2
    report = {a.path for a in client.list_artifacts(run_info.info.run_id, "report")}
    assert any(p.endswith(".md") for p in report) and any(p.endswith(".png") for p in report)
    champion = client.get_model_version_by_alias("mtstrec", "champion")
    assert str(champion.version) == "1"

    with fluent_tracking(TrackingSettings(tracking_uri, tracking_uri, None)):
        model = mlflow.pyfunc.load_model("models:/mtstrec@champion")
    item_ids = set(pq.read_table(dataset / "bronze" / "items", columns=["item_id"]).column("item_id").to_pylist())
    index_to_id = dict(zip(*pq.read_table(dataset / "bronze" / "items", columns=["item_index", "item_id"])
                           .to_pydict().values(), strict=True))
    histories = [[index_to_id[i] for i in h]
                 for h in pq.read_table(snapshot / "sequences" / "test.parquet").column("history").to_pylist()[:5]]
    out = model.predict(pd.DataFrame({"history": histories}))
    assert len(out) == 5
    for history, top in zip(histories, out["recommendations"], strict=True):
        assert len(top) == 10 and len(set(top)) == 10
        assert set(top) <= item_ids and not set(top) & set(history)

    # Batch recommendations: the champion's top 12 for every customer active in the last 90 days.
    check_recommendations(dataset, LOGICAL_DATE.date(), version="1")

    # A crippled run for the same date: registered, not promoted, and no data duplicated.
    second = run(epochs=1, modalities=["price"], overrides=TINY)
    assert second.state == "success"
    versions = {str(v.version): v for v in client.search_model_versions("name='mtstrec'")}
    assert set(versions) == {"1", "2"}
    assert str(client.get_model_version_by_alias("mtstrec", "champion").version) == "1"
    rejected = versions["2"].tags
    assert rejected["promotion.decision"] == "rejected"
    assert float(rejected["promotion.candidate_score"]) <= float(rejected["promotion.champion_score"])
    assert rows(dataset / "bronze" / "transactions") == bronze_rows
    assert digests(dataset / "bronze") | digests(snapshot) == data_before
    assert len(list((dataset / "quarantine" / "ingest").glob("*.parquet"))) == 1
    # Tonight's rejected model serves nothing: the partition was replaced, still by the champion.
    check_recommendations(dataset, LOGICAL_DATE.date(), version="1")
    assert len(list((dataset / "recommendations" / "date=2020-08-30").glob("*.parquet"))) == 1
