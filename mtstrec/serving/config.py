"""Config of serving: who gets batch recommendations, how many, and how the catalog is ranked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# `exact` scores every item in fp32; `int8` ranks an int8 copy of the item matrix and
# re-ranks a shortlist exactly (mtstrec/serving/ranking.py).
RankingMethod = Literal["exact", "int8"]


@dataclass
class ServeConfig:
    # A customer is active with a purchase in the `active_days` days up to the logical date.
    active_days: int = 90
    k: int = 12
    # Leave out every item the customer bought up to the logical date.
    exclude_seen: bool = True
    # Customers scored per batch: bounds memory at about batch_size x catalog x 4 bytes.
    batch_size: int = 1024
    # Rows per Parquet part of the output.
    part_rows: int = 250_000
    ranking: RankingMethod = "exact"
    # Items per user that the int8 ranker re-ranks in fp32.
    shortlist: int = 100
    # The model to serve; "" is `models:/<registry.model_name>@<registry.alias>`.
    model_uri: str = ""

    def __post_init__(self) -> None:
        for name in ("active_days", "k", "batch_size", "part_rows", "shortlist"):
            if getattr(self, name) < 1:
                raise ValueError(f"serve.{name} must be at least 1, got {getattr(self, name)}")
