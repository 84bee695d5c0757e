"""PIL drawings of synthetic articles: shape = product type, fill = colour, overlay = pattern."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from mtstrec.data.sample_catalog import COLOURS, PATTERNS, PRODUCT_TYPES

# Outlines on a unit square, one per product type (same order as PRODUCT_TYPES).
SHAPES: dict[str, list[tuple[float, float]]] = {
    "T-shirt": [(0.3, 0.15), (0.7, 0.15), (0.9, 0.35), (0.78, 0.45), (0.72, 0.38), (0.72, 0.88), (0.28, 0.88),
                (0.28, 0.38), (0.22, 0.45), (0.1, 0.35)],
    "Sweater": [(0.3, 0.12), (0.7, 0.12), (0.88, 0.3), (0.9, 0.85), (0.78, 0.85), (0.74, 0.4), (0.74, 0.9),
                (0.26, 0.9), (0.26, 0.4), (0.22, 0.85), (0.1, 0.85), (0.12, 0.3)],
    "Jacket": [(0.25, 0.1), (0.45, 0.1), (0.5, 0.3), (0.55, 0.1), (0.75, 0.1), (0.9, 0.3), (0.88, 0.92),
               (0.12, 0.92), (0.1, 0.3)],
    "Trousers": [(0.28, 0.1), (0.72, 0.1), (0.78, 0.92), (0.58, 0.92), (0.5, 0.4), (0.42, 0.92), (0.22, 0.92)],
    "Shorts": [(0.22, 0.25), (0.78, 0.25), (0.85, 0.7), (0.56, 0.7), (0.5, 0.5), (0.44, 0.7), (0.15, 0.7)],
    "Skirt": [(0.35, 0.2), (0.65, 0.2), (0.85, 0.85), (0.15, 0.85)],
    "Dress": [(0.38, 0.08), (0.62, 0.08), (0.64, 0.4), (0.85, 0.92), (0.15, 0.92), (0.36, 0.4)],
    "Bag": [(0.2, 0.4), (0.8, 0.4), (0.85, 0.88), (0.15, 0.88)],
}
assert list(SHAPES) == list(PRODUCT_TYPES)


def _pattern_colour(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """A contrasting shade of the fill for the pattern overlay."""
    bright = sum(rgb) > 380
    return tuple(max(0, c - 110) if bright else min(255, c + 110) for c in rgb)


def _draw_pattern(draw: ImageDraw.ImageDraw, pattern: str, size: int, colour: tuple[int, int, int]) -> None:
    step = max(4, size // 8)
    width = max(1, size // 32)
    if pattern == "Stripe":
        for y in range(0, size, step):
            draw.rectangle([0, y, size, y + width * 2], fill=colour)
    elif pattern == "Dot":
        radius = max(1, size // 28)
        for y in range(step // 2, size, step):
            for x in range(step // 2, size, step):
                draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour)
    elif pattern == "Check":
        for v in range(0, size, step):
            draw.line([(v, 0), (v, size)], fill=colour, width=width)
            draw.line([(0, v), (size, v)], fill=colour, width=width)


def draw_article(colour: int, product_type: int, pattern: int, size: int) -> bytes:
    """JPEG bytes of one article drawn on a light background."""
    rgb = list(COLOURS.values())[colour]
    outline = [(x * size, y * size) for x, y in SHAPES[list(PRODUCT_TYPES)[product_type]]]
    fill = Image.new("RGB", (size, size), rgb)
    _draw_pattern(ImageDraw.Draw(fill), PATTERNS[pattern], size, _pattern_colour(rgb))
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).polygon(outline, fill=255)
    image = Image.new("RGB", (size, size), (250, 248, 244) if sum(rgb) < 600 else (190, 190, 200))
    image.paste(fill, (0, 0), mask)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()
