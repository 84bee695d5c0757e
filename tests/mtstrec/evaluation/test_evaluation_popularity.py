import datetime

import numpy as np
import polars as pl
import pytest
import torch

from mtstrec.data.example_tensors import ExampleTensors
from mtstrec.evaluation.evaluator import evaluate_scorer
from mtstrec.evaluation.popularity import PopularityScorer, popularity_counts


def bronze() -> pl.LazyFrame:
    """Purchases on Jan 1-5 (item 2 three times, 3 twice...), then items 5 and 6 on and after the split."""
    rows = [(1, 1), (1, 2), (2, 2), (3, 3), (4, 2), (4, 3), (5, 4), (5, 1), (6, 5), (6, 5), (7, 6)]
    return pl.LazyFrame(
        {"date": [datetime.date(2020, 1, day) for day, _ in rows], "item_index": [item for _, item in rows]},
        schema_overrides={"item_index": pl.Int32},
    )


SPLIT_START = datetime.date(2020, 1, 6)


def test_counts_stop_before_the_split_start():
    assert popularity_counts(bronze(), 6, SPLIT_START).tolist() == [0, 2, 3, 2, 1, 0, 0]


def test_recency_counts_only_the_last_days_before_the_split():
    # The last 2 days before Jan 6 are Jan 4 and 5.
    assert popularity_counts(bronze(), 6, SPLIT_START, days=2).tolist() == [0, 1, 1, 1, 1, 0, 0]


def ranked() -> PopularityScorer:
    return PopularityScorer(torch.tensor([0, 1, 3, 3, 1, 1, 0]))


def test_ranking_breaks_ties_by_smaller_index_and_never_ranks_padding():
    scorer = ranked()
    scores = scorer(torch.zeros(2, 4, dtype=torch.long))
    assert scores.shape == (2, 7)
    assert torch.argsort(scores[0], descending=True).tolist() == [2, 3, 1, 4, 5, 6, 0]
    assert len(set(scores[0].tolist())) == 7  # all distinct: no ties left for the evaluator


def test_popularity_goes_through_the_evaluator():
    scorer = ranked()
    # Ranking 2, 3, 1, 4, 5, 6 with history items removed:
    #   history [2] target 3 -> 3 is 1st;  history [1] target 4 -> 2, 3, 4: 3rd;  history [5] target 6 -> 5th.
    examples = ExampleTensors(
        torch.tensor([[0, 2], [0, 1], [0, 5]]), torch.tensor([[3], [4], [6]]), np.array(["2020-02"] * 3)
    )
    results = evaluate_scorer(scorer, examples, None, num_items=6, ks=(1, 3, 5), exclude_history=True)
    assert results["full/mrr@5"] == pytest.approx((1 + 1 / 3 + 1 / 5) / 3)
    assert results["full/hr@1"] == pytest.approx(1 / 3)
    assert results["full/hr@3"] == pytest.approx(2 / 3)
    assert results["full/ndcg@3"] == pytest.approx((1 + 0.5) / 3)


def test_counts_reject_items_beyond_the_catalog():
    with pytest.raises(ValueError, match=r"outside the catalog 1\.\.3"):
        popularity_counts(bronze(), 3, SPLIT_START)
