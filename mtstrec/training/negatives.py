"""Training negatives (DESIGN §1): the paper draws them from the target month's items on sale.

`MonthNegativeSampler` draws, per example, `count` distinct items from
`candidates/month=<target month>`, excluding the example's history and targets. A
month with fewer eligible items than `count` yields fewer negatives: the unused slots
are masked out. `catalog_negatives` keeps the older catalog-wide draw (uniform over
1..N, with replacement, colliding targets masked) as `train.negative_source = "catalog"`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from mtstrec.schemas import PADDING_INDEX


def catalog_negatives(targets: Tensor, num_items: int, count: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """targets (B, T) -> negatives (B, N) uniform over 1..num_items, and a mask (B, N) of those that
    do not collide with a target of the same example."""
    negatives = torch.randint(1, num_items + 1, (targets.shape[0], count), generator=generator)
    collides = (negatives[:, :, None] == targets[:, None, :]).any(dim=2)  # (B, N)
    return negatives, ~collides


class MonthNegativeSampler:
    """Distinct negatives from each example's target month, none in its history or targets.

    pools: (M, P) long, each month's items left-aligned and 0-padded; position: (M, N+1) long, the
    column of an item in its month's pool row, or P (a spare column) when the item is not on sale.
    """

    def __init__(self, candidates_by_month: dict[str, np.ndarray], num_items: int) -> None:
        self.months = sorted(candidates_by_month)
        width = max((len(candidates_by_month[m]) for m in self.months), default=0)
        self.pools = torch.zeros(len(self.months), width, dtype=torch.long)  # (M, P)
        self.position = torch.full((len(self.months), num_items + 1), width, dtype=torch.long)  # (M, N+1)
        for row, month in enumerate(self.months):
            items = torch.as_tensor(np.asarray(candidates_by_month[month], dtype=np.int64))
            if items.numel() and (items.max() > num_items or items.min() <= PADDING_INDEX):
                raise ValueError(f"candidates/month={month}.parquet holds items outside the catalog 1..{num_items}")
            self.pools[row, : len(items)] = items
            self.position[row, items] = torch.arange(len(items))

    def month_rows(self, target_months: np.ndarray) -> Tensor:
        """[E] str 'YYYY-MM' -> [E] long rows of `pools`; a month without candidates is an error."""
        index = np.searchsorted(self.months, target_months)
        known = (index < len(self.months)) & (np.asarray([*self.months, ""])[index] == target_months)
        if not known.all():
            month = target_months[np.flatnonzero(~known)[0]]
            raise ValueError(f"no candidates/month={month}.parquet for training target month {month}")
        return torch.from_numpy(index.astype(np.int64))

    def sample(
        self, month_rows: Tensor, histories: Tensor, targets: Tensor, count: int, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        """month_rows (B,), histories (B, L), targets (B, T) -> negatives (B, count), mask (B, count).

        Random keys over the month's pool, +inf on padding and on banned items; the `count` smallest
        keys are a uniform draw without replacement from what is left.
        """
        batch, width = len(month_rows), self.pools.shape[1]
        keys = torch.rand(batch, width + 1, generator=generator)  # (B, P+1); column P is the spare
        sizes = (self.pools[month_rows] != PADDING_INDEX).sum(1)  # (B,)
        keys[torch.arange(width + 1)[None, :] >= sizes[:, None]] = float("inf")
        banned = torch.cat([histories, targets], dim=1)  # (B, L+T)
        keys.scatter_(1, self.position[month_rows[:, None], banned], float("inf"))
        take = min(count, width)
        chosen_keys, chosen = torch.topk(keys[:, :width], take, dim=1, largest=False)  # (B, take)
        negatives = torch.zeros(batch, count, dtype=torch.long)
        mask = torch.zeros(batch, count, dtype=torch.bool)
        negatives[:, :take] = self.pools[month_rows[:, None], chosen]
        mask[:, :take] = torch.isfinite(chosen_keys)
        return negatives.masked_fill(~mask, 1), mask
