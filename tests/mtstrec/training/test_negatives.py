"""Training negatives: from the example's target month, never its history or targets."""

import numpy as np
import pytest
import torch

from mtstrec.training.negatives import MonthNegativeSampler, catalog_negatives

MONTHS = {"2020-01": np.arange(1, 41), "2020-02": np.arange(31, 101), "2020-03": np.array([5, 6, 7])}


def test_negatives_come_from_the_target_month_and_skip_history_and_targets():
    sampler = MonthNegativeSampler(MONTHS, num_items=120)
    months = sampler.month_rows(np.array(["2020-01", "2020-02", "2020-02"]))
    histories = torch.tensor([[0, 1, 2, 3], [31, 32, 33, 34], [0, 0, 99, 100]])
    targets = torch.tensor([[4, 5], [35, 0], [98, 0]])
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        negatives, mask = sampler.sample(months, histories, targets, 25, generator)
        assert mask.all()
        for row, month in enumerate(["2020-01", "2020-02", "2020-02"]):
            drawn = negatives[row].tolist()
            assert set(drawn) <= set(MONTHS[month].tolist())
            assert not set(drawn) & set(histories[row].tolist() + targets[row].tolist())
            assert len(set(drawn)) == len(drawn)  # without replacement


def test_negatives_cover_the_whole_eligible_pool():
    sampler = MonthNegativeSampler(MONTHS, num_items=120)
    months = sampler.month_rows(np.array(["2020-01"]))
    generator = torch.Generator().manual_seed(1)
    seen = set()
    for _ in range(50):
        negatives, _ = sampler.sample(months, torch.tensor([[0, 1, 2]]), torch.tensor([[3]]), 10, generator)
        seen |= set(negatives[0].tolist())
    assert seen == set(range(4, 41))


def test_a_small_month_masks_the_slots_it_cannot_fill():
    sampler = MonthNegativeSampler(MONTHS, num_items=120)
    months = sampler.month_rows(np.array(["2020-03"]))
    negatives, mask = sampler.sample(months, torch.tensor([[0, 5]]), torch.tensor([[9]]), 4,
                                     torch.Generator().manual_seed(0))
    assert mask.tolist() == [[True, True, False, False]]
    assert sorted(negatives[0, :2].tolist()) == [6, 7]


def test_a_month_without_candidates_is_an_error():
    sampler = MonthNegativeSampler(MONTHS, num_items=120)
    with pytest.raises(ValueError, match="month=2020-04"):
        sampler.month_rows(np.array(["2020-01", "2020-04"]))


def test_catalog_negatives_mask_target_collisions():
    targets = torch.tensor([[1, 2]])
    negatives, mask = catalog_negatives(targets, 3, 50, torch.Generator().manual_seed(0))
    assert torch.equal(mask, ~((negatives == 1) | (negatives == 2)))
