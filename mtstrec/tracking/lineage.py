"""Dataset lineage of a training run: which contract files it read, where, and how many rows.

Row counts come from Parquet footers, so lineage costs no data scan. The split
fingerprint hashes the test sequences' bytes (written deterministically) and the catalog
size, so that two evaluations are compared only when they ranked the same examples.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import date

import pyarrow.parquet as pq

from mtstrec.schemas import SPLITS
from mtstrec.storage import Storage


@dataclass(frozen=True)
class DatasetEntry:
    name: str  # contract path, e.g. "bronze/items" or "features/image"
    uri: str
    rows: int
    files: int
    digest: str  # over file names, sizes and row counts

    def as_dict(self) -> dict:
        return asdict(self)


def _rows(dataset: Storage, file: str) -> int:
    return pq.read_metadata(dataset.path(file), filesystem=dataset.fs).num_rows


def _entry(dataset: Storage, name: str, rel: str, files: list[str]) -> DatasetEntry | None:
    if not files:
        return None
    digest = hashlib.sha256()
    rows = 0
    for file in files:
        file_rows = _rows(dataset, file)
        size = dataset.fs.get_file_info(dataset.path(file)).size
        rows += file_rows
        digest.update(f"{file}:{size}:{file_rows}\n".encode())
    return DatasetEntry(name=name, uri=dataset.uri(rel), rows=rows, files=len(files), digest=digest.hexdigest()[:16])


def _partitions_up_to(files: list[str], logical_date: date | None) -> list[str]:
    """Files of `bronze/transactions/date=YYYY-MM-DD/` partitions on or before the logical date."""
    if logical_date is None:
        return files
    cutoff = f"date={logical_date.isoformat()}"
    return [f for f in files if f.split("/")[2] <= cutoff]


def dataset_lineage(dataset: Storage, logical_date: date | None, modalities: list[str]) -> list[DatasetEntry]:
    """The bronze, sequence and feature files a run of `logical_date` read, with their row counts."""
    wanted = {
        "bronze/items": ("bronze/items", dataset.list_files("bronze/items", ".parquet")),
        "bronze/transactions": (
            "bronze/transactions",
            _partitions_up_to(dataset.list_files("bronze/transactions", ".parquet"), logical_date),
        ),
    }
    for split in SPLITS:
        rel = f"sequences/{split}.parquet"
        wanted[f"sequences/{split}"] = (rel, [rel] if dataset.exists(rel) else [])
    for modality in modalities:
        if modality != "id":
            rel = f"features/{modality}"
            wanted[rel] = (rel, dataset.list_files(rel, ".parquet"))
    entries = [_entry(dataset, name, rel, files) for name, (rel, files) in wanted.items()]
    return [e for e in entries if e is not None]


def split_fingerprint(dataset: Storage) -> str:
    """Identifies the validation examples (the promotion gate's split) and the catalog they are ranked against."""
    digest = hashlib.sha256(dataset.read_bytes("sequences/val.parquet"))
    items = sum(_rows(dataset, f) for f in dataset.list_files("bronze/items", ".parquet"))
    digest.update(f"items={items}".encode())
    return digest.hexdigest()[:16]
