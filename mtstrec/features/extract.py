"""Extraction of the image and text modalities, one shard of bronze/items at a time.

A shard is an item_index range, so shard ids stay stable as the catalog grows. Each
(modality, shard) part is skipped when it already holds every item of its range, which
makes a re-run resume where the last one stopped. Images are decoded once per shard and
fed to every image encoder; encoders are built lazily, only if some part is missing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import torch
from tqdm import tqdm

from mtstrec.features.config import EMBEDDED, FeatureConfig, ImageEncoderConfig, StyleConfig, TextEncoderConfig
from mtstrec.features.encoders import (
    ImageEncoder,
    TextEncoder,
    build_image_encoder,
    build_style_encoder,
    build_text_encoder,
)
from mtstrec.features.images import ImageLimits, image_loader, resolve_image_path
from mtstrec.features.text_views import build_view_source, item_text
from mtstrec.features.writer import feature_table, part_is_done, part_path, write_feature_part, write_image_quarantine
from mtstrec.schemas import ITEMS, missing_columns
from mtstrec.storage import Storage

log = logging.getLogger(__name__)

ITEMS_DIR = "bronze/items"
IMAGE_MODALITIES = ("style", "image")
TEXT_MODALITIES = ("text", "prompt")


def load_items(dataset: Storage, columns: list[str] | None = None) -> pa.Table:
    """bronze/items sorted by item_index, checked for the contract's columns and unique indexes."""
    table = dataset.read_parquet(ITEMS_DIR, columns=columns)
    required = ITEMS if columns is None else pa.schema([ITEMS.field(c) for c in columns])
    missing = missing_columns(table.schema, required)
    if missing:
        raise ValueError(f"{dataset.uri(ITEMS_DIR)}: missing column(s) {missing}")
    table = table.sort_by("item_index")
    index = table["item_index"].to_numpy()
    if len(index) and (index[0] < 1 or np.any(np.diff(index) == 0)):
        bad = index[0] if index[0] < 1 else index[1:][np.diff(index) == 0][0]
        raise ValueError(f"{dataset.uri(ITEMS_DIR)}: item_index {bad} is invalid (< 1) or duplicated")
    return table


def shard_of(item_index: np.ndarray, shard_size: int) -> np.ndarray:
    """Shard s holds item_index in [s*size + 1, (s+1)*size]."""
    return (item_index.astype(np.int64) - 1) // shard_size


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# Built encoders, kept for the next call in the same process (a worker running several shards,
# a resumed run); keyed by everything that shapes them, least recently used dropped first.
_ENCODER_CACHE: OrderedDict[str, ImageEncoder | TextEncoder] = OrderedDict()
ENCODER_CACHE_SIZE = 4


def _cached_encoder(key: str, build: Callable[[], ImageEncoder | TextEncoder]) -> ImageEncoder | TextEncoder:
    if key in _ENCODER_CACHE:
        _ENCODER_CACHE.move_to_end(key)
        return _ENCODER_CACHE[key]
    encoder = _ENCODER_CACHE[key] = build()
    while len(_ENCODER_CACHE) > ENCODER_CACHE_SIZE:
        _ENCODER_CACHE.popitem(last=False)
    return encoder


def _weights_label(weights: str) -> str:
    if weights == EMBEDDED:
        return "embedded"
    if weights == "":
        return "random"
    return "file-" + hashlib.sha1(weights.encode()).hexdigest()[:8]


@dataclass
class ShardOutcome:
    written: list[str] = field(default_factory=list)
    present: dict[str, int] = field(default_factory=dict)
    absent: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0


