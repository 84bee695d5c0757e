"""The Helm values' GPU pod mutation hook names the DAG's `gpu` pool tasks, no more and no fewer."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml
from airflow.dag_processing.dagbag import DagBag

REPO = Path(__file__).resolve().parents[2]


def gpu_tasks_of_the_hook() -> set[tuple[str, str]]:
    settings = yaml.safe_load((REPO / "infra" / "k8s" / "values.yaml").read_text())["airflowLocalSettings"]
    for node in ast.parse(settings).body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["GPU_TASKS"]:
            return ast.literal_eval(node.value)
    raise AssertionError("values.yaml airflowLocalSettings defines no GPU_TASKS")


def test_gpu_tasks_are_the_gpu_pool_tasks():
    dagbag = DagBag(dag_folder=str(REPO / "dags"))
    assert dagbag.import_errors == {}
    in_gpu_pool = {(dag.dag_id, task.task_id) for dag in dagbag.dags.values() for task in dag.tasks
                   if task.pool == "gpu"}
    assert in_gpu_pool
    assert gpu_tasks_of_the_hook() == in_gpu_pool
