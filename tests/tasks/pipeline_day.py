"""One logical date of the pipeline, step by step as the DAG runs it, in a process of its own.

`python -m tests.tasks.pipeline_day ROOT RAW DAY` prints the run's summary as JSON on its last
line. The concurrency tests start several of these at once, each with its own working
directory and TMPDIR, so that they share nothing but the storage root.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

from mtstrec.config import PipelineConfig
from mtstrec.config_loading import load_config
from tasks.evaluate import evaluate
from tasks.features import extract_features, extract_price_features, plan_shards
from tasks.ingest import ingest
from tasks.quality import check_bronze
from tasks.sequences import build_sequences
from tasks.train import train

# Small enough for three runs at once on two cores; two feature shards, so that shard leases matter.
# fp32 pinned: `train.precision=auto` on the CPU picks fp32 or bf16 by timing a probe step at start-up, and
# on a loaded machine two processes can pick differently (the runs compared here must train alike).
SMALL = ["model.modalities=id,style,price", "features.modalities=style,price", "features.shard_size=48",
         "features.image_size=32", "features.batch_size=32", "features.workers=0", "features.device=cpu",
         "model.d_model=16", "model.max_len=8", "train.epochs=2", "train.baselines=false", "train.negatives=20",
         "train.device=cpu", "train.precision=fp32", "eval.sampled_negatives=20"]
DEMO_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "demo.toml"


def day_config(root: str, raw: str, dataset: str = "tiny") -> PipelineConfig:
    return load_config(PipelineConfig, DEMO_CONFIG,
                       [f"root={root}", f"dataset={dataset}", f"ingest.raw={raw}", *SMALL])


def run_day(cfg: PipelineConfig, day: date) -> dict:
    ingest(cfg, day)
    check_bronze(cfg, day)
    for shard in plan_shards(cfg, day):
        extract_features(cfg, day, shard=shard)
    build_sequences(cfg, day)
    extract_price_features(cfg, day)
    trained = train(cfg, day)
    evaluation = evaluate(trained["run_dir"])
    return {"day": day.isoformat(), "run_dir": trained["run_dir"], "metrics": evaluation["metrics"]}


if __name__ == "__main__":
    root, raw, day = sys.argv[1:4]
    print(json.dumps(run_day(day_config(root, raw), date.fromisoformat(day))))
