import pytest
import torch
import torch.nn.functional as F

from mtstrec.serving.ranking import ExactRanker, Int8ShortlistRanker, TopK, build_ranker


def catalog(items: int, dim: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(items + 1, dim, generator=gen), dim=-1)  # (N+1, D), row 0 = padding


def users(count: int, dim: int, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(count, dim, generator=gen), dim=-1)


def test_exact_ranker_is_brute_force_without_padding_or_excluded_items():
    matrix, u = catalog(50, 8), users(4, 8)
    exclude = torch.tensor([[3, 7, 0], [0, 0, 0], [1, 2, 3], [9, 0, 0]])
    top = ExactRanker(matrix).top_k(u, 5, exclude)
    scores = u @ matrix.T
    for row in range(4):
        banned = {0, *exclude[row].tolist()}
        expected = sorted((i for i in range(51) if i not in banned), key=lambda i: -scores[row, i])[:5]
        assert top.items[row].tolist() == expected
        assert torch.allclose(top.scores[row], scores[row, expected])


def test_a_row_with_fewer_unexcluded_items_than_k_is_cut_short_never_padded():
    matrix, u = catalog(4, 8), users(2, 8)
    exclude = torch.tensor([[1, 2, 3], [0, 0, 0]])
    for ranker in (ExactRanker(matrix), Int8ShortlistRanker(matrix, shortlist=3)):
        items, scores = ranker.top_k(u, 3, exclude).as_lists()
        assert items[0] == [4] and len(scores[0]) == 1
        assert sorted(items[1]) != [] and 0 not in items[1] and len(items[1]) == 3


def test_int8_shortlist_returns_exact_fp32_scores_and_recalls_the_exact_top_k():
    matrix, u = catalog(5000, 64), users(200, 64)
    exclude = torch.randint(1, 5001, (200, 20), generator=torch.Generator().manual_seed(2))
    exact = ExactRanker(matrix).top_k(u, 10, exclude)
    approx = Int8ShortlistRanker(matrix, shortlist=100).top_k(u, 10, exclude)
    hits = sum(len(set(a) & set(e)) for a, e in zip(approx.items.tolist(), exact.items.tolist(), strict=True))
    assert hits / exact.items.numel() >= 0.99
    rescored = torch.einsum("bd,bkd->bk", u, matrix[approx.items])
    assert torch.allclose(approx.scores, rescored)
    assert not set(approx.items.flatten().tolist()) & {0}
    for row in range(200):
        assert not set(approx.items[row].tolist()) & set(exclude[row].tolist())


def test_as_lists_drops_minus_infinity_fillers():
    top = TopK(torch.tensor([[0.9, float("-inf")]]), torch.tensor([[5, 0]]))
    assert top.as_lists() == ([[5]], [[pytest.approx(0.9)]])


def test_unknown_ranking_method_is_a_clear_error():
    with pytest.raises(ValueError, match=r"serve\.ranking"):
        build_ranker(catalog(3, 4), "fp8")  # type: ignore[arg-type]
