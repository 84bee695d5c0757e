"""Everything a training or evaluation run reads from a dataset, validated up front."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import polars as pl
import pyarrow as pa
import torch

from mtstrec.config import ModelConfig
from mtstrec.data.bronze import scan_transactions
from mtstrec.data.example_tensors import ExampleTensors
from mtstrec.data.item_features import ItemFeatureStore, read_num_items
from mtstrec.data.split import CutDates, read_cut_dates
from mtstrec.errors import DataError
from mtstrec.evaluation.negatives import load_candidates
from mtstrec.storage import Storage

log = logging.getLogger(__name__)


@dataclass
class RunInputs:
    num_items: int
    store: ItemFeatureStore
    splits: dict[str, ExampleTensors]
    cuts: CutDates
    # Items on sale per month ('YYYY-MM' -> sorted item indexes): training negatives and sampled metrics.
    candidates: dict[str, np.ndarray]
    # [N+1] bool: items sold before val_start, whose features set the standardisation statistics.
    train_items: torch.Tensor
    # URIs and row counts of what was read, for lineage.
    lineage: dict[str, dict] = field(default_factory=dict)

    def digest(self) -> str:
        """SHA-256 over everything a run learns from: the catalog size, the examples and the features."""
        digest = hashlib.sha256(f"items={self.num_items}".encode())
        for name in sorted(self.splits):
            examples = self.splits[name]
            digest.update(f"split={name}".encode())
            digest.update(examples.histories.cpu().numpy().tobytes())
            digest.update(examples.targets.cpu().numpy().tobytes())
            digest.update("\n".join(map(str, examples.target_months)).encode())
        for modality in sorted(self.store.tables):
            table = self.store.tables[modality]
            digest.update(f"features={modality}:{table.metadata.get('tag', '')}".encode())
            digest.update(table.values.cpu().numpy().tobytes())
            digest.update(table.present.cpu().numpy().tobytes())
        return digest.hexdigest()


def load_split(dataset: Storage, split: str, max_len: int, num_items: int) -> ExampleTensors:
    rel = f"sequences/{split}.parquet"
    uri = dataset.uri(rel)
    if not dataset.exists(rel):
        raise DataError(f"{uri} does not exist: run the sequences step first")
    try:
        examples = ExampleTensors.from_table(dataset.read_parquet(rel), max_len, source=uri)
        examples.check_catalog(num_items, source=uri)
    except ValueError as exc:
        raise DataError(str(exc)) from exc
    # The table is gone; hand its buffers back so that only the tensors stay resident (one copy).
    pa.default_memory_pool().release_unused()
    return examples


def load_run_inputs(dataset: Storage, model: ModelConfig, splits: tuple[str, ...]) -> RunInputs:
    num_items = read_num_items(dataset)
    store = ItemFeatureStore.load(
        dataset, model.modalities, num_items, model.feature_tags, model.feature_shapes or None
    )
    loaded = {split: load_split(dataset, split, model.max_len, num_items) for split in splits}
    lineage = {
        "items": {"uri": dataset.uri("bronze/items"), "rows": num_items},
        **{f"sequences/{s}": {"uri": dataset.uri(f"sequences/{s}.parquet"), "rows": len(e)} for s, e in loaded.items()},
        **{f"features/{m}": {"uri": t.source, "rows": num_items} for m, t in store.tables.items()},
    }
    log.info("loaded %s items and %s", f"{num_items:,}", ", ".join(f"{len(e):,} {s}" for s, e in loaded.items()))
    cuts = read_cut_dates(dataset)
    train_items = items_sold_before(dataset, cuts.val_start, num_items)
    return RunInputs(num_items, store, loaded, cuts, load_candidates(dataset), train_items, lineage)


def items_sold_before(dataset: Storage, day: date, num_items: int) -> torch.Tensor:
    """[N+1] bool: the items with a purchase before `day` (the training catalog when day = val_start)."""
    sold = scan_transactions(dataset, end=day).filter(pl.col("date") < day).select("item_index").unique().collect()
    mask = torch.zeros(num_items + 1, dtype=torch.bool)
    mask[torch.from_numpy(sold["item_index"].to_numpy().astype(np.int64))] = True
    return mask
