"""The same sample -> ingest -> quality -> sequences code path on moto S3 (127.0.0.1), matching a local run."""

from __future__ import annotations

import json
from datetime import date

import polars as pl

from mtstrec.config import PipelineConfig
from mtstrec.data.config import IngestConfig, SequenceConfig
from mtstrec.data.sample import generate_sample
from mtstrec.storage import Storage
from tasks.ingest import ingest
from tasks.quality import check_bronze
from tasks.sequences import build_sequences

LOGICAL_DATE = date(2020, 4, 30)


def run_pipeline(raw: str, root: str) -> dict:
    cfg = PipelineConfig(
        root=root,
        dataset="tiny",
        ingest=IngestConfig(raw=raw, layout="hm"),
        sequences=SequenceConfig(val_fraction=0.1, test_fraction=0.1),
    )
    generate_sample(raw, "tiny", seed=0)
    # The first two months keep the request count (and the test) small on moto.
    ingested = ingest(cfg, LOGICAL_DATE)
    check_bronze(cfg, LOGICAL_DATE)
    built = build_sequences(cfg, LOGICAL_DATE)
    return {"ingest": ingested, "sequences": built}


def test_s3_roundtrip_matches_local(s3_bucket, tmp_path):
    remote = run_pipeline(f"{s3_bucket}/raw", f"{s3_bucket}/lake")
    local = run_pipeline(str(tmp_path / "raw"), str(tmp_path / "lake"))
    assert remote["ingest"]["rows_written"] == local["ingest"]["rows_written"] > 0
    assert remote["sequences"]["counts"] == local["sequences"]["counts"]

    day = LOGICAL_DATE.isoformat()
    remote_store = Storage(f"{s3_bucket}/lake/tiny").dated(day)
    local_store = Storage(str(tmp_path / "lake" / "tiny")).dated(day)
    remote_files = remote_store.list_files("", ".parquet")
    assert remote_files == local_store.list_files("", ".parquet")
    for rel in ("bronze/transactions", "sequences/train.parquet", "sequences/test.parquet", "candidates"):
        assert remote_store.read_parquet(rel).equals(local_store.read_parquet(rel))
    # Image paths point into the bucket and open through Storage.
    items = pl.from_arrow(remote_store.read_parquet("bronze/items"))
    image = items["image_path"].drop_nulls()[0]
    assert image.startswith(f"{s3_bucket}/raw/images/")
    assert Storage(image.rsplit("/", 1)[0]).read_bytes(image.rsplit("/", 1)[1])[:2] == b"\xff\xd8"
    split = json.loads(remote_store.read_bytes("sequences/split.json"))
    assert split["val_start"] == remote["sequences"]["val_start"]
