"""Checkpoint files: atomic, read back with weights_only, and the same bytes for the same payload."""

from pathlib import Path

import torch

from mtstrec.training.checkpoint import load, save_atomic


def test_the_same_payload_saved_twice_gives_the_same_bytes(tmp_path: Path):
    """Also under another file name (or temp name, which holds the pid): torch.save given a path names the
    archive inside the file after it."""
    payload = {"state_dict": {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}, "epoch": 2}
    save_atomic(payload, tmp_path / "a" / "model.pt")
    save_atomic(payload, tmp_path / "b" / "best.pt")
    assert (tmp_path / "a" / "model.pt").read_bytes() == (tmp_path / "b" / "best.pt").read_bytes()
    loaded = load(tmp_path / "a" / "model.pt")
    assert loaded["epoch"] == 2 and torch.equal(loaded["state_dict"]["w"], payload["state_dict"]["w"])
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["model.pt"]  # no temp file left behind
