"""One real-services stack (Postgres, moto S3, Redis, MLflow server, Airflow with a Celery worker) per test session.

The stack is torn down when the session ends, also after a failure; its state directory (logs
included) is deleted only when every test passed, and printed otherwise.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.stack.stack import Stack, StackConfig
from mtstrec.data.sample import generate_sample
from tests.infra.pipeline_runs import (
    DAG,
    LOGICAL_DATE,
    RAW_PREFIX,
    RUN_TIMEOUT,
    comparable_outputs,
    conf,
    output_digests,
)
from tests.infra.stack_clients import AirflowAPI, MlflowREST, s3_client


class PeakRSS:
    """Samples the memory of the whole stack (every service's process tree, task processes included) once a
    second: the sum of resident sizes (shared pages counted once per process) and of proportional sizes."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.peak = 0
        self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(1.0):
            self.peak = max(self.peak, self.stack.rss())
            self.peak_pss = max(self.peak_pss, self.stack.pss())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    state = Path(tempfile.mkdtemp(prefix="mtstrec-stack-"))
    stack = Stack(StackConfig(state, executor="CeleryExecutor", celery_workers=1))
    try:
        stack.up()
        yield stack
    finally:
        stopped = stack.down()
        assert not any(stack.table.running(name) for name in stopped)
        if request.session.testsfailed:
            print(f"\nstack state and logs kept in {state}")
        else:
            shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def peak_rss(stack: Stack) -> Iterator[PeakRSS]:
    sampler = PeakRSS(stack)
    yield sampler
    sampler.stop()


@pytest.fixture(scope="session")
def airflow(stack: Stack) -> AirflowAPI:
    api = AirflowAPI(stack)
    api.wait_for_dag("mtstrec_pipeline")
    api.unpause("mtstrec_pipeline")
    return api


@pytest.fixture(scope="session")
def mlflow_rest(stack: Stack) -> MlflowREST:
    return MlflowREST(stack)


@pytest.fixture(scope="session")
def s3(stack: Stack):
    return s3_client(stack)


@pytest.fixture(scope="session")
def raw_on_s3(stack: Stack, s3, tmp_path_factory) -> dict:
    """The tiny sample, uploaded to s3://mtstrec/raw/sample/: no task reads it from this machine's disk."""
    local = tmp_path_factory.mktemp("raw")
    counts = generate_sample(str(local), preset="tiny", seed=0)
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        s3.upload_file(str(path), "mtstrec", RAW_PREFIX + path.relative_to(local).as_posix())
    return counts


@pytest.fixture(scope="session")
def reference_run(stack: Stack, airflow: AirflowAPI, s3, raw_on_s3, peak_rss) -> dict:
    """The undisturbed run of the tiny sample (dataset `tiny`), triggered through the REST API: its outputs
    are what every re-run and every run with faults must reproduce."""
    started = time.monotonic()
    airflow.trigger(DAG, "e2e", LOGICAL_DATE, conf("e2e"))
    run = airflow.wait_for_run(DAG, "e2e", RUN_TIMEOUT)
    wall_s = round(time.monotonic() - started, 1)
    assert run["state"] == "success", airflow.failure_report(DAG, "e2e")
    return {"run_id": "e2e", "wall_s": wall_s, "digests": output_digests(s3, "e2e"),
            "comparable": comparable_outputs(s3, "e2e")}
