"""End-to-end image feature extraction on one GPU: JPEG files on disk -> Parquet feature parts.

Runs the pipeline's own code (`tasks.features.extract_features`: DataLoader decode workers,
uint8 transfer, bf16 autocast, channels-last, atomic part writes) with open_clip ViT-B-32
(random weights: same speed as trained ones, nothing downloaded). Called by
bench/features_gpu.sh, which also generates the JPEGs.

    python bench/features_gpu.py --images DIR --work DIR [--batch 256] [--workers 15]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from pathlib import Path

import pyarrow as pa
import torch

import mtstrec.features  # noqa: F401  (sets HF_HUB_OFFLINE before any Hugging Face import)
from mtstrec.config import PipelineConfig
from mtstrec.features.config import FeatureConfig, ImageEncoderConfig
from mtstrec.features.encoders import build_image_encoder
from mtstrec.schemas import ITEMS
from mtstrec.storage import Storage
from tasks.features import extract_features


def write_items(root: Path, dataset: str, paths: list[str]) -> None:
    rows = [{"item_index": i + 1, "item_id": f"{i + 1:010d}", "title": "", "description": "", "attributes": [],
             "image_path": p, "first_seen": dt.date(2020, 1, 1)} for i, p in enumerate(paths)]
    Storage(str(root)).child(dataset).write_parquet("bronze/items/part-0.parquet", pa.Table.from_pylist(rows, ITEMS))


def config(root: Path, dataset: str, args: argparse.Namespace) -> PipelineConfig:
    features = FeatureConfig(
        modalities=["image"], shard_size=args.shard_size, device=args.device, batch_size=args.batch,
        workers=args.workers,
        image=ImageEncoderConfig(encoder="open_clip", arch=args.arch, weights=""),
    )
    return PipelineConfig(root=str(root), dataset=dataset, features=features)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def encoder_only_rate(args: argparse.Namespace) -> float:
    """Images/s of the bf16 image tower alone on uint8 tensors already on the GPU (the ceiling)."""
    device = torch.device(args.device)
    encoder = build_image_encoder(ImageEncoderConfig(encoder="open_clip", arch=args.arch, weights=""), device)
    images = torch.randint(0, 256, (args.batch, 3, 224, 224), dtype=torch.uint8, device=device)
    for _ in range(3):
        encoder(images)
    _sync(device)
    steps = 20
    start = time.perf_counter()
    for _ in range(steps):
        encoder(images)
    _sync(device)
    return steps * args.batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True, help="folder of JPEGs")
    parser.add_argument("--work", required=True, help="scratch storage root")
    parser.add_argument("--arch", default="ViT-B-32")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--shard-size", type=int, default=5000)
    parser.add_argument("--device", default="cuda", help="cpu only to check the script itself")
    args = parser.parse_args()
    paths = sorted(str(p) for p in Path(args.images).glob("*.jpg"))
    work = Path(args.work)

    write_items(work, "warmup", paths[: args.batch * 2])
    extract_features(config(work, "warmup", args), None)  # CUDA init, model build, worker start-up paths

    write_items(work, "bench", paths)
    start = time.perf_counter()
    summary = extract_features(config(work, "bench", args), None)
    _sync(torch.device(args.device))
    seconds = time.perf_counter() - start
    result = {
        "images": len(paths),
        "present": summary["present"]["image"],
        "quarantined": summary["quarantined"],
        "seconds": round(seconds, 2),
        "end_to_end_images_per_s": round(len(paths) / seconds, 1),
        "encoder_only_images_per_s": round(encoder_only_rate(args), 1),
        "arch": args.arch,
        "batch": args.batch,
        "workers": args.workers,
        "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "none",
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
