import pytest
import torch
import torch.nn.functional as F

from mtstrec.serving import ranking
from mtstrec.serving.ranking import ExactRanker, Int8ShortlistRanker, TopK, blocked_topk, build_ranker


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


@pytest.mark.parametrize("width", [16 * 64, 16 * 64 + 13, 100 * 16 + 7])
def test_blocked_topk_gives_torch_topk_values_with_ties_and_masked_rows(width, monkeypatch):
    monkeypatch.setattr(ranking, "TOPK_BLOCK", 16)
    gen = torch.Generator().manual_seed(width)
    scores = torch.randint(0, 40, (64, width), generator=gen).float()  # many ties, within and across blocks
    scores[1] = float("-inf")  # a row with nothing rankable
    scores[2, 5:] = float("-inf")  # a row with fewer than k rankable items
    scores[3, -3:] = 1000.0  # the best items past the last whole block
    values, items = blocked_topk(scores, 10)
    expected, _ = torch.topk(scores, 10, dim=1)
    assert torch.equal(values, expected)
    assert torch.equal(scores.gather(1, items), values)  # each index points at its value
    finite = torch.isfinite(values)
    for row in range(len(scores)):
        assert len(set(items[row][finite[row]].tolist())) == int(finite[row].sum())  # no item twice
    assert set(items[3, :3].tolist()) == {width - 3, width - 2, width - 1}


def test_exact_ranker_reuses_its_score_buffer_and_gives_the_same_answers():
    matrix, u = catalog(3000, 8), users(64, 8)
    ranker = ExactRanker(matrix)
    first = ranker.top_k(u, 12)
    buffer = ranker._local.scores
    smaller = ranker.top_k(u[:5], 12)
    again = ranker.top_k(u, 12)
    assert ranker._local.scores is buffer
    assert torch.equal(again.items, first.items) and torch.equal(smaller.items, first.items[:5])
    scores = u @ matrix.T
    scores[:, 0] = float("-inf")  # padding
    torch.testing.assert_close(first.scores, torch.topk(scores, 12, dim=1).values)


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


def test_int8_with_a_shortlist_covering_the_catalog_agrees_with_exact():
    matrix, u = catalog(300, 16), users(30, 16)
    exclude = torch.randint(0, 301, (30, 5), generator=torch.Generator().manual_seed(3))
    exact = ExactRanker(matrix).top_k(u, 10, exclude)
    approx = Int8ShortlistRanker(matrix, shortlist=301).top_k(u, 10, exclude)
    assert torch.equal(approx.items, exact.items)
    assert torch.allclose(approx.scores, exact.scores)


def test_int8_finds_the_item_a_user_vector_points_at():
    matrix = catalog(2000, 32)
    wanted = torch.arange(1, 2001, 40)  # (50,)
    noise = 0.05 * users(len(wanted), 32, seed=4)
    u = torch.nn.functional.normalize(matrix[wanted] + noise, dim=-1)
    for ranker in (ExactRanker(matrix), Int8ShortlistRanker(matrix, shortlist=20)):
        assert torch.equal(ranker.top_k(u, 1).items[:, 0], wanted)


@pytest.mark.parametrize("make", [ExactRanker, lambda m: Int8ShortlistRanker(m, shortlist=2)])
def test_a_row_with_every_item_excluded_is_empty_and_padding_is_never_returned(make):
    matrix, u = catalog(3, 8), users(2, 8)
    top = make(matrix).top_k(u, 3, torch.tensor([[1, 2, 3], [0, 0, 0]]))
    assert torch.isinf(top.scores[0]).all()
    items, _ = top.as_lists()
    assert items[0] == [] and len(items[1]) == 3 and 0 not in items[1]
