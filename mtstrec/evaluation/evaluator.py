"""Full-ranking and sampled metrics of any scorer over the whole catalog (DESIGN §2).

A scorer maps 0-padded histories [B, L] to scores over the catalog [B, N+1]
(column 0 is the padding item and is never ranked). Both protocols use the same
score matrix: full ranking ranks every catalog item (optionally without the
items in the history, never without a target); sampled ranking ranks each
example's targets among its fixed negatives (see `negatives.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from tqdm import tqdm

from mtstrec.data.example_tensors import ExampleTensors
from mtstrec.evaluation.metrics import metrics_from_ranks, target_ranks
from mtstrec.schemas import PADDING_INDEX

log = logging.getLogger(__name__)

Scorer = Callable[[Tensor], Tensor]


def full_ranking_scores(scores: Tensor, histories: Tensor, targets: Tensor, exclude_history: bool) -> Tensor:
    """[B, N+1] float32 scores with padding (and, optionally, history items that are not targets) at -inf."""
    excluded = torch.zeros_like(scores, dtype=torch.bool)  # [B, N+1]
    if exclude_history:
        excluded.scatter_(1, histories, True)
        excluded.scatter_(1, targets, False)
    excluded[:, PADDING_INDEX] = True
    return scores.to(torch.float32).masked_fill(excluded, float("-inf"))


def sampled_scores(scores: Tensor, targets: Tensor, negatives: Tensor) -> Tensor:
    """[B, T+n]: the targets' scores then the negatives' scores, padded target slots at -inf."""
    target_scores = scores.gather(1, targets).to(torch.float32)  # [B, T]
    target_scores = target_scores.masked_fill(targets == PADDING_INDEX, float("-inf"))
    return torch.cat([target_scores, scores.gather(1, negatives).to(torch.float32)], 1)


def evaluate_scorer(
    score_all: Scorer,
    examples: ExampleTensors,
    negatives: Tensor | None,
    num_items: int,
    ks: Sequence[int] = (5, 10, 20),
    batch_size: int = 256,
    exclude_history: bool = True,
) -> dict[str, float]:
    """Mean metrics over the examples: keys "full/ndcg@10", "sampled/hr@5", ... ("sampled/*" only with negatives).

    negatives: [E, n] long fixed negatives per example, or None to skip the sampled protocol.
    """
    if len(examples) == 0:
        raise ValueError("no examples to evaluate")
    if negatives is not None:
        if negatives.shape[0] != len(examples):
            raise ValueError(f"{negatives.shape[0]} rows of negatives for {len(examples)} examples")
        if negatives.numel() and (negatives.min() < 1 or negatives.max() > num_items):
            raise ValueError(f"negatives hold item indexes outside the catalog 1..{num_items}")
    examples.check_catalog(num_items)
    max_rank = max(ks)
    protocols = ("full", "sampled") if negatives is not None else ("full",)
    totals: dict[str, float] = {}
    with torch.inference_mode():
        for start in tqdm(range(0, len(examples), batch_size), desc="evaluate", unit="batch", disable=None):
            histories = examples.histories[start : start + batch_size]  # [B, L]
            scores = score_all(histories)  # [B, N+1]
            if scores.shape != (len(histories), num_items + 1):
                raise ValueError(f"scorer returned {tuple(scores.shape)}, expected ({len(histories)}, {num_items + 1})")
            device = scores.device
            targets = examples.targets[start : start + batch_size].to(device)  # [B, T]
            target_mask = targets != PADDING_INDEX
            num_targets = target_mask.sum(1)
            per_protocol = {
                "full": (full_ranking_scores(scores, histories.to(device), targets, exclude_history), targets)
            }
            if negatives is not None:
                batch_negatives = negatives[start : start + batch_size].to(device)  # [B, n]
                slots = torch.arange(targets.shape[1], device=device).expand_as(targets)  # [B, T]
                per_protocol["sampled"] = (sampled_scores(scores, targets, batch_negatives), slots)
            for protocol in protocols:
                ranked, target_cols = per_protocol[protocol]
                ranks = target_ranks(ranked, target_cols, target_mask, max_rank)
                for name, values in metrics_from_ranks(ranks, num_targets, ks).items():
                    key = f"{protocol}/{name}"
                    totals[key] = totals.get(key, 0.0) + float(values.sum())
    results = {key: total / len(examples) for key, total in sorted(totals.items())}
    log.info(
        "evaluated %s examples: %s",
        f"{len(examples):,}",
        ", ".join(f"{key}={value:.4f}" for key, value in results.items() if key.endswith(f"@{max(ks)}")),
    )
    return results
