import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from airflow.dag_processing.dagbag import DagBag

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "dags"


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_dags_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"mtstrec_pipeline", "mtstrec_promote"}


def test_pipeline_tasks_and_dependencies(dagbag):
    dag = dagbag.dags["mtstrec_pipeline"]
    upstream = {t.task_id: t.upstream_task_ids for t in dag.tasks}
    assert upstream["ingest"] == set()
    assert upstream["check_bronze"] == {"ingest"}
    assert upstream["plan_feature_shards"] == {"check_bronze"}
    assert upstream["extract_features"] == {"plan_feature_shards"}
    assert upstream["build_sequences"] == {"check_bronze"}
    assert upstream["extract_price_features"] == {"extract_features", "build_sequences"}
    assert upstream["train"] == {"extract_price_features"}
    assert upstream["evaluate"] == {"train"}
    assert {"train", "evaluate"} <= upstream["register"]
    assert upstream["promote"] == {"register"}
    assert upstream["recommend_batch"] == {"promote"}


def test_pipeline_scheduling_pool_retries_and_assets(dagbag):
    dag = dagbag.dags["mtstrec_pipeline"]
    assert dag.catchup is False
    assert dag.timetable.expression == "0 2 * * *"
    tasks = {t.task_id: t for t in dag.tasks}
    assert tasks["extract_features"].pool == "gpu"
    assert tasks["train"].retries == 0
    assert tasks["ingest"].retries == 3 and tasks["ingest"].retry_exponential_backoff
    assert tasks["extract_price_features"].trigger_rule == "none_failed"
    outlets = {t.task_id: {a.name for a in t.outlets} for t in dag.tasks if t.outlets}
    assert outlets == {"ingest": {"mtstrec_bronze"}, "build_sequences": {"mtstrec_sequences"},
                       "extract_price_features": {"mtstrec_features"},
                       "recommend_batch": {"mtstrec_recommendations"}}


def test_params_are_validated_by_schema(dagbag):
    from airflow.sdk.definitions.param import ParamValidationError

    params = dagbag.dags["mtstrec_pipeline"].params
    good = {"dataset": "hm", "root": "s3://bucket/mtstrec", "raw": "/data/hm", "layout": "generic",
            "modalities": ["id", "text"], "config": "configs/demo.toml", "epochs": 3, "overrides": ["train.lr=0.001"]}
    for key, value in good.items():
        params[key] = value
    params.validate()
    for key, bad in {"layout": "csv", "modalities": ["sound"], "epochs": 0, "dataset": "a/b",
                     "overrides": ["no-equals-sign"]}.items():
        with pytest.raises(ParamValidationError):
            params[key] = bad
        params[key] = good[key]


def test_promote_dag_requires_a_version(dagbag):
    from airflow.sdk.definitions.param import ParamValidationError

    params = dagbag.dags["mtstrec_promote"].params
    with pytest.raises(ParamValidationError):
        params.validate()
    params["version"] = "3"
    assert params.validate()["force"] is False



def test_the_dag_imports_under_the_charts_local_settings(tmp_path):
    """Row 6 of issue 8: with the Helm values' `airflow_local_settings` active (the KubernetesExecutor's GPU
    pod mutation hook), the DAG, mapped `extract_features` included, imports in a fresh interpreter the way
    a dag-processor loads it. The old cluster policy set `executor_config`, which mapped tasks refuse."""
    settings = yaml.safe_load((REPO / "infra" / "k8s" / "values.yaml").read_text())["airflowLocalSettings"]
    (tmp_path / "airflow_local_settings.py").write_text(settings)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
           "AIRFLOW_HOME": str(tmp_path / "home"), "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER)}
    code = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
mapped = bag.dags["mtstrec_pipeline"].get_task("extract_features")
try:
    mapped.executor_config = {"pod_override": None}
    settable = True
except AttributeError:
    settable = False
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": sorted(bag.dag_ids),
                  "settings": sys.modules["airflow_local_settings"].__file__, "executor_config_settable": settable}))
"""
    out = subprocess.run([sys.executable, "-c", code, str(DAGS_FOLDER)], env=env, capture_output=True, text=True,
                         check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["settings"] == str(tmp_path / "airflow_local_settings.py")
    assert result["errors"] == {} and result["dags"] == ["mtstrec_pipeline", "mtstrec_promote"]
    assert result["executor_config_settable"] is False
