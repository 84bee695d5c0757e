import json

import pytest
import torch

from mtstrec.training.run import COMPLETE_MARKER, train_run
from tests.mtstrec.model_configs import small_config

# Dropout on, so that the restored RNG state matters too.
WITH_DROPOUT = ["model.attn_dropout=0.1", "model.encoders.id.hidden_dropout=0.2"]


def weights(run_dir):
    return torch.load(run_dir / "checkpoint.pt", weights_only=True)["model"]


def test_two_epochs_equal_one_epoch_resume_one_epoch(synthetic_root, tmp_path):
    straight = tmp_path / "straight"
    train_run(small_config(synthetic_root, "planted", "train.epochs=2", *WITH_DROPOUT), straight)

    resumed = tmp_path / "resumed"
    train_run(small_config(synthetic_root, "planted", "train.epochs=1", *WITH_DROPOUT), resumed)
    assert json.loads((resumed / "history.json").read_text())[-1]["epoch"] == 1
    train_run(small_config(synthetic_root, "planted", "train.epochs=2", *WITH_DROPOUT), resumed, resume=True)

    a, b = weights(straight), weights(resumed)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    history_a = json.loads((straight / "history.json").read_text())
    history_b = json.loads((resumed / "history.json").read_text())
    assert [h["train_loss"] for h in history_a] == [h["train_loss"] for h in history_b]
    assert (resumed / COMPLETE_MARKER).exists()


def test_resume_without_a_checkpoint_is_a_clear_error(synthetic_root, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"checkpoint\.pt"):
        train_run(small_config(synthetic_root, "planted", "train.epochs=1"), tmp_path / "none", resume=True)


def test_same_seed_gives_the_same_weights(synthetic_root, tmp_path):
    for name in ("a", "b"):
        train_run(small_config(synthetic_root, "planted", "train.epochs=1", *WITH_DROPOUT), tmp_path / name)
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_run_called_again_is_kept_when_complete_and_resumed_when_interrupted(synthetic_root, tmp_path):
    cfg = small_config(synthetic_root, "planted", "train.epochs=2", *WITH_DROPOUT)
    straight = tmp_path / "straight"
    train_run(cfg, straight)

    # Interrupted after epoch 1: the checkpoint of epoch 1 is there, no COMPLETE marker.
    interrupted = tmp_path / "interrupted"
    train_run(small_config(synthetic_root, "planted", "train.epochs=1", *WITH_DROPOUT), interrupted)
    (interrupted / COMPLETE_MARKER).unlink()
    config = json.loads((straight / "config.json").read_text())
    (interrupted / "config.json").write_text(json.dumps(config))  # the 2-epoch run's own config
    summary = train_run(cfg, interrupted)
    assert summary["epochs_run"] == 2
    assert [h["epoch"] for h in json.loads((interrupted / "history.json").read_text())] == [1, 2]
    a, b = weights(straight), weights(interrupted)
    assert all(torch.equal(a[k], b[k]) for k in a)

    # Complete: called again, nothing is retrained or rewritten.
    before = (straight / "model.pt").stat().st_mtime_ns
    again = train_run(cfg, straight)
    assert again == json.loads((straight / "summary.json").read_text())
    assert (straight / "model.pt").stat().st_mtime_ns == before


def test_resuming_an_early_stopped_run_trains_nothing_again(synthetic_root, tmp_path):
    # lr 0: validation never improves after epoch 1, so patience 1 stops every model at epoch 2 of 6.
    cfg = small_config(synthetic_root, "planted", "model.modalities=id,price", "train.baselines=true",
                       "train.epochs=6", "train.patience=1", "train.lr=0")
    run_dir = tmp_path / "run"
    train_run(cfg, run_dir)
    models = [run_dir, *(run_dir / "variants").iterdir()]
    assert {p.name for p in models[1:]} == {"id-only", "price-only", "SASRec-CE"}
    before = {p: ((p / "model.pt").read_bytes(), (p / "history.json").read_text()) for p in models}
    assert len(json.loads((run_dir / "history.json").read_text())) == 2

    summary = train_run(cfg, run_dir, resume=True)
    after = {p: ((p / "model.pt").read_bytes(), (p / "history.json").read_text()) for p in models}
    for path in models:
        assert after[path] == before[path], path
    assert summary["epochs_run"] == 2 and summary["best_epoch"] == 1
    assert set(summary["baselines"]) == {"id-only", "price-only", "SASRec-CE"}


def test_a_resumed_auto_precision_run_keeps_the_precision_its_probe_chose(synthetic_root, tmp_path, monkeypatch):
    from mtstrec.training import loop

    run_dir = tmp_path / "auto"
    monkeypatch.setattr(loop, "resolve_precision", lambda precision, device: "fp32")
    train_run(small_config(synthetic_root, "planted", "train.epochs=1", "train.precision=auto"), run_dir)
    monkeypatch.setattr(loop, "resolve_precision", lambda precision, device: "bf16")  # the probe now says bf16
    train_run(small_config(synthetic_root, "planted", "train.epochs=2", "train.precision=auto"), run_dir, resume=True)
    assert [h["precision"] for h in json.loads((run_dir / "history.json").read_text())] == ["fp32", "fp32"]
