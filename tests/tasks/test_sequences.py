"""Sequences on the hand-written golden dataset: expected items, examples, split and candidates by hand."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from mtstrec.config import ModelConfig, PipelineConfig
from mtstrec.data.config import IngestConfig, SequenceConfig
from mtstrec.data.sql_checks import DataQualityError
from tasks.ingest import ingest
from tasks.sequences import build_sequences

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
# Items by first sale (C, D on Jan 2; A, B on Jan 5; E on Jan 9; F on Mar 2), ties by id.
C, D, A, B, E, F = 1, 2, 3, 4, 5, 6


@pytest.fixture
def golden_raw(tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    shutil.copytree(GOLDEN, raw)
    (raw / "img").mkdir()
    (raw / "img" / "a.jpg").write_bytes(b"\xff\xd8 not decoded by ingest")
    return raw


def golden_config(tmp_path: Path, raw: Path, max_len: int = 20, **split) -> PipelineConfig:
    return PipelineConfig(
        root=str(tmp_path / "root"),
        dataset="golden",
        ingest=IngestConfig(raw=str(raw), layout="generic"),
        sequences=SequenceConfig(**split),
        model=ModelConfig(max_len=max_len),
    )


def read_split(tmp_path: Path, split: str, snapshot: str = "") -> list[tuple]:
    """Rows of a split: the undated one, or the one in the snapshot of date `snapshot`."""
    dataset = tmp_path / "root" / "golden"
    if snapshot:
        dataset = dataset / "snapshots" / f"date={snapshot}"
    frame = pl.read_parquet(dataset / "sequences" / f"{split}.parquet")
    return frame.select("user_id", "history", "targets", "target_date").rows()


def test_golden_bronze_items_and_prices(tmp_path, golden_raw):
    summary = ingest(golden_config(tmp_path, golden_raw), None)
    assert (summary["rows_in"], summary["rows_written"], summary["rows_quarantined"]) == (25, 24, 1)
    assert summary["quarantined_by_reason"] == {"duplicate row": 1}
    items = pl.read_parquet(tmp_path / "root" / "golden" / "bronze" / "items" / "part-0.parquet")
    assert items.select("item_index", "item_id").rows() == [(C, "C"), (D, "D"), (A, "A"), (B, "B"), (E, "E"), (F, "F")]
    assert items["image_path"].to_list() == [None, None, str(golden_raw / "img" / "a.jpg"), None, None, None]
    assert items.filter(pl.col("item_id") == "C")["description"].to_list() == [""]
    assert dict(items.filter(pl.col("item_id") == "A")["attributes"].to_list()[0]) == {"colour": "white"}
    tx = pl.read_parquet(tmp_path / "root" / "golden" / "bronze" / "transactions" / "*" / "*.parquet")
    # A has no event price: 10.0 x (1 - 0.2); D: 5.0 x (1 - 0.5); given prices are kept.
    u1_jan5 = tx.filter((pl.col("user_id") == "u1") & (pl.col("date") == date(2020, 1, 5)))
    assert u1_jan5.select("item_index", "price").rows() == [(A, 8.0), (B, 20.0)]
    assert tx.filter((pl.col("user_id") == "u5") & (pl.col("item_index") == D))["price"].to_list() == [2.5]


def test_golden_sequences_split_and_candidates(tmp_path, golden_raw):
    cfg = golden_config(tmp_path, golden_raw, val_start="2020-02-15", test_start="2020-03-10")
    ingest(cfg, None)
    summary = build_sequences(cfg, None)
    assert read_split(tmp_path, "train") == [
        ("u5", [C, D, E], [A], date(2020, 1, 25)),
        ("u1", [A, B, C], [D, E], date(2020, 2, 3)),  # D bought twice on the target day, at two prices
    ]
    assert read_split(tmp_path, "val") == [("u2", [B, C, A], [F], date(2020, 3, 2))]  # epoch seconds = Jan 20
    assert read_split(tmp_path, "test") == [("u6", [A, B, C, D], [B], date(2020, 3, 15))]
    # u3 bought on one day only; u5 on Jan 9, u1 on Jan 10, u2 on Jan 20 and u4 on Feb 1 have short histories.
    assert (summary["customers"], summary["single_day_customers"], summary["short_history_days"]) == (6, 1, 4)
    split = json.loads((tmp_path / "root" / "golden" / "sequences" / "split.json").read_text())
    assert (split["val_start"], split["test_start"]) == ("2020-02-15", "2020-03-10")
    assert split["counts"] == {"train": 2, "val": 1, "test": 1}
    candidates = tmp_path / "root" / "golden" / "candidates"
    assert sorted(p.name for p in candidates.iterdir()) == [f"month=2020-0{m}.parquet" for m in (1, 2, 3)]
    month = {m: pl.read_parquet(candidates / f"month=2020-0{m}.parquet")["item_index"].to_list() for m in (1, 2, 3)}
    assert month == {1: [1, 2, 3, 4, 5], 2: [1, 2, 3, 4, 5], 3: [B, F]}


def test_fraction_split_matches_hand_computed_cut_dates(tmp_path, golden_raw):
    cfg = golden_config(tmp_path, golden_raw, val_fraction=0.25, test_fraction=0.25)
    ingest(cfg, None)
    summary = build_sequences(cfg, None)
    # Target dates Jan 25, Feb 3, Mar 2, Mar 15: the last quarter starts Mar 15, the last half Mar 2.
    assert (summary["val_start"], summary["test_start"]) == ("2020-03-02", "2020-03-15")
    assert summary["counts"] == {"train": 2, "val": 1, "test": 1}


def test_history_keeps_the_last_max_len_items(tmp_path, golden_raw):
    cfg = golden_config(tmp_path, golden_raw, max_len=3, val_start="2020-02-15", test_start="2020-03-10")
    ingest(cfg, None)
    build_sequences(cfg, None)
    assert read_split(tmp_path, "test") == [("u6", [B, C, D], [B], date(2020, 3, 15))]


def test_logical_date_builds_from_the_days_up_to_it(tmp_path, golden_raw):
    cfg = golden_config(tmp_path, golden_raw, val_fraction=0.0, test_fraction=0.0)
    ingest(cfg, None)
    summary = build_sequences(cfg, date(2020, 2, 5))
    # Up to Feb 5: u1 (Feb 3) and u5 (Jan 25) qualify; u6 has not bought yet.
    assert read_split(tmp_path, "train", "2020-02-05") == [
        ("u5", [C, D, E], [A], date(2020, 1, 25)),
        ("u1", [A, B, C], [D, E], date(2020, 2, 3)),
    ]
    # u3 bought on one day; u5 (Jan 9), u1 (Jan 10), u2 (Jan 20) and u4 (Feb 1) have histories under 3 items.
    assert (summary["customers"], summary["single_day_customers"], summary["short_history_days"]) == (5, 1, 4)
    snapshot = tmp_path / "root" / "golden" / "snapshots" / "date=2020-02-05"
    assert sorted(p.name for p in (snapshot / "candidates").iterdir()) == ["month=2020-01.parquet",
                                                                          "month=2020-02.parquet"]
    # The date's catalog: the items first sold by Feb 5, numbered as in the registry.
    catalog = pl.read_parquet(snapshot / "bronze" / "items" / "part-0.parquet")
    registry = pl.read_parquet(tmp_path / "root" / "golden" / "bronze" / "items" / "part-0.parquet")
    assert catalog.height < registry.height
    assert catalog.equals(registry.filter(pl.col("first_seen") <= date(2020, 2, 5)))
    assert not (tmp_path / "root" / "golden" / "sequences").exists()  # the undated files are untouched


def test_single_purchase_day_customer_is_counted_not_an_error(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "items.csv").write_text("item_id,title,description\nx,X,\ny,Y,\nz,Z,\n")
    rows = ["only,x,2020-05-01", "only,y,2020-05-01", "many,x,2020-05-01", "many,y,2020-05-02", "many,z,2020-05-03",
            "many,x,2020-05-04", "many,y,2020-05-09"]
    (raw / "events.csv").write_text("user_id,item_id,timestamp\n" + "\n".join(rows) + "\n")
    cfg = golden_config(tmp_path, raw, val_fraction=0.0, test_fraction=0.0)
    ingest(cfg, None)
    summary = build_sequences(cfg, None)
    assert summary["single_day_customers"] == 1
    assert summary["counts"] == {"train": 2, "val": 0, "test": 0}
    assert read_split(tmp_path, "train") == [
        ("many", [1, 2, 3], [1], date(2020, 5, 4)),
        ("many", [1, 2, 3, 1], [2], date(2020, 5, 9)),
    ]


def test_no_examples_at_all_is_a_clear_error(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "items.csv").write_text("item_id,title,description\nx,X,\n")
    (raw / "events.csv").write_text("user_id,item_id,timestamp\nonly,x,2020-05-01\n")
    cfg = golden_config(tmp_path, raw)
    ingest(cfg, None)
    with pytest.raises(ValueError, match="no examples to split"):
        build_sequences(cfg, None)


def test_a_failing_check_names_the_check_and_the_rows(tmp_path, golden_raw):
    cfg = golden_config(tmp_path, golden_raw, val_start="2020-02-15", test_start="2020-03-10")
    ingest(cfg, None)
    items_file = tmp_path / "root" / "golden" / "bronze" / "items" / "part-0.parquet"
    items = pl.read_parquet(items_file)
    items.filter(pl.col("item_id") != "F").write_parquet(items_file)  # F (index 6) disappears from the registry
    with pytest.raises(DataQualityError, match=r"'item_indexes_known' failed: 1 offending row\(s\).*'item_index': 6"):
        build_sequences(cfg, None)
    assert not (tmp_path / "root" / "golden" / "sequences" / "split.json").exists()


def test_generic_parquet_with_typed_columns_ingests_like_the_csv(tmp_path, golden_raw):
    parquet_raw = tmp_path / "parquet_raw"
    shutil.copytree(golden_raw, parquet_raw)
    events = pl.read_csv(golden_raw / "events.csv", infer_schema=False)
    typed = events.with_columns(
        pl.col("timestamp").str.slice(0, 10).str.to_date(strict=False)
        .fill_null(pl.date(2020, 1, 20))  # the epoch-seconds row
        .cast(pl.Datetime("us")),
        pl.col("price").cast(pl.Float64),
    )
    (parquet_raw / "events.csv").unlink()
    typed.write_parquet(parquet_raw / "events.parquet")
    csv_cfg = golden_config(tmp_path / "csv", golden_raw, val_start="2020-02-15", test_start="2020-03-10")
    parquet_cfg = golden_config(tmp_path / "pq", parquet_raw, val_start="2020-02-15", test_start="2020-03-10")
    for cfg in (csv_cfg, parquet_cfg):
        ingest(cfg, None)
        build_sequences(cfg, None)
    for split in ("train", "val", "test"):
        assert read_split(tmp_path / "pq", split) == read_split(tmp_path / "csv", split)


def test_every_day_and_last_day_on_golden_with_short_histories_allowed(tmp_path, golden_raw):
    split = {"val_start": "2020-02-15", "test_start": "2020-03-10", "min_len": 1}
    every = golden_config(tmp_path / "every", golden_raw, **split)
    ingest(every, None)
    build_sequences(every, None)
    # Every purchase day with any history, before val_start (u6 is still active in test: it counts).
    assert read_split(tmp_path / "every", "train") == [
        ("u5", [C, D], [E], date(2020, 1, 9)),
        ("u1", [A, B], [C], date(2020, 1, 10)),
        ("u2", [B], [C, A], date(2020, 1, 20)),
        ("u5", [C, D, E], [A], date(2020, 1, 25)),
        ("u4", [A], [B], date(2020, 2, 1)),
        ("u1", [A, B, C], [D, E], date(2020, 2, 3)),
    ]
    last = golden_config(tmp_path / "last", golden_raw, train_examples="last_day", **split)
    ingest(last, None)
    build_sequences(last, None)
    # The paper's form: only customers whose last purchase day is before val_start.
    assert read_split(tmp_path / "last", "train") == [
        ("u5", [C, D, E], [A], date(2020, 1, 25)),
        ("u4", [A], [B], date(2020, 2, 1)),
        ("u1", [A, B, C], [D, E], date(2020, 2, 3)),
    ]
    for root in ("every", "last"):
        assert read_split(tmp_path / root, "val") == [("u2", [B, C, A], [F], date(2020, 3, 2))]
        assert read_split(tmp_path / root, "test") == [("u6", [A, B, C, D], [B], date(2020, 3, 15))]


def per_customer_loop(tx: list[tuple[date, str, int]], cfg: PipelineConfig) -> dict[str, list[tuple]]:
    """The protocol written out by hand, customer by customer, over bronze rows in file order."""
    seq, val_start, test_start = cfg.sequences, date.fromisoformat(cfg.sequences.val_start), \
        date.fromisoformat(cfg.sequences.test_start)
    out: dict[str, list[tuple]] = {"train": [], "val": [], "test": []}
    for user in sorted({u for _, u, _ in tx}):
        rows = [(d, i) for d, u, i in tx if u == user]
        days = sorted({d for d, _ in rows})
        examples = {"train": [], "val": [], "test": []}
        for day in days:
            history = [i for d, i in rows if d < day]
            if len(history) < seq.min_len:
                continue
            targets: list[int] = []
            for d, i in rows:
                if d == day and i not in targets:
                    targets.append(i)
            split = "train" if day < val_start else "val" if day < test_start else "test"
            if split == "train" and seq.train_examples == "last_day" and day != days[-1]:
                continue
            examples[split].append((user, history[-cfg.model.max_len:], targets[: seq.max_targets], day))
        for split, rows_of_split in examples.items():
            if split != "train" and seq.eval_examples == "last_day":
                rows_of_split = rows_of_split[-1:]
            out[split] += rows_of_split
    return {split: sorted(rows, key=lambda row: (row[3], row[0])) for split, rows in out.items()}


# Cut dates per mode: with every_day, u1 has two purchase days in validation (Jan 10, Feb 3); with last_day,
# training keeps u5's and u4's last days although u5, u1 and u2 have earlier days before val_start.
@pytest.mark.parametrize(
    ("train_examples", "eval_examples", "max_len", "min_len", "max_targets", "val_start"),
    [("every_day", "last_day", 20, 1, 50, "2020-01-10"), ("every_day", "every_day", 2, 2, 1, "2020-01-10"),
     ("last_day", "last_day", 3, 1, 2, "2020-02-02"), ("last_day", "every_day", 20, 3, 50, "2020-02-02")],
)
def test_golden_examples_match_a_per_customer_loop(tmp_path, golden_raw, train_examples, eval_examples, max_len,
                                                    min_len, max_targets, val_start):
    cfg = golden_config(tmp_path, golden_raw, max_len=max_len, val_start=val_start, test_start="2020-03-01",
                        train_examples=train_examples, eval_examples=eval_examples, min_len=min_len,
                        max_targets=max_targets)
    ingest(cfg, None)
    build_sequences(cfg, None)
    parts = sorted((tmp_path / "root" / "golden" / "bronze" / "transactions").glob("date=*/*.parquet"))
    tx = [row for part in parts for row in pl.read_parquet(part).select("date", "user_id", "item_index").rows()]
    expected = per_customer_loop(tx, cfg)
    assert all(expected.values())  # the settings leave examples in every split
    for split in ("train", "val", "test"):
        assert read_split(tmp_path, split) == expected[split], split
