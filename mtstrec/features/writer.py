"""Feature part files: `features/<modality>/<tag>/part-<shard:05d>.parquet` (DESIGN §3).

Each part holds one row per item_index of its shard, written atomically with the
metadata keys of `mtstrec.schemas.FEATURE_METADATA_KEYS` plus the encoder settings,
so that a resumed run can tell a finished part from one made with other settings.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mtstrec.features.encoders import EncoderInfo
from mtstrec.schemas import QUARANTINE_REASON_FIELD, scalar_feature_schema, vector_feature_schema, views_feature_schema
from mtstrec.storage import Storage

SETTINGS_KEY = "settings"
SHARD_KEY = "shard"


def part_path(modality: str, tag: str, shard: int) -> str:
    return f"features/{modality}/{tag}/part-{shard:05d}.parquet"


def feature_metadata(info: EncoderInfo, views: int, shard: int, settings_json: str) -> dict[str, str]:
    return {
        "encoder": info.encoder,
        "weights": info.weights,
        "weights_source": info.weights_source,
        "dim": str(info.dim),
        "views": str(views),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        SETTINGS_KEY: settings_json,
        SHARD_KEY: str(shard),
    }


def feature_table(item_index: np.ndarray, values: np.ndarray, present: np.ndarray) -> pa.Table:
    """values (N, D) -> vector table; (N, K, D) -> views table; (N,) -> scalar table."""
    index = pa.array(item_index.astype(np.int32), pa.int32())
    flags = pa.array(present.astype(bool), pa.bool_())
    values = np.ascontiguousarray(values, dtype=np.float32)
    if values.ndim == 1:
        schema = scalar_feature_schema()
        column = pa.array(values, pa.float32())
    elif values.ndim == 2:
        schema = vector_feature_schema(values.shape[1])
        column = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1), pa.float32()), values.shape[1])
    else:
        _, k, d = values.shape
        schema = views_feature_schema(k, d)
        inner = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1), pa.float32()), d)
        column = pa.FixedSizeListArray.from_arrays(inner, k)
    return pa.Table.from_arrays([index, column.cast(schema.field(1).type), flags], schema=schema)


def write_feature_part(
    storage: Storage, modality: str, tag: str, shard: int, table: pa.Table, info: EncoderInfo, settings_json: str
) -> str:
    views = table.schema.field(1).type.list_size if modality == "prompt" else 0
    rel = part_path(modality, tag, shard)
    storage.write_parquet(rel, table, feature_metadata(info, views, shard, settings_json))
    return rel


def part_is_done(storage: Storage, rel: str, expected_rows: int, settings_json: str) -> bool:
    """True when the part exists with at least the expected rows (the registry only grows, so a part written
    from a larger registry covers a smaller one); a part made with other settings is an error."""
    if not storage.exists(rel):
        return False
    metadata = storage.parquet_metadata(rel)
    if metadata.get(SETTINGS_KEY) != settings_json:
        raise ValueError(
            f"{storage.uri(rel)} was written with other encoder settings ({metadata.get(SETTINGS_KEY)}); "
            f"current: {settings_json}. Set a new features.<modality>.tag or delete the directory."
        )
    rows = pq.read_metadata(storage.path(rel), filesystem=storage.fs).num_rows
    return rows >= expected_rows


def quarantine_path(shard: int) -> str:
    return f"quarantine/features/images-part-{shard:05d}.parquet"


QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("item_index", pa.int32(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("image_path", pa.string(), nullable=True),
        pa.field(QUARANTINE_REASON_FIELD, pa.string(), nullable=False),
    ]
)


def write_image_quarantine(storage: Storage, shard: int, rows: list[dict]) -> None:
    """Rejected images of one shard with their reasons; an empty list removes a stale file."""
    rel = quarantine_path(shard)
    if rows:
        storage.write_parquet(rel, pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA))
    elif storage.exists(rel):
        storage.delete(rel)
