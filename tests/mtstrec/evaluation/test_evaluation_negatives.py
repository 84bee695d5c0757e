import logging

import numpy as np
import pyarrow as pa
import pytest
import torch

from mtstrec.evaluation.negatives import load_candidates, month_candidates, sample_negatives
from mtstrec.schemas import CANDIDATES
from mtstrec.storage import Storage

MONTHS = {
    "2020-01": np.arange(1, 41),
    "2020-02": np.arange(41, 81),
    "2020-03": np.arange(81, 121),
}


@pytest.mark.parametrize("month", ["2020-01", "2020-02", "2020-03"])
def test_month_lookup_returns_exactly_that_month(month):
    # The original lookup had no `break` and fell through to a later month.
    assert np.array_equal(month_candidates(month, MONTHS), MONTHS[month])


def test_month_lookup_sorts_and_deduplicates_a_given_pool():
    assert month_candidates("2020-01", {"2020-01": np.array([9, 2, 9, 5])}).tolist() == [2, 5, 9]


@pytest.mark.parametrize("month", ["2019-12", "2020-04", "2020-1"])
def test_month_without_candidates_is_a_clear_error(month):
    with pytest.raises(ValueError, match=f"no candidates/month={month}.parquet.*2020-01..2020-03"):
        month_candidates(month, MONTHS)


def make_examples(months: list[str], seed: int = 0, num_items: int = 120):
    rng = np.random.default_rng(seed)
    histories = torch.from_numpy(rng.integers(1, num_items + 1, size=(len(months), 6)))
    histories[::3, :2] = 0  # some left padding
    targets = torch.zeros(len(months), 3, dtype=torch.long)
    for row, month in enumerate(months):  # targets from the month, one to three of them
        pool = MONTHS[month]
        targets[row, : 1 + row % 3] = torch.from_numpy(rng.choice(pool, size=1 + row % 3, replace=False))
    return np.array(months), histories, targets


def assert_valid_negatives(negatives, months, histories, targets, pools, n):
    assert negatives.shape == (len(months), n)
    for row in range(len(months)):
        items = negatives[row].tolist()
        assert len(set(items)) == n
        banned = set(histories[row].tolist()) | set(targets[row].tolist())
        assert not banned & set(items)
        assert set(items) <= set(pools[months[row]].tolist())


def test_negatives_come_from_the_target_month_and_exclude_history_and_targets():
    months, histories, targets = make_examples(["2020-01", "2020-02", "2020-03"] * 20)
    # Put other months' items into histories so month mix-ups would show.
    histories[:, -1] = torch.from_numpy(np.where(months == "2020-01", 50, 10))
    negatives = sample_negatives(months, histories, targets, MONTHS, num_items=120, n=20, seed=7)
    assert_valid_negatives(negatives, months, histories, targets, MONTHS, 20)


def test_negatives_are_fixed_by_the_seed():
    months, histories, targets = make_examples(["2020-02", "2020-01"] * 10)
    first = sample_negatives(months, histories, targets, MONTHS, num_items=120, n=15, seed=3)
    again = sample_negatives(months, histories, targets, MONTHS, num_items=120, n=15, seed=3)
    other = sample_negatives(months, histories, targets, MONTHS, num_items=120, n=15, seed=4)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_a_months_negatives_do_not_depend_on_other_months():
    months, histories, targets = make_examples(["2020-02", "2020-01"] * 10)
    both = sample_negatives(months, histories, targets, MONTHS, num_items=120, n=15, seed=3)
    only_feb = months == "2020-02"
    alone = sample_negatives(months[only_feb], histories[only_feb], targets[only_feb], MONTHS, 120, n=15, seed=3)
    assert torch.equal(both[torch.from_numpy(only_feb)], alone)


def test_missing_month_stops_sampling():
    _, histories, targets = make_examples(["2020-01"])
    with pytest.raises(ValueError, match="2020-05"):
        sample_negatives(np.array(["2020-05"]), histories, targets, MONTHS, num_items=120, n=5, seed=0)


