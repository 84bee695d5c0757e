"""Clients of the running stack for the tests: Airflow's public REST API, MLflow's REST API, S3."""

from __future__ import annotations

import time
from typing import Any

import boto3
import requests

from infra.stack.stack import Stack


class AirflowAPI:
    """Airflow 3's public API (/api/v2) with a JWT from the simple auth manager."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.base = stack.endpoints().airflow_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {stack.api_token()}"

    def call(self, method: str, path: str, ok: tuple[int, ...] = (200,), **kwargs) -> Any:
        resp = self.session.request(method, f"{self.base}/api/v2{path}", timeout=120, **kwargs)
        if resp.status_code not in ok:
            raise AssertionError(f"{method} /api/v2{path} -> {resp.status_code}: {resp.text[:2000]}")
        return resp.json() if resp.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 300) -> dict:
        """Until the dag-processor has parsed and serialized the DAG."""
        deadline = time.monotonic() + timeout
        while True:
            resp = self.session.get(f"{self.base}/api/v2/dags/{dag_id}", timeout=30)
            if resp.status_code == 200:
                return resp.json()
            if time.monotonic() > deadline:
                raise AssertionError(f"DAG {dag_id} not parsed within {timeout} s: {resp.status_code} "
                                     f"{resp.text[:500]}; see {self.stack.table.log('airflow-dag-processor')}")
            time.sleep(2)

    def unpause(self, dag_id: str) -> None:
        assert self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})["is_paused"] is False

    def trigger(self, dag_id: str, run_id: str, logical_date: str, conf: dict) -> dict:
        return self.call("POST", f"/dags/{dag_id}/dagRuns",
                         json={"dag_run_id": run_id, "logical_date": logical_date, "conf": conf})

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                         params={"limit": 100})["task_instances"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> dict:
        """Until the run ends; returns it. Fails with the tasks' states and the log folder on a timeout."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(dag_id, run_id)
            if run["state"] in ("success", "failed"):
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} still {run['state']} after {timeout} s: "
                                     f"{self.states(dag_id, run_id)}; task logs under {self.stack.state}/airflow/logs")
            time.sleep(3)

    def states(self, dag_id: str, run_id: str) -> dict[str, str]:
        return {f"{ti['task_id']}[{ti['map_index']}]" if ti["map_index"] >= 0 else ti["task_id"]: ti["state"]
                for ti in self.task_instances(dag_id, run_id)}

    def task_log(self, dag_id: str, run_id: str, ti: dict) -> str:
        """The log of the task instance's current try, as written under the stack's state folder ("" if none)."""
        folder = self.stack.state / "airflow" / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
        folder = folder / f"task_id={ti['task_id']}"
        if ti["map_index"] >= 0:
            folder = folder / f"map_index={ti['map_index']}"
        log = folder / f"attempt={ti['try_number']}.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def failure_report(self, dag_id: str, run_id: str, lines: int = 40) -> str:
        """The states of the tasks that did not succeed, each failed one with the end of its log (the local
        stack's state folder, logs included, is gone once its fixture ends, so this is what CI keeps)."""
        report = []
        for ti in self.task_instances(dag_id, run_id):
            if ti["state"] == "success":
                continue
            name = ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else "")
            report.append(f"== {name}: {ti['state']} (try {ti['try_number']})")
            if ti["state"] in ("failed", "up_for_retry"):
                report += self.task_log(dag_id, run_id, ti).splitlines()[-lines:]
        return "\n".join(report)

    def clear_run(self, dag_id: str, run_id: str) -> None:
        """Run every task of the run again (same logical date)."""
        self.call("POST", f"/dags/{dag_id}/dagRuns/{run_id}/clear", json={"dry_run": False})

    def clear_tasks(self, dag_id: str, run_id: str, task_ids: list[str], downstream: bool = False) -> None:
        self.call("POST", f"/dags/{dag_id}/clearTaskInstances",
                  json={"dry_run": False, "dag_run_id": run_id, "task_ids": task_ids, "only_failed": False,
                        "include_downstream": downstream, "reset_dag_runs": True})


class MlflowREST:
    """The tracking server's REST API, as any client on the network sees it."""

    def __init__(self, stack: Stack):
        self.base = stack.endpoints().mlflow_url

    def get(self, path: str, host: str | None = None, **params) -> requests.Response:
        headers = {"Host": host} if host else {}
        return requests.get(f"{self.base}/api/2.0/mlflow/{path}", params=params, headers=headers, timeout=30)

    def post(self, path: str, body: dict) -> dict:
        resp = requests.post(f"{self.base}/api/2.0/mlflow/{path}", json=body, timeout=30)
        assert resp.status_code == 200, f"POST {path} -> {resp.status_code}: {resp.text[:1000]}"
        return resp.json()

    def versions(self, model: str) -> list[dict]:
        resp = self.get("model-versions/search", filter=f"name='{model}'")
        assert resp.status_code == 200, resp.text[:1000]
        return resp.json().get("model_versions", [])


def s3_client(stack: Stack):
    env = stack.client_env()
    return boto3.client("s3", endpoint_url=env["MTSTREC_S3_ENDPOINT_URL"], region_name="us-east-1",
                        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])


def s3_keys(s3, bucket: str, prefix: str) -> list[str]:
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [obj["Key"] for obj in page.get("Contents", [])]
    return sorted(keys)


def s3_objects(s3, bucket: str, prefix: str, skip_dirs: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Every object under `prefix` (keys relative to it), but those inside a folder named in `skip_dirs`."""
    out = {}
    for key in s3_keys(s3, bucket, prefix):
        rel = key[len(prefix):]
        if not set(rel.split("/")[:-1]) & set(skip_dirs):
            out[rel] = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return out

