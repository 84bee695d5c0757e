"""The features step end to end on a tiny shop: contract, metadata, determinism, resume, price."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from mtstrec.schemas import FEATURE_METADATA_KEYS, TRANSACTIONS
from mtstrec.storage import Storage
from tasks.features import extract_features, extract_price_features, plan_shards
from tests.mtstrec.features.feature_fixtures import fast_config, make_shop


@pytest.fixture
def shop(tmp_path: Path) -> tuple[Path, Path]:
    return make_shop(tmp_path)


def _tables(root: Path, cfg) -> dict[str, pa.Table]:
    dataset = Storage(str(root)).child("shop")
    summary_tags = {m: dataset.list_dirs(f"features/{m}") for m in cfg.features.modalities}
    return {m: dataset.read_parquet(f"features/{m}/{tags[0]}") for m, tags in summary_tags.items()}


def test_plan_shards_covers_item_index_ranges(shop):
    root, raw = shop
    assert plan_shards(fast_config(root, raw), None) == [0, 1]
    assert plan_shards(fast_config(root, raw, shard_size=2), None) == [0, 1, 2]
    assert plan_shards(fast_config(root, raw, modalities=["price"]), None) == []


def test_extract_features_writes_one_row_per_item_with_metadata(shop):
    root, raw = shop
    cfg = fast_config(root, raw)
    summary = extract_features(cfg, None)
    assert summary["shards_written"] == [0, 1] and summary["quarantined"] == 0
    assert summary["present"] == {"style": 5, "image": 5, "text": 6, "prompt": 6}
    assert summary["absent"]["image"] == 1
    dataset = Storage(str(root)).child("shop")
    tables = _tables(root, cfg)
    for modality, table in tables.items():
        assert table["item_index"].to_pylist() == [1, 2, 3, 4, 5, 6], modality
    image = tables["image"]
    assert image["present"].to_pylist() == [True] * 5 + [False]
    vectors = np.stack(image["vector"].to_numpy(zero_copy_only=False))
    assert vectors.shape == (6, 384) and not vectors[5].any() and np.abs(vectors[:5]).sum(axis=1).min() > 0
    assert image.schema.field("vector").type == pa.list_(pa.float32(), 384)
    assert tables["style"].schema.field("vector").type.list_size == 512
    assert tables["prompt"].schema.field("views").type == pa.list_(pa.list_(pa.float32(), 384), 2)
    part = dataset.list_files(f"features/image/{summary['tags']['image']}", ".parquet")[0]
    metadata = dataset.parquet_metadata(part)
    assert set(FEATURE_METADATA_KEYS) <= set(metadata)
    assert metadata["encoder"] == "open_clip:ViT-S-32" and metadata["weights"] == "random"
    assert metadata["dim"] == "384" and metadata["views"] == "0"
    prompt_part = dataset.list_files(f"features/prompt/{summary['tags']['prompt']}", ".parquet")[0]
    assert dataset.parquet_metadata(prompt_part)["views"] == "2"


def test_extraction_is_deterministic_on_cpu(shop, tmp_path):
    root, raw = shop
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    extract_features(fast_config(root, raw), None)
    extract_features(fast_config(copy, raw), None)
    cfg = fast_config(root, raw)
    for modality, table in _tables(root, cfg).items():
        assert table.equals(_tables(copy, cfg)[modality]), modality


def test_resume_writes_only_missing_shards_and_matches_one_run(shop, tmp_path):
    root, raw = shop
    fresh = tmp_path / "fresh"
    shutil.copytree(root, fresh)
    first = extract_features(fast_config(root, raw), None, shard=0)
    assert first["shards_written"] == [0]
    dataset = Storage(str(root)).child("shop")
    done = {f: Path(dataset.path(f)).stat().st_mtime_ns for f in dataset.list_files("features", ".parquet")}
    assert len(done) == 4
    resumed = extract_features(fast_config(root, raw), None)
    assert resumed["shards_written"] == [1] and resumed["shards_skipped"] == [0]
    assert all(Path(dataset.path(f)).stat().st_mtime_ns == t for f, t in done.items())
    again = extract_features(fast_config(root, raw), None)
    assert again["shards_written"] == [] and again["shards_skipped"] == [0, 1]
    extract_features(fast_config(fresh, raw), None)
    cfg = fast_config(root, raw)
    for modality, table in _tables(root, cfg).items():
        assert table.equals(_tables(fresh, cfg)[modality]), modality


def test_resume_refuses_parts_made_with_other_settings(shop):
    root, raw = shop
    extract_features(fast_config(root, raw, modalities=["prompt"]), None)
    from mtstrec.features.config import PromptConfig

    changed = PromptConfig(templates=["{colour}", "{title}"])
    with pytest.raises(ValueError, match="other encoder settings"):
        extract_features(fast_config(root, raw, modalities=["prompt"], prompt=changed), None)


def test_new_items_in_a_finished_shard_are_extracted(shop):
    root, raw = shop
    cfg = fast_config(root, raw, modalities=["text"])
    extract_features(cfg, None)
    dataset = Storage(str(root)).child("shop")
    extra = dataset.read_parquet("bronze/items").to_pylist()[:1]
    extra[0].update(item_index=7, item_id="0000000007")
    dataset.write_parquet("bronze/items/part-1.parquet", pa.Table.from_pylist(extra, dataset.read_parquet(
        "bronze/items/part-0.parquet").schema))
    summary = extract_features(cfg, None)
    assert summary["shards_written"] == [1] and summary["shards_skipped"] == [0]
    assert _tables(root, cfg)["text"]["item_index"].to_pylist() == [1, 2, 3, 4, 5, 6, 7]


def _write_transactions(root: Path, rows: list[tuple[str, int, float | None]]) -> None:
    import datetime as dt

    dataset = Storage(str(root)).child("shop")
    for day in sorted({r[0] for r in rows}):
        table = pa.Table.from_pylist(
            [{"date": dt.date.fromisoformat(d), "user_id": "u", "item_index": i, "price": p, "channel": 1}
             for d, i, p in rows if d == day], TRANSACTIONS)
        dataset.write_parquet(f"bronze/transactions/date={day}/part-0.parquet", table)


def test_price_uses_training_period_only(shop):
    root, raw = shop
    _write_transactions(root, [
        ("2020-01-01", 1, 10.0), ("2020-01-02", 1, 20.0),  # item 1: mean 15
        ("2020-01-02", 2, 40.0),  # item 2: mean 40 (train max)
        ("2020-01-03", 3, 5.0), ("2020-01-03", 4, None),  # item 3: train min; item 4: no priced sale
        ("2020-02-01", 2, 1000.0), ("2020-02-01", 5, 1.0),  # validation period: ignored
    ])
    dataset = Storage(str(root)).child("shop")
    split = {"val_start": "2020-02-01", "test_start": "2020-03-01"}
    dataset.write_bytes("sequences/split.json", json.dumps(split).encode())
    summary = extract_price_features(fast_config(root, raw), None)
    assert summary["train_min"] == 5.0 and summary["train_max"] == 40.0 and summary["present"] == 3
    table = dataset.read_parquet(summary["path"])
    assert table["item_index"].to_pylist() == [1, 2, 3, 4, 5, 6]
    assert table["present"].to_pylist() == [True, True, True, False, False, False]
    np.testing.assert_allclose(table["value"].to_numpy(), [10 / 35, 1.0, 0.0, 0.0, 0.0, 0.0], rtol=1e-6)
    assert set(FEATURE_METADATA_KEYS) <= set(dataset.parquet_metadata(summary["path"]))


def test_price_without_split_is_a_clear_error(shop):
    root, raw = shop
    with pytest.raises(FileNotFoundError, match=r"split.json .*run `mtstrec sequences` first"):
        extract_price_features(fast_config(root, raw), None)
