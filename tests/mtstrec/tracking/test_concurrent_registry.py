"""Two register or two promote steps at once, in threads, with the registry lease on a local or S3 root."""

from __future__ import annotations

import dataclasses
import threading
from datetime import date
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mtstrec.storage import Storage
from tasks.promote import promote
from tasks.register import register
from tests.mtstrec.tracking.test_register_promote import evaluation
from tests.mtstrec.tracking.tracking_fixtures import RUN_DATE, write_run

DAY = date.fromisoformat(RUN_DATE)


def at_once(*calls):
    """Run the calls in threads released together; returns their results in order."""
    start = threading.Barrier(len(calls))
    results, errors = [None] * len(calls), []

    def run(i, call):
        start.wait()
        try:
            results[i] = call()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


@pytest.fixture
def tracked(tiny_run, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tiny_run


def lease_root(cfg, where: str, request):
    """`cfg` with its leases on a local or S3 root, MLflow staying in the local SQLite file."""
    if where == "local":
        return cfg
    uri = f"sqlite:///{Path(cfg.root).resolve() / 'mlflow.db'}"
    registry = dataclasses.replace(cfg.registry, tracking_uri=uri)
    return dataclasses.replace(cfg, root=request.getfixturevalue("s3_bucket") + "/lake", registry=registry)


@pytest.mark.parametrize("where", ["local", "s3"])
def test_two_promotions_at_once_leave_one_champion_and_record_both_decisions(tracked, tmp_path, where, request):
    cfg, run_dir = tracked
    other_dir = tmp_path / "other"
    write_run(other_dir, cfg, Storage(cfg.root).child(cfg.dataset).dated(RUN_DATE), seed=1)
    a = register(cfg, DAY, str(run_dir), evaluation(run_dir, 0.25), {})
    b = register(cfg, DAY, str(other_dir), evaluation(other_dir, 0.25), {})  # a tie: only one may win

    promoting = lease_root(cfg, where, request)
    decisions = at_once(lambda: promote(promoting, DAY, a["version"]), lambda: promote(promoting, DAY, b["version"]))

    winners = [d for d in decisions if d["promoted"]]
    losers = [d for d in decisions if not d["promoted"]]
    assert len(winners) == 1 and len(losers) == 1
    client = MlflowClient(f"sqlite:///{Path(cfg.root).resolve() / 'mlflow.db'}")
    name = cfg.registry.model_name
    assert str(client.get_model_version_by_alias(name, "champion").version) == winners[0]["version"]
    won = client.get_model_version(name, winners[0]["version"]).tags
    lost = client.get_model_version(name, losers[0]["version"]).tags
    assert won["promotion.decision"] == "promoted" and won["promotion.previous_champion"] == ""
    assert lost["promotion.decision"] == "rejected"
    assert lost["promotion.previous_champion"] == winners[0]["version"]  # decided after the winner, against it
    assert lost["promotion.champion_score"] == "0.250000"
    assert won["promotion.lease"] != lost["promotion.lease"]  # two generations of the one lease
    assert losers[0]["champion_version"] == winners[0]["version"]


def test_registering_the_same_run_twice_at_once_adds_one_version(tracked):
    cfg, run_dir = tracked
    first, second = at_once(lambda: register(cfg, DAY, str(run_dir), evaluation(run_dir, 0.25), {}),
                            lambda: register(cfg, DAY, str(run_dir), evaluation(run_dir, 0.25), {}))
    assert first["version"] == second["version"]
    assert sorted([first["reused"], second["reused"]]) == [False, True]
    client = MlflowClient(f"sqlite:///{Path(cfg.root).resolve() / 'mlflow.db'}")
    assert len(client.search_model_versions(f"name = '{cfg.registry.model_name}'")) == 1
