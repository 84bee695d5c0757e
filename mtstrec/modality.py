"""One modality = item input projection + own transformer stack + output head.

The model loops over the active modalities; nothing here is written per modality
except the choice of input projection, which depends on the feature's kind.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from mtstrec.config import EncoderConfig
from mtstrec.data.item_features import KIND_BY_MODALITY, ItemFeatureStore, ModalityTable
from mtstrec.modules import TransformerBlock, sequence_init


class IdInput(nn.Module):
    """A learned embedding per item (row 0 is padding)."""

    def __init__(self, num_items: int, d_model: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_items + 1, d_model, padding_idx=0)

    def forward(self, items: torch.Tensor, store: ItemFeatureStore) -> torch.Tensor:
        return self.embedding(items)  # (U, d)


# Features are gathered and projected at most this many bytes at a time on a CPU. The paper's five text
# views are 80 KB per item: a training batch's 5,500 candidates gathered at once took 453 MB, and a
# 65,536-item chunk of the catalog cache 5.4 GB. Chunks also stay under glibc's 32 MB mmap threshold, so
# their buffers come from the reused heap instead of fresh pages faulted in on every step.
CPU_GATHER_BYTES = 16 * 2**20


class FeatureInput(nn.Module):
    """Projects a feature to d; an absent feature becomes the learned `missing` vector.

    Features are first standardised per dimension with statistics of the training catalog, the
    items sold before val_start (`fit_scaling`), kept as buffers so that they travel with the
    weights. Pretrained embeddings
    share a large common component (mean cosine 0.5-0.9 between items); removing it keeps the
    item differences from drowning under the learned positions at initialisation.
    """

    def __init__(self, modality: str, d_model: int, width: int) -> None:
        super().__init__()
        self.modality = modality
        self.missing = nn.Parameter(torch.randn(d_model) * 0.02)
        self.register_buffer("shift", torch.zeros(width))
        self.register_buffer("scale", torch.ones(width))

    def project(self, values: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def fit_scaling(self, store: ItemFeatureStore, train_items: torch.Tensor) -> None:
        """Mean and std per dimension over the present features of `train_items` ((N+1,) bool)."""
        table = store.tables[self.modality]
        rows = table.present & train_items.to(table.present.device)
        present = table.values[rows].flatten(0, -2)  # (rows, D): views count as rows
        if len(present) > 1:
            self.shift.copy_(present.mean(dim=0))
            self.scale.copy_(1.0 / present.std(dim=0).clamp(min=1e-6))

    def standardised_table(self, table: ModalityTable) -> ModalityTable:
        """`table` with this input's standardisation applied once to every row (a copy), and marked so
        that `forward` does not apply it again."""
        shift, scale = self.shift.to(table.values.device), self.scale.to(table.values.device)
        return dataclasses.replace(table, values=(table.values - shift) * scale,
                                   standardised=(shift.clone(), scale.clone()))

    def _needs_standardising(self, table: ModalityTable) -> bool:
        applied = table.standardised
        if applied is None:
            return True
        if torch.equal(applied[0], self.shift) and torch.equal(applied[1], self.scale):
            return False
        raise ValueError(f"{self.modality}: the feature table was standardised with other statistics than this "
                         f"model's; build it again with MTSTRec.standardised_store from the raw store")

    def forward(self, items: torch.Tensor, store: ItemFeatureStore) -> torch.Tensor:
        """items: (U,) -> (U, d). On a CPU, in chunks of at most `CPU_GATHER_BYTES` of features."""
        table = store.tables[self.modality]
        standardise = self._needs_standardising(table)  # once per call, not per chunk
        if items.device.type == "cpu":
            rows = max(1, CPU_GATHER_BYTES // (table.values[0].numel() * table.values.element_size()))
            if len(items) > rows:
                return torch.cat([self._project_items(chunk, store, standardise) for chunk in items.split(rows)])
        return self._project_items(items, store, standardise)

    def _project_items(self, items: torch.Tensor, store: ItemFeatureStore, standardise: bool) -> torch.Tensor:
        values, present = store.gather(self.modality, items)  # (U, *shape), (U,)
        if standardise:
            values = (values - self.shift) * self.scale
        projected = self.project(values)  # (U, d)
        return torch.where(present[:, None], projected, self.missing.to(projected.dtype))


class VectorInput(FeatureInput):
    def __init__(self, modality: str, in_dim: int, d_model: int) -> None:
        super().__init__(modality, d_model, in_dim)
        self.proj = nn.Linear(in_dim, d_model)

    def project(self, values: torch.Tensor) -> torch.Tensor:
        return self.proj(values)  # (U, D) -> (U, d)


class ViewsInput(FeatureInput):
    """K text views: a learned softmax gate over the views, then one projection."""

    def __init__(self, modality: str, views: int, in_dim: int, d_model: int) -> None:
        super().__init__(modality, d_model, in_dim)
        self.gate = nn.Linear(views * in_dim, views)
        self.proj = nn.Linear(in_dim, d_model)

    def project(self, values: torch.Tensor) -> torch.Tensor:
        gates = F.softmax(self.gate(values.flatten(1)), dim=-1)  # (U, K)
        pooled = torch.bmm(gates[:, None, :], values)[:, 0]  # (U, 1, K) @ (U, K, D) -> (U, D)
        return self.proj(pooled)  # (U, d)


class ScalarInput(FeatureInput):
    """A scalar broadcast to d, as the paper does for price."""

    def __init__(self, modality: str, d_model: int) -> None:
        super().__init__(modality, d_model, 1)
        self.d_model = d_model

    def fit_scaling(self, store: ItemFeatureStore, train_items: torch.Tensor) -> None:
        """Price is already min-max scaled on the training period, and broadcast as it is."""

    def project(self, values: torch.Tensor) -> torch.Tensor:
        return values.expand(-1, self.d_model)  # (U, 1) -> (U, d)


def make_input(modality: str, item_shape: list[int], num_items: int, d_model: int) -> nn.Module:
    if modality == "id":
        return IdInput(num_items, d_model)
    kind = KIND_BY_MODALITY[modality]
    if kind == "vector":
        return VectorInput(modality, item_shape[0], d_model)
    if kind == "views":
        return ViewsInput(modality, item_shape[0], item_shape[1], d_model)
    return ScalarInput(modality, d_model)


class ModalityEncoder(nn.Module):
    """Input projection, CLOZE token, positions, own blocks, fusion blocks, final norm, head."""

    def __init__(
        self,
        modality: str,
        item_shape: list[int],
        num_items: int,
        d_model: int,
        max_len: int,
        fusion_layers: int,
        encoder: EncoderConfig,
        attn_dropout: float,
    ) -> None:
        super().__init__()
        self.modality = modality
        self.input = make_input(modality, item_shape, num_items, d_model)
        self.cloze = nn.Parameter(torch.zeros(d_model))
        self.positions = nn.Parameter(sequence_init(max_len + 1, d_model))
        def block() -> TransformerBlock:
            return TransformerBlock(d_model, encoder.heads, encoder.ffn, attn_dropout, encoder.hidden_dropout)

        self.blocks = nn.ModuleList(block() for _ in range(encoder.blocks))
        self.fusion_blocks = nn.ModuleList(block() for _ in range(fusion_layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, encoder.head_dim or d_model)

    @property
    def out_dim(self) -> int:
        return self.head.out_features

    def embed_sequence(self, inputs: torch.Tensor) -> torch.Tensor:
        """inputs: (B, L, d) projected items -> (B, L+1, d) with CLOZE appended and positions added."""
        batch = inputs.shape[0]
        cloze = self.cloze.to(inputs.dtype).expand(batch, 1, -1)  # (B, 1, d)
        return torch.cat([inputs, cloze], dim=1) + self.positions.to(inputs.dtype)

    def output(self, cloze_state: torch.Tensor) -> torch.Tensor:
        """cloze_state: (B, d) -> (B, out_dim)."""
        return self.head(self.norm(cloze_state))
