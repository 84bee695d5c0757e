"""Safe decoding: every bad image is quarantined with a reason, odd modes are converted, nothing is lost."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mtstrec.features.images import ImageLimits, ImageRejectedError, decode_image, resolve_image_path
from mtstrec.storage import Storage
from tasks.features import extract_features
from tests.mtstrec.features.feature_fixtures import fast_config, item_row, striped_image, write_items

LIMITS = ImageLimits(size=32, min_side=16, max_pixels=100_000_000)


def _png_claiming_size(path: Path, width: int, height: int) -> None:
    """A small valid PNG whose header claims width x height (how decompression bombs look)."""
    Image.new("L", (8, 8)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = bytearray(data[12:29])  # b"IHDR" + 13 bytes of header fields
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    path.write_bytes(bytes(data))


def _bad_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, expected reason fragment)."""
    folder.mkdir(parents=True, exist_ok=True)
    good = folder / "good.jpg"
    striped_image((200, 30, 30), 4).save(good, quality=90)
    corrupt = folder / "corrupt.jpg"
    corrupt.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    garbage = folder / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg" * 10)
    empty = folder / "empty.jpg"
    empty.write_bytes(b"")
    tiny = folder / "tiny.png"
    Image.new("RGB", (1, 1), (10, 20, 30)).save(tiny)
    bomb = folder / "bomb.png"
    _png_claiming_size(bomb, 12_000, 10_000)
    return {
        "corrupt": (corrupt, "undecodable image"),
        "garbage": (garbage, "undecodable image"),
        "empty": (empty, "empty file"),
        "tiny": (tiny, "too small: 1x1"),
        "bomb": (bomb, "decompression bomb refused"),
        "missing": (folder / "missing.jpg", "unreadable file"),
    }


@pytest.mark.parametrize("case", ["corrupt", "garbage", "empty", "tiny", "bomb", "missing"])
def test_bad_image_is_rejected_with_reason(tmp_path, case):
    path, reason = _bad_files(tmp_path)[case]
    with pytest.raises(ImageRejectedError, match=reason):
        decode_image(str(path), LIMITS)


def test_bomb_limit_is_configurable(tmp_path):
    bomb = tmp_path / "big.png"
    _png_claiming_size(bomb, 12_000, 10_000)
    with pytest.raises(ImageRejectedError, match=r"120000000 pixels.*features.max_image_pixels = 100,000,000"):
        decode_image(str(bomb), LIMITS)
    striped_image((0, 0, 0), 2, size=64).save(tmp_path / "small.png")
    assert decode_image(str(tmp_path / "small.png"), LIMITS).shape == (3, 32, 32)
    with pytest.raises(ImageRejectedError, match="decompression bomb refused"):
        decode_image(str(tmp_path / "small.png"), ImageLimits(size=32, min_side=16, max_pixels=1000))


def test_greyscale_png_equals_its_rgb_copy(tmp_path):
    grey = Image.fromarray(np.tile(np.arange(0, 256, 4, dtype=np.uint8), (64, 1)), mode="L")
    grey.save(tmp_path / "grey.png")
    grey.convert("RGB").save(tmp_path / "rgb.png")
    out = decode_image(str(tmp_path / "grey.png"), LIMITS)
    assert out.shape == (3, 32, 32) and out.dtype == torch.uint8
    torch.testing.assert_close(out, decode_image(str(tmp_path / "rgb.png"), LIMITS))


def test_rgba_png_is_composited_on_white(tmp_path):
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:20, :, 3] = 255  # top half opaque red, bottom half fully transparent
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    out = decode_image(str(tmp_path / "rgba.png"), LIMITS)
    assert out[:, 2, 16].tolist() == [255, 0, 0]
    assert out[:, 29, 16].tolist() == [255, 255, 255]


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path):
    Image.new("CMYK", (40, 40), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg", quality=95)  # pure red in CMYK
    out = decode_image(str(tmp_path / "cmyk.jpg"), LIMITS).float()
    red, green, blue = out.mean(dim=(1, 2)).tolist()
    assert red > 200 and green < 60 and blue < 60


def test_relative_paths_resolve_against_the_raw_root():
    assert resolve_image_path("images/010/0108775015.jpg", "/raw/hm") == "/raw/hm/images/010/0108775015.jpg"
    assert resolve_image_path("/abs/x.jpg", "/raw/hm") == "/abs/x.jpg"
    assert resolve_image_path("s3://bucket/x.jpg", "/raw/hm") == "s3://bucket/x.jpg"
    assert resolve_image_path(None, "/raw/hm") is None


def test_extraction_quarantines_bad_images_and_keeps_every_item(tmp_path):
    root, raw = tmp_path / "root", tmp_path / "raw"
    bad = _bad_files(raw / "img")
    odd = {"grey.png": Image.new("L", (40, 40), 128), "rgba.png": Image.new("RGBA", (40, 40), (0, 0, 255, 128))}
    for name, image in odd.items():
        image.save(raw / "img" / name)
    Image.new("CMYK", (40, 40), (0, 255, 255, 0)).save(raw / "img" / "cmyk.jpg")
    names = ["good.jpg", "grey.png", "rgba.png", "cmyk.jpg"]
    rows = [item_row(i + 1, f"img/{name}") for i, name in enumerate(names)]
    rows += [item_row(len(rows) + i + 1, str(path)) for i, (path, _) in enumerate(bad.values())]  # absolute paths
    rows.append(item_row(len(rows) + 1, None))
    write_items(root, "shop", rows)

    summary = extract_features(fast_config(root, raw, modalities=["style"]), None)

    assert summary["quarantined"] == len(bad) and summary["present"] == {"style": 4}
    dataset = Storage(str(root)).child("shop")
    table = dataset.read_parquet(f"features/style/{summary['tags']['style']}")
    assert table["item_index"].to_pylist() == list(range(1, len(rows) + 1))
    assert table["present"].to_pylist() == [True] * 4 + [False] * (len(bad) + 1)
    quarantine = dataset.read_parquet("quarantine/features").sort_by("item_index").to_pylist()
    assert [q["item_index"] for q in quarantine] == list(range(5, 5 + len(bad)))
    for entry, (path, reason) in zip(quarantine, bad.values(), strict=True):
        assert entry["image_path"] == str(path) and reason in entry["reason"]
    assert len(table) == summary["present"]["style"] + summary["quarantined"] + 1  # + the item without image
