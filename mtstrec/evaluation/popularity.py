"""Most-popular baselines: every user gets the catalog ranked by purchase counts before the split.

`popularity` counts every purchase before the split's first day; `recency popularity` only
those of its last `eval.recent_days` days.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import torch
from torch import Tensor

from mtstrec.schemas import PADDING_INDEX


def popularity_counts(transactions: pl.LazyFrame, num_items: int, before: date, days: int | None = None) -> Tensor:
    """[N+1] int64 purchases of each item on days before `before` (only the last `days` of them if given).

    `transactions` are bronze rows (date, item_index); nothing on or after `before` counts, so a
    split's baseline sees only what was known when the split started. Index 0 stays 0.
    """
    since = pl.lit(True) if days is None else pl.col("date") >= before - timedelta(days=days)
    items = (
        transactions.filter((pl.col("date") < before) & since)
        .select("item_index")
        .collect()["item_index"]
        .to_numpy()
        .astype(np.int64)
    )
    if items.size and (items.max() > num_items or items.min() <= PADDING_INDEX):
        raise ValueError(f"bronze/transactions: field 'item_index' holds items outside the catalog 1..{num_items}")
    return torch.from_numpy(np.bincount(items, minlength=num_items + 1))


class PopularityScorer:
    """Scores every item by popularity; ties go to the smaller item index, so all scores are distinct.

    The score of an item is its position from the bottom of that order (an exact integer in float32),
    and the padding item scores lowest.
    """

    def __init__(self, counts: Tensor) -> None:
        num = counts.numel()
        index = torch.arange(num)
        # Sort ascending by (count, -index): the last place is the most popular, smallest-index item.
        order = torch.from_numpy(np.lexsort((-index.numpy(), counts.numpy())))
        scores = torch.empty(num, dtype=torch.float32)
        scores[order] = torch.arange(num, dtype=torch.float32)
        scores[PADDING_INDEX] = -1.0
        self.item_scores = scores  # [N+1]

    def __call__(self, histories: Tensor) -> Tensor:
        """[B, L] histories -> [B, N+1] scores (the same row for everyone)."""
        return self.item_scores.unsqueeze(0).expand(histories.shape[0], -1)
