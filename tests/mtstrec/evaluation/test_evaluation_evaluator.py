import math

import numpy as np
import pytest
import torch

from mtstrec.data.example_tensors import ExampleTensors
from mtstrec.evaluation.evaluator import evaluate_scorer

NUM_ITEMS = 40
KS = (5, 10, 20)


def toy_examples() -> ExampleTensors:
    histories = torch.tensor([[0, 0, 1, 2], [3, 4, 5, 6], [0, 7, 8, 9], [0, 0, 0, 10]])
    targets = torch.tensor([[11, 12, 0], [13, 0, 0], [14, 15, 16], [10, 17, 0]])  # row 3 re-buys item 10
    return ExampleTensors(histories, targets, np.array(["2020-01"] * 4))


def fixed_negatives(examples: ExampleTensors, n: int) -> torch.Tensor:
    rows = []
    for history, targets in zip(examples.histories.tolist(), examples.targets.tolist(), strict=True):
        banned = set(history) | set(targets)
        rows.append([item for item in range(NUM_ITEMS, 0, -1) if item not in banned][:n])
    return torch.tensor(rows)


def target_scorer(examples: ExampleTensors, target_score: float, history_score: float = 0.0, pad_score: float = 0.0):
    """Scores each example's targets (found by matching the history row) with target_score, others by index."""
    lookup = {tuple(h): t for h, t in zip(examples.histories.tolist(), examples.targets.tolist(), strict=True)}
    seen: list[torch.Tensor] = []

    def score_all(histories: torch.Tensor) -> torch.Tensor:
        seen.append(histories.clone())
        scores = torch.linspace(0.1, 0.9, NUM_ITEMS + 1).repeat(len(histories), 1)  # [B, N+1]
        for row, history in enumerate(histories.tolist()):
            scores[row, torch.tensor(history)] = history_score
            scores[row, torch.tensor([t for t in lookup[tuple(history)] if t])] = target_score
        scores[:, 0] = pad_score
        return scores

    score_all.seen = seen
    return score_all


def test_perfect_scorer_gets_one_everywhere_even_with_padding_and_history_scored_higher():
    examples = toy_examples()
    scorer = target_scorer(examples, target_score=5.0, history_score=9.0, pad_score=99.0)
    results = evaluate_scorer(scorer, examples, fixed_negatives(examples, 20), NUM_ITEMS, KS, batch_size=3)
    assert set(results) == {f"{p}/{m}@{k}" for p in ("full", "sampled") for m in ("ndcg", "hr", "mrr") for k in KS}
    assert all(value == pytest.approx(1.0) for value in results.values()), results
    assert [h.shape[0] for h in scorer.seen] == [3, 1]
    assert torch.equal(torch.cat(scorer.seen), examples.histories)


def test_reversed_scorer_gets_zero_at_every_cutoff():
    examples = toy_examples()
    results = evaluate_scorer(
        target_scorer(examples, target_score=-5.0), examples, fixed_negatives(examples, 25), NUM_ITEMS, KS
    )
    assert all(value == 0.0 for value in results.values()), results


def test_history_exclusion_removes_history_but_never_targets():
    examples = toy_examples()
    scorer = target_scorer(examples, target_score=5.0, history_score=9.0)
    kept = evaluate_scorer(scorer, examples, None, NUM_ITEMS, KS, exclude_history=False)
    assert set(kept) == {f"full/{m}@{k}" for m in ("ndcg", "hr", "mrr") for k in KS}
    # Distinct history items rank above the targets: 2, 4, 3 and 0 (row 3's only history item is a target).
    expected_mrr = np.mean([1 / 3, 1 / 5, 1 / 4, 1.0])
    assert kept["full/mrr@5"] == pytest.approx(expected_mrr)
    excluded = evaluate_scorer(scorer, examples, None, NUM_ITEMS, KS, exclude_history=True)
    assert excluded["full/mrr@5"] == pytest.approx(1.0)


def test_sampled_equals_full_when_the_negatives_are_every_other_item():
    # Every row bans exactly 5 distinct items (history and targets), so 35 negatives cover the rest.
    histories = torch.tensor([[0, 1, 2, 3], [4, 5, 6, 6], [0, 20, 7, 8], [9, 10, 11, 12]])
    targets = torch.tensor([[13, 14], [15, 16], [17, 18], [19, 0]])
    examples = ExampleTensors(histories, targets, np.array(["2020-01"] * 4))
    assert all(len((set(h) | set(t)) - {0}) == 5 for h, t in zip(histories.tolist(), targets.tolist(), strict=True))
    generator = torch.Generator().manual_seed(0)
    item_scores = torch.randn(NUM_ITEMS + 1, generator=generator)

    def score_all(histories):
        return item_scores.expand(len(histories), -1)

    results = evaluate_scorer(score_all, examples, fixed_negatives(examples, NUM_ITEMS - 5), NUM_ITEMS, KS)
    assert results["full/hr@20"] > 0
    for key, value in results.items():
        if key.startswith("full/"):
            assert results["sampled/" + key[5:]] == pytest.approx(value)


def test_sampled_ranking_counts_only_its_negatives():
    # One example, target item 1 scored below items 30..40 but above everything else.
    examples = ExampleTensors(torch.tensor([[0, 2]]), torch.tensor([[1]]), np.array(["2020-01"]))
    scores = torch.arange(NUM_ITEMS + 1, dtype=torch.float32)
    scores[1] = 29.5

    def score_all(histories):
        return scores.expand(len(histories), -1)

    negatives = torch.tensor([[3, 4, 5, 38, 39, 40]])  # three negatives above the target
    results = evaluate_scorer(score_all, examples, negatives, NUM_ITEMS, KS)
    assert results["sampled/mrr@5"] == pytest.approx(0.25)
    assert results["sampled/ndcg@5"] == pytest.approx(1 / math.log2(5))
    assert results["full/mrr@20"] == pytest.approx(1 / 12)  # items 30..40 rank above it
    assert results["full/hr@10"] == 0.0


def test_results_do_not_depend_on_batch_size():
    examples = toy_examples()
    generator = torch.Generator().manual_seed(1)
    table = torch.randn(NUM_ITEMS + 1, NUM_ITEMS + 1, generator=generator)

    def score_all(histories):
        return table[histories[:, -1]]  # depends on the last item

    negatives = fixed_negatives(examples, 10)
    one = evaluate_scorer(score_all, examples, negatives, NUM_ITEMS, KS, batch_size=1)
    all_at_once = evaluate_scorer(score_all, examples, negatives, NUM_ITEMS, KS, batch_size=64)
    assert one == pytest.approx(all_at_once)


def test_bad_scorer_output_and_items_beyond_catalog_are_rejected():
    examples = toy_examples()
    with pytest.raises(ValueError, match=r"scorer returned \(4, 10\)"):
        evaluate_scorer(lambda h: torch.zeros(len(h), 10), examples, None, NUM_ITEMS, KS)
    with pytest.raises(ValueError, match=r"beyond the catalog 1\.\.15"):
        evaluate_scorer(lambda h: torch.zeros(len(h), 16), examples, None, 15, KS)
    with pytest.raises(ValueError, match="2 rows of negatives for 4 examples"):
        evaluate_scorer(lambda h: torch.zeros(len(h), NUM_ITEMS + 1), examples, torch.ones(2, 3).long(), NUM_ITEMS, KS)
    with pytest.raises(ValueError, match="negatives hold item indexes outside"):
        evaluate_scorer(lambda h: torch.zeros(len(h), NUM_ITEMS + 1), examples, torch.zeros(4, 3).long(), NUM_ITEMS, KS)
