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

import warnings
from dataclasses import dataclass
from typing import Protocol

import torch

from mtstrec.schemas import PADDING_INDEX
from mtstrec.serving.config import RankingMethod

__all__ = ["RankingMethod", "TopK", "build_ranker"]
NEG_INF = float("-inf")


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


class ExactRanker:
    """Full fp32 scores for every item, then top-k."""

    method: RankingMethod = "exact"

    def __init__(self, item_matrix: torch.Tensor) -> None:
        self.item_matrix = item_matrix  # (N+1, D), rows L2-normalised

    def top_k(self, users: torch.Tensor, k: int, exclude: torch.Tensor | None = None) -> TopK:
        scores = _mask(users @ self.item_matrix.T, exclude)  # (B, N+1)
        values, items = torch.topk(scores, min(k, scores.shape[1]), dim=1)
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
