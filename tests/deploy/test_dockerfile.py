"""infra/Dockerfile: base image as an argument, Postgres drivers, a writable logs dir, /entrypoint."""

from __future__ import annotations

import re
import subprocess
import tomllib

from tests.deploy.deploy_files import INFRA, REPO

DOCKERFILE = (INFRA / "Dockerfile").read_text()


def optional_dependencies() -> dict[str, list[str]]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def test_base_image_is_a_build_argument():
    lines = [line for line in DOCKERFILE.splitlines() if line and not line.startswith("#")]
    assert lines[0].startswith("ARG BASE_IMAGE=")
    froms = [line for line in lines if line.startswith("FROM ")]
    assert froms and all(line.split()[1] == "${BASE_IMAGE}" for line in froms)


def test_image_installs_the_deploy_and_k8s_extras():
    """Row 1: asyncpg for Airflow 3.3 on Postgres; row 4: the FAB auth manager the Helm values use."""
    assert re.search(r"pip install .*-e '\.\[deploy,k8s\]'", DOCKERFILE)
    extras = optional_dependencies()
    assert any(dep.startswith("asyncpg") for dep in extras["deploy"])
    assert any(dep.startswith("psycopg2") for dep in extras["deploy"])
    assert any(dep.startswith("apache-airflow-providers-fab") for dep in extras["k8s"])
    assert any(dep.startswith("apache-airflow-providers-cncf-kubernetes") for dep in extras["k8s"])


def test_logs_dir_exists_and_belongs_to_the_airflow_user():
    """Row 2: a named volume starts as a copy of the image's directory, owner included."""
    assert "mkdir -p /opt/airflow/logs" in DOCKERFILE
    assert "chown -R 50000:0 /opt/airflow" in DOCKERFILE
    assert re.search(r"^USER 50000$", DOCKERFILE, flags=re.MULTILINE)


def test_entrypoint_runs_the_command_it_is_given():
    """Row 5: the chart's probes run `/entrypoint airflow jobs check ...`."""
    assert "COPY infra/docker/entrypoint /entrypoint" in DOCKERFILE
    assert re.search(r'^ENTRYPOINT \[.*"/entrypoint"\]$', DOCKERFILE, flags=re.MULTILINE)
    done = subprocess.run([INFRA / "docker" / "entrypoint", "sh", "-c", "echo $0 ran", "probe"],
                          capture_output=True, text=True, check=True)
    assert done.stdout == "probe ran\n"


def test_build_context_holds_everything_the_dockerfile_copies():
    """.dockerignore lets through only what is listed; a COPY of anything else fails the build."""
    allowed = {line[1:] for line in (REPO / ".dockerignore").read_text().splitlines() if line.startswith("!")}
    sources = [src for line in DOCKERFILE.splitlines() if line.startswith("COPY ") and "--from=" not in line
               for src in line.split()[1:-1]]
    assert sources
    for src in sources:
        src = src.rstrip("/")
        assert any(src == a or src.startswith(a + "/") for a in allowed), f"COPY {src} is outside the build context"
        assert (REPO / src).exists(), src
