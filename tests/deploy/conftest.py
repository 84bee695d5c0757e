from __future__ import annotations

import pytest

from tests.deploy.deploy_files import INFRA, load_yaml


@pytest.fixture(scope="session")
def compose() -> dict:
    return load_yaml(INFRA / "compose" / "docker-compose.yml")


@pytest.fixture(scope="session")
def compose_local() -> dict:
    return load_yaml(INFRA / "compose" / "docker-compose.local.yml")


@pytest.fixture(scope="session")
def values() -> dict:
    return load_yaml(INFRA / "k8s" / "values.yaml")