def test_small_month_is_topped_up_from_the_catalog_and_logged(caplog):
    pools = {"2020-06": np.array([2, 4, 6, 8, 10, 12])}
    months = np.array(["2020-06"] * 4)
    histories = torch.tensor([[0, 2, 3], [4, 5, 6], [0, 0, 1], [7, 9, 11]])
    targets = torch.tensor([[8, 0], [12, 1], [2, 0], [13, 0]])
    with caplog.at_level(logging.INFO, logger="mtstrec.evaluation.negatives"):
        negatives = sample_negatives(months, histories, targets, pools, num_items=30, n=10, seed=1)
    assert "4 of 4 examples topped up" in caplog.text
    for row in range(4):
        items = set(negatives[row].tolist())
        banned = set(histories[row].tolist()) | set(targets[row].tolist())
        assert len(items) == 10 and not items & banned and items <= set(range(1, 31))
        assert set(pools["2020-06"].tolist()) - banned <= items  # every eligible month item is used
    again = sample_negatives(months, histories, targets, pools, num_items=30, n=10, seed=1)
    assert torch.equal(negatives, again)


def test_top_up_fails_clearly_when_the_catalog_is_too_small():
    with pytest.raises(ValueError, match="cannot supply 10 negatives"):
        sample_negatives(
            np.array(["2020-06"]), torch.tensor([[1, 2]]), torch.tensor([[3]]), {"2020-06": np.array([4])}, 8, 10, 0
        )


@pytest.mark.parametrize("pool_size", [60, 5000])  # dense random keys, and the rejection stream
def test_sampling_is_uniform_over_the_eligible_pool(pool_size):
    pools = {"2021-01": np.arange(1, pool_size + 1)}
    rows, n = 3000, 20
    months = np.array(["2021-01"] * rows)
    histories = torch.tensor([[1, 2, 3]]).expand(rows, 3)
    targets = torch.tensor([[4]]).expand(rows, 1)
    negatives = sample_negatives(months, histories, targets, pools, num_items=pool_size, n=n, seed=0)
    assert_valid_negatives(negatives[:200], months[:200], histories[:200], targets[:200], pools, n)
    counts = np.bincount(negatives.numpy().ravel(), minlength=pool_size + 1)[5:]
    expected = rows * n / (pool_size - 4)
    lower_half = counts[: len(counts) // 2].sum() / counts.sum()
    assert lower_half == pytest.approx(0.5, abs=0.01)
    if pool_size == 60:
        assert counts.min() > 0.8 * expected and counts.max() < 1.2 * expected


def write_candidates(storage: Storage, month: str, items: list[int]) -> None:
    storage.write_parquet(
        f"candidates/month={month}.parquet", pa.table({"item_index": pa.array(items, pa.int32())}, schema=CANDIDATES)
    )


def test_load_candidates_reads_every_month(tmp_path):
    storage = Storage(str(tmp_path))
    write_candidates(storage, "2020-09", [5, 3, 3, 9])
    write_candidates(storage, "2020-10", [1])
    loaded = load_candidates(storage)
    assert list(loaded) == ["2020-09", "2020-10"]
    assert loaded["2020-09"].tolist() == [3, 5, 9]
    assert loaded["2020-10"].tolist() == [1]


def test_load_candidates_rejects_bad_files(tmp_path):
    storage = Storage(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="candidates"):
        load_candidates(storage)
    storage.write_parquet("candidates/month=2020-09.parquet", pa.table({"item": pa.array([1], pa.int32())}))
    with pytest.raises(ValueError, match=r"month=2020-09.parquet: missing column\(s\) \['item_index'\]"):
        load_candidates(storage)
    storage.delete("candidates/month=2020-09.parquet")
    write_candidates(storage, "2020-9", [1])
    with pytest.raises(ValueError, match="month=YYYY-MM"):
        load_candidates(storage)
