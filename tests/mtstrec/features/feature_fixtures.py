"""Small bronze item tables and images written in temporary directories."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image

from mtstrec.config import PipelineConfig
from mtstrec.features.config import FeatureConfig, ImageEncoderConfig, PromptConfig, StyleConfig, TextEncoderConfig
from mtstrec.schemas import ITEMS
from mtstrec.storage import Storage


def striped_image(colour: tuple[int, int, int], stripe: int, size: int = 48, seed: int = 0) -> Image.Image:
    """Vertical stripes of `colour` on white, `stripe` pixels wide, with a little noise."""
    rng = np.random.default_rng(seed)
    pixels = np.full((size, size, 3), 255, np.uint8)
    for x in range(0, size, 2 * stripe):
        pixels[:, x : x + stripe] = colour
    noise = rng.integers(-6, 7, pixels.shape)
    return Image.fromarray(np.clip(pixels.astype(int) + noise, 0, 255).astype(np.uint8))


def item_row(index: int, image_path: str | None, title: str = "", description: str = "", **attributes: str) -> dict:
    return {
        "item_index": index,
        "item_id": f"{index:010d}",
        "title": title or f"item {index}",
        "description": description or f"description of item {index}",
        "attributes": list(attributes.items()),
        "image_path": image_path,
        "first_seen": dt.date(2020, 1, 1),
    }


def write_items(root: Path, dataset: str, rows: list[dict]) -> None:
    Storage(str(root)).child(dataset).write_parquet("bronze/items/part-0.parquet", pa.Table.from_pylist(rows, ITEMS))


def fast_config(root: Path, raw: Path, **features: object) -> PipelineConfig:
    """Random-weight open_clip ViT-S-32 images and EfficientNet-lite0 style, the embedded MiniLM for
    texts (far faster on CPU than a CLIP text tower), on CPU, with tiny shards and batches."""
    settings = {
        "device": "cpu",
        "workers": 0,
        "batch_size": 4,
        "shard_size": 4,
        "image_size": 64,
        "modalities": ["style", "image", "text", "prompt"],
        "style": StyleConfig(weights=""),
        "image": ImageEncoderConfig(encoder="open_clip", arch="ViT-S-32", weights=""),
        "text": TextEncoderConfig(),
        "prompt": PromptConfig(templates=["{colour} {pattern}", "{title}"]),
        **features,
    }
    cfg = PipelineConfig(root=str(root), dataset="shop", features=FeatureConfig(**settings))
    cfg.ingest.raw = str(raw)
    return cfg


def make_shop(tmp_path: Path) -> tuple[Path, Path]:
    """(root, raw): six items, five with images (stored relative to raw), one without."""
    root, raw = tmp_path / "root", tmp_path / "raw"
    (raw / "images").mkdir(parents=True)
    colours = [(200, 30, 30), (30, 30, 200), (30, 160, 30), (200, 200, 30), (90, 30, 120)]
    rows = []
    for i, colour in enumerate(colours, start=1):
        striped_image(colour, stripe=2 + i, seed=i).save(raw / "images" / f"{i}.jpg", quality=92)
        rows.append(item_row(i, f"images/{i}.jpg", colour=f"colour{i}", pattern="stripes"))
    rows.append(item_row(6, None, colour="plain"))
    write_items(root, "shop", rows)
    return root, raw
