import math

import pytest
import torch

from mtstrec.evaluation.metrics import metrics_from_ranks, ranking_metrics, target_ranks


def gain(rank: int) -> float:
    return 1.0 / math.log2(rank + 1)


def reference_metrics(scores: list[float], relevant: list[bool], k: int) -> dict[str, float]:
    """Plain per-example implementation of the documented definitions and tie rule."""
    order = sorted(range(len(scores)), key=lambda c: (-scores[c], relevant[c], c))
    ranks = [position + 1 for position, c in enumerate(order) if relevant[c]]
    n = sum(relevant)
    hits = [r for r in ranks if r <= k]
    idcg = sum(gain(i) for i in range(1, min(k, n) + 1))
    return {
        f"ndcg@{k}": sum(gain(r) for r in hits) / idcg,
        f"hr@{k}": len(hits) / n,
        f"mrr@{k}": 1.0 / min(ranks) if min(ranks) <= k else 0.0,
    }


def test_single_target_hand_computed():
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.3, 0.7]])
    relevant = torch.tensor([[False, False, False, True, False]])  # target is 4th best
    got = ranking_metrics(scores, relevant, ks=(3, 5))
    assert got["ndcg@3"].item() == 0.0
    assert got["hr@3"].item() == 0.0
    assert got["mrr@3"].item() == 0.0
    assert got["ndcg@5"].item() == pytest.approx(1 / math.log2(5))
    assert got["hr@5"].item() == 1.0
    assert got["mrr@5"].item() == pytest.approx(0.25)


def test_multi_target_idcg_runs_over_min_k_and_target_count():
    # Targets at ranks 1 and 3 among 6 items; 2 targets.
    scores = torch.tensor([[6.0, 5.0, 4.0, 3.0, 2.0, 1.0]])
    relevant = torch.tensor([[True, False, True, False, False, False]])
    got = ranking_metrics(scores, relevant, ks=(1, 2, 5))
    assert got["ndcg@1"].item() == pytest.approx(1.0)  # IDCG@1 uses only one target
    assert got["ndcg@2"].item() == pytest.approx(1.0 / (1.0 + 1 / math.log2(3)))
    assert got["ndcg@5"].item() == pytest.approx((1.0 + 0.5) / (1.0 + 1 / math.log2(3)))
    assert got["hr@1"].item() == pytest.approx(0.5)
    assert got["hr@2"].item() == pytest.approx(0.5)
    assert got["hr@5"].item() == pytest.approx(1.0)
    assert got["mrr@1"].item() == 1.0


def test_many_targets_ideal_ranking_gets_ndcg_one_and_hr_capped_at_k_over_n():
    # 4 targets in the top 4 of 8: NDCG@2 is 1 (IDCG over min(2, 4)), HR@2 = 2/4.
    scores = torch.arange(8, 0, -1, dtype=torch.float32).unsqueeze(0)
    relevant = torch.tensor([[True] * 4 + [False] * 4])
    got = ranking_metrics(scores, relevant, ks=(2, 4))
    assert got["ndcg@2"].item() == pytest.approx(1.0)
    assert got["ndcg@4"].item() == pytest.approx(1.0)
    assert got["hr@2"].item() == pytest.approx(0.5)
    assert got["hr@4"].item() == pytest.approx(1.0)


def test_target_tied_with_negative_loses_the_tie():
    scores = torch.tensor([[1.0, 1.0, 0.0]])
    target_first = ranking_metrics(scores, torch.tensor([[True, False, False]]), ks=(1, 2))
    target_second = ranking_metrics(scores, torch.tensor([[False, True, False]]), ks=(1, 2))
    for got in (target_first, target_second):  # column order does not matter: the target ranks 2nd
        assert got["hr@1"].item() == 0.0
        assert got["mrr@2"].item() == pytest.approx(0.5)
        assert got["ndcg@2"].item() == pytest.approx(gain(2))


def test_all_items_tied_puts_targets_last():
    scores = torch.zeros(1, 10)
    relevant = torch.zeros(1, 10, dtype=torch.bool)
    relevant[0, [0, 3]] = True
    ranks = target_ranks(scores, torch.tensor([[0, 3]]), torch.tensor([[True, True]]), max_rank=20)
    assert sorted(ranks[0].tolist()) == [9, 10]
    assert ranking_metrics(scores, relevant, ks=(5,))["hr@5"].item() == 0.0


def test_tie_at_kth_position_extending_past_top_k():
    # 3 negatives and the target share the 2nd-best score; k = 2 so the tie extends past the top-k.
    scores = torch.tensor([[5.0, 1.0, 1.0, 1.0, 1.0, 0.0]])
    ranks = target_ranks(scores, torch.tensor([[4]]), torch.tensor([[True]]), max_rank=2)
    assert ranks.item() == 3  # "beyond max_rank"
    ranks = target_ranks(scores, torch.tensor([[4]]), torch.tensor([[True]]), max_rank=10)
    assert ranks.item() == 5


def test_eligible_mask_removes_columns_from_ranking():
    scores = torch.tensor([[9.0, 8.0, 1.0]])
    relevant = torch.tensor([[False, False, True]])
    eligible = torch.tensor([[False, False, True]])
    assert ranking_metrics(scores, relevant, ks=(1,), eligible=eligible)["mrr@1"].item() == 1.0
    with pytest.raises(ValueError, match="not eligible"):
        ranking_metrics(scores, relevant, ks=(1,), eligible=~relevant)


def test_nan_scores_and_empty_targets_are_rejected():
    with pytest.raises(ValueError, match="NaN"):
        ranking_metrics(torch.tensor([[float("nan"), 1.0]]), torch.tensor([[False, True]]))
    with pytest.raises(ValueError, match="at least one target"):
        ranking_metrics(torch.tensor([[0.0, 1.0]]), torch.tensor([[False, False]]))


@pytest.mark.parametrize("columns", [8, 30])  # 8: catalog smaller than the largest k
def test_matches_reference_on_random_cases_with_many_ties(columns):
    generator = torch.Generator().manual_seed(columns)
    batch = 64
    scores = torch.randint(0, 6, (batch, columns), generator=generator).float()  # coarse scores: many ties
    relevant = torch.rand(batch, columns, generator=generator) < 0.2
    relevant[:, 0] |= ~relevant.any(1)
    ks = (1, 3, 5, 10, 20)
    got = ranking_metrics(scores, relevant, ks=ks)
    for row in range(batch):
        for k in ks:
            expected = reference_metrics(scores[row].tolist(), relevant[row].tolist(), k)
            for key, value in expected.items():
                assert got[key][row].item() == pytest.approx(value, abs=1e-9), (row, key)


def test_metrics_from_ranks_ignores_ranks_beyond_k():
    ranks = torch.tensor([[2, 21, 21], [21, 21, 21]])  # 21 = "beyond max_rank 20"; row 1 has 1 target
    got = metrics_from_ranks(ranks, torch.tensor([2, 1]), ks=(20,))
    assert got["hr@20"].tolist() == pytest.approx([0.5, 0.0])
    assert got["mrr@20"].tolist() == pytest.approx([0.5, 0.0])
    assert got["ndcg@20"][0].item() == pytest.approx(gain(2) / (1 + gain(2)))
