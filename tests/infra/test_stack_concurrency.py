"""Concurrent runs on the real-services stack: a backfill of 3 days with 3 runs at once equals the same
3 days run one after another (per-date snapshots and leases, see docs/operations.md)."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest

from tests.infra.pipeline_runs import DAG, RUN_TIMEOUT, comparable_outputs, conf, poll

pytestmark = pytest.mark.slow

FROM, TO = "2020-08-27T00:00:00Z", "2020-08-30T00:00:00Z"  # the runs of 08-27, 08-28 and 08-29 (02:00 UTC)
DAYS = ["2020-08-27", "2020-08-28", "2020-08-29"]
# Price and id only, one epoch: the point is the data flow between concurrent runs, not the model.
LIGHT = {"modalities": ["id", "price"], "epochs": 1}
# Dataset names that occur in no file's text but as names (the comparison replaces them).
PARALLEL, SERIAL = "bf_parallel", "bf_serial"


def runs_of(airflow, dataset: str) -> list[dict]:
    runs = airflow.call("GET", f"/dags/{DAG}/dagRuns", params={"limit": 100})["dag_runs"]
    return [r for r in runs if r["conf"].get("dataset") == dataset]


def test_backfill_with_three_active_runs_equals_one_after_another(airflow, s3, mlflow_rest, raw_on_s3):
    # Three days at once: a backfill with 3 active runs. Airflow allows one backfill per DAG at a time, so the
    # same days one after another are triggered runs (03:00, the same day's partition): the DAG's
    # max_active_runs=1 queues them. Both sets run side by side, on datasets of their own.
    airflow.call("POST", "/backfills", json={"dag_id": DAG, "from_date": FROM, "to_date": TO, "max_active_runs": 3,
                                             "dag_run_conf": conf(PARALLEL, **LIGHT)})
    for day in DAYS:
        airflow.trigger(DAG, f"seq-{day}", f"{day}T03:00:00+00:00", conf(SERIAL, **LIGHT))

    def finished(dataset: str) -> list[dict] | None:
        runs = runs_of(airflow, dataset)
        return runs if len(runs) == 3 and all(r["state"] in ("success", "failed") for r in runs) else None

    most_at_once = 0

    def watch() -> list[dict] | None:
        nonlocal most_at_once
        most_at_once = max(most_at_once, sum(r["state"] == "running" for r in runs_of(airflow, PARALLEL)))
        return finished(PARALLEL)

    parallel = poll(watch, 3 * RUN_TIMEOUT, "the backfill with 3 active runs", interval=2)
    sequential = poll(lambda: finished(SERIAL), 3 * RUN_TIMEOUT, "the runs one after another", interval=2)
    for runs in (parallel, sequential):
        assert sorted(r["logical_date"][:10] for r in runs) == DAYS
        assert all(r["state"] == "success" for r in runs), [(r["dag_run_id"], r["state"]) for r in runs]
    assert most_at_once >= 2, "the backfill never had two runs active at once"
    spans = sorted((r["start_date"], r["end_date"]) for r in sequential)
    assert all(end <= next_start for (_, end), (next_start, _) in pairwise(spans)), spans

    # Same files, same contents: bronze, features, the three date snapshots, the three training runs.
    seq = comparable_outputs(s3, SERIAL, served=False)
    par = comparable_outputs(s3, PARALLEL, served=False)
    assert sum(k.startswith("snapshots/date=") and k.endswith("sequences/train.parquet") for k in par) == 3
    assert par.keys() == seq.keys()
    assert [k for k in seq if seq[k] != par[k]] == []
    assert len(mlflow_rest.versions(f"mtstrec-{PARALLEL}")) == len(mlflow_rest.versions(f"mtstrec-{SERIAL}")) == 3

    # The recommendations serve whichever version was champion when each run served (with 3 runs at once, a
    # later date's model may already be): each date has its partition, served by a registered version.
    for dataset in (PARALLEL, SERIAL):
        versions = {v["version"] for v in mlflow_rest.versions(f"mtstrec-{dataset}")}
        for day in DAYS:
            key = f"data/{dataset}/recommendations/date={day}/_manifest.json"
            manifest = json.loads(s3.get_object(Bucket="mtstrec", Key=key)["Body"].read())
            assert manifest["model_version"] in versions, (key, manifest)
