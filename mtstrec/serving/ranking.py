"""Top-k over the cached item matrix: exact fp32, or an int8 shortlist re-ranked exactly.

Both rankers take normalised user vectors (B, D) and return the k best items with their
exact fp32 cosine scores. Padding (row 0) and excluded items are never returned; a row with
fewer than k rankable items is marked by -inf scores, which `TopK.as_lists` drops.

The int8 ranker reads a quarter of the bytes (fp32 -> int8, one scale per item) and
re-ranks a shortlist of `shortlist` items per user with the fp32 matrix. Ranking at the
paper's width is memory bound (the fp32 matrix of 100 k items x 2,049 is 820 MB), so a
quarter of the bytes is most of the speed-up. It is approximate: `bench/ranking_recall.py`
measures its recall of the exact top-k, and the exact ranker stays the default.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from typing import Protocol

import torch

from mtstrec.schemas import PADDING_INDEX
from mtstrec.serving.config import RankingMethod

__all__ = ["RankingMethod", "TopK", "build_ranker"]
NEG_INF = float("-inf")
TOPK_BLOCK = 1024  # items per block of `blocked_topk`


@dataclass
class TopK:
    scores: torch.Tensor  # (B, k) float32 exact cosine; -inf where a row has fewer than k items
    items: torch.Tensor  # (B, k) long item indexes

    def as_lists(self) -> tuple[list[list[int]], list[list[float]]]:
        """Per row, the ranked item indexes and scores, without the -inf fillers."""
        keep = torch.isfinite(self.scores)
        items = [row[mask].tolist() for row, mask in zip(self.items, keep, strict=True)]
        scores = [row[mask].tolist() for row, mask in zip(self.scores, keep, strict=True)]
        return items, scores


class Ranker(Protocol):
    method: RankingMethod

    def top_k(self, users: torch.Tensor, k: int, exclude: torch.Tensor | None = None) -> TopK: ...


def _mask(scores: torch.Tensor, exclude: torch.Tensor | None) -> torch.Tensor:
    """Padding and each row's excluded items (B, E), 0-padded, to -inf, in place."""
    scores[:, PADDING_INDEX] = NEG_INF
    if exclude is not None and exclude.numel():
        scores.scatter_(1, exclude.to(scores.device), NEG_INF)
    return scores


def blocked_topk(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`torch.topk(scores, k, dim=1)` for wide rows (B, W), by searching only the k blocks of `TOPK_BLOCK`
    columns with the highest maxima, and the columns past the last whole block.

    Exact: let t be a row's k-th best score. Fewer than k blocks hold a score above t, and each ranks
    above every block whose maximum is at most t, so all of them are searched; together with the
    searched blocks whose maximum is t, they hold at least k scores >= t. Only which of several tied
    items is returned may differ, as it may for `torch.topk`.
    """
    rows, width = scores.shape
    blocks = width // TOPK_BLOCK
    if blocks <= 4 * k:
        return torch.topk(scores, k, dim=1)
    whole = scores[:, : blocks * TOPK_BLOCK].unflatten(1, (blocks, TOPK_BLOCK))  # (B, G, block), a view
    best = torch.topk(whole.amax(dim=2), k, dim=1).indices  # (B, k) block numbers
    searched = whole[torch.arange(rows, device=scores.device)[:, None], best].flatten(1)  # (B, k * block)
    values, picked = torch.topk(searched, k, dim=1)  # (B, k)
    columns = best.gather(1, picked // TOPK_BLOCK) * TOPK_BLOCK + picked % TOPK_BLOCK
    if width == blocks * TOPK_BLOCK:
        return values, columns
    tail_values, tail_picked = torch.topk(scores[:, blocks * TOPK_BLOCK :], min(k, width - blocks * TOPK_BLOCK), dim=1)
    values, merged = torch.topk(torch.cat([values, tail_values], dim=1), k, dim=1)
    return values, torch.cat([columns, tail_picked + blocks * TOPK_BLOCK], dim=1).gather(1, merged)


class ExactRanker:
    """Full fp32 scores for every item, then top-k.

    The scores go into a buffer kept per thread and reused by the next call: a fresh (1,024 x 105 k)
    buffer per batch is 432 MB of new pages, which on a CPU cost more than the product that fills them.
    """

    method: RankingMethod = "exact"

    def __init__(self, item_matrix: torch.Tensor) -> None:
        self.item_matrix = item_matrix  # (N+1, D), rows L2-normalised
        self._local = threading.local()

    def _scores_buffer(self, rows: int) -> torch.Tensor:
        buffer = getattr(self._local, "scores", None)
        if buffer is None or len(buffer) < rows:
            buffer = self._local.scores = self.item_matrix.new_empty(rows, len(self.item_matrix))
        return buffer[:rows]

    def top_k(self, users: torch.Tensor, k: int, exclude: torch.Tensor | None = None) -> TopK:
        scores = torch.matmul(users, self.item_matrix.T, out=self._scores_buffer(len(users)))  # (B, N+1)
        values, items = blocked_topk(_mask(scores, exclude), min(k, scores.shape[1]))
        return TopK(values, items)


class Int8ShortlistRanker:
    """Approximate scores from an int8 item matrix, exact fp32 re-ranking of the best `shortlist`.

    The int8 product is fbgemm's dynamic quantized linear (per-item weight scales, the user
    vector quantized on the fly), which has AVX2 kernels; torch's `_weight_int8pack_mm` was
    7x slower than the fp32 product on this CPU, fbgemm 6.7x faster.
    """

    method: RankingMethod = "int8"

    def __init__(self, item_matrix: torch.Tensor, shortlist: int = 100) -> None:
        self.item_matrix = item_matrix  # (N+1, D) fp32, rows L2-normalised
        self.shortlist = shortlist
        scales = (item_matrix.abs().amax(dim=1).clamp(min=1e-12) / 127.0).double()  # (N+1,)
        with warnings.catch_warnings():
            # torch marks quantized tensors for removal in a later release; 2.14 (pinned) has them.
            warnings.simplefilter("ignore", UserWarning)
            weight = torch.quantize_per_channel(item_matrix.float(), scales, torch.zeros_like(scales, dtype=torch.long),
                                                0, torch.qint8)
        self.packed = torch.ops.quantized.linear_prepack(weight, None)

    def approximate_scores(self, users: torch.Tensor) -> torch.Tensor:
        """users (B, D) fp32 -> (B, N+1) fp32 scores against the int8 matrix."""
        # reduce_range: 7-bit activations, so that AVX2's int16 accumulation cannot overflow.
        return torch.ops.quantized.linear_dynamic(users.contiguous(), self.packed, True)

    def top_k(self, users: torch.Tensor, k: int, exclude: torch.Tensor | None = None) -> TopK:
        approx = _mask(self.approximate_scores(users), exclude)  # (B, N+1)
        width = min(max(self.shortlist, k), approx.shape[1])
        approx_top, short = torch.topk(approx, width, dim=1)  # (B, C)
        exact = torch.einsum("bd,bcd->bc", users, self.item_matrix[short])  # (B, C)
        exact = exact.masked_fill(torch.isinf(approx_top), NEG_INF)
        values, order = torch.topk(exact, min(k, width), dim=1)  # (B, k)
        return TopK(values, short.gather(1, order))


def build_ranker(item_matrix: torch.Tensor, method: RankingMethod = "exact", shortlist: int = 100) -> Ranker:
    if method == "exact":
        return ExactRanker(item_matrix)
    if method == "int8":
        return Int8ShortlistRanker(item_matrix, shortlist)
    raise ValueError(f"serve.ranking: unknown method {method!r}; choose 'exact' or 'int8'")
