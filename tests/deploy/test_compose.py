"""infra/compose: every service starts through infra/bin, and the table of issue 8 stays fixed."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from tests.deploy.deploy_files import INFRA, REPO, check_service_command

MTSTREC_IMAGE = "mtstrec:0.1.0"


def mtstrec_services(compose: dict) -> dict[str, dict]:
    return {name: svc for name, svc in compose["services"].items() if svc.get("image") == MTSTREC_IMAGE}


def test_every_service_of_the_image_starts_through_infra_bin(compose):
    services = mtstrec_services(compose)
    started = {name: check_service_command(svc["command"]) for name, svc in services.items()}
    assert {(script.name, sub) for script, sub in started.values()} == {
        ("mlflow-server", None),
        ("airflow-component", "init"),
        ("airflow-component", "api-server"),
        ("airflow-component", "scheduler"),
        ("airflow-component", "dag-processor"),
        ("airflow-component", "triggerer"),
        ("airflow-component", "celery-worker"),
    }


def test_image_is_built_from_a_base_image_argument(compose):
    build = compose["services"]["mlflow"]["build"]
    assert build["dockerfile"] == "infra/Dockerfile"
    assert "BASE_IMAGE" in build["args"]


def test_airflow_runs_on_postgres_with_celery_and_no_local_run_dirs(compose):
    for name, svc in mtstrec_services(compose).items():
        if name == "mlflow":
            continue
        env = svc["environment"]
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql"), name
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        # Row 7: everything, training runs included, lives under the S3 storage root.
        assert env["MTSTREC_ROOT"].startswith("s3://"), name
        assert not any("runs_dir" in o for o in json.loads(env["MTSTREC_OVERRIDES"])), name
        # Row 2: the only volume is the logs volume, whose mount point the image creates for uid 50000.
        assert svc["volumes"] == ["airflow-logs:/opt/airflow/logs"], name


def test_every_database_url_names_a_driver_the_image_installs(compose):
    """SQLAlchemy 2.1 opens a bare postgresql:// with psycopg 3, which the image does not install (it has
    psycopg2 and asyncpg, the `deploy` extra): the Celery result backend died at start-up with
    "No module named 'psycopg'" in the first compose run (2026-12-01)."""
    urls = {f"{name}: {key}": value.removeprefix("db+") for name, svc in mtstrec_services(compose).items()
            for key, value in svc["environment"].items()
            if isinstance(value, str) and re.match(r"(db\+)?postgresql", value)}
    assert any("RESULT_BACKEND" in where for where in urls)
    for where, url in urls.items():
        concrete = re.sub(r"\$\{\w+\}", "x", url)
        make_url(concrete).get_dialect().import_dbapi()  # raises ModuleNotFoundError for a missing driver
        assert make_url(concrete).drivername == "postgresql+psycopg2", where


def test_mlflow_accepts_the_host_header_the_containers_send(compose):
    """Row 3: MLflow >= 3.5 answers 403 to Host headers it was not told about."""
    allowed = compose["services"]["mlflow"]["environment"]["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    clients = {svc["environment"]["MLFLOW_TRACKING_URI"] for svc in mtstrec_services(compose).values()
               if "MLFLOW_TRACKING_URI" in svc["environment"]}
    assert clients
    for uri in clients:
        assert urlsplit(uri).netloc in allowed
        assert urlsplit(uri).hostname in compose["services"]


def test_ports_are_published_on_localhost_by_default(compose):
    for name, svc in compose["services"].items():
        for port in svc.get("ports", []):
            assert port.startswith("${BIND_ADDRESS:-127.0.0.1}:"), (name, port)


def test_local_override_replaces_every_docker_hub_image(compose, compose_local):
    hub = {name for name, svc in compose["services"].items() if svc.get("image") != MTSTREC_IMAGE}
    assert hub == {"postgres", "redis", "minio", "minio-buckets"}
    for name in hub:
        assert compose_local["services"][name]["image"].startswith("mtstrec-local/"), name
    for svc in compose_local["services"].values():
        if "build" in svc:
            dockerfile = INFRA / "compose" / svc["build"]["context"] / svc["build"]["dockerfile"]
            assert re.search(r"^ARG BASE_IMAGE=", dockerfile.read_text(), flags=re.MULTILINE), dockerfile


def test_operations_compose_quick_start_unpauses_before_triggering():
    """Row 9: a paused DAG's run sits queued."""
    docs = (REPO / "docs" / "operations.md").read_text()
    section = docs[docs.index("### Docker Compose"):]
    section = section[: section.index("\n### ", 1)]
    unpause, trigger = "airflow dags unpause mtstrec_pipeline", "airflow dags trigger mtstrec_pipeline"
    assert unpause in section
    assert section.index(unpause) < section.index(trigger)


def test_long_running_services_restart_and_one_shot_jobs_do_not(compose):
    """Airflow components exit when Postgres restarts under them; compose starts them again."""
    one_shot = {"airflow-init", "minio-buckets"}
    for name, svc in compose["services"].items():
        assert svc.get("restart", "no") == ("no" if name in one_shot else "unless-stopped"), name
