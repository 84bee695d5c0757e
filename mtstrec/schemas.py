"""Arrow schemas of the data contract (DESIGN §3): the one source of truth.

Ingest, feature extraction, sequence building and the model library all read
and write these files; each of them validates against the schemas here.
"""

from __future__ import annotations

import pyarrow as pa

PADDING_INDEX = 0
MAX_TARGETS = 50

ITEMS = pa.schema(
    [
        pa.field("item_index", pa.int32(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("title", pa.string(), nullable=False),
        pa.field("description", pa.string(), nullable=False),
        pa.field("attributes", pa.map_(pa.string(), pa.string()), nullable=False),
        pa.field("image_path", pa.string(), nullable=True),
        pa.field("first_seen", pa.date32(), nullable=False),
    ]
)

TRANSACTIONS = pa.schema(
    [
        pa.field("date", pa.date32(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("item_index", pa.int32(), nullable=False),
        pa.field("price", pa.float64(), nullable=True),
        pa.field("channel", pa.int8(), nullable=True),
    ]
)

SEQUENCES = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("history", pa.list_(pa.int32()), nullable=False),
        pa.field("targets", pa.list_(pa.int32()), nullable=False),
        pa.field("target_date", pa.date32(), nullable=False),
    ]
)

CANDIDATES = pa.schema([pa.field("item_index", pa.int32(), nullable=False)])

# recommendations/date=D/part-*.parquet: the champion's top-k per active customer, best first.
RECOMMENDATIONS = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("items", pa.list_(pa.string()), nullable=False),  # the shop's item ids
        pa.field("scores", pa.list_(pa.float32()), nullable=False),  # cosine similarity, descending
        pa.field("model_version", pa.string(), nullable=False),
        pa.field("generated_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)

QUARANTINE_REASON_FIELD = "reason"
SPLITS = ("train", "val", "test")


def vector_feature_schema(dim: int) -> pa.Schema:
    """Schema of a single-vector modality (`style`, `image`, `text`)."""
    return pa.schema(
        [
            pa.field("item_index", pa.int32(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dim), nullable=False),
            pa.field("present", pa.bool_(), nullable=False),
        ]
    )


def views_feature_schema(views: int, dim: int) -> pa.Schema:
    """Schema of the `prompt` modality: K embedded text views per item."""
    return pa.schema(
        [
            pa.field("item_index", pa.int32(), nullable=False),
            pa.field("views", pa.list_(pa.list_(pa.float32(), dim), views), nullable=False),
            pa.field("present", pa.bool_(), nullable=False),
        ]
    )


def scalar_feature_schema() -> pa.Schema:
    """Schema of the `price` modality: one scaled scalar per item."""
    return pa.schema(
        [
            pa.field("item_index", pa.int32(), nullable=False),
            pa.field("value", pa.float32(), nullable=False),
            pa.field("present", pa.bool_(), nullable=False),
        ]
    )


# Keys of the key-value metadata every feature file carries (DESIGN §3).
FEATURE_METADATA_KEYS = ("encoder", "weights", "weights_source", "dim", "views", "created_at")


def missing_columns(schema: pa.Schema, required: pa.Schema) -> list[str]:
    """Names of columns in `required` that `schema` lacks."""
    return [name for name in required.names if name not in schema.names]
