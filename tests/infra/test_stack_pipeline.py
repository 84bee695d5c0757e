"""The pipeline on the real-services stack, driven as a user drives it: Airflow's REST API.

Postgres holds Airflow's and MLflow's metadata, the storage root and MLflow's artifacts are on
the S3 endpoint (moto), tasks run in a Celery worker with its own working directory and TMPDIR.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.infra.pipeline_runs import DAG, DAY, RUN_TIMEOUT, output_digests, poll
from tests.infra.stack_clients import s3_keys

pytestmark = pytest.mark.slow


def test_pipeline_through_the_rest_api_on_s3_postgres_and_celery(stack, airflow, mlflow_rest, s3, reference_run,
                                                                  peak_rss):
    # Every output is on S3, none only on a worker's disk.
    keys = list(reference_run["digests"])
    assert any(k.startswith("bronze/transactions/date=") and k.endswith(".parquet") for k in keys), keys
    assert "bronze/items/part-0.parquet" in keys
    for modality in ("style", "image", "text"):
        assert any(k.startswith(f"features/{modality}/") and k.endswith(".parquet") for k in keys), modality
    snapshot = f"snapshots/date={DAY}/"
    for name in ("train", "val", "test"):
        assert f"{snapshot}sequences/{name}.parquet" in keys
    assert any(k.startswith(f"{snapshot}features/price/") for k in keys)
    run_dirs = {k.split("/")[1] for k in keys if k.startswith("runs/")}
    assert len(run_dirs) == 1 and next(iter(run_dirs)).startswith(DAY), run_dirs
    run_dir = f"runs/{next(iter(run_dirs))}/"
    for name in ("model.pt", "history.json", "COMPLETE"):
        assert run_dir + name in keys, name
    history = json.loads(s3.get_object(Bucket="mtstrec", Key=f"data/e2e/{run_dir}history.json")["Body"].read())
    assert len(history) >= 1

    # The tasks ran in the Celery worker, whose TMPDIR is its own: their local caches are there only.
    assert (stack.state / "worker-1" / "tmp" / "mtstrec-runs").is_dir(), "no task used the worker's TMPDIR"
    assert not (stack.state / "scheduler" / "tmp" / "mtstrec-runs").exists()

    # MLflow, through the tracking server's REST API: the run, its artifacts on S3, the version, the champion.
    experiment = mlflow_rest.get("experiments/get-by-name", experiment_name="mtstrec").json()["experiment"]
    runs = mlflow_rest.post("runs/search", {"experiment_ids": [experiment["experiment_id"]],
                                            "filter": "tags.dataset = 'e2e'"})["runs"]
    assert len(runs) == 1
    assert "full/ndcg_at_10" in {m["key"] for m in runs[0]["data"]["metrics"]}
    assert s3_keys(s3, "mlflow", "artifacts/"), "no MLflow artifact reached the S3 bucket"
    versions = mlflow_rest.versions("mtstrec-e2e")
    assert [v["version"] for v in versions] == ["1"]
    assert versions[0]["run_id"] == runs[0]["info"]["run_id"]
    champion = mlflow_rest.get("registered-models/alias", name="mtstrec-e2e", alias="champion")
    assert champion.status_code == 200 and champion.json()["model_version"]["version"] == "1"

    # A client in another container calls the server by its service name: accepted (--allowed-hosts) ...
    assert mlflow_rest.get("registered-models/get", host="mlflow:5000", name="mtstrec-e2e").status_code == 200
    # ... while a name not in --allowed-hosts is still refused (the check is on, not disabled).
    assert mlflow_rest.get("registered-models/get", host="attacker.example", name="mtstrec-e2e").status_code == 403

    # The same logical date again: every task runs again, the outputs are byte-identical, no new version.
    # Postgres, Airflow's and MLflow's database, restarts in the middle of it (while the model trains):
    # the components that exit on the lost connection are restarted by their supervisor, and the run
    # recovers, or a task that needed the database just then fails with a clear error (train does not
    # retry) and a rerun of what failed succeeds.
    started = time.monotonic()
    airflow.clear_run(DAG, "e2e")
    poll(lambda: airflow.states(DAG, "e2e").get("train") == "running", RUN_TIMEOUT, "train to run again")
    restarted = time.monotonic()
    stack.stop_postgres()
    time.sleep(3)
    stack.start_postgres()
    postgres_down_s = round(time.monotonic() - restarted, 1)
    run = airflow.wait_for_run(DAG, "e2e", RUN_TIMEOUT)
    outcome = "recovered"
    if run["state"] == "failed":
        failed = [ti for ti in airflow.task_instances(DAG, "e2e") if ti["state"] == "failed"]
        assert failed, airflow.states(DAG, "e2e")
        for ti in failed:
            assert '"error_detail"' in airflow.task_log(DAG, "e2e", ti), \
                f"{ti['task_id']} failed without an error in its log"
        outcome = "failed: " + ", ".join(ti["task_id"] for ti in failed) + "; rerun of the failed tasks succeeded"
        airflow.clear_tasks(DAG, "e2e", [ti["task_id"] for ti in failed], downstream=True)
        run = airflow.wait_for_run(DAG, "e2e", RUN_TIMEOUT)
    rerun_s = round(time.monotonic() - started, 1)
    assert run["state"] == "success", airflow.failure_report(DAG, "e2e")
    assert all(ti["try_number"] >= 2 for ti in airflow.task_instances(DAG, "e2e")), "a task did not run again"
    after = output_digests(s3, "e2e")
    before = reference_run["digests"]
    assert after.keys() == before.keys()
    assert [k for k in before if before[k] != after[k]] == []
    assert [v["version"] for v in mlflow_rest.versions("mtstrec-e2e")] == ["1"]
    champion = mlflow_rest.get("registered-models/alias", name="mtstrec-e2e", alias="champion").json()
    assert champion["model_version"]["version"] == "1"
    poll(lambda: all(info["running"] for info in stack.status().values()), 120, "every service to run again")
    restarts = {name: Path(info["log"]).read_text(errors="replace").count("[supervise]")
                for name, info in stack.status().items()}

    figures = {"stack_start_s": stack.endpoints().started_s, "first_run_wall_s": reference_run["wall_s"],
               "rerun_with_postgres_restart_wall_s": rerun_s, "postgres_down_s": postgres_down_s,
               "postgres_restart_outcome": outcome,
               "supervisor_restarts": {name: n for name, n in restarts.items() if n},
               "peak_rss_mb_so_far": round(peak_rss.peak / 2**20),
               "peak_pss_mb_so_far": round(peak_rss.peak_pss / 2**20)}
    (stack.state / "figures-e2e.json").write_text(json.dumps(figures, indent=2))
    print(f"\nstack figures: {figures}")
