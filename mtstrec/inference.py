"""Ranking the whole catalog: a scorer for evaluation and `Recommender` for serving.

Both use a cached matrix of normalised item representations, so scoring a batch
of histories is one user-encoder pass plus one matrix product.
"""

from __future__ import annotations

import copy
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
from mtstrec.serving.config import RankingMethod
from mtstrec.serving.ranking import TopK, build_ranker
from mtstrec.storage import Storage
from mtstrec.training import checkpoint
from mtstrec.training.run_location import RunLocation


class CatalogScorer:
    """Scores 0-padded histories (B, L) against every catalog item -> (B, N+1).

    Built once per catalog: every item's per-modality input projection (the cache that
    history encoding looks items up in) and the normalised item matrix derived from it.
    """

    def __init__(self, model: MTSTRec, store: ItemFeatureStore, device: torch.device, chunk: int = 65536) -> None:
        self.model = model
        self.store = store
        self.device = device
        model.eval()
        with torch.inference_mode():
            items = torch.arange(store.num_items + 1, device=device)
            parts = [model.item_inputs(items[i : i + chunk], store) for i in range(0, len(items), chunk)]
            self.item_inputs = {m: torch.cat([p[m] for p in parts]) for m in parts[0]}  # (N+1, d) each
            self.item_matrix = F.normalize(model.heads(self.item_inputs).float(), dim=-1)  # (N+1, D)

    @torch.inference_mode()
    def users(self, histories: torch.Tensor) -> torch.Tensor:
        """(B, L) 0-padded histories -> (B, D) L2-normalised user vectors."""
        users = self.model.encode_histories(histories.to(self.device), self.store, self.item_inputs)
        return F.normalize(users.float(), dim=-1)

    @torch.inference_mode()
    def __call__(self, histories: torch.Tensor) -> torch.Tensor:
        scores = self.users(histories) @ self.item_matrix.T  # (B, N+1)
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
    """Top-k items over the whole catalog for item histories.

    The item matrix is computed once, when the recommender is built; `ranking` picks how it
    is searched (`mtstrec.serving.ranking`: exact fp32, the default, or an int8 shortlist).
    """

    def __init__(self, model: MTSTRec, store: ItemFeatureStore, device: torch.device,
                 ranking: RankingMethod = "exact", shortlist: int = 100) -> None:
        self.model = model
        self.device = device
        self.store = store.to(device)
        self.scorer = CatalogScorer(model, self.store, device)
        self.ranker = build_ranker(self.scorer.item_matrix, ranking, shortlist)

    @classmethod
    def from_files(cls, model_path: str | Path, features: str | Storage, device: str = "cpu",
                   ranking: RankingMethod = "exact", shortlist: int = 100) -> Recommender:
        """A model file plus a root (URI or Storage) holding `features/<modality>/<tag>/part-*.parquet`."""
        torch_device = torch.device(device)
        model, payload = load_model(model_path, torch_device)
        store = ItemFeatureStore.load(
            features if isinstance(features, Storage) else Storage(features), model.config.modalities,
            payload["num_items"], payload["feature_tags"], payload["item_shapes"],
        )
        return cls(model, store, torch_device, ranking, shortlist)

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

    def with_ranking(self, ranking: RankingMethod, shortlist: int = 100) -> Recommender:
        """The same model and item matrix, ranked by another method."""
        other = copy.copy(self)
        other.ranker = build_ranker(self.scorer.item_matrix, ranking, shortlist)
        return other

    @property
    def num_items(self) -> int:
        return self.store.num_items

    @property
    def max_len(self) -> int:
        return self.model.config.max_len

    @torch.inference_mode()
    def top_k(self, histories: torch.Tensor, k: int, exclude: torch.Tensor | None = None) -> TopK:
        """(B, L) left-padded histories, (B, E) 0-padded items to leave out -> the k best per row."""
        return self.ranker.top_k(self.scorer.users(histories), k, exclude)

    def recommend(self, histories: Sequence[Sequence[int]], k: int = 10, exclude_seen: bool = True) -> list[list[int]]:
        """Item indexes, oldest first, per history -> the k best item indexes per history."""
        batch = torch.zeros(len(histories), self.max_len, dtype=torch.long)  # (B, L), left-padded
        for row, history in enumerate(histories):
            items = [int(i) for i in history][-self.max_len :]
            bad = [i for i in items if not 1 <= i <= self.num_items]
            if bad:
                raise ValueError(f"history {row}: item index {bad[0]} is outside the catalog 1..{self.num_items}")
            if items:
                batch[row, self.max_len - len(items) :] = torch.tensor(items)
        top = self.top_k(batch, min(k, self.num_items), batch if exclude_seen else None)
        return top.as_lists()[0]
