"""MTSTRec: per-modality transformer stacks fused by time-aligned shared tokens.

Read top to bottom: `encode_histories` builds the user representation (the
concatenated CLOZE heads), `item_representations` the candidate side, and
`forward` scores candidates by cosine similarity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mtstrec.config import ModelConfig
from mtstrec.data.item_features import ItemFeatureStore
from mtstrec.fusion import fusion_mask, self_attention_mask
from mtstrec.modality import ModalityEncoder
from mtstrec.modules import sequence_init


def cosine_scores(users: torch.Tensor, items: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """users (B, D), items (U, D), candidates (B, C) rows of `items` -> (B, C) cosine similarity."""
    users = F.normalize(users, dim=-1)
    items = F.normalize(items, dim=-1)
    return (users @ items.T).gather(1, candidates)  # every user against every item, then its own candidates


class MTSTRec(nn.Module):
    def __init__(self, config: ModelConfig, num_items: int, item_shapes: dict[str, list[int]]) -> None:
        super().__init__()
        self.config = config
        self.num_items = num_items
        self.item_shapes = {m: list(item_shapes.get(m, [])) for m in config.modalities}
        self.encoders = nn.ModuleDict(
            {
                m: ModalityEncoder(
                    m,
                    self.item_shapes[m],
                    num_items,
                    config.d_model,
                    config.max_len,
                    config.fusion_layers,
                    config.encoders[m],
                    config.attn_dropout,
                )
                for m in config.modalities
            }
        )
        seq_len = config.max_len + 1
        self.shared_tokens = nn.Parameter(sequence_init(seq_len, config.d_model))
        # One modality has nothing to fuse with: its fusion layers run as plain blocks (as in the paper).
        self.fuses = len(config.modalities) > 1 and config.fusion_layers > 0

    @torch.no_grad()
    def fit_feature_scaling(self, store: ItemFeatureStore, train_items: torch.Tensor) -> None:
        """Standardise every feature modality with statistics of the training catalog: the items of
        `train_items` ((N+1,) bool, those sold before val_start)."""
        for encoder in self.encoders.values():
            if hasattr(encoder.input, "fit_scaling"):
                encoder.input.fit_scaling(store, train_items)

    @torch.no_grad()
    def standardised_store(self, store: ItemFeatureStore) -> ItemFeatureStore:
        """`store` with every feature table standardised once by this model's statistics (copies), so
        that a training step gathers standardised rows instead of standardising them every time.
        Gives the same results as `store`; call it again if the statistics change."""
        tables = dict(store.tables)
        for m, encoder in self.encoders.items():
            if hasattr(encoder.input, "standardised_table"):
                tables[m] = encoder.input.standardised_table(store.tables[m])
        return ItemFeatureStore(store.num_items, tables)

    @property
    def out_dim(self) -> int:
        return sum(encoder.out_dim for encoder in self.encoders.values())

    def _run_plain(self, encoder: ModalityEncoder, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """All of a modality's blocks as self-attention; the last one queries only the CLOZE."""
        blocks = [*encoder.blocks, *encoder.fusion_blocks]
        mask = self_attention_mask(valid)  # (B, 1, 1, S)
        cloze = slice(x.shape[1] - 1, x.shape[1])
        for i, block in enumerate(blocks):
            x = block(x, mask, query_rows=cloze if i == len(blocks) - 1 else None)
        return x  # (B, S, d), or (B, 1, d) after a last block

    def _run_fused(self, x: dict[str, torch.Tensor], valid: torch.Tensor) -> dict[str, torch.Tensor]:
        batch, seq_len = valid.shape
        self_mask = self_attention_mask(valid)  # (B, 1, 1, S)
        for m, encoder in self.encoders.items():
            for block in encoder.blocks:
                x[m] = block(x[m], self_mask)  # (B, S, d)
        dtype = next(iter(x.values())).dtype
        tokens = self.shared_tokens.to(dtype).expand(batch, -1, -1)  # (B, S, d)
        cloze = slice(seq_len - 1, seq_len)
        layers = self.config.fusion_layers
        for f in range(layers):
            allowed = fusion_mask(valid, first=f == 0)  # (B, 1, 2S, 2S)
            last = f == layers - 1
            updated = []
            for m, encoder in self.encoders.items():
                joint = torch.cat([x[m], tokens], dim=1)  # (B, 2S, d)
                block = encoder.fusion_blocks[f]
                if last:
                    # Only the CLOZE output is used: query it alone, keys/values stay complete.
                    x[m] = block(joint, allowed[:, :, cloze], query_rows=cloze)  # (B, 1, d)
                else:
                    out = block(joint, allowed)  # (B, 2S, d)
                    x[m], shared = out[:, :seq_len], out[:, seq_len:]
                    updated.append(shared)
            if not last:
                tokens = torch.stack(updated).mean(dim=0)  # (B, S, d)
        return x

    def encode_histories(self, histories: torch.Tensor, store: ItemFeatureStore,
                         item_inputs: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """histories: (B, L) item indexes, left-padded with 0 -> user representation (B, out_dim).

        `item_inputs` (from `item_inputs`, for every item 0..N) replaces the per-batch input
        projections with a lookup: the same values at inference, computed once per catalog.
        """
        batch, length = histories.shape
        if length != self.config.max_len:
            raise ValueError(f"histories have length {length}, the model expects max_len {self.config.max_len}")
        valid = torch.cat([histories != 0, histories.new_ones(batch, 1, dtype=torch.bool)], dim=1)  # (B, S)
        if item_inputs is not None:
            x = {m: encoder.embed_sequence(F.embedding(histories, item_inputs[m]))  # (B, S, d)
                 for m, encoder in self.encoders.items()}
        else:
            unique, inverse = torch.unique(histories, return_inverse=True)  # (U,), (B, L)
            x = {m: encoder.embed_sequence(F.embedding(inverse, encoder.input(unique, store)))  # (B, S, d)
                 for m, encoder in self.encoders.items()}
        if self.fuses:
            x = self._run_fused(x, valid)
        else:
            x = {m: self._run_plain(encoder, x[m], valid) for m, encoder in self.encoders.items()}
        return torch.cat([encoder.output(x[m][:, -1]) for m, encoder in self.encoders.items()], dim=-1)

    def item_representations(self, items: torch.Tensor, store: ItemFeatureStore) -> torch.Tensor:
        """items: (U,) -> (U, out_dim): each modality's input projection and head, no sequence encoder."""
        return torch.cat([encoder.head(encoder.input(items, store)) for encoder in self.encoders.values()], dim=-1)

    def item_inputs(self, items: torch.Tensor, store: ItemFeatureStore) -> dict[str, torch.Tensor]:
        """items: (U,) -> per modality, the input projection (U, d) that sequences and heads start from."""
        return {m: encoder.input(items, store) for m, encoder in self.encoders.items()}

    def heads(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-modality input projections (U, d) -> item representations (U, out_dim)."""
        return torch.cat([encoder.head(inputs[m]) for m, encoder in self.encoders.items()], dim=-1)

    def forward(self, histories: torch.Tensor, candidates: torch.Tensor, store: ItemFeatureStore) -> torch.Tensor:
        """histories (B, L), candidates (B, C) -> cosine scores (B, C). Candidates are encoded once each."""
        users = self.encode_histories(histories, store)  # (B, D)
        unique, inverse = torch.unique(candidates, return_inverse=True)  # (U,), (B, C)
        with torch.set_grad_enabled(self.config.candidate_grad and torch.is_grad_enabled()):
            items = self.item_representations(unique, store)  # (U, D)
        return cosine_scores(users, items, inverse)
