import datetime

import numpy as np
import pyarrow as pa
import pytest
import torch

from mtstrec.evaluation.evaluator import evaluate_scorer
from mtstrec.evaluation.examples import EvalExamples
from mtstrec.evaluation.popularity import PopularityScorer, popularity_counts
from mtstrec.schemas import SEQUENCES


def train_table() -> pa.Table:
    return pa.table(
        {
            "user_id": ["a", "b", "c"],
            "history": [[1, 2, 3], [2, 3], [3]],
            "targets": [[2], [4], [5]],
            "target_date": [datetime.date(2020, 1, 5)] * 3,
        },
        schema=SEQUENCES,
    )


def test_counts_cover_histories_and_targets():
    assert popularity_counts(train_table(), num_items=6).tolist() == [0, 1, 3, 3, 1, 1, 0]


def test_ranking_breaks_ties_by_smaller_index_and_never_ranks_padding():
    scorer = PopularityScorer.from_table(train_table(), num_items=6)
    scores = scorer(torch.zeros(2, 4, dtype=torch.long))
    assert scores.shape == (2, 7)
    assert torch.argsort(scores[0], descending=True).tolist() == [2, 3, 1, 4, 5, 6, 0]
    assert len(set(scores[0].tolist())) == 7  # all distinct: no ties left for the evaluator


def test_popularity_goes_through_the_evaluator():
    scorer = PopularityScorer.from_table(train_table(), num_items=6)
    # Ranking 2, 3, 1, 4, 5, 6 with history items removed:
    #   history [2] target 3 -> 3 is 1st;  history [1] target 4 -> 2, 3, 4: 3rd;  history [5] target 6 -> 5th.
    examples = EvalExamples(
        torch.tensor([[0, 2], [0, 1], [0, 5]]), torch.tensor([[3], [4], [6]]), np.array(["2020-02"] * 3)
    )
    results = evaluate_scorer(scorer, examples, None, num_items=6, ks=(1, 3, 5), exclude_history=True)
    assert results["full/mrr@5"] == pytest.approx((1 + 1 / 3 + 1 / 5) / 3)
    assert results["full/hr@1"] == pytest.approx(1 / 3)
    assert results["full/hr@3"] == pytest.approx(2 / 3)
    assert results["full/ndcg@3"] == pytest.approx((1 + 0.5) / 3)


def test_counts_reject_items_beyond_the_catalog():
    with pytest.raises(ValueError, match=r"outside the catalog 1\.\.4"):
        popularity_counts(train_table(), num_items=4)
