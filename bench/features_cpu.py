"""Feature-extraction throughput on CPU: each encoder batched against a one-at-a-time loop,
plus JPEG decode + resize from disk with and without DataLoader workers.

    .venv/bin/python bench/features_cpu.py --images 64 --texts 256 --threads 2

Prints a Markdown table (the numbers in docs/benchmarks.md come from it). Random-weight models
are as fast as trained ones, so open_clip runs with random weights; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import mtstrec.features  # noqa: F401  (sets HF_HUB_OFFLINE before any Hugging Face import)
from mtstrec.features.config import ImageEncoderConfig, StyleConfig, TextEncoderConfig
from mtstrec.features.encoders import build_image_encoder, build_style_encoder, build_text_encoder
from mtstrec.features.images import ImageLimits, image_loader

CPU = torch.device("cpu")
IMAGE_ENCODERS: dict[str, Callable[[], torch.nn.Module]] = {
    "style gram efficientnet_lite0 (real)": lambda: build_style_encoder(StyleConfig(), CPU),
    "image timm efficientnet_lite0 (real)": lambda: build_image_encoder(ImageEncoderConfig(), CPU),
    "image open_clip ViT-S-32 (random)": lambda: build_image_encoder(
        ImageEncoderConfig(encoder="open_clip", arch="ViT-S-32", weights=""), CPU),
    "image open_clip ViT-B-32 (random)": lambda: build_image_encoder(
        ImageEncoderConfig(encoder="open_clip", arch="ViT-B-32", weights=""), CPU),
}
TEXT_ENCODERS = {
    "text sentence-transformers all-MiniLM-L6-v2 (real)": TextEncoderConfig(),
    "text open_clip ViT-S-32 (random)": TextEncoderConfig(encoder="open_clip", arch="ViT-S-32", weights=""),
}
WORDS = [
    "slim", "regular", "relaxed", "jeans", "trousers", "shorts", "dress", "shirt",
    "denim", "cotton", "jersey", "blue", "black", "red", "floral", "stripe",
]


def _rate(count: int, run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return count / (time.perf_counter() - start)


def bench_images(n: int, batch: int) -> list[tuple[str, float, float]]:
    images = torch.randint(0, 256, (n, 3, 224, 224), dtype=torch.uint8)
    rows = []
    for name, build in IMAGE_ENCODERS.items():
        encoder = build()
        with torch.inference_mode():
            encoder(images[:2])  # warm-up
            batched = _rate(n, lambda enc=encoder: [enc(images[i : i + batch]) for i in range(0, n, batch)])
            single_n = max(4, n // 4)
            single = _rate(single_n, lambda enc=encoder, k=single_n: [enc(images[i : i + 1]) for i in range(k)])
        rows.append((name, batched, single))
    return rows


def bench_texts(n: int, batch: int) -> list[tuple[str, float, float]]:
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, size=12)) for _ in range(n)]
    rows = []
    for name, cfg in TEXT_ENCODERS.items():
        encoder = build_text_encoder(cfg, "features.text", CPU, batch)
        encoder.encode(texts[:2])
        batched = _rate(n, lambda enc=encoder: enc.encode(texts))
        single_n = max(4, n // 8)
        single = _rate(single_n, lambda enc=encoder, k=single_n: [enc.encode([t]) for t in texts[:k]])
        rows.append((name, batched, single))
    return rows


def bench_decode(n: int, batch: int, workers: list[int]) -> list[tuple[str, float]]:
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(n):
            path = Path(folder) / f"{i}.jpg"
            Image.fromarray(rng.integers(0, 256, (768, 512, 3), dtype=np.uint8)).save(path, quality=90)
            paths.append(str(path))
        rows = []
        for count in workers:
            loader = image_loader(list(range(n)), paths, ImageLimits(), batch, count, pin_memory=False)
            rows.append((f"decode+resize 768x512 JPEG -> 224, {count} workers",
                         _rate(n, lambda ld=loader: [b for b in ld])))
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--decode-only", action="store_true", help="only the image decoding pipeline")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.decode_only:
        print(f"| encoder | batched (batch {args.batch}) /s | one at a time /s | speed-up |")
        print("|---|---|---|---|")
        for name, batched, single in bench_images(args.images, args.batch) + bench_texts(args.texts, args.batch):
            print(f"| {name} | {batched:.1f} | {single:.1f} | {batched / single:.1f}x |")
        print()
    print("| image pipeline | images/s |")
    print("|---|---|")
    for name, rate in bench_decode(args.images, args.batch, args.workers):
        print(f"| {name} | {rate:.1f} |")


if __name__ == "__main__":
    main()
