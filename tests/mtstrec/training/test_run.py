import json

import torch

from mtstrec.evaluation.run import evaluate_run
from mtstrec.training.run import COMPLETE_MARKER, MAIN_MODEL, train_run, variant_dirs
from tests.mtstrec.model_configs import small_config


def test_run_trains_one_baseline_per_modality_and_sasrec_and_is_marked_complete_last(synthetic_root, tmp_path):
    cfg = small_config(synthetic_root, "planted", "train.epochs=1", "train.baselines=true",
                       "model.modalities=id,text,price")
    summary = train_run(cfg, tmp_path / "run")

    baselines = {"id-only", "text-only", "price-only", "SASRec-CE"}
    assert set(variant_dirs(tmp_path / "run")) == {MAIN_MODEL, *baselines}
    assert set(summary["baselines"]) == baselines
    assert json.loads((tmp_path / "run" / COMPLETE_MARKER).read_text())["best_epoch"] == summary["best_epoch"]
    cfg.eval.sampled_negatives = 20  # the synthetic catalog holds 80 items
    evaluation = evaluate_run(tmp_path / "run", cfg)
    assert set(evaluation["metrics"]) == {MAIN_MODEL, *baselines, "popularity", "recency popularity"}
    assert all(0.0 <= m["full/ndcg@10"] <= 1.0 and "sampled/hr@10" in m for m in evaluation["metrics"].values())
    assert set(evaluation["validation"]) == {MAIN_MODEL}
    main = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    alone = torch.load(tmp_path / "run" / "variants" / "price-only" / "model.pt", weights_only=True)
    # The paper's price head is 1 wide inside MTSTRec; alone it is widened to d, since a cosine of
    # 1-d vectors is only ever +1 or -1.
    assert main["state_dict"]["encoders.price.head.weight"].shape == (1, 32)
    assert alone["state_dict"]["encoders.price.head.weight"].shape == (32, 32)
