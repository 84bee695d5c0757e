import pytest
import torch

from mtstrec.inference import Recommender
from mtstrec.training.run import train_run
from tests.mtstrec.model_configs import small_config


@pytest.fixture(scope="module")
def recommender(synthetic_root, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    cfg = small_config(synthetic_root, "planted", "train.epochs=1")
    train_run(cfg, run_dir)
    return Recommender.from_run(run_dir)


def test_recommend_returns_k_catalog_items_excluding_the_history(recommender):
    histories = [[1, 2, 3], [5], list(range(1, 40))]
    top = recommender.recommend(histories, k=10)
    assert [len(row) for row in top] == [10, 10, 10]
    for history, row in zip(histories, top, strict=True):
        assert len(set(row)) == 10
        assert all(1 <= item <= recommender.num_items for item in row)
        assert not set(row) & set(history[-recommender.model.config.max_len:])


def test_recommend_ranks_like_the_catalog_scorer(recommender):
    history = [4, 8, 15, 16, 23]
    batch = torch.zeros(1, recommender.model.config.max_len, dtype=torch.long)
    batch[0, -5:] = torch.tensor(history)
    scores = recommender.scorer(batch)[0]
    expected = torch.topk(scores, 5).indices.tolist()
    assert recommender.recommend([history], k=5, exclude_seen=False)[0] == expected


def test_history_outside_the_catalog_is_rejected(recommender):
    with pytest.raises(ValueError, match="item index 100000 is outside the catalog"):
        recommender.recommend([[1, 100000]])
