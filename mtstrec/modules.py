"""Transformer building blocks shared by every modality stack."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FeedForward(nn.Module):
    def __init__(self, d_model: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.up = nn.Linear(d_model, hidden)
        self.down = nn.Linear(hidden, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down(self.dropout(F.gelu(self.up(x)))))


class Attention(nn.Module):
    """Multi-head attention whose queries may be a subset of the keys' positions."""

    def __init__(self, d_model: int, heads: int, dropout: float) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model {d_model} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, query_rows: slice | None = None) -> torch.Tensor:
        """x: (B, S, d); allowed: (B, 1, Sq, S) bool, True where a query may attend a key.

        With `query_rows`, only those rows are queried (Sq of them); keys and values
        still cover all S positions.
        """
        batch, seq, d_model = x.shape
        head_dim = d_model // self.heads
        if query_rows is None:
            q, k, v = self.qkv(x).split(d_model, dim=-1)  # each (B, S, d)
        else:
            w_q, w_kv = self.qkv.weight.split([d_model, 2 * d_model])
            b_q, b_kv = self.qkv.bias.split([d_model, 2 * d_model])
            q = F.linear(x[:, query_rows], w_q, b_q)  # (B, Sq, d)
            k, v = F.linear(x, w_kv, b_kv).split(d_model, dim=-1)  # each (B, S, d)
        q = q.view(batch, -1, self.heads, head_dim).transpose(1, 2)  # (B, h, Sq, hd)
        k = k.view(batch, seq, self.heads, head_dim).transpose(1, 2)  # (B, h, S, hd)
        v = v.view(batch, seq, self.heads, head_dim).transpose(1, 2)  # (B, h, S, hd)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed, dropout_p=self.dropout if self.training else 0.0
        )  # (B, h, Sq, hd)
        y = y.transpose(1, 2).reshape(batch, -1, d_model)  # (B, Sq, d)
        return self.out(y)


class TransformerBlock(nn.Module):
    """Pre-norm block: x + attention(norm(x)), then + FFN(norm(.))."""

    def __init__(self, d_model: int, heads: int, ffn: int, attn_dropout: float, hidden_dropout: float) -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(d_model)
        self.attn = Attention(d_model, heads, attn_dropout)
        self.attn_dropout = nn.Dropout(hidden_dropout)
        self.ffn_norm = nn.LayerNorm(d_model)
        self.ffn = FeedForward(d_model, ffn, hidden_dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, query_rows: slice | None = None) -> torch.Tensor:
        """x: (B, S, d) -> (B, S, d), or (B, Sq, d) for the rows in `query_rows`."""
        normed = self.attn_norm(x)
        residual = x if query_rows is None else x[:, query_rows]
        h = residual + self.attn_dropout(self.attn(normed, allowed, query_rows))
        return h + self.ffn(self.ffn_norm(h))


def sequence_init(length: int, d_model: int) -> torch.Tensor:
    """(length, d) initial learned positions or shared tokens: xavier-uniform over a (1, length, d)
    tensor, as the original does (fan_in = length * d, fan_out = d). A 2-D (length, d) xavier would be
    ~4.6x larger at d = 512, length = 21."""
    return nn.init.xavier_uniform_(torch.empty(1, length, d_model))[0]
