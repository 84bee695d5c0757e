"""Concurrent runs of the real task functions, in separate processes, on a local and an S3 root.

Each process runs one logical date from ingest to evaluate (`tests/tasks/pipeline_day.py`) with
its own working directory and TMPDIR. The reference is the same days run one after another.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from mtstrec.data.sample import generate_sample
from mtstrec.storage import Storage

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DAYS = ["2020-08-28", "2020-08-29", "2020-08-30"]  # the tiny sample's last three days


def start_day(root: str, raw: str, day: str, home: Path) -> subprocess.Popen:
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TMPDIR": str(home / "tmp"), "MTSTREC_CACHE_DIR": str(home / "cache"),
           "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "tests.tasks.pipeline_day", root, raw, day], cwd=home, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=900)
    assert process.returncode == 0, err[-4000:]
    return json.loads(out.strip().splitlines()[-1])


def run_days(root: str, raw: str, days: list[str], work: Path, at_once: bool) -> list[dict]:
    if not at_once:
        return [finish(start_day(root, raw, day, work / f"{i}-{day}")) for i, day in enumerate(days)]
    processes = [start_day(root, raw, day, work / f"{i}-{day}") for i, day in enumerate(days)]
    return [finish(p) for p in processes]


def without_created_at(rel: str, body: bytes) -> bytes:
    """A feature table's bytes as an Arrow stream without its `created_at` metadata: the second at which the
    part was written, the one thing two runs of the same data write differently. Data, schema and every
    other metadata key (encoder, weights, settings, shard) stay compared."""
    if not rel.startswith("features/") and "/features/" not in rel:
        return body
    table = pq.read_table(io.BytesIO(body))
    metadata = {k: v for k, v in (table.schema.metadata or {}).items() if k != b"created_at"}
    table = table.replace_schema_metadata(metadata)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def contents(root: str) -> dict[str, bytes]:
    """Every data file of the dataset (run directories and leases apart), by relative path."""
    dataset = Storage(root).child("tiny")
    return {rel: without_created_at(rel, dataset.read_bytes(rel)) for rel in dataset.list_files("")
            if not rel.startswith(("runs/", "_locks/"))}


def run_outputs(run_dir: str) -> dict:
    run = Storage(run_dir)
    model = torch.load(__import__("io").BytesIO(run.read_bytes("model.pt")), weights_only=True)
    history = json.loads(run.read_bytes("history.json"))
    return {"weights": model["state_dict"], "metrics": json.loads(run.read_bytes("metrics.json")),
            "losses": [(h["epoch"], h["train_loss"]) for h in history]}


def assert_same_outputs(reference: dict, runs: list[dict], root: str, ref_root: str) -> None:
    ref_files, files = contents(ref_root), contents(root)
    assert sorted(files) == sorted(ref_files)
    differing = [rel for rel in files if files[rel] != ref_files[rel]]
    assert differing == []
    for run in runs:
        expected = reference[run["day"]]
        got = run_outputs(run["run_dir"])
        # `<date>-<config digest>`; the digest covers the root, which differs from the reference's.
        assert Path(run["run_dir"]).name.rsplit("-", 1)[0] == Path(expected["run_dir"]).name.rsplit("-", 1)[0]
        assert got["metrics"] == expected["outputs"]["metrics"]
        assert got["losses"] == expected["outputs"]["losses"]
        weights = expected["outputs"]["weights"]
        assert got["weights"].keys() == weights.keys()
        assert all(torch.equal(got["weights"][k], weights[k]) for k in weights), run["day"]


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> str:
    raw = tmp_path_factory.mktemp("raw")
    generate_sample(str(raw), preset="tiny", seed=0)
    return str(raw)


@pytest.fixture(scope="module")
def reference(raw, tmp_path_factory) -> tuple[str, dict]:
    """The three days run one after another on a local root."""
    work = tmp_path_factory.mktemp("sequential")
    root = str(work / "data")
    runs = run_days(root, raw, DAYS, work, at_once=False)
    return root, {run["day"]: {**run, "outputs": run_outputs(run["run_dir"])} for run in runs}


def test_sequential_days_keep_their_own_snapshots(reference):
    root, runs = reference
    dataset = Storage(root).child("tiny")
    splits = {day: json.loads(dataset.dated(day).read_bytes("sequences/split.json")) for day in DAYS}
    assert [splits[day]["logical_date"] for day in DAYS] == DAYS
    assert len({json.dumps(s["counts"], sort_keys=True) + s["last_target_date"] for s in splits.values()}) > 1
    assert len({run["run_dir"] for run in runs.values()}) == 3


@pytest.mark.parametrize("where", ["local", "s3"])
def test_a_backfill_of_three_days_at_once_equals_the_days_one_after_another(where, raw, reference, tmp_path,
                                                                          request):
    ref_root, expected = reference
    root = str(tmp_path / "data") if where == "local" else request.getfixturevalue("s3_bucket") + "/data"
    runs = run_days(root, raw, DAYS, tmp_path / "work", at_once=True)
    assert_same_outputs(expected, runs, root, ref_root)


def test_a_nightly_run_overlapping_a_backfill_of_the_same_dataset_corrupts_nothing(raw, reference, tmp_path):
    """The backfill's three days and the nightly run of the last day (the same run directory) at once."""
    ref_root, expected = reference
    root = str(tmp_path / "data")
    runs = run_days(root, raw, [*DAYS, DAYS[-1]], tmp_path / "work", at_once=True)
    assert runs[-1]["run_dir"] == runs[-2]["run_dir"]
    assert_same_outputs(expected, runs, root, ref_root)
