"""Short runs on planted synthetic data: the model learns, through every path."""

import pytest
import torch

from mtstrec.data.bronze import scan_transactions
from mtstrec.data.synthetic import SyntheticConfig, write_synthetic_dataset
from mtstrec.evaluation.evaluator import evaluate_scorer
from mtstrec.evaluation.popularity import PopularityScorer, popularity_counts
from mtstrec.inference import CatalogScorer, load_model
from mtstrec.storage import Storage
from mtstrec.training.inputs import load_run_inputs
from mtstrec.training.run import train_run
from tests.mtstrec.model_configs import small_config


def full_ndcg10(scorer, inputs) -> float:
    return evaluate_scorer(scorer, inputs.splits["val"], None, inputs.num_items, ks=[10])["full/ndcg@10"]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_mtstrec_beats_popularity_on_planted_data(synthetic_root, tmp_path, precision):
    """bf16 autocast on the CPU is offered only because learning quality holds with it too."""
    cfg = small_config(synthetic_root, "planted", "train.epochs=4", f"train.precision={precision}")
    summary = train_run(cfg, tmp_path / "run")
    dataset = Storage(synthetic_root).child("planted")
    inputs = load_run_inputs(dataset, cfg.model, ("val",))
    model, _ = load_model(tmp_path / "run" / "model.pt", torch.device("cpu"))
    transactions = scan_transactions(dataset)
    popularity = PopularityScorer(popularity_counts(transactions, inputs.num_items, inputs.cuts.val_start))
    ours = full_ndcg10(CatalogScorer(model, inputs.store, torch.device("cpu")), inputs)
    baseline = full_ndcg10(popularity, inputs)
    assert summary["best_epoch"] >= 1
    assert ours > baseline + 0.05, (ours, baseline)


def test_image_only_model_learns_when_only_images_carry_the_signal(tmp_path):
    root = str(tmp_path / "root")
    write_synthetic_dataset(Storage(root).child("images"),
                            SyntheticConfig(users=400, items=80, seed=5, signal_modalities=["image"]))
    cfg = small_config(root, "images", "model.modalities=image", "train.epochs=4")
    train_run(cfg, tmp_path / "run")
    inputs = load_run_inputs(Storage(root).child("images"), cfg.model, ("val",))
    model, _ = load_model(tmp_path / "run" / "model.pt", torch.device("cpu"))
    ours = full_ndcg10(CatalogScorer(model, inputs.store, torch.device("cpu")), inputs)
    gen = torch.Generator().manual_seed(0)
    random = full_ndcg10(lambda h: torch.rand(h.shape[0], inputs.num_items + 1, generator=gen), inputs)
    assert ours > 2 * random, (ours, random)
