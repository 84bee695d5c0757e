import math

import pytest

from mtstrec.tracking.promotion import ScoredVersion, SplitMismatchError, decide_promotion


def v(version: str, score: float, split: str = "s1") -> ScoredVersion:
    return ScoredVersion(version, score, split)


def test_first_model_is_promoted():
    decision = decide_promotion(v("1", 0.10), None, margin=0.01)
    assert decision.promote and decision.champion_score is None
    assert decision.tags()["promotion.decision"] == "promoted"


@pytest.mark.parametrize(("candidate", "champion", "margin", "promote"), [
    (0.30, 0.20, 0.0, True),
    (0.20, 0.20, 0.0, False),  # a tie does not move the alias
    (0.10, 0.20, 0.0, False),  # a worse model never becomes champion
    (0.205, 0.20, 0.01, False),  # better, but not by the margin
    (0.215, 0.20, 0.01, True),
])
def test_candidate_must_beat_champion_by_more_than_the_margin(candidate, champion, margin, promote):
    decision = decide_promotion(v("2", candidate), v("1", champion), margin)
    assert decision.promote is promote
    assert decision.tags()["promotion.decision"] == ("promoted" if promote else "rejected")
    assert decision.tags()["promotion.champion_score"] == f"{champion:.6f}"


def test_missing_candidate_score_never_wins():
    assert not decide_promotion(v("2", math.nan), v("1", 0.1), 0.0).promote
    assert not decide_promotion(v("1", math.nan), None, 0.0).promote


def test_scores_on_different_splits_are_not_compared():
    with pytest.raises(SplitMismatchError, match="rescore the champion"):
        decide_promotion(v("2", 0.9, split="new"), v("1", 0.1, split="old"), 0.0)


def test_the_champion_itself_is_not_re_promoted_and_margin_must_be_non_negative():
    assert not decide_promotion(v("1", 0.5), v("1", 0.5), 0.0).promote
    with pytest.raises(ValueError, match="margin"):
        decide_promotion(v("2", 0.5), v("1", 0.1), -0.1)
