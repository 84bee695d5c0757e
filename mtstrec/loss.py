"""Training losses over a padded target mask, vectorised over the batch.

Scores are cosine similarities laid out as (B, T + N): T target slots (padding
masked out by `target_mask`) followed by N sampled negatives.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bce_loss(
    scores: torch.Tensor, target_mask: torch.Tensor, negative_mask: torch.Tensor, logit_scale: float = 1.0
) -> torch.Tensor:
    """The paper's loss: BCE on sigmoid(scale * cosine), positives re-weighted.

    Per example with n targets and N negatives:
        -(N * mean_t log σ(s_t) + Σ_j log(1 - σ(s_j))) / (n + N)
    so an example with many targets weighs as much as one with a single target.
    scores (B, T+N); target_mask (B, T) bool; negative_mask (B, N) bool (False = ignore, e.g. a
    negative that collides with a target).
    """
    targets = target_mask.shape[1]
    negatives = scores.shape[1] - targets
    logits = logit_scale * scores.float()
    n_targets = target_mask.sum(dim=1).clamp(min=1)  # (B,)
    positive = (F.logsigmoid(logits[:, :targets]) * target_mask).sum(dim=1) / n_targets  # (B,)
    negative = (F.logsigmoid(-logits[:, targets:]) * negative_mask).sum(dim=1)  # (B,)
    per_example = -(negatives * positive + negative) / (n_targets + negatives)
    return per_example.mean()


def sampled_softmax_loss(
    scores: torch.Tensor, target_mask: torch.Tensor, negative_mask: torch.Tensor, logit_scale: float = 1.0
) -> torch.Tensor:
    """Each target against the shared negatives: -log softmax over [target, negatives], averaged per example."""
    targets = target_mask.shape[1]
    logits = logit_scale * scores.float()
    negative_logits = logits[:, targets:].masked_fill(~negative_mask, float("-inf"))  # (B, N)
    # (B, T, 1 + N): every target slot with its own copy of the negatives.
    joint = torch.cat([logits[:, :targets, None], negative_logits[:, None, :].expand(-1, targets, -1)], dim=2)
    nll = -F.log_softmax(joint, dim=2)[:, :, 0]  # (B, T)
    n_targets = target_mask.sum(dim=1).clamp(min=1)
    return ((nll * target_mask).sum(dim=1) / n_targets).mean()


def full_softmax_loss(scores: torch.Tensor, targets: torch.Tensor, logit_scale: float = 1.0) -> torch.Tensor:
    """Each target against the whole catalog: scores (B, N+1) over items 0..N (column 0 is padding and
    never a class), targets (B, T) 0-padded; -log softmax of each target, averaged per example."""
    logits = (logit_scale * scores.float()).clone()
    logits[:, 0] = float("-inf")
    log_probs = F.log_softmax(logits, dim=1).gather(1, targets)  # (B, T)
    target_mask = targets != 0
    n_targets = target_mask.sum(dim=1).clamp(min=1)
    return (-(log_probs.masked_fill(~target_mask, 0.0)).sum(dim=1) / n_targets).mean()


LOSSES = {"bce": bce_loss, "sampled_softmax": sampled_softmax_loss}
