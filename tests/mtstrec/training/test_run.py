import json

import torch

from mtstrec.training.run import COMPLETE_MARKER, MAIN_MODEL, train_run, variant_dirs
from tests.mtstrec.model_configs import small_config


def test_run_trains_one_baseline_per_modality_and_is_marked_complete_last(synthetic_root, tmp_path):
    cfg = small_config(synthetic_root, "planted", "train.epochs=1", "train.baselines=true",
                       "model.modalities=id,text,price")
    summary = train_run(cfg, tmp_path / "run")

    assert set(variant_dirs(tmp_path / "run")) == {MAIN_MODEL, "id-only", "text-only", "price-only"}
    assert set(summary["baselines"]) == {"id-only", "text-only", "price-only"}
    assert json.loads((tmp_path / "run" / COMPLETE_MARKER).read_text())["best_epoch"] == summary["best_epoch"]
    main = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    alone = torch.load(tmp_path / "run" / "variants" / "price-only" / "model.pt", weights_only=True)
    # The paper's price head is 1 wide inside MTSTRec; alone it is widened to d, since a cosine of
    # 1-d vectors is only ever +1 or -1.
    assert main["state_dict"]["encoders.price.head.weight"].shape == (1, 32)
    assert alone["state_dict"]["encoders.price.head.weight"].shape == (32, 32)
