"""build_examples and select_examples on in-memory transactions, against a hand-written per-customer loop."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from mtstrec.data.sequences import build_examples, monthly_candidates, select_examples
from mtstrec.data.split import CutDates


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


def reference_examples(frame: pl.DataFrame, max_len: int, max_targets: int, min_len: int) -> list[tuple]:
    """The protocol written out as a per-customer loop: (user, history, targets, target_date, last_day)."""
    out = []
    for user in sorted(set(frame["user_id"])):
        rows = [(d, i) for d, u, i in frame.select("date", "user_id", "item_index").rows() if u == user]
        days = sorted({d for d, _ in rows})
        for day in days:
            history = [i for d, i in rows if d < day]
            targets: list[int] = []
            for d, i in rows:
                if d == day and i not in targets:
                    targets.append(i)
            if len(history) >= max(min_len, 1):
                out.append((user, history[-max_len:], targets[:max_targets], day, day == days[-1]))
    return sorted(out, key=lambda row: (row[3], row[0]))


def built(tx: pl.LazyFrame, max_len: int, max_targets: int, min_len: int) -> list[tuple]:
    frame = build_examples(tx, max_len, max_targets, min_len).frame
    return frame.select("user_id", "history", "targets", "target_date", "last_day").rows()


@pytest.mark.parametrize(("max_len", "max_targets", "min_len"), [(2, 2, 1), (20, 50, 2), (3, 1, 3)])
def test_every_day_matches_the_per_customer_loop(max_len, max_targets, min_len):
    assert built(TX, max_len, max_targets, min_len) == reference_examples(TX.collect(), max_len, max_targets, min_len)


def test_every_day_matches_the_loop_on_random_streams():
    rng = np.random.default_rng(7)
    rows = sorted(
        ((date(2020, 1, 1) + timedelta(days=int(d))).isoformat(), f"u{u}", int(i))
        for d, u, i in zip(rng.integers(0, 40, 600), rng.integers(0, 30, 600), rng.integers(1, 25, 600), strict=True)
    )
    rows.sort(key=lambda row: row[0])  # chronological file order; within a day, any order
    tx = transactions(rows)
    assert built(tx, 5, 3, 2) == reference_examples(tx.collect(), 5, 3, 2)


def test_history_dates_and_counts():
    examples = build_examples(TX, max_len=2, max_targets=2, min_len=1)
    last = examples.frame.row(-1, named=True)
    assert (last["user_id"], last["history"], last["targets"]) == ("a", [6, 7], [9, 8])
    assert last["last_history_date"] == date(2020, 1, 2)
    # a: 3 days (2 examples), b: 2 days (1), c: 1 day; no day is short at min_len 1.
    assert (examples.customers, examples.single_day_customers, examples.short_history_days) == (3, 1, 0)
    assert build_examples(TX, 20, 50, min_len=2).short_history_days == 1  # b on Jan 2 (one item before it)


def test_two_ids_with_one_hash_still_build_two_customers(monkeypatch):
    monkeypatch.setattr(pl.Expr, "hash", lambda self, *args, **kwargs: pl.lit(0, pl.UInt64))
    assert built(TX, 2, 2, 1) == reference_examples(TX.collect(), 2, 2, 1)


def test_select_examples_modes():
    frame = build_examples(TX, max_len=20, max_targets=50, min_len=1).frame
    cuts = CutDates(val_start=date(2020, 1, 2), test_start=date(2020, 1, 3))

    def kept(train, evaluation):
        chosen = select_examples(frame, cuts, train, evaluation)
        return sorted(chosen.select("split", "user_id", "target_date").rows())

    jan2, jan3 = date(2020, 1, 2), date(2020, 1, 3)
    # Nothing targets a day before Jan 2, so train is empty; a and b each have a val day, a a test day.
    assert kept("every_day", "last_day") == [("test", "a", jan3), ("val", "a", jan2), ("val", "b", jan2)]
    cuts = CutDates(val_start=date(2020, 1, 3), test_start=date(2020, 2, 1))
    # every_day trains on a's and b's Jan 2 although a is still active in validation; last_day only on b's.
    assert kept("every_day", "last_day") == [("train", "a", jan2), ("train", "b", jan2), ("val", "a", jan3)]
    assert kept("last_day", "last_day") == [("train", "b", jan2), ("val", "a", jan3)]


def test_eval_every_day_keeps_every_day_in_the_window():
    frame = build_examples(TX, max_len=20, max_targets=50, min_len=1).frame
    cuts = CutDates(val_start=date(2020, 1, 2), test_start=date(2020, 3, 1))
    last = select_examples(frame, cuts, "every_day", "last_day").filter(pl.col("split") == "val")
    every = select_examples(frame, cuts, "every_day", "every_day").filter(pl.col("split") == "val")
    assert sorted(last.select("user_id", "target_date").rows()) == [("a", date(2020, 1, 3)), ("b", date(2020, 1, 2))]
    assert sorted(every.select("user_id", "target_date").rows()) == [
        ("a", date(2020, 1, 2)), ("a", date(2020, 1, 3)), ("b", date(2020, 1, 2))
    ]


def test_monthly_candidates():
    months = monthly_candidates(TX)
    assert {m: f["item_index"].to_list() for m, f in months.items()} == {
        "2020-01": [1, 2, 4, 5, 6, 7, 8, 9],
        "2020-02": [3],
    }
