"""Run directories on S3 (moto): train on one "machine", resume, evaluate and recommend on others.

A second machine is a subprocess with another working directory, TMPDIR and cache directory:
it shares nothing with the first but the storage root.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mtstrec.data.synthetic import SyntheticConfig, write_synthetic_dataset
from mtstrec.inference import Recommender
from mtstrec.storage import Storage
from mtstrec.training.run import COMPLETE_MARKER, train_run
from mtstrec.training.run_location import CACHE_ENV, RunLocation
from tests.mtstrec.model_configs import SMALL_MODEL, small_config

REPO = Path(__file__).resolve().parents[3]
WITH_DROPOUT = ["model.attn_dropout=0.1", "model.encoders.id.hidden_dropout=0.2"]
MODALITIES = "model.modalities=id,price"
FP32 = "train.precision=fp32"


@pytest.fixture
def s3_dataset(s3_bucket) -> str:
    """The planted synthetic dataset written straight to the bucket; returns the storage root."""
    root = f"{s3_bucket}/lake"
    write_synthetic_dataset(Storage(root).child("planted"), SyntheticConfig(users=200, items=40, seed=3))
    return root


def other_machine(tmp_path: Path, name: str, code: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter with its own cwd, TMPDIR and run cache."""
    home = tmp_path / name
    (home / "tmp").mkdir(parents=True)
    env = {**os.environ, "TMPDIR": str(home / "tmp"), CACHE_ENV: str(home / "cache"),
           "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code], cwd=home, env=env, capture_output=True, text=True,
                          check=True)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


def test_dated_view_keeps_each_dates_files_apart(tmp_path):
    dataset = Storage(str(tmp_path)).child("shop")
    day = dataset.dated("2020-08-30")
    day.write_bytes("sequences/split.json", b"{}")
    day.write_bytes("bronze/transactions/date=2020-08-30/part-0.parquet", b"shared")
    assert (tmp_path / "shop/snapshots/date=2020-08-30/sequences/split.json").exists()
    assert (tmp_path / "shop/bronze/transactions/date=2020-08-30/part-0.parquet").exists()
    assert not dataset.exists("sequences/split.json")
    assert not dataset.dated("2020-08-29").exists("sequences/split.json")
    assert day.undated().exists("bronze/transactions")
    assert day.uri("features/price/t") == str(tmp_path / "shop/snapshots/date=2020-08-30/features/price/t")
    assert day.uri("features/text/t") == str(tmp_path / "shop/features/text/t")


def test_training_resumes_on_another_machine_from_the_s3_run(s3_dataset, tmp_path, synthetic_root):
    # fp32 in all three processes: precision auto probes each one's speed and may choose differently under load.
    run_uri = f"{s3_dataset}/planted/runs/resumed"
    train_run(small_config(s3_dataset, "planted", "train.epochs=1", MODALITIES, FP32, *WITH_DROPOUT), run_uri)
    location = RunLocation(run_uri)
    assert location.exists(COMPLETE_MARKER) and location.exists("checkpoint.pt")

    # The first machine's cache is gone; only the bucket remains.
    import shutil

    shutil.rmtree(location.local)
    overrides = [f"root={s3_dataset}", "dataset=planted", *SMALL_MODEL, "train.epochs=2", MODALITIES,
                 FP32, *WITH_DROPOUT]
    other_machine(tmp_path, "machine-b", f"""
from mtstrec.config import PipelineConfig
from mtstrec.config_loading import load_config
from mtstrec.training.run import train_run
train_run(load_config(PipelineConfig, None, {overrides!r}), {run_uri!r}, resume=True)
""")

    # The same two epochs in one go, locally, from the same data.
    straight = tmp_path / "straight"
    local_root = tmp_path / "lake"
    write_synthetic_dataset(Storage(str(local_root)).child("planted"), SyntheticConfig(users=200, items=40, seed=3))
    train_run(small_config(str(local_root), "planted", "train.epochs=2", MODALITIES, FP32, *WITH_DROPOUT), straight)

    resumed = RunLocation(run_uri).pull()
    a, b = weights(straight / "checkpoint.pt"), weights(resumed / "checkpoint.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [h["epoch"] for h in json.loads((resumed / "history.json").read_text())] == [1, 2]
    assert (resumed / COMPLETE_MARKER).exists()


def test_cli_train_honours_mtstrec_root_and_evaluate_recommend_take_s3_runs(s3_dataset, tmp_path, monkeypatch):
    sets = [arg for override in [*SMALL_MODEL, "train.epochs=1", MODALITIES] for arg in ("--set", override)]
    env = json.dumps({"MTSTREC_ROOT": s3_dataset, "MTSTREC_DATASET": "planted"})
    trained = json.loads(other_machine(tmp_path, "trainer", f"""
import json, os, sys
os.environ.update(json.loads({env!r}))
from mtstrec.cli import main
sys.exit(main(["train", *{sets!r}]))
""").stdout)
    run_uri = trained["run_dir"]
    assert run_uri.startswith(f"{s3_dataset}/planted/runs/all-")

    evaluated = json.loads(other_machine(tmp_path, "evaluator", f"""
import sys
from mtstrec.cli import main
sys.exit(main(["evaluate", "--run", {run_uri!r}, "--set", "eval.sampled_negatives=20"]))
""").stdout)
    assert {"MTSTRec", "popularity"} <= set(evaluated["metrics"])
    assert evaluated["report"] and all(uri.startswith(run_uri + "/report/") for uri in evaluated["report"].values())
    assert RunLocation(run_uri).exists("metrics.json")

    recommender = Recommender.from_run(run_uri)
    top = recommender.recommend([[3, 4, 5]], k=4)[0]
    assert len(top) == 4 and not {3, 4, 5} & set(top)
