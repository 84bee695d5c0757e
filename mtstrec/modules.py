"""Transformer building blocks shared by every modality stack."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

_LEVELS = 1 << 16  # keep masks compare 16-bit random integers with a threshold


def _keep_mask(shape: torch.Size, drop_levels: int) -> torch.Tensor:
    """Bool mask of `shape` (on the CPU), each entry False with probability drop_levels / 2^16.

    Each 64-bit random word yields four 16-bit integers, compared with a threshold. The words come from
    numpy's SFC64, seeded by one draw of torch's generator: torch.manual_seed and the checkpointed RNG
    state still decide every mask, at a third of the cost of torch's own 64-bit draws (serial
    mt19937) and a tenth of `bernoulli_` (measured in docs/benchmarks.md).
    """
    numel = shape.numel()
    seed = int(torch.empty((), dtype=torch.int64).random_())
    words = np.random.SFC64(seed).random_raw((numel + 3) // 4)  # (ceil(numel / 4),) uint64
    bits = torch.from_numpy(words.view(np.int16))[:numel].view(shape)
    return bits >= drop_levels - _LEVELS // 2


class _CheapDropout(torch.autograd.Function):
    """x * keep * scale with a cheap mask. In fp32 the mask is stored as floats, already scaled: one
    multiply each way (a bool mask is converted to floats inside every multiply, which cost more than
    the multiply itself). A lower-precision dtype cannot hold the scale exactly, so there the bool mask
    is applied with `where` and the scale multiplied in the dtype's own rounding, as torch's dropout does.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, drop_levels: int) -> torch.Tensor:
        keep = _keep_mask(x.shape, drop_levels)
        ctx.scale = _LEVELS / (_LEVELS - drop_levels)
        ctx.exact_scale = x.dtype in (torch.float32, torch.float64)
        if ctx.exact_scale:
            mask = keep.to(x.dtype).mul_(ctx.scale)
            ctx.save_for_backward(mask)
            return x * mask
        ctx.save_for_backward(keep)
        return torch.where(keep, x, 0.0).mul_(ctx.scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (mask,) = ctx.saved_tensors
        if ctx.exact_scale:
            return grad * mask, None
        return torch.where(mask, grad, 0.0).mul_(ctx.scale), None


class Dropout(nn.Module):
    """Inverted dropout. On a CPU in eager mode the masks come from 16-bit random integers (the drop
    probability rounded to a multiple of 2^-16, and the scale to match, so the expectation is exact);
    elsewhere, and under torch.compile, it is `F.dropout` (fused RNG kernels there)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.drop_levels = round(p * _LEVELS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_levels == 0:
            return x
        if x.device.type != "cpu" or torch.compiler.is_compiling():
            return F.dropout(x, self.p, training=True)
        return _CheapDropout.apply(x, self.drop_levels)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class FeedForward(nn.Module):
    def __init__(self, d_model: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.up = nn.Linear(d_model, hidden)
        self.down = nn.Linear(hidden, d_model)
        self.dropout = Dropout(dropout)

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
        self.weights_dropout = Dropout(dropout)

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
        if self.training and self.dropout > 0 and x.device.type == "cpu" and not torch.compiler.is_compiling():
            # What SDPA's math path does when it drops attention weights, with the cheap masks.
            scores = (q @ k.transpose(-2, -1)) * head_dim**-0.5  # (B, h, Sq, S)
            weights = scores.masked_fill(~allowed, float("-inf")).softmax(dim=-1)
            y = self.weights_dropout(weights) @ v  # (B, h, Sq, hd)
        else:
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
        self.attn_dropout = Dropout(hidden_dropout)
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
