"""A small but real run directory (untrained weights) on a tiny dataset, for the tracking tests."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pyarrow as pa
import torch

from mtstrec.config import EncoderConfig, EvalConfig, ModelConfig, PipelineConfig
from mtstrec.config_loading import to_dict
from mtstrec.data.item_features import ItemFeatureStore
from mtstrec.model import MTSTRec
from mtstrec.schemas import CANDIDATES, ITEMS, SEQUENCES, TRANSACTIONS, scalar_feature_schema
from mtstrec.storage import Storage
from mtstrec.training.checkpoint import model_payload

NUM_ITEMS = 12
RUN_DATE = "2020-08-30"  # the snapshot the tiny dataset is written to


def item_id(index: int) -> str:
    return f"{index:010d}"


def write_dataset(dataset: Storage, test_histories: list[list[int]]) -> None:
    indexes = list(range(1, NUM_ITEMS + 1))
    dataset.write_parquet("bronze/items/part-0.parquet", pa.table({
        "item_index": pa.array(indexes, pa.int32()),
        "item_id": [item_id(i) for i in indexes],
        "title": [f"item {i}" for i in indexes],
        "description": [""] * NUM_ITEMS,
        "attributes": pa.array([[] for _ in indexes], pa.map_(pa.string(), pa.string())),
        "image_path": pa.array([None] * NUM_ITEMS, pa.string()),
        "first_seen": pa.array([date(2020, 3, 1)] * NUM_ITEMS, pa.date32()),
    }, schema=ITEMS))
    dataset.write_parquet("features/price/minmax/part-0.parquet", pa.table({
        "item_index": pa.array(indexes, pa.int32()),
        "value": pa.array([i / NUM_ITEMS for i in indexes], pa.float32()),
        "present": [True] * NUM_ITEMS,
    }, schema=scalar_feature_schema()))
    write_test_split(dataset, test_histories)
    write_test_split(dataset, test_histories, split="val")
    write_test_split(dataset, [[1, 2], [2, 3, 4], [5, 6]], split="train")
    split = {"val_start": "2020-08-15", "test_start": "2020-08-30"}
    dataset.write_bytes("sequences/split.json", json.dumps(split).encode())
    dataset.write_parquet("bronze/transactions/date=2020-08-01/part-0.parquet", pa.table({
        "date": pa.array([date(2020, 8, 1)] * 4, pa.date32()),
        "user_id": ["u0", "u0", "u1", "u2"],
        "item_index": pa.array([1, 2, 2, 3], pa.int32()),
        "price": pa.nulls(4, pa.float64()),
        "channel": pa.nulls(4, pa.int8()),
    }, schema=TRANSACTIONS))
    dataset.write_parquet("candidates/month=2020-08.parquet",
                          pa.table({"item_index": pa.array(indexes, pa.int32())}, schema=CANDIDATES))


def write_test_split(dataset: Storage, histories: list[list[int]], split: str = "test") -> None:
    dataset.write_parquet(f"sequences/{split}.parquet", pa.table({
        "user_id": [f"u{i}" for i in range(len(histories))],
        "history": pa.array(histories, pa.list_(pa.int32())),
        "targets": pa.array([[NUM_ITEMS - i % 3] for i in range(len(histories))], pa.list_(pa.int32())),
        "target_date": pa.array([date(2020, 8, 30)] * len(histories), pa.date32()),
    }, schema=SEQUENCES))


def write_run(run_dir: Path, cfg: PipelineConfig, dataset: Storage, seed: int) -> None:
    torch.manual_seed(seed)
    store = ItemFeatureStore.load(dataset, cfg.model.modalities, NUM_ITEMS)
    model = MTSTRec(cfg.model, NUM_ITEMS, store.shapes())
    run_dir.mkdir(parents=True)
    torch.save(model_payload(model, store.tags(), {"epoch": 1}), run_dir / "model.pt")
    (run_dir / "config.json").write_text(json.dumps(to_dict(cfg)))
    (run_dir / "history.json").write_text(json.dumps([
        {"epoch": 1, "train_loss": 0.9, "val_ndcg@5": 0.1},
        {"epoch": 2, "train_loss": 0.7, "val_ndcg@5": 0.2},
    ]))
    report = run_dir / "report"
    report.mkdir()
    (report / "report.md").write_text("| model | full/ndcg@10 |\n|---|---|\n| MTSTRec | 0.5 |\n")
    (run_dir / "COMPLETE").write_text("{}")


def tiny_config(root: Path) -> PipelineConfig:
    small = EncoderConfig(blocks=1, heads=2, ffn=16, hidden_dropout=0.0)
    model = ModelConfig(modalities=["id", "price"], d_model=8, max_len=5, fusion_layers=1,
                        encoders={"id": small, "price": small})
    return PipelineConfig(root=str(root), dataset="tiny", model=model, eval=EvalConfig(sampled_negatives=5))
