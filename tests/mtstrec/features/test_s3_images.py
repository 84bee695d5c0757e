"""Items and images on S3 (moto on 127.0.0.1): image_path URIs are read through the storage layer."""

from __future__ import annotations

import io

from mtstrec.storage import Storage
from tasks.features import extract_features
from tests.mtstrec.features.feature_fixtures import fast_config, item_row, striped_image, write_items


def test_images_on_s3_are_decoded_and_bad_ones_quarantined(s3_bucket, tmp_path):
    s3_root = f"{s3_bucket}/root"
    raw = Storage(f"{s3_bucket}/raw")
    buffer = io.BytesIO()
    striped_image((200, 30, 30), 4).save(buffer, format="JPEG")
    raw.write_bytes("images/1.jpg", buffer.getvalue())
    raw.write_bytes("images/2.jpg", b"")
    rows = [item_row(1, raw.uri("images/1.jpg")), item_row(2, raw.uri("images/2.jpg")), item_row(3, "images/1.jpg")]
    dataset = Storage(s3_root).child("shop")
    dataset.write_parquet("bronze/items/part-0.parquet", _items_table(tmp_path, rows))
    cfg = fast_config(s3_root, tmp_path, modalities=["style"])
    cfg.ingest.raw = f"{s3_bucket}/raw"

    summary = extract_features(cfg, None)

    assert summary["present"] == {"style": 2} and summary["quarantined"] == 1
    table = dataset.read_parquet(f"features/style/{summary['tags']['style']}")
    assert table["present"].to_pylist() == [True, False, True]
    assert dataset.read_parquet("quarantine/features")["reason"].to_pylist() == ["empty file (0 bytes)"]


def _items_table(tmp_path, rows):
    write_items(tmp_path, "local", rows)
    return Storage(str(tmp_path)).child("local").read_parquet("bronze/items/part-0.parquet")
