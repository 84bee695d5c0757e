"""Ranking the whole catalog: a scorer for evaluation and `Recommender` for serving.

Both use a cached matrix of normalised item representations, so scoring a batch
of histories is one user-encoder pass plus one matrix product.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from mtstrec.config import ModelConfig
from mtstrec.config_loading import from_dict
from mtstrec.data.item_features import ItemFeatureStore
from mtstrec.model import MTSTRec
from mtstrec.schemas import PADDING_INDEX
from mtstrec.storage import Storage
from mtstrec.training import checkpoint
from mtstrec.training.run_location import RunLocation


class CatalogScorer:
    """Scores 0-padded histories (B, L) against every catalog item -> (B, N+1)."""

    def __init__(self, model: MTSTRec, store: ItemFeatureStore, device: torch.device, chunk: int = 65536) -> None:
        self.model = model
        self.store = store
        self.device = device
        model.eval()
        with torch.inference_mode():
            items = torch.arange(store.num_items + 1, device=device)
            parts = [model.item_representations(items[i : i + chunk], store) for i in range(0, len(items), chunk)]
            self.item_matrix = F.normalize(torch.cat(parts).float(), dim=-1)  # (N+1, D)

    @torch.inference_mode()
    def __call__(self, histories: torch.Tensor) -> torch.Tensor:
        users = F.normalize(self.model.encode_histories(histories.to(self.device), self.store).float(), dim=-1)
        scores = users @ self.item_matrix.T  # (B, N+1)
        scores[:, PADDING_INDEX] = float("-inf")
        return scores


def load_model(model_path: str | Path, device: torch.device) -> tuple[MTSTRec, dict]:
    """Rebuild a model from `model.pt` (weights plus the facts needed to build it)."""
    payload = checkpoint.load(Path(model_path), device)
    config = from_dict(ModelConfig, payload["model_config"], "model.pt:model_config")
    model = MTSTRec(config, payload["num_items"], payload["item_shapes"])
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval(), payload


class Recommender:
    """Top-k items over the whole catalog for item histories."""

    def __init__(self, model: MTSTRec, store: ItemFeatureStore, device: torch.device) -> None:
        self.model = model
        self.device = device
        self.store = store.to(device)
        self.scorer = CatalogScorer(model, self.store, device)

    @classmethod
    def from_files(cls, model_path: str | Path, features: str | Storage, device: str = "cpu") -> Recommender:
        """A model file plus a root (URI or Storage) holding `features/<modality>/<tag>/part-*.parquet`."""
        torch_device = torch.device(device)
        model, payload = load_model(model_path, torch_device)
        store = ItemFeatureStore.load(
            features if isinstance(features, Storage) else Storage(features), model.config.modalities,
            payload["num_items"], payload["feature_tags"], payload["item_shapes"],
        )
        return cls(model, store, torch_device)

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str = "cpu") -> Recommender:
        """The best model of a run (a local path or URI), with the features of the dataset and snapshot it
        was trained on."""
        local = RunLocation(run_dir).pull()
        config = json.loads((local / "config.json").read_text())
        dataset = Storage(config["root"]).child(config["dataset"])
        if config.get("snapshot"):
            dataset = dataset.dated(config["snapshot"])
        return cls.from_files(local / "model.pt", dataset, device)

    @property
    def num_items(self) -> int:
        return self.store.num_items

    def recommend(self, histories: Sequence[Sequence[int]], k: int = 10, exclude_seen: bool = True) -> list[list[int]]:
        """Item indexes, oldest first, per history -> the k best item indexes per history."""
        max_len = self.model.config.max_len
        batch = torch.zeros(len(histories), max_len, dtype=torch.long)  # (B, L), left-padded
        for row, history in enumerate(histories):
            items = [int(i) for i in history][-max_len:]
            bad = [i for i in items if not 1 <= i <= self.num_items]
            if bad:
                raise ValueError(f"history {row}: item index {bad[0]} is outside the catalog 1..{self.num_items}")
            if items:
                batch[row, max_len - len(items) :] = torch.tensor(items)
        scores = self.scorer(batch)  # (B, N+1)
        if exclude_seen:
            seen = torch.zeros_like(scores, dtype=torch.bool).scatter_(1, batch.to(scores.device), True)
            scores = scores.masked_fill(seen, float("-inf"))
        k = min(k, self.num_items)
        return torch.topk(scores, k, dim=1).indices.tolist()
