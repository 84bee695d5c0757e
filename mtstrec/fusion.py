"""Attention masks of the time-aligned shared-token fusion (DESIGN §1, step 4).

In a fusion layer a modality attends over `[x ; T]`, both of length S = L + 1
(L history positions plus the CLOZE position). True means "may attend".
- Sequence tokens see each other (bidirectionally), minus padded keys.
- In the first fusion layer sequence tokens do not see T; in later ones,
  position i also sees T_i.
- Shared token T_i sees only position i of that modality and itself.
"""

from __future__ import annotations

import torch


def fusion_structure(seq_len: int, first: bool, device: torch.device | None = None) -> torch.Tensor:
    """The structural part of the fusion mask: (2S, 2S) bool, S = seq_len."""
    s = seq_len
    allowed = torch.zeros(2 * s, 2 * s, dtype=torch.bool, device=device)
    positions = torch.arange(s, device=device)
    allowed[:s, :s] = True
    if not first:
        allowed[positions, s + positions] = True
    allowed[s + positions, positions] = True
    allowed[s + positions, s + positions] = True
    return allowed


def self_attention_mask(key_valid: torch.Tensor) -> torch.Tensor:
    """key_valid: (B, S) bool -> (B, 1, 1, S): every query sees every valid key."""
    return key_valid[:, None, None, :]


def fusion_mask(key_valid: torch.Tensor, first: bool) -> torch.Tensor:
    """key_valid: (B, S) bool -> (B, 1, 2S, 2S): structure AND valid keys (shared tokens are always valid)."""
    batch, s = key_valid.shape
    structure = fusion_structure(s, first, key_valid.device)  # (2S, 2S)
    keys = torch.cat([key_valid, key_valid.new_ones(batch, s)], dim=1)  # (B, 2S)
    return structure[None, None] & keys[:, None, None, :]
