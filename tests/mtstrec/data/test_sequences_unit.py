"""build_examples on in-memory transactions: ordering, caps, counts and the hash-collision fallback."""

from __future__ import annotations

from datetime import date

import polars as pl

from mtstrec.data.sequences import _per_customer, build_examples, monthly_candidates


def transactions(rows: list[tuple[str, str, int]]) -> pl.LazyFrame:
    """Rows of (YYYY-MM-DD, user, item) in chronological file order."""
    return pl.LazyFrame(
        {
            "date": [date.fromisoformat(d) for d, _, _ in rows],
            "user_id": [u for _, u, _ in rows],
            "item_index": [i for _, _, i in rows],
        },
        schema_overrides={"item_index": pl.Int32},
    )


TX = transactions(
    [
        ("2020-01-01", "a", 5), ("2020-01-01", "a", 6), ("2020-01-01", "b", 1),
        ("2020-01-02", "a", 7), ("2020-01-02", "b", 2),
        ("2020-01-03", "a", 9), ("2020-01-03", "a", 8), ("2020-01-03", "a", 9), ("2020-01-03", "a", 4),
        ("2020-02-01", "c", 3),
    ]
)


def test_targets_dedup_in_purchase_order_and_are_capped():
    examples = build_examples(TX, max_len=2, max_targets=2, min_len=1)
    rows = examples.frame.rows(named=True)
    assert [r["user_id"] for r in rows] == ["b", "a"]  # sorted by target date, then user
    a = rows[1]
    assert (a["history"], a["targets"], a["target_date"]) == ([6, 7], [9, 8], date(2020, 1, 3))
    assert a["history_dates"] == [date(2020, 1, 1), date(2020, 1, 2)]
    assert (examples.customers, examples.single_day_customers, examples.short_history_customers) == (3, 1, 0)


def test_min_len_counts_short_histories():
    examples = build_examples(TX, max_len=20, max_targets=50, min_len=2)
    assert examples.frame["user_id"].to_list() == ["a"]
    assert (examples.single_day_customers, examples.short_history_customers) == (1, 1)


def test_a_key_shared_by_two_ids_is_detected():
    one_key = _per_customer(TX, pl.lit(0, pl.UInt64), max_len=20, max_targets=50)
    assert one_key["ids_differ"].to_list() == [True]
    by_hash = _per_customer(TX, pl.col("user_id").hash(), max_len=20, max_targets=50)
    assert not by_hash["ids_differ"].any()


def test_monthly_candidates():
    months = monthly_candidates(TX)
    assert {m: f["item_index"].to_list() for m, f in months.items()} == {
        "2020-01": [1, 2, 4, 5, 6, 7, 8, 9],
        "2020-02": [3],
    }
