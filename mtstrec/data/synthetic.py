"""A feature-space synthetic dataset with a planted signal, written as contract files.

Items belong to latent clusters; each user prefers one cluster and buys mostly
from it. Every modality listed in `signal_modalities` encodes the item's cluster
(a cluster prototype plus noise), the others are pure noise, so a test can put
the signal in one modality alone and check that that path learns.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa

from mtstrec import schemas
from mtstrec.storage import Storage

FEATURE_MODALITIES = ("style", "image", "text", "prompt", "price")
SEQUENCE_COLUMNS = ("user_id", "history", "targets", "target_date")


@dataclass
class SyntheticConfig:
    users: int = 600
    items: int = 120
    clusters: int = 6
    dim: int = 16
    views: int = 3
    max_len: int = 20
    loyalty: float = 0.9  # share of a user's purchases from the preferred cluster
    noise: float = 0.5
    signal_modalities: list[str] = field(default_factory=lambda: list(FEATURE_MODALITIES))
    absent_fraction: float = 0.05
    start: dt.date = dt.date(2025, 1, 1)
    months: int = 5
    seed: int = 0


def _fixed_list(values: np.ndarray) -> pa.Array:
    """(rows, *shape) float32 -> nested fixed-size list array."""
    array: pa.Array = pa.array(values.reshape(-1).astype(np.float32), pa.float32())
    for size in reversed(values.shape[1:]):
        array = pa.FixedSizeListArray.from_arrays(array, size)
    return array


def _features(cfg: SyntheticConfig, modality: str, clusters: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(clusters)
    signal = modality in cfg.signal_modalities
    if modality == "price":
        band = clusters / max(cfg.clusters - 1, 1) if signal else rng.random(n)
        return (band + rng.normal(0, 0.02, n)).clip(0, 1).astype(np.float32)[:, None]
    shape = (cfg.views, cfg.dim) if modality == "prompt" else (cfg.dim,)
    prototypes = rng.normal(0, 1, (cfg.clusters, *shape))
    base = prototypes[clusters] if signal else rng.normal(0, 1, (n, *shape))
    return (base + rng.normal(0, cfg.noise, (n, *shape))).astype(np.float32)


def _write_features(dataset: Storage, cfg: SyntheticConfig, clusters: np.ndarray, rng: np.random.Generator) -> None:
    n = len(clusters)
    index = pa.array(np.arange(1, n + 1, dtype=np.int32))
    for modality in FEATURE_MODALITIES:
        values = _features(cfg, modality, clusters, rng)
        present = rng.random(n) >= cfg.absent_fraction
        values[~present] = 0.0
        if modality == "price":
            schema = schemas.scalar_feature_schema()
            column = pa.array(values[:, 0], pa.float32())
        elif modality == "prompt":
            schema = schemas.views_feature_schema(cfg.views, cfg.dim)
            column = _fixed_list(values)
        else:
            schema = schemas.vector_feature_schema(cfg.dim)
            column = _fixed_list(values)
        table = pa.Table.from_arrays([index, column, pa.array(present)], schema=schema)
        metadata = {"encoder": "synthetic", "weights": "random", "weights_source": "mtstrec.data.synthetic",
                    "dim": str(cfg.dim), "views": str(cfg.views if modality == "prompt" else 0),
                    "created_at": cfg.start.isoformat()}
        dataset.write_parquet(f"features/{modality}/synthetic/part-00000.parquet", table, metadata)


def _purchases(cfg: SyntheticConfig, preferred: int, count: int, by_cluster: list[np.ndarray],
               rng: np.random.Generator) -> np.ndarray:
    loyal = rng.random(count) < cfg.loyalty
    own = rng.choice(by_cluster[preferred], count)
    anywhere = rng.integers(1, cfg.items + 1, count)
    return np.where(loyal, own, anywhere).astype(np.int32)


def _write_bronze_and_split(dataset: Storage, examples: pa.Table, val_start: dt.date, test_start: dt.date) -> None:
    """Bronze transactions that the examples come from (history items one day apart before the target
    day, targets on it) and `sequences/split.json`, as the sequences step would leave them."""
    rows: dict[str, list] = {"date": [], "user_id": [], "item_index": []}
    for user, history, targets, day in zip(*(examples.column(c).to_pylist() for c in SEQUENCE_COLUMNS), strict=True):
        for back, item in enumerate(reversed(history + targets)):
            rows["date"].append(day - dt.timedelta(days=max(back - len(targets) + 1, 0)))
            rows["user_id"].append(user)
            rows["item_index"].append(item)
    frame = pl.DataFrame(rows, schema={"date": pl.Date, "user_id": pl.String, "item_index": pl.Int32}).reverse()
    frame = frame.with_columns(pl.lit(None, pl.Float64).alias("price"), pl.lit(None, pl.Int8).alias("channel"))
    for (day,), part in frame.sort("date", maintain_order=True).partition_by("date", as_dict=True).items():
        dataset.write_parquet(f"bronze/transactions/date={day.isoformat()}/part-0.parquet",
                              part.to_arrow().cast(schemas.TRANSACTIONS))
    split = {"val_start": val_start.isoformat(), "test_start": test_start.isoformat()}
    dataset.write_bytes("sequences/split.json", json.dumps(split).encode())


def write_synthetic_dataset(dataset: Storage, cfg: SyntheticConfig) -> dict[str, int]:
    """Write bronze/items, bronze/transactions, sequences/*, candidates/* and features/* under `dataset`."""
    rng = np.random.default_rng(cfg.seed)
    clusters = rng.integers(0, cfg.clusters, cfg.items)
    by_cluster = [np.flatnonzero(clusters == c) + 1 for c in range(cfg.clusters)]
    if any(len(members) == 0 for members in by_cluster):
        raise ValueError("synthetic config leaves a cluster without items; use more items or fewer clusters")

    items = pa.table(
        {
            "item_index": pa.array(np.arange(1, cfg.items + 1, dtype=np.int32)),
            "item_id": [f"item-{i:06d}" for i in range(1, cfg.items + 1)],
            "title": [f"synthetic item {i}" for i in range(1, cfg.items + 1)],
            "description": [f"cluster {c}" for c in clusters],
            "attributes": pa.array([[("cluster", str(c))] for c in clusters], pa.map_(pa.string(), pa.string())),
            "image_path": pa.nulls(cfg.items, pa.string()),
            "first_seen": pa.array([cfg.start] * cfg.items, pa.date32()),
        },
        schema=schemas.ITEMS,
    )
    dataset.write_parquet("bronze/items/part-0.parquet", items)

    days = cfg.months * 30
    rows: dict[str, list] = {"user_id": [], "history": [], "targets": [], "target_date": []}
    for user in range(cfg.users):
        preferred = int(rng.integers(0, cfg.clusters))
        history = _purchases(cfg, preferred, int(rng.integers(3, cfg.max_len + 1)), by_cluster, rng)
        targets = np.unique(_purchases(cfg, preferred, int(rng.integers(1, 4)), by_cluster, rng))
        rows["user_id"].append(f"user-{user:06d}")
        rows["history"].append(history.tolist())
        rows["targets"].append(targets.tolist())
        rows["target_date"].append(cfg.start + dt.timedelta(days=int(rng.integers(0, days))))
    examples = pa.table(rows, schema=schemas.SEQUENCES).sort_by("target_date")
    dates = np.array(examples.column("target_date").to_pylist())
    val_start = cfg.start + dt.timedelta(days=int(days * 0.7))
    test_start = cfg.start + dt.timedelta(days=int(days * 0.85))
    splits = {
        "train": dates < val_start,
        "val": (dates >= val_start) & (dates < test_start),
        "test": dates >= test_start,
    }
    counts = {}
    for split, keep in splits.items():
        part = examples.filter(pa.array(keep))
        dataset.write_parquet(f"sequences/{split}.parquet", part)
        counts[split] = part.num_rows

    _write_bronze_and_split(dataset, examples, val_start, test_start)
    months = sorted({d.strftime("%Y-%m") for d in dates})
    for month in months:
        on_sale = np.flatnonzero(rng.random(cfg.items) < 0.8) + 1
        in_month = [t for d, ts in zip(dates, examples.column("targets").to_pylist(), strict=True)
                    if d.strftime("%Y-%m") == month for t in ts]
        sold = np.union1d(on_sale, np.array(in_month, dtype=np.int64)).astype(np.int32)
        dataset.write_parquet(f"candidates/month={month}.parquet", pa.table({"item_index": sold},
                                                                            schema=schemas.CANDIDATES))
    _write_features(dataset, cfg, clusters, rng)
    return counts
