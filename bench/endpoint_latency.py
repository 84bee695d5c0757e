"""Benchmark: request latency of `mlflow models serve` for a demo-sized model, p50 and p99.

Saves a pyfunc exactly as `register` logs it (same entry point, artifacts and signature) for a
randomly initialised model of configs/demo.toml's size over a synthetic catalog, starts the real
scoring server on 127.0.0.1 (`--env-manager local`, one worker), and times sequential
`POST /invocations` requests of one history (3-20 known item ids) each, k = 10. Run by hand:

    python -m bench.endpoint_latency                 # 2,000 items, as the demo sample
    python -m bench.endpoint_latency --items 105542  # an H&M-sized catalog
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pyarrow as pa
import torch

from bench.recommend_batch import REPO
from mtstrec.config import PipelineConfig
from mtstrec.config_loading import load_config
from mtstrec.model import MTSTRec
from mtstrec.schemas import ITEMS, scalar_feature_schema, vector_feature_schema
from mtstrec.storage import Storage
from mtstrec.tracking.mlflow_run import PYFUNC_ENTRY
from mtstrec.tracking.pyfunc_model import SIGNATURE, stage_artifacts
from mtstrec.training.checkpoint import model_payload

SHAPES = {"style": 512, "image": 1280, "text": 384}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_demo_sized_run(work: Path, items: int) -> tuple[Storage, Path]:
    """A dataset with random feature tables and a run directory holding a random demo-sized model."""
    from mtstrec.data.item_features import ItemFeatureStore

    dataset = Storage(str(work / "data")).child("bench")
    index = pa.array(np.arange(1, items + 1, dtype=np.int32))
    rng = np.random.default_rng(0)
    dataset.write_parquet("bronze/items/part-0.parquet", pa.table({
        "item_index": index, "item_id": [f"{i:010d}" for i in range(1, items + 1)],
        "title": [""] * items, "description": [""] * items,
        "attributes": pa.array([[] for _ in range(items)], pa.map_(pa.string(), pa.string())),
        "image_path": pa.array([None] * items, pa.string()), "first_seen": pa.array([date(2020, 1, 1)] * items),
    }, schema=ITEMS))
    for modality, dim in SHAPES.items():
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(rng.standard_normal(items * dim, np.float32)), dim)
        dataset.write_parquet(f"features/{modality}/bench/part-0.parquet", pa.table(
            {"item_index": index, "vector": vectors, "present": [True] * items}, schema=vector_feature_schema(dim)))
    dataset.write_parquet("features/price/bench/part-0.parquet", pa.table(
        {"item_index": index, "value": pa.array(rng.random(items, np.float32)), "present": [True] * items},
        schema=scalar_feature_schema()))
    config = load_config(PipelineConfig, REPO / "configs" / "demo.toml", []).model
    store = ItemFeatureStore.load(dataset, config.modalities, items)
    torch.manual_seed(0)
    model = MTSTRec(config, items, store.shapes())
    run_dir = work / "run"
    run_dir.mkdir()
    torch.save(model_payload(model, store.tags(), {"epoch": 0}), run_dir / "model.pt")
    return dataset, run_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--ranking", choices=["exact", "int8"], default="exact")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mtstrec-endpoint-") as tmp:
        work = Path(tmp)
        dataset, run_dir = write_demo_sized_run(work, args.items)
        artifacts = stage_artifacts(str(run_dir), dataset, work / "staging")
        mlflow.pyfunc.save_model(work / "model", python_model=str(PYFUNC_ENTRY), artifacts=artifacts,
                                 signature=SIGNATURE, pip_requirements=["mlflow"],
                                 model_config={"ranking": args.ranking, "shortlist": 100})
        port = free_port()
        started = time.perf_counter()
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m", str(work / "model"),
             "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"})
        url = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    urllib.request.urlopen(f"{url}/ping", timeout=5).close()
                    break
                except OSError:
                    if server.poll() is not None or time.perf_counter() - started > 300:
                        raise RuntimeError("the scoring server did not start") from None
                    time.sleep(0.5)
            startup_s = time.perf_counter() - started
            rng = np.random.default_rng(1)
            latencies = []
            for n in range(args.requests + 20):
                history = [f"{i:010d}" for i in rng.integers(1, args.items + 1, rng.integers(3, 21))]
                body = json.dumps({"dataframe_records": [{"history": history}], "params": {"k": 10}}).encode()
                request = urllib.request.Request(f"{url}/invocations", data=body,
                                                 headers={"Content-Type": "application/json"})
                t = time.perf_counter()
                with urllib.request.urlopen(request, timeout=60) as response:
                    top = json.loads(response.read())["predictions"][0]["recommendations"]
                if n >= 20:  # warm-up requests are not counted
                    latencies.append((time.perf_counter() - t) * 1000)
                assert len(top) == 10
        finally:
            server.terminate()
            server.wait(timeout=30)
    latencies.sort()
    print(json.dumps({"items": args.items, "ranking": args.ranking, "requests": args.requests,
                      "server_startup_s": round(startup_s, 1), "p50_ms": round(statistics.median(latencies), 1),
                      "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))], 1),
                      "mean_ms": round(statistics.fmean(latencies), 1)}))


if __name__ == "__main__":
    main()
