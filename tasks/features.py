"""Pipeline step: bronze items -> per-modality feature tables (DESIGN §3).

`plan_shards` feeds Airflow's dynamic task mapping; `extract_features` runs one shard
or all of them and skips finished parts, so it resumes; `extract_price_features` runs
after the sequences step because the price scaling needs the training period.
bronze/items is not partitioned by date: every run covers the whole registry as it is,
and `logical_date` only labels the run. Feature parts are shared by all dates; a shard is
checked and written under its lease, and a part is never replaced by one with fewer items
(runs for older dates may see a smaller registry). Price features depend on the date's
training period and go into the date's snapshot.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import numpy as np
import pyarrow as pa

from mtstrec.config import PipelineConfig
from mtstrec.features.encoders import EncoderInfo
from mtstrec.features.extract import IMAGE_MODALITIES, TEXT_MODALITIES, FeatureExtractor, load_items, shard_of
from mtstrec.features.price import price_table_inputs
from mtstrec.features.writer import SETTINGS_KEY, feature_table, part_path, write_feature_part
from mtstrec.lease import hold
from mtstrec.storage import Storage

log = logging.getLogger(__name__)

PRICE_SHARD = 0


def plan_shards(cfg: PipelineConfig, logical_date: dt.date | None) -> list[int]:
    """Ids of the shards that hold at least one item of bronze/items; [] when no image or text modality
    is configured (price runs as its own step)."""
    if not any(m in IMAGE_MODALITIES + TEXT_MODALITIES for m in cfg.features.modalities):
        return []
    index = load_items(cfg.dataset_storage().undated(), columns=["item_index"])["item_index"].to_numpy()
    return sorted(int(s) for s in np.unique(shard_of(index, cfg.features.shard_size)))


def extract_features(cfg: PipelineConfig, logical_date: dt.date | None, shard: int | None = None) -> dict:
    """Write the configured style/image/text/prompt parts of one shard (or all); finished parts are skipped."""
    dataset = cfg.dataset_storage().undated()
    modalities = [m for m in cfg.features.modalities if m in IMAGE_MODALITIES + TEXT_MODALITIES]
    items = load_items(dataset)
    shards = shard_of(items["item_index"].to_numpy(), cfg.features.shard_size)
    planned = sorted(int(s) for s in np.unique(shards))
    if shard is not None and shard not in planned:
        raise ValueError(f"shard {shard} holds no items of {dataset.uri('bronze/items')} (shards: {planned})")
    extractor = FeatureExtractor(cfg.features, cfg.ingest.raw)
    summary: dict = {"modalities": modalities, "shards_written": [], "shards_skipped": [], "items": 0,
                     "present": dict.fromkeys(modalities, 0), "absent": dict.fromkeys(modalities, 0),
                     "quarantined": 0, "tags": {m: extractor.tag(m) for m in modalities}}
    for current in [shard] if shard is not None else planned:
        shard_items = items.filter(shards == current)
        summary["items"] += shard_items.num_rows
        with hold(dataset, f"features-shard-{current:05d}", ttl_s=cfg.lease.ttl_s):
            todo = extractor.missing_modalities(dataset, current, shard_items.num_rows, modalities)
            if not todo:
                summary["shards_skipped"].append(current)
                continue
            outcome = extractor.extract_shard(dataset, current, shard_items, todo)
        summary["shards_written"].append(current)
        summary["quarantined"] += outcome.quarantined
        for modality in todo:
            summary["present"][modality] += outcome.present[modality]
            summary["absent"][modality] += outcome.absent[modality]
        log.info("shard %d: wrote %s for %s items (%s quarantined images)", current, ", ".join(todo),
                 f"{shard_items.num_rows:,}", outcome.quarantined)
    log.info("features: %d shards written, %d already done; present %s, absent %s, quarantined %d",
             len(summary["shards_written"]), len(summary["shards_skipped"]), summary["present"],
             summary["absent"], summary["quarantined"])
    return summary


def _same_part(dataset: Storage, rel: str, table: pa.Table, settings_json: str) -> bool:
    """True when `rel` already holds exactly `table`, made with the same settings (a re-run of the date)."""
    if not dataset.exists(rel):
        return False
    if dataset.parquet_metadata(rel).get(SETTINGS_KEY) != settings_json:
        return False
    return dataset.read_parquet(rel).replace_schema_metadata(None).equals(table.replace_schema_metadata(None))


def extract_price_features(cfg: PipelineConfig, logical_date: dt.date | None) -> dict:
    """Mean training-period sale price per item, min-max scaled on training statistics (the date's snapshot)."""
    dataset = cfg.at_date(logical_date).dataset_storage()
    item_index = load_items(dataset, columns=["item_index"])["item_index"].to_numpy()
    values, present, stats = price_table_inputs(dataset, item_index)
    info = EncoderInfo("train-mean-sale-price-minmax", "none", f"bronze/transactions before {stats['val_start']}", 1)
    tag = cfg.features.price.tag
    table = feature_table(item_index, values, present)
    settings = json.dumps(stats, sort_keys=True)
    rel = part_path("price", tag, PRICE_SHARD)
    if _same_part(dataset, rel, table, settings):
        log.info("price features %s are up to date: not rewritten", dataset.uri(rel))
    else:
        write_feature_part(dataset, "price", tag, PRICE_SHARD, table, info, settings_json=settings)
    return {"path": rel, "tag": tag, "items": len(item_index), "present": int(present.sum()),
            "absent": int(len(present) - present.sum()), **stats}
