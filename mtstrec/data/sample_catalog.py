"""The synthetic catalog: articles with a colour, product type, pattern and price band.

The attributes are the planted signal: customers have tastes over them, images
draw them, and the text states them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# name -> RGB
COLOURS = {
    "Black": (25, 25, 25),
    "White": (240, 240, 235),
    "Red": (200, 30, 40),
    "Dark Blue": (30, 50, 140),
    "Light Blue": (120, 170, 230),
    "Green": (40, 140, 60),
    "Yellow": (235, 205, 40),
    "Pink": (235, 130, 170),
}
# product type -> (product group, garment group)
PRODUCT_TYPES = {
    "T-shirt": ("Garment Upper body", "Jersey Basic"),
    "Sweater": ("Garment Upper body", "Knitwear"),
    "Jacket": ("Garment Upper body", "Outdoor"),
    "Trousers": ("Garment Lower body", "Trousers"),
    "Shorts": ("Garment Lower body", "Shorts"),
    "Skirt": ("Garment Lower body", "Skirts"),
    "Dress": ("Garment Full body", "Dresses Ladies"),
    "Bag": ("Accessories", "Accessories"),
}
PATTERNS = ("Solid", "Stripe", "Dot", "Check")
# price band -> (name in text, base price range in H&M's scaled units)
PRICE_BANDS = (("budget", 0.008, 0.02), ("everyday", 0.02, 0.04), ("premium", 0.04, 0.08))
INDEX_NAMES = ("Ladieswear", "Menswear", "Divided")
FABRICS = ("cotton jersey", "soft knit", "woven twill", "recycled polyester", "linen blend")
FITS = ("a relaxed fit", "a regular fit", "a slim fit", "an oversized fit")


@dataclass
class SampleCatalog:
    """One row per article (arrays of equal length)."""

    article_id: list[str]
    colour: np.ndarray  # (A,) index into COLOURS
    product_type: np.ndarray  # (A,) index into PRODUCT_TYPES
    pattern: np.ndarray  # (A,) index into PATTERNS
    price_band: np.ndarray  # (A,) index into PRICE_BANDS
    base_price: np.ndarray  # (A,) float64
    release_day: np.ndarray  # (A,) first day on sale, 0-based
    has_image: np.ndarray  # (A,) bool
    has_description: np.ndarray  # (A,) bool

    @property
    def size(self) -> int:
        return len(self.article_id)


def make_catalog(rng: np.random.Generator, articles: int, days: int, gaps: int) -> SampleCatalog:
    """`articles` articles; `gaps` of them lack an image and `gaps` others have no description."""
    colour = rng.integers(0, len(COLOURS), articles)
    product_type = rng.integers(0, len(PRODUCT_TYPES), articles)
    pattern = rng.integers(0, len(PATTERNS), articles)
    price_band = rng.integers(0, len(PRICE_BANDS), articles)
    low = np.array([b[1] for b in PRICE_BANDS])[price_band]
    high = np.array([b[2] for b in PRICE_BANDS])[price_band]
    base_price = np.round(rng.uniform(low, high), 6)
    # Most articles are on sale from the start; a quarter are released during the period.
    release_day = np.where(rng.random(articles) < 0.75, 0, rng.integers(0, days * 3 // 4, articles))
    has_image = np.ones(articles, bool)
    has_description = np.ones(articles, bool)
    gap_rows = rng.choice(articles, size=min(2 * gaps, articles), replace=False)
    has_image[gap_rows[:gaps]] = False
    has_description[gap_rows[gaps:]] = False
    article_id = [f"0{110000 + 7 * i:06d}{1 + i % 3:03d}" for i in range(articles)]
    return SampleCatalog(
        article_id, colour, product_type, pattern, price_band, base_price, release_day, has_image, has_description
    )


def article_rows(catalog: SampleCatalog, rng: np.random.Generator) -> list[dict[str, str]]:
    """`articles.csv` rows in the H&M column layout; the text states type and attributes."""
    colour_names = list(COLOURS)
    type_names = list(PRODUCT_TYPES)
    rows = []
    for i, article in enumerate(catalog.article_id):
        colour = colour_names[catalog.colour[i]]
        kind = type_names[catalog.product_type[i]]
        pattern = PATTERNS[catalog.pattern[i]]
        band = PRICE_BANDS[catalog.price_band[i]][0]
        group, garment = PRODUCT_TYPES[kind]
        fabric = FABRICS[rng.integers(len(FABRICS))]
        fit = FITS[rng.integers(len(FITS))]
        description = (
            f"{band.capitalize()} {kind.lower()} in {colour.lower()} {fabric} with a "
            f"{pattern.lower()} pattern and {fit}."
        )
        rows.append(
            {
                "article_id": article,
                "product_code": article[:7],
                "prod_name": f"{colour} {pattern} {kind}",
                "product_type_name": kind,
                "product_group_name": group,
                "graphical_appearance_name": pattern,
                "colour_group_name": colour,
                "index_name": INDEX_NAMES[i % len(INDEX_NAMES)],
                "garment_group_name": garment,
                "detail_desc": description if catalog.has_description[i] else "",
            }
        )
    return rows
