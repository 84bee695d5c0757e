"""`mlflow models serve -m models:/mtstrec@champion --env-manager local`, started for real on 127.0.0.1."""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from mtstrec.storage import Storage
from mtstrec.tracking.settings import TrackingSettings, fluent_tracking
from tasks.promote import promote
from tasks.register import register
from tests.conftest import free_port
from tests.mtstrec.tracking.tracking_fixtures import (
    NUM_ITEMS,
    RUN_DATE,
    item_id,
    tiny_config,
    write_dataset,
    write_run,
)

pytestmark = pytest.mark.slow

VALID = {item_id(i) for i in range(1, NUM_ITEMS + 1)}


def post(url: str, body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def recommend(url: str, histories: list[list[str]], **params) -> list[list[str]]:
    status, text = post(url, json.dumps({"dataframe_records": [{"history": h} for h in histories],
                                         "params": params}).encode())
    assert status == 200, text
    return [row["recommendations"] for row in json.loads(text)["predictions"]]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    """A registered champion in a SQLite MLflow, served by the real scoring server on a free port."""
    work = tmp_path_factory.mktemp("serve")
    cfg = tiny_config(work / "data")
    dataset = Storage(cfg.root).child(cfg.dataset).dated(RUN_DATE)  # the snapshot that register reads
    write_dataset(dataset, [[1, 2, 3], [4, 5], [6]])
    write_run(work / "run", cfg, dataset, seed=0)
    evaluation = {"metrics": {"MTSTRec": {"full/ndcg@10": 0.3}}, "validation": {"MTSTRec": {"full/ndcg@10": 0.3}},
                  "report": {}, "test_examples": 3}
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    saved = os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        version = register(cfg, date(2020, 8, 30), str(work / "run"), evaluation)["version"]
        promote(cfg, date(2020, 8, 30), version)
    finally:
        if saved is not None:
            os.environ["MLFLOW_TRACKING_URI"] = saved
    tracking_uri = f"sqlite:///{Path(cfg.root).resolve() / 'mlflow.db'}"
    port = free_port()
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    # The server execs `uvicorn` from PATH: the one installed beside this interpreter.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    log = (work / "server.log").open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m", "models:/mtstrec@champion",
         "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, (work / "server.log").read_text()
            assert time.monotonic() < deadline, "scoring server did not answer /ping in 180 s"
            time.sleep(1)
        with fluent_tracking(TrackingSettings(tracking_uri, tracking_uri, None)):
            in_process = mlflow.pyfunc.load_model("models:/mtstrec@champion")
        yield f"{base}/invocations", in_process
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_known_history_gets_k_valid_unseen_ids_as_the_registered_model_does(endpoint):
    url, model = endpoint
    history = [item_id(1), item_id(2), item_id(3)]
    (top,) = recommend(url, [history], k=5)
    assert len(top) == 5 == len(set(top)) and set(top) <= VALID and not set(top) & set(history)
    expected = model.predict(pd.DataFrame({"history": [history]}), params={"k": 5})["recommendations"][0]
    assert top == list(expected)


def test_empty_history_and_unknown_ids(endpoint):
    url, _ = endpoint
    empty, unknown, known = recommend(url, [[], ["no-such-item", item_id(5)], [item_id(5)]])
    assert len(empty) == 10 == len(set(empty)) and set(empty) <= VALID
    assert unknown == known and item_id(5) not in known


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", ""),
    (b'{"dataframe_records": [{"items": ["0000000001"]}]}', "history"),
    (b'{"dataframe_records": [{"history": 7}]}', "history"),
    (b'{"dataframe_records": [{"history": ["0000000001"]}], "params": {"k": 0}}', "param 'k' must be between 1"),
    (b'{"dataframe_records": [{"history": ["0000000001"]}], "params": {"k": "ten"}}', "k"),
])
def test_malformed_body_is_a_clear_4xx_without_a_traceback(endpoint, body, message):
    url, _ = endpoint
    status, text = post(url, body)
    assert 400 <= status < 500, (status, text)
    assert "Traceback" not in text and "stack_trace" not in text, text
    assert message in json.loads(text)["message"]
