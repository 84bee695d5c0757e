"""Safe image decoding and resizing, in DataLoader workers.

Every image becomes a uint8 tensor of shape (3, S, S): the shorter side resized to S,
then a centre crop. Normalisation happens on the device, per encoder, so that workers
hand over 1 byte per value. An image that cannot be used is reported with a reason
(quarantined) instead of failing the whole shard.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlparse

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps
from torch.utils.data import DataLoader, Dataset

from mtstrec.storage import Storage, s3_endpoint

# A truncated file is an error, never a silently grey-padded image.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageRejectedError(ValueError):
    """An image that is quarantined; the message is the reason."""


@dataclass(frozen=True)
class ImageLimits:
    size: int = 224
    min_side: int = 16
    max_pixels: int = 100_000_000


def resolve_image_path(image_path: str | None, raw_root: str) -> str | None:
    """Absolute paths stay; relative ones are resolved against the raw data root."""
    if not image_path:
        return None
    if os.path.isabs(image_path) or "://" in image_path:
        return image_path
    return os.path.join(raw_root, image_path)


@lru_cache(maxsize=8)
def _bucket_storage(bucket: str, endpoint: str | None) -> Storage:
    """One S3 client per bucket and endpoint (the endpoint is part of the key: it comes from the environment)."""
    return Storage(f"s3://{bucket}")


def read_image_bytes(path: str) -> bytes:
    """Bytes of a local path, a file:// URI or an s3:// URI (one client per bucket and process)."""
    parsed = urlparse(path)
    if parsed.scheme == "s3":
        return _bucket_storage(parsed.netloc, s3_endpoint()).read_bytes(parsed.path.lstrip("/"))
    local = parsed.path if parsed.scheme == "file" else path
    with open(local, "rb") as handle:
        return handle.read()


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB for every mode: alpha is composited on white, 16-bit grey scaled to 8 bits, CMYK converted."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") else max(float(values.max()), 1.0)
        image = Image.fromarray(np.clip(values / peak * 255.0, 0, 255).astype(np.uint8), mode="L")
    if image.mode == "P" or image.mode == "LA" or image.mode == "PA":
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")


def decode_image(path: str, limits: ImageLimits) -> torch.Tensor:
    """Decode one file into a (3, S, S) uint8 tensor, or raise ImageRejectedError with the reason."""
    try:
        data = read_image_bytes(path)
    except OSError as exc:
        raise ImageRejectedError(f"unreadable file: {exc.strerror or exc}") from exc
    if not data:
        raise ImageRejectedError("empty file (0 bytes)")
    # PIL checks the header against this limit before decoding any pixels; with the warning
    # turned into an error below, anything over the limit is refused.
    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if min(width, height) < limits.min_side:
                    raise ImageRejectedError(
                        f"too small: {width}x{height} < features.min_image_side ({limits.min_side})"
                    )
                # JPEG can decode at 1/2, 1/4 or 1/8 scale directly: far less work for large photos.
                image.draft("RGB", (limits.size, limits.size))
                image = ImageOps.exif_transpose(image)
                rgb = _to_rgb(image)
    except ImageRejectedError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejectedError(
            f"decompression bomb refused: {exc} (limit: features.max_image_pixels = {limits.max_pixels:,})"
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejectedError(f"undecodable image: {exc}") from exc
    pixels = np.asarray(resize_and_crop(rgb, limits.size))  # (S, S, 3)
    # The transpose copy in numpy: a torch copy here would use the intra-op thread pool for a 150 KB image.
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))  # (3, S, S)


def resize_and_crop(image: Image.Image, size: int) -> Image.Image:
    width, height = image.size
    scale = size / min(width, height)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    image = image.resize((new_w, new_h), Image.Resampling.BICUBIC, reducing_gap=3.0)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return image.crop((left, top, left + size, top + size))


class ItemImageDataset(Dataset):
    """(row, path) pairs -> (row, image or None, reason); never raises for a bad image."""

    def __init__(self, rows: list[int], paths: list[str], limits: ImageLimits) -> None:
        self.rows, self.paths, self.limits = rows, paths, limits

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | None, str]:
        try:
            return self.rows[i], decode_image(self.paths[i], self.limits), ""
        except ImageRejectedError as exc:
            return self.rows[i], None, str(exc)


@dataclass
class ImageBatch:
    rows: torch.Tensor  # (B,) int64: positions in the shard of the decoded images
    images: torch.Tensor  # (B, 3, S, S) uint8
    rejected: list[tuple[int, str]]  # (row, reason) of the images in this batch that failed


def collate_images(samples: list[tuple[int, torch.Tensor | None, str]]) -> ImageBatch:
    good = [(row, image) for row, image, _ in samples if image is not None]
    rejected = [(row, reason) for row, image, reason in samples if image is None]
    if good:
        rows = torch.tensor([row for row, _ in good], dtype=torch.int64)
        images = torch.stack([image for _, image in good])
    else:
        rows = torch.zeros(0, dtype=torch.int64)
        images = torch.zeros(0, 3, 0, 0, dtype=torch.uint8)
    return ImageBatch(rows, images, rejected)


def image_loader(
    rows: list[int], paths: list[str], limits: ImageLimits, batch_size: int, workers: int, pin_memory: bool
) -> DataLoader:
    """Batches in the order given (deterministic), decoded by `workers` processes."""
    return DataLoader(
        ItemImageDataset(rows, paths, limits),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate_images,
        pin_memory=pin_memory,
        persistent_workers=False,
        prefetch_factor=2 if workers > 0 else None,
    )