class FeatureExtractor:
    """Builds each configured encoder once and writes the missing parts of each shard."""

    def __init__(self, cfg: FeatureConfig, raw_root: str) -> None:
        self.cfg = cfg
        self.raw_root = raw_root
        self.device = resolve_device(cfg.device)
        self.limits = ImageLimits(cfg.image_size, cfg.min_image_side, cfg.max_image_pixels)
        self._image_encoders: dict[str, ImageEncoder] = {}
        self._text_encoders: dict[str, TextEncoder] = {}

    def _section(self, modality: str) -> StyleConfig | ImageEncoderConfig | TextEncoderConfig:
        """The config of one modality's encoder."""
        return self.cfg.prompt.text if modality == "prompt" else getattr(self.cfg, modality)

    def tag(self, modality: str) -> str:
        section = self._section(modality)
        suffix = {"style": "-gram", "prompt": f"-k{len(self.cfg.prompt.templates)}"}.get(modality, "")
        return section.tag or f"{section.arch}-{_weights_label(section.weights)}{suffix}"

    def settings_json(self, modality: str) -> str:
        """Everything that shapes a modality's values; a resumed part must have been made with the same."""
        # The weights as configured, not their resolved path: a package installed elsewhere is the same weights.
        settings = {"config": dataclasses.asdict(self._section(modality))}
        if modality in IMAGE_MODALITIES:
            settings["image_size"] = self.cfg.image_size
        if modality == "prompt":
            settings["view_source"] = self.cfg.prompt.view_source
            settings["templates"] = self.cfg.prompt.templates
        return json.dumps(settings, sort_keys=True)

    def missing_modalities(self, dataset: Storage, shard: int, rows: int, modalities: list[str]) -> list[str]:
        return [m for m in modalities
                if not part_is_done(dataset, part_path(m, self.tag(m), shard), rows, self.settings_json(m))]

    def image_encoder(self, modality: str) -> ImageEncoder:
        if modality not in self._image_encoders:
            build = build_style_encoder if modality == "style" else build_image_encoder
            key = f"{modality}|{self.device}|{self.settings_json(modality)}"
            self._image_encoders[modality] = _cached_encoder(key, lambda: build(getattr(self.cfg, modality),
                                                                                 self.device))
            log.info("%s encoder: %s (%s weights, %s)", modality, *self._describe(self._image_encoders[modality]))
        return self._image_encoders[modality]

    def text_encoder(self, modality: str) -> TextEncoder:
        section: TextEncoderConfig = self.cfg.prompt.text if modality == "prompt" else self.cfg.text
        key = json.dumps(dataclasses.asdict(dataclasses.replace(section, tag="")), sort_keys=True)
        if key not in self._text_encoders:
            config_key = "features.prompt.text" if modality == "prompt" else "features.text"
            self._text_encoders[key] = _cached_encoder(
                f"text|{self.device}|{self.cfg.batch_size}|{key}",
                lambda: build_text_encoder(section, config_key, self.device, self.cfg.batch_size),
            )
            log.info("%s encoder: %s (%s weights, %s)", modality, *self._describe(self._text_encoders[key]))
        return self._text_encoders[key]

    @staticmethod
    def _describe(encoder: ImageEncoder | TextEncoder) -> tuple[str, str, str]:
        return encoder.info.encoder, encoder.info.weights, encoder.info.weights_source

    def extract_shard(self, dataset: Storage, shard: int, items: pa.Table, modalities: list[str]) -> ShardOutcome:
        """Compute and write the given modalities for one shard's items (sorted by item_index)."""
        outcome = ShardOutcome()
        item_index = items["item_index"].to_numpy()
        image_modalities = [m for m in modalities if m in IMAGE_MODALITIES]
        text_modalities = [m for m in modalities if m in TEXT_MODALITIES]
        results: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if image_modalities:
            results.update(self._image_features(dataset, shard, items, image_modalities, outcome))
        for modality in text_modalities:
            results[modality] = self._text_features(shard, items, modality)
        for modality, (values, present) in results.items():
            info = (self.image_encoder(modality) if modality in IMAGE_MODALITIES else self.text_encoder(modality)).info
            table = feature_table(item_index, values, present)
            rel = write_feature_part(dataset, modality, self.tag(modality), shard, table, info,
                                     self.settings_json(modality))
            outcome.written.append(rel)
            outcome.present[modality] = int(present.sum())
            outcome.absent[modality] = int(len(present) - present.sum())
        return outcome

    def _image_features(
        self, dataset: Storage, shard: int, items: pa.Table, modalities: list[str], outcome: ShardOutcome
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        encoders = {m: self.image_encoder(m) for m in modalities}
        n = items.num_rows
        values = {m: np.zeros((n, enc.info.dim), np.float32) for m, enc in encoders.items()}
        present = np.zeros(n, bool)
        paths = [resolve_image_path(p, self.raw_root) for p in items["image_path"].to_pylist()]
        rows = [i for i, p in enumerate(paths) if p]
        loader = image_loader(rows, [paths[i] for i in rows], self.limits, self.cfg.batch_size, self.cfg.workers,
                              pin_memory=self.device.type == "cuda")
        quarantine = []
        item_ids = items["item_id"].to_pylist()
        with tqdm(total=len(rows), desc=f"shard {shard} images", unit="img", leave=False) as bar:
            for batch in loader:
                for row, reason in batch.rejected:
                    quarantine.append({"item_index": int(items["item_index"][row].as_py()), "item_id": item_ids[row],
                                       "image_path": paths[row], "reason": reason})
                if len(batch.rows):
                    images = batch.images.to(self.device, non_blocking=True)  # (B, 3, S, S) uint8
                    for modality, encoder in encoders.items():
                        values[modality][batch.rows.numpy()] = encoder(images).cpu().numpy()
                    present[batch.rows.numpy()] = True
                bar.update(len(batch.rows) + len(batch.rejected))
        write_image_quarantine(dataset, shard, quarantine)
        outcome.quarantined = len(quarantine)
        for entry in quarantine:
            log.warning("quarantined image of item %s (%s): %s", entry["item_index"], entry["image_path"],
                        entry["reason"])
        return {m: (values[m], present) for m in modalities}

    def _text_features(self, shard: int, items: pa.Table, modality: str) -> tuple[np.ndarray, np.ndarray]:
        encoder = self.text_encoder(modality)
        titles, descriptions = items["title"].to_pylist(), items["description"].to_pylist()
        if modality == "text":
            texts = [item_text(t, d) for t, d in zip(titles, descriptions, strict=True)]
            grid = np.array([[bool(t)] for t in texts])  # (N, 1)
            flat = [[t] for t in texts]
        else:
            records = [{"title": t, "description": d, "attributes": dict(a or [])}
                       for t, d, a in zip(titles, descriptions, items["attributes"].to_pylist(), strict=True)]
            flat = build_view_source(self.cfg.prompt).views(records)
            grid = np.array([[bool(v) for v in views] for views in flat]).reshape(len(flat), -1)  # (N, K)
        wanted = [text for views in flat for text in views if text]
        vectors = np.zeros((*grid.shape, encoder.info.dim), np.float32)  # (N, K, D)
        with tqdm(total=len(wanted), desc=f"shard {shard} {modality}", unit="text", leave=False) as bar:
            encoded = []
            for start in range(0, len(wanted), encoder.batch_size):
                encoded.append(encoder.encode(wanted[start : start + encoder.batch_size]).numpy())
                bar.update(len(encoded[-1]))
        if wanted:
            vectors[grid] = np.concatenate(encoded)
        present = grid.any(axis=1)
        return (vectors[:, 0] if modality == "text" else vectors), present
