"""Register two runs in a throwaway SQLite MLflow and check the champion gate end to end."""

import os
from datetime import date
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from mtstrec.storage import Storage
from mtstrec.tracking.settings import TrackingSettings, fluent_tracking
from tasks.promote import promote
from tasks.register import register
from tests.mtstrec.tracking.tracking_fixtures import RUN_DATE, item_id, write_dataset, write_run, write_test_split


def evaluation(run_dir: Path, ndcg: float, test_ndcg: float = 0.25) -> dict:
    """`ndcg` on validation (what the gate compares), `test_ndcg` on test (only reported)."""
    return {
        "metrics": {"MTSTRec": {"full/ndcg@10": test_ndcg, "sampled/hr@5": 0.5},
                    "popularity": {"full/ndcg@10": 0.01}},
        "validation": {"MTSTRec": {"full/ndcg@10": ndcg}},
        "report": {"markdown": str(run_dir / "report" / "report.md")},
        "test_examples": 3,
    }


@pytest.fixture
def tracked(tiny_run, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tiny_run


def test_register_logs_metrics_report_lineage_and_a_loadable_model(tracked):
    cfg, run_dir = tracked
    summary = register(cfg, date(2020, 8, 30), str(run_dir), evaluation(run_dir, 0.25), {"ingest": {"rows": 9}})
    assert "MLFLOW_TRACKING_URI" not in os.environ  # nothing leaks into the next run in this process

    root = Path(cfg.root).resolve()
    assert (root / "mlflow.db").exists() and (root / "mlartifacts").is_dir()
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    run = client.get_run(summary["run_id"])
    assert run.data.metrics["full/ndcg_at_10"] == 0.25
    assert run.data.metrics["val/full/ndcg_at_10"] == 0.25
    assert run.data.metrics["popularity/full/ndcg_at_10"] == 0.01
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_ndcg_at_5")] == [1, 2]
    assert run.data.params["model.d_model"] == "8"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "report")}
    assert artifacts == {"report/report.md"}
    inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert {"bronze/items", "sequences/test", "features/price"} <= set(inputs)
    assert {t.key: t.value for t in inputs["bronze/items"].tags}["rows"] == "12"
    assert summary["lineage_rows"]["sequences/test"] == 3

    uri = f"sqlite:///{root / 'mlflow.db'}"
    with fluent_tracking(TrackingSettings(uri, uri, None)):
        model = mlflow.pyfunc.load_model(f"models:/{cfg.registry.model_name}/{summary['version']}")
    out = model.predict(pd.DataFrame({"history": [[item_id(1), item_id(2)]]}))
    assert len(out["recommendations"][0]) == 10


def test_promotion_gate_moves_champion_only_for_a_better_model(tracked, tmp_path):
    cfg, run_dir = tracked
    day = date(2020, 8, 30)
    first = register(cfg, day, str(run_dir), evaluation(run_dir, 0.25), {})
    assert promote(cfg, day, first["version"])["promoted"]

    worse_dir = tmp_path / "worse"
    write_run(worse_dir, cfg, Storage(cfg.root).child(cfg.dataset).dated(RUN_DATE), seed=1)
    # Better on test, worse on validation: the gate selects on validation only.
    worse = register(cfg, day, str(worse_dir), evaluation(worse_dir, 0.10, test_ndcg=0.9), {})
    decision = promote(cfg, day, worse["version"])
    assert not decision["promoted"] and decision["champion_version"] == first["version"]

    client = MlflowClient(f"sqlite:///{Path(cfg.root).resolve() / 'mlflow.db'}")
    assert str(client.get_model_version_by_alias(cfg.registry.model_name, "champion").version) == first["version"]
    tags = client.get_model_version(cfg.registry.model_name, worse["version"]).tags
    assert tags["promotion.decision"] == "rejected"
    assert tags["promotion.champion_score"] == "0.250000"
    assert (tags["eval.score"], tags["eval.test_score"]) == ("0.1", "0.9")

    forced = promote(cfg, day, worse["version"], force=True)
    assert forced["promoted"]
    assert str(client.get_model_version_by_alias(cfg.registry.model_name, "champion").version) == worse["version"]


def test_a_champion_scored_on_an_older_split_is_re_evaluated_before_the_comparison(tracked, tmp_path):
    cfg, run_dir = tracked
    write_dataset(Storage(cfg.root).child(cfg.dataset).dated("2020-08-29"), [[1, 2, 3], [4, 5], [6]])
    first = register(cfg, date(2020, 8, 29), str(run_dir), evaluation(run_dir, 0.99), {})
    assert promote(cfg, None, first["version"])["promoted"]

    # The data moved on: the next day's snapshot has a new validation split. The champion's 0.99 was on the old one.
    dataset = Storage(cfg.root).child(cfg.dataset).dated("2020-08-30")
    write_test_split(dataset, [[1, 2], [3, 4, 5], [6, 7], [8]], split="val")
    newer_dir = tmp_path / "newer"
    write_run(newer_dir, cfg, dataset, seed=2)
    second = register(cfg, date(2020, 8, 30), str(newer_dir), evaluation(newer_dir, 1.0), {})
    decision = promote(cfg, None, second["version"])

    client = MlflowClient(f"sqlite:///{Path(cfg.root).resolve() / 'mlflow.db'}")
    tags = client.get_model_version(cfg.registry.model_name, second["version"]).tags
    rescored = float(tags["promotion.champion_score"])
    assert rescored != 0.99 and 0.0 <= rescored <= 1.0  # the champion's validation score on the new split
    assert decision["promoted"] and decision["champion_score"] == pytest.approx(rescored, abs=1e-6)
    assert not (run_dir / "metrics.json").exists()  # the champion's run directory is left alone
