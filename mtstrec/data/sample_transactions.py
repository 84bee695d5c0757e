"""Synthetic customers with tastes, and their purchases over about six months.

Each customer prefers two colours, two product types and one price band; an
article's appeal is the sum of the matches plus its popularity, and discounted
articles sell a little better. Prices follow two storewide sales and per-article
markdowns, so the price paid for one article changes over time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from mtstrec.data.sample_catalog import COLOURS, PRICE_BANDS, PRODUCT_TYPES, SampleCatalog

TASTE_WEIGHTS = {"colour": 2.0, "product_type": 2.0, "price_band": 1.5}
DISCOUNT_APPEAL = 2.0
STOREWIDE_SALES = ((0.33, 0.41, 0.3), (0.82, 0.9, 0.4))  # (start, end) as fractions of the period, discount
DUPLICATE_ROW_RATE = 0.01  # H&M's file repeats a row when a customer buys two of one article


@dataclass
class SamplePurchases:
    """Transaction rows, sorted by day then customer."""

    day: np.ndarray  # (N,) 0-based day
    customer: np.ndarray  # (N,) customer number
    article: np.ndarray  # (N,) article number
    price: np.ndarray  # (N,) sale price paid
    channel: np.ndarray  # (N,) 1 or 2


def customer_ids(count: int, seed: int) -> list[str]:
    """64-hex customer ids like H&M's."""
    return [hashlib.sha256(f"mtstrec-sample-{seed}-{i}".encode()).hexdigest() for i in range(count)]


def dates(start: date, days: int) -> list[str]:
    return [(start + timedelta(days=d)).isoformat() for d in range(days)]


def discount_table(rng: np.random.Generator, catalog: SampleCatalog, days: int) -> np.ndarray:
    """(days, A) discount in [0, 1) of each article on each day."""
    day = np.arange(days)[:, None]
    storewide = np.zeros((days, 1))
    for start, end, cut in STOREWIDE_SALES:
        storewide[(day >= start * days) & (day < end * days)] = cut
    markdown_day = catalog.release_day + rng.integers(days // 4, days, catalog.size)
    markdown = np.where(rng.random(catalog.size) < 0.5, rng.choice([0.2, 0.3, 0.5], catalog.size), 0.0)
    marked = np.where(day >= markdown_day[None, :], markdown[None, :], 0.0)
    return np.maximum(storewide, marked)


def taste_scores(rng: np.random.Generator, catalog: SampleCatalog, customers: int) -> np.ndarray:
    """(C, A) appeal of each article to each customer."""
    score = np.zeros((customers, catalog.size))
    for attribute, values, picks in (
        ("colour", len(COLOURS), 2),
        ("product_type", len(PRODUCT_TYPES), 2),
        ("price_band", len(PRICE_BANDS), 1),
    ):
        liked = np.zeros((customers, values), bool)
        for _ in range(picks):
            liked[np.arange(customers), rng.integers(0, values, customers)] = True
        score += TASTE_WEIGHTS[attribute] * liked[:, getattr(catalog, attribute)]
    popularity = rng.normal(0.0, 0.7, catalog.size)
    return score + popularity[None, :]


def make_purchases(
    rng: np.random.Generator, catalog: SampleCatalog, customers: int, days: int, visits: float, basket: float
) -> SamplePurchases:
    """Each customer visits on 1 + Poisson(visits) distinct days and buys 1 + Poisson(basket) articles a visit."""
    discounts = discount_table(rng, catalog, days)
    scores = taste_scores(rng, catalog, customers)
    rows: list[tuple[np.ndarray, ...]] = []
    for customer in range(customers):
        visit_days = np.sort(rng.choice(days, size=min(days, 1 + rng.poisson(visits)), replace=False))
        for day in visit_days:
            on_sale = np.flatnonzero(catalog.release_day <= day)
            logits = scores[customer, on_sale] + DISCOUNT_APPEAL * discounts[day, on_sale]
            weights = np.exp(logits - logits.max())
            count = min(len(on_sale), 1 + rng.poisson(basket))
            bought = rng.choice(on_sale, size=count, replace=False, p=weights / weights.sum())
            price = np.round(catalog.base_price[bought] * (1 - discounts[day, bought]), 6)
            channel = np.full(count, 1 + int(rng.random() < 0.7))
            rows.append((np.full(count, day), np.full(count, customer), bought, price, channel))
    day, customer, article, price, channel = (np.concatenate(column) for column in zip(*rows, strict=True))
    repeat = np.flatnonzero(rng.random(len(day)) < DUPLICATE_ROW_RATE)
    order = np.concatenate([np.arange(len(day)), repeat])
    order = order[np.lexsort((order, customer[order], day[order]))]
    return SamplePurchases(day[order], customer[order], article[order], price[order], channel[order])
