"""Dense per-modality item feature tables, read from the contract Parquet.

Each table is indexed by item_index (row 0 is padding), so a batch is gathered
with one `index_select` per modality instead of per-item lookups.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from mtstrec.errors import DataError
from mtstrec.storage import Storage

log = logging.getLogger(__name__)

FeatureKind = Literal["vector", "views", "scalar"]
KIND_BY_MODALITY: dict[str, FeatureKind] = {
    "style": "vector",
    "image": "vector",
    "text": "vector",
    "prompt": "views",
    "price": "scalar",
}
VALUE_COLUMN: dict[FeatureKind, str] = {"vector": "vector", "views": "views", "scalar": "value"}


@dataclass
class ModalityTable:
    kind: FeatureKind
    values: torch.Tensor  # (N+1, D) | (N+1, K, D) | (N+1, 1), float32
    present: torch.Tensor  # (N+1,) bool
    source: str
    metadata: dict[str, str]
    # (shift, scale) already applied to `values` by a model (MTSTRec.standardised_store), else None.
    standardised: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def item_shape(self) -> list[int]:
        return list(self.values.shape[1:])

    def to(self, device: torch.device) -> ModalityTable:
        standardised = None if self.standardised is None else tuple(t.to(device) for t in self.standardised)
        return ModalityTable(self.kind, self.values.to(device), self.present.to(device), self.source, self.metadata,
                             standardised)


def _fixed_size_values(column: pa.ChunkedArray, kind: FeatureKind, rows: int, source: str) -> np.ndarray:
    array = column.combine_chunks()
    if kind == "scalar":
        return array.to_numpy(zero_copy_only=False).astype(np.float32).reshape(rows, 1)
    shape: list[int] = []
    while pa.types.is_fixed_size_list(array.type) or pa.types.is_list(array.type):
        if not pa.types.is_fixed_size_list(array.type):
            raise DataError(f"{source}: field '{VALUE_COLUMN[kind]}' must be a fixed-size list, got {array.type}")
        shape.append(array.type.list_size)
        array = array.flatten()
    expected_depth = 2 if kind == "views" else 1
    if len(shape) != expected_depth:
        raise DataError(f"{source}: field '{VALUE_COLUMN[kind]}' has nesting {shape}, expected depth {expected_depth}")
    return array.to_numpy(zero_copy_only=False).astype(np.float32).reshape(rows, *shape)


def load_modality_table(
    table: pa.Table, modality: str, num_items: int, source: str, expected_shape: list[int] | None = None
) -> ModalityTable:
    """Validate a feature table against the contract and make it dense."""
    kind = KIND_BY_MODALITY[modality]
    for name in ("item_index", VALUE_COLUMN[kind], "present"):
        if name not in table.column_names:
            raise DataError(f"{source}: missing field '{name}' (found {table.column_names})")
    index = table.column("item_index").to_numpy().astype(np.int64)
    if len(index) and (index.min() < 1 or index.max() > num_items):
        bad = int(index[(index < 1) | (index > num_items)][0])
        raise DataError(f"{source}: field 'item_index' has {bad}, outside the catalog 1..{num_items}")
    counts = np.bincount(index, minlength=num_items + 1)
    if (counts[1:] != 1).any():
        item = int(np.flatnonzero(counts[1:] != 1)[0] + 1)
        raise DataError(f"{source}: field 'item_index' must list every item exactly once; item {item} has "
                        f"{int(counts[item])} rows")
    values = _fixed_size_values(table.column(VALUE_COLUMN[kind]), kind, table.num_rows, source)
    shape = list(values.shape[1:])
    if expected_shape is not None and shape != list(expected_shape):
        raise DataError(
            f"{source}: field '{VALUE_COLUMN[kind]}' has shape {shape}, the config expects {expected_shape}"
        )
    finite = np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if not finite.all():
        item = int(index[np.flatnonzero(~finite)[0]])
        raise DataError(f"{source}: field '{VALUE_COLUMN[kind]}' has NaN or infinity at item_index {item}")
    dense = np.zeros((num_items + 1, *shape), dtype=np.float32)
    dense[index] = values
    present = np.zeros(num_items + 1, dtype=bool)
    present[index] = table.column("present").to_numpy(zero_copy_only=False)
    return ModalityTable(kind, torch.from_numpy(dense), torch.from_numpy(present), source, {})


def _pick_tag(dataset: Storage, modality: str, tag: str) -> str:
    tags = dataset.list_dirs(f"features/{modality}")
    if tag:
        if tag not in tags:
            raise DataError(f"{dataset.uri('features', modality)}: no feature tag {tag!r} (found {tags})")
        return tag
    if len(tags) != 1:
        raise DataError(f"{dataset.uri('features', modality)}: expected exactly one feature tag, found {tags}; "
                        f"set model.feature_tags.{modality}")
    return tags[0]


class ItemFeatureStore:
    """Per-modality dense feature tables for items 0..N (0 = padding)."""

    def __init__(self, num_items: int, tables: dict[str, ModalityTable]) -> None:
        self.num_items = num_items
        self.tables = tables

    @classmethod
    def load(
        cls,
        dataset: Storage,
        modalities: list[str],
        num_items: int,
        tags: dict[str, str] | None = None,
        expected_shapes: dict[str, list[int]] | None = None,
    ) -> ItemFeatureStore:
        tables = {}
        for modality in modalities:
            if modality == "id":
                continue
            tag = _pick_tag(dataset, modality, (tags or {}).get(modality, ""))
            rel = f"features/{modality}/{tag}"
            files = dataset.list_files(rel, ".parquet")
            # Feature parts are shared by every date; a run's catalog may be older than the newest part.
            table = dataset.read_parquet(rel)
            table = table.filter(pc.less_equal(table["item_index"], num_items))
            expected = (expected_shapes or {}).get(modality)
            loaded = load_modality_table(table, modality, num_items, dataset.uri(rel), expected)
            loaded.metadata = dataset.parquet_metadata(files[0]) if files else {}
            loaded.metadata["tag"] = tag
            tables[modality] = loaded
            log.info("loaded %s features %s for %d items (%d absent)", modality, loaded.item_shape, num_items,
                     int((~loaded.present[1:]).sum()))
        return cls(num_items, tables)

    def shapes(self) -> dict[str, list[int]]:
        return {m: t.item_shape for m, t in self.tables.items()}

    def tags(self) -> dict[str, str]:
        return {m: t.metadata.get("tag", "") for m, t in self.tables.items()}

    def gather(self, modality: str, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """items: (U,) long -> values (U, *item_shape), present (U,)."""
        table = self.tables[modality]
        return table.values.index_select(0, items), table.present.index_select(0, items)

    def to(self, device: torch.device) -> ItemFeatureStore:
        return ItemFeatureStore(self.num_items, {m: t.to(device) for m, t in self.tables.items()})


def read_num_items(dataset: Storage) -> int:
    """Catalog size N: the largest item_index in bronze/items."""
    table = dataset.read_parquet("bronze/items", columns=["item_index"])
    if table.num_rows == 0:
        raise DataError(f"{dataset.uri('bronze/items')}: the item catalog is empty")
    return int(pc.max(table.column("item_index")).as_py())
