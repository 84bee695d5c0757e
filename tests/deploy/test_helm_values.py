"""infra/k8s: Helm values for the official chart, the MLflow server and the GPU pod template."""

from __future__ import annotations

import ast
import json
from urllib.parse import urlsplit

from tests.deploy.deploy_files import INFRA, check_service_command, load_yaml, load_yaml_docs

PIPELINE_ENV = ("MTSTREC_ROOT", "MTSTREC_DATASET", "MTSTREC_CONFIG", "MTSTREC_OVERRIDES", "MLFLOW_TRACKING_URI")


def env_of(entries: list[dict]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in entries if "value" in e}


def local_settings(values: dict) -> ast.Module:
    return ast.parse(values["airflowLocalSettings"])


def test_components_start_through_infra_bin(values):
    started = {key: check_service_command(values[key]["args"])[1]
               for key in ("migrateDatabaseJob", "apiServer", "scheduler", "dagProcessor")}
    assert started == {"migrateDatabaseJob": "init", "apiServer": "api-server", "scheduler": "scheduler",
                       "dagProcessor": "dag-processor"}


def test_auth_manager_is_fab_and_the_first_admin_comes_from_a_secret(values):
    """Row 4: the chart's createUserJob runs `airflow users create`, a FAB command (the image installs FAB)."""
    assert values["config"]["core"]["auth_manager"].endswith("FabAuthManager")
    assert values["webserver"]["defaultUser"]["enabled"] is True
    assert "password" not in values["webserver"]["defaultUser"]
    job = values["createUserJob"]
    assert job["args"][2].startswith("exec airflow users create")
    mount = job["extraVolumeMounts"][0]
    assert f"$(cat {mount['mountPath']}/password)" in job["args"][2]
    assert job["extraVolumes"][0]["secret"]["secretName"] == "mtstrec-airflow-admin"


def test_probes_are_the_charts_own(values):
    """Row 5: the probes keep the chart's `/entrypoint airflow jobs check` (the image has /entrypoint);
    the log groomers need the official image's /clean-logs and are off."""
    for key in ("scheduler", "dagProcessor"):
        assert "livenessProbe" not in values[key], key
        assert values[key]["logGroomerSidecar"] == {"enabled": False}, key


def test_gpu_mechanism_does_not_touch_task_attributes(values):
    """Row 6: `executor_config` is read-only on mapped tasks; a pod mutation hook reads pod labels instead."""
    module = local_settings(values)
    functions = {node.name for node in module.body if isinstance(node, ast.FunctionDef)}
    assert "pod_mutation_hook" in functions
    assert "task_policy" not in functions
    assert "executor_config" not in values["airflowLocalSettings"]


def test_pod_mutation_hook_gives_gpu_tasks_a_gpu_and_leaves_the_rest(values):
    from kubernetes.client import models as k8s

    namespace: dict = {}
    exec(compile(local_settings(values), "airflow_local_settings.py", "exec"), namespace)

    def pod(task_id: str) -> k8s.V1Pod:
        return k8s.V1Pod(
            metadata=k8s.V1ObjectMeta(labels={"dag_id": "mtstrec_pipeline", "task_id": task_id, "map_index": "3"}),
            spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="base", image="mtstrec")]),
        )

    gpu = pod("extract_features")
    namespace["pod_mutation_hook"](gpu)
    base = gpu.spec.containers[0]
    assert base.resources.limits["nvidia.com/gpu"] == "1"
    assert [m.mount_path for m in base.volume_mounts] == ["/dev/shm"]
    assert gpu.spec.volumes[0].empty_dir.medium == "Memory"
    assert gpu.spec.node_selector == {"nvidia.com/gpu.present": "true"}
    assert gpu.spec.tolerations[0].key == "nvidia.com/gpu"

    cpu = pod("ingest")
    namespace["pod_mutation_hook"](cpu)
    assert cpu == pod("ingest")


def test_pipeline_env_keeps_everything_on_the_storage_root(values):
    """Row 7: no run directory on a pod's disk; no volume for one either."""
    env = env_of(values["env"])
    assert env["MTSTREC_ROOT"].startswith("s3://")
    assert not any("runs_dir" in o for o in json.loads(env["MTSTREC_OVERRIDES"]))
    assert "volumes" not in values and "volumeMounts" not in values


def test_mlflow_is_deployed_where_the_pipeline_looks_for_it(values):
    """Rows 8 and 3: a Deployment running infra/bin/mlflow-server behind the Service the tracking URI names,
    accepting that name as Host header."""
    docs = {doc["kind"]: doc for doc in load_yaml_docs(INFRA / "k8s" / "mlflow.yaml")}
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    check_service_command(container["args"])
    uri = urlsplit(env_of(values["env"])["MLFLOW_TRACKING_URI"])
    service = docs["Service"]
    assert uri.hostname.split(".")[0] == service["metadata"]["name"]
    assert uri.port == service["spec"]["ports"][0]["port"]
    allowed = env_of(container["env"])["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    assert uri.netloc in allowed
    for probe in ("readinessProbe", "livenessProbe"):
        headers = container[probe]["httpGet"]["httpHeaders"]
        assert {"name": "Host", "value": "localhost"} in headers
        assert "localhost" in allowed


def test_gpu_pod_template_uses_the_deployments_pipeline_env(values):
    """Row 10: `mtstrec train` in the template reads MTSTREC_ROOT & co., the same as the Airflow pods."""
    template = load_yaml(INFRA / "k8s" / "gpu-pod-template.yaml")
    env = env_of(template["spec"]["containers"][0]["env"])
    deployment_env = env_of(values["env"])
    assert {k: env.get(k) for k in PIPELINE_ENV} == {k: deployment_env[k] for k in PIPELINE_ENV}
