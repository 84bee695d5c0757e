"""SASRec (Kang & McAuley 2018) with full-catalog softmax cross-entropy: the ID-only baseline.

A causal transformer over item embeddings; the state at each position scores every
catalog item by a dot product with the shared item embedding table. Trained with
cross-entropy over the whole catalog at every position (the "SASRec + CE" of gSASRec
and "Turning Dross Into Gold Loss"), it is the standard strong sequential baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mtstrec.modules import TransformerBlock, sequence_init
from mtstrec.schemas import PADDING_INDEX


@dataclass
class SASRecConfig:
    d_model: int = 64
    max_len: int = 20
    blocks: int = 2
    heads: int = 2
    ffn: int = 256
    dropout: float = 0.2


class SASRec(nn.Module):
    def __init__(self, config: SASRecConfig, num_items: int) -> None:
        super().__init__()
        self.config = config
        self.num_items = num_items
        self.embedding = nn.Embedding(num_items + 1, config.d_model, padding_idx=PADDING_INDEX)
        self.positions = nn.Parameter(sequence_init(config.max_len, config.d_model))
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(config.d_model, config.heads, config.ffn, config.dropout, config.dropout)
            for _ in range(config.blocks)
        )
        self.norm = nn.LayerNorm(config.d_model)

    def states(self, histories: torch.Tensor) -> torch.Tensor:
        """histories (B, L) left-padded -> (B, L, d): position i has seen items 0..i only."""
        length = histories.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=histories.device).tril()  # (L, L)
        valid = histories != PADDING_INDEX  # (B, L)
        # A padded query sees itself, so that no attention row is empty; its output is never used.
        allowed = (causal & valid[:, None, :]) | torch.eye(length, dtype=torch.bool, device=histories.device)
        x = self.dropout(self.embedding(histories) * self.config.d_model**0.5 + self.positions[-length:])
        for block in self.blocks:
            x = block(x, allowed[:, None])  # (B, L, d)
        return self.norm(x)

    def loss(self, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Full-catalog cross-entropy at every position whose input and label are items."""
        states = self.states(inputs)  # (B, L, d)
        used = (inputs != PADDING_INDEX) & (labels != PADDING_INDEX)  # (B, L)
        logits = states[used] @ self.embedding.weight.T  # (P, N+1)
        logits[:, PADDING_INDEX] = float("-inf")
        return F.cross_entropy(logits, labels[used])

    def score_catalog(self, histories: torch.Tensor) -> torch.Tensor:
        """histories (B, L) -> (B, N+1) scores of every item (padding at -inf) from the last position."""
        scores = self.states(histories)[:, -1] @ self.embedding.weight.T  # (B, N+1)
        scores[:, PADDING_INDEX] = float("-inf")
        return scores
