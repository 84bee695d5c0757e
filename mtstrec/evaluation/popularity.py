"""Most-popular baseline: every user gets the catalog ranked by training purchase counts."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from torch import Tensor

from mtstrec.schemas import PADDING_INDEX


def popularity_counts(train: pa.Table, num_items: int) -> Tensor:
    """[N+1] int64 count of each item over the training split's histories and targets (index 0 stays 0)."""
    counts = np.zeros(num_items + 1, dtype=np.int64)
    for column in ("history", "targets"):
        items = pc.list_flatten(train.column(column)).to_numpy(zero_copy_only=False).astype(np.int64)
        if items.size and (items.max() > num_items or items.min() <= PADDING_INDEX):
            raise ValueError(f"training split: field '{column}' holds item indexes outside the catalog 1..{num_items}")
        counts += np.bincount(items, minlength=num_items + 1)
    return torch.from_numpy(counts)


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

    @classmethod
    def from_table(cls, train: pa.Table, num_items: int) -> PopularityScorer:
        return cls(popularity_counts(train, num_items))

    def __call__(self, histories: Tensor) -> Tensor:
        """[B, L] histories -> [B, N+1] scores (the same row for everyone)."""
        return self.item_scores.unsqueeze(0).expand(histories.shape[0], -1)
