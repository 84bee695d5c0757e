"""Promote a chosen registered model version to champion, by hand.

Trigger with the version to promote, for example:
    airflow dags trigger mtstrec_promote --conf '{"version": "3"}'
With `force: false` (the default) the same gate as the nightly run applies: the version must
beat the champion on the same test split by `registry.margin`. `force: true` skips the gate
(rolling back to a known good version); the version's tags record either decision.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import Param, dag, task

from tasks.pipeline_config import config_from_params

PARAMS = {
    "version": Param(type="string", pattern=r"^[0-9]+$", description="registered model version to promote"),
    "force": Param(False, type="boolean", description="skip the gate: promote even if not better"),
    "dataset": Param(os.environ.get("MTSTREC_DATASET", "demo"), type="string", pattern=r"^[A-Za-z0-9_.-]+$"),
    "root": Param(os.environ.get("MTSTREC_ROOT", "data"), type="string", minLength=1),
    "config": Param(os.environ.get("MTSTREC_CONFIG", ""), type="string"),
    "overrides": Param([], type="array", items={"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_.]*=.*$"},
                       description="e.g. registry.model_name=mtstrec-hm"),
}


@dag(
    dag_id="mtstrec_promote",
    schedule=None,
    start_date=pendulum.datetime(2020, 1, 1, tz="UTC"),
    catchup=False,
    params=PARAMS,
    tags=["mtstrec"],
    doc_md=__doc__,
)
def mtstrec_promote():
    @task(retries=2)
    def promote_version(params=None) -> dict:
        from tasks.promote import promote

        return promote(config_from_params(params), None, str(params["version"]), force=bool(params["force"]))

    promote_version()


mtstrec_promote()
