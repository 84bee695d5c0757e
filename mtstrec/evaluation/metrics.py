"""Ranking metrics for multi-target examples: NDCG@k, HR@k (recall) and MRR@k.

Definitions (per example with n >= 1 targets, rank r_t of target t is 1-based):
- NDCG@k = sum_{t: r_t <= k} 1/log2(r_t + 1)  /  sum_{i=1}^{min(k, n)} 1/log2(i + 1)
- HR@k   = |{t: r_t <= k}| / n   (recall; at most min(1, k/n))
- MRR@k  = 1 / min_t r_t if min_t r_t <= k, else 0

Tie rule (deterministic and never optimistic): items are ordered by score,
descending; a target tied with a non-target is placed after it, and targets
tied with each other are ordered by column index. Because metrics depend only
on the set of positions the targets occupy, the order among tied targets does
not change any value. Columns scored -inf take no part in the ranking.

Ranks are computed exactly only up to `max_rank` (the largest k): anything
below it is reported as `max_rank + 1`. This needs a top-k of the scores plus
one comparison pass, not a full sort of the catalog.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

METRIC_NAMES = ("ndcg", "hr", "mrr")


def target_ranks(scores: Tensor, target_cols: Tensor, target_mask: Tensor, max_rank: int) -> Tensor:
    """1-based rank of each target under the tie rule, capped at `max_rank + 1`.

    scores: [B, C] float, -inf marks columns that are not ranked.
    target_cols: [B, T] long column of each target slot (distinct per row).
    target_mask: [B, T] bool, False for padding slots (their rank is `max_rank + 1`).
    """
    beyond = max_rank + 1
    top = scores.topk(min(max_rank, scores.shape[1]), dim=1).values  # [B, k], descending
    if torch.isnan(top).any():  # topk ranks NaN above every number, so any NaN shows up here
        raise ValueError("scores contain NaN")
    kth = top[:, -1:]  # [B, 1]
    target_scores = scores.gather(1, target_cols)  # [B, T]
    if (target_mask & ~torch.isfinite(target_scores)).any():
        raise ValueError("every target must have a finite score (targets are never excluded)")

    # Every item scored above kth lies in `top`, so counts against `top` are exact
    # for targets scored >= kth; only a tie at kth itself can extend past `top`.
    greater = (top.unsqueeze(1) > target_scores.unsqueeze(2)).sum(-1)  # [B, T]
    tied_in_top = (top.unsqueeze(1) == target_scores.unsqueeze(2)).sum(-1)  # [B, T]
    at_kth = (target_scores == kth) & target_mask  # [B, T]
    tied_all = tied_in_top
    if at_kth.any():  # rare with continuous scores; costs one pass over the catalog
        tied_at_kth = (scores == kth).sum(1, keepdim=True)  # [B, 1]
        tied_all = torch.where(at_kth, tied_at_kth, tied_in_top)  # [B, T]

    pair_mask = target_mask.unsqueeze(2) & target_mask.unsqueeze(1)  # [B, T, T]
    same_score = (target_scores.unsqueeze(2) == target_scores.unsqueeze(1)) & pair_mask  # [b, t, u]
    tied_targets = same_score.sum(-1)  # includes t itself
    earlier_col = target_cols.unsqueeze(1) < target_cols.unsqueeze(2)  # [b, t, u]: col_u < col_t
    tied_targets_before = (same_score & earlier_col).sum(-1)

    ranks = 1 + greater + (tied_all - tied_targets) + tied_targets_before  # [B, T]
    out_of_reach = (target_scores < kth) | ~target_mask
    return torch.where(out_of_reach, torch.full_like(ranks, beyond), ranks.clamp(max=beyond))


def metrics_from_ranks(ranks: Tensor, num_targets: Tensor, ks: Sequence[int]) -> dict[str, Tensor]:
    """Per-example NDCG/HR/MRR@k from target ranks [B, T] and target counts [B]."""
    if (num_targets < 1).any():
        raise ValueError("every example needs at least one target")
    ranks = ranks.to(torch.float64)
    n = num_targets.to(ranks.device)
    gains = 1.0 / torch.log2(ranks + 1.0)  # [B, T]
    ideal = torch.cumsum(1.0 / torch.log2(torch.arange(2, max(ks) + 2, dtype=torch.float64, device=ranks.device)), 0)
    best = ranks.min(1).values  # [B]
    out: dict[str, Tensor] = {}
    for k in ks:
        hit = ranks <= k  # [B, T]
        idcg = ideal[torch.clamp(n, max=k) - 1]  # [B]
        out[f"ndcg@{k}"] = (gains * hit).sum(1) / idcg
        out[f"hr@{k}"] = hit.sum(1).to(torch.float64) / n
        out[f"mrr@{k}"] = torch.where(best <= k, 1.0 / best, torch.zeros_like(best))
    return out


def ranking_metrics(
    scores: Tensor,
    relevant: Tensor,
    ks: Sequence[int] = (5, 10, 20),
    eligible: Tensor | None = None,
) -> dict[str, Tensor]:
    """Per-example metrics ([B] float64 each, keys like "ndcg@10") from a dense relevance mask.

    scores: [B, C]; relevant: [B, C] bool (each row at least one True);
    eligible: optional [B, C] bool, False columns are not ranked (relevant columns must be eligible).
    """
    if scores.shape != relevant.shape:
        raise ValueError(f"scores {tuple(scores.shape)} and relevant {tuple(relevant.shape)} differ in shape")
    scores = scores.to(torch.float32)
    if eligible is not None:
        if (relevant & ~eligible).any():
            raise ValueError("a relevant column is marked not eligible")
        scores = scores.masked_fill(~eligible, float("-inf"))
    num_targets = relevant.sum(1)  # [B]
    rows, cols = relevant.nonzero(as_tuple=True)  # row-major, so rows ascending
    starts = torch.cumsum(num_targets, 0) - num_targets  # [B]
    slot = torch.arange(rows.numel(), device=rows.device) - starts[rows]
    width = max(int(num_targets.max()) if num_targets.numel() else 0, 1)
    target_cols = torch.zeros(relevant.shape[0], width, dtype=torch.long, device=scores.device)
    target_mask = torch.zeros_like(target_cols, dtype=torch.bool)
    target_cols[rows, slot] = cols
    target_mask[rows, slot] = True
    ranks = target_ranks(scores, target_cols, target_mask, max(ks))
    return metrics_from_ranks(ranks, num_targets, ks)
