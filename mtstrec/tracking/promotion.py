"""The champion gate: should a candidate model version take the champion alias?

A pure decision over two scores on the same validation split, so that it is tested
without MLflow. The caller (tasks/promote.py) fetches the scores and moves the alias.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ScoredVersion:
    """One registered model version's score on one validation split."""

    version: str
    score: float
    split: str  # fingerprint of the validation split the score was computed on


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    candidate_score: float
    champion_score: float | None
    margin: float

    def tags(self, prefix: str = "promotion.") -> dict[str, str]:
        """The decision and its numbers as registry tags."""
        return {
            f"{prefix}decision": "promoted" if self.promote else "rejected",
            f"{prefix}reason": self.reason,
            f"{prefix}candidate_score": f"{self.candidate_score:.6f}",
            f"{prefix}champion_score": "" if self.champion_score is None else f"{self.champion_score:.6f}",
            f"{prefix}margin": f"{self.margin:g}",
        }


class SplitMismatchError(ValueError):
    """The two scores come from different validation splits and cannot be compared."""


def decide_promotion(candidate: ScoredVersion, champion: ScoredVersion | None, margin: float) -> PromotionDecision:
    """Promote when there is no champion, or when the candidate beats it by more than `margin`.

    Scores must come from the same validation split; a candidate with a missing (NaN)
    score never wins, so a broken evaluation cannot crown a model.
    """
    if margin < 0:
        raise ValueError(f"registry.margin must be >= 0, got {margin}")

    def decision(promote: bool, reason: str) -> PromotionDecision:
        return PromotionDecision(
            promote=promote,
            reason=reason,
            candidate_score=candidate.score,
            champion_score=None if champion is None else champion.score,
            margin=margin,
        )

    if math.isnan(candidate.score):
        return decision(False, "candidate has no score")
    if champion is None:
        return decision(True, "first model: no champion yet")
    if champion.version == candidate.version:
        return decision(False, "candidate is already the champion")
    if champion.split != candidate.split:
        raise SplitMismatchError(
            f"champion v{champion.version} was scored on split {champion.split}, "
            f"candidate v{candidate.version} on {candidate.split}; rescore the champion first"
        )
    if math.isnan(champion.score) or candidate.score > champion.score + margin:
        return decision(
            True, f"candidate {candidate.score:.6f} beats champion {champion.score:.6f} by more than {margin:g}"
        )
    return decision(
        False, f"candidate {candidate.score:.6f} does not beat champion {champion.score:.6f} by more than {margin:g}"
    )
