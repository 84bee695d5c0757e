"""Ingest: H&M layout bad inputs (one test each), idempotency, windows and stable indexes."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from mtstrec.config import PipelineConfig
from mtstrec.data import validation as reasons
from mtstrec.data.config import IngestConfig
from mtstrec.data.raw_tables import RawInputError
from mtstrec.data.sample import generate_sample
from tasks.ingest import ingest

HEADER = "t_dat,customer_id,article_id,price,sales_channel_id\n"
ALICE = "a" * 64
BOB = "b" * 64


@pytest.fixture(scope="module")
def tiny_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny_raw")
    generate_sample(str(out), "tiny", seed=0)
    return out


@pytest.fixture
def articles(tiny_sample: Path) -> list[str]:
    return pl.read_csv(tiny_sample / "articles.csv", infer_schema=False)["article_id"].to_list()


def make_raw(tmp_path: Path, tiny_sample: Path, transactions: bytes) -> Path:
    """A raw H&M folder: the tiny sample's articles and images, and the given transactions file."""
    raw = tmp_path / "raw"
    shutil.copytree(tiny_sample, raw, ignore=shutil.ignore_patterns("transactions_train.csv"))
    (raw / "transactions_train.csv").write_bytes(transactions)
    return raw


def config(tmp_path: Path, raw: Path, window_days: int = 0) -> PipelineConfig:
    ingest_cfg = IngestConfig(raw=str(raw), layout="hm", window_days=window_days)
    return PipelineConfig(root=str(tmp_path / "root"), dataset="t", ingest=ingest_cfg)


def quarantined(tmp_path: Path, run: str = "all") -> pl.DataFrame:
    return pl.read_parquet(tmp_path / "root" / "t" / "quarantine" / "ingest" / f"{run}.parquet")


def bronze(tmp_path: Path) -> pl.DataFrame:
    return pl.read_parquet(tmp_path / "root" / "t" / "bronze" / "transactions" / "*" / "*.parquet")


def assert_reconciles(summary: dict) -> None:
    assert summary["rows_in"] == summary["rows_written"] + summary["rows_quarantined"]
    assert sum(summary["quarantined_by_reason"].values()) >= summary["rows_quarantined"]


def run_rows(tmp_path: Path, tiny_sample: Path, body: str | bytes) -> dict:
    data = body if isinstance(body, bytes) else body.encode()
    raw = make_raw(tmp_path, tiny_sample, HEADER.encode() + data)
    summary = ingest(config(tmp_path, raw), None)
    assert_reconciles(summary)
    return summary


def test_tiny_sample_ingests_with_only_duplicate_rows_quarantined(tmp_path, tiny_sample):
    summary = ingest(config(tmp_path, tiny_sample), None)
    assert_reconciles(summary)
    assert set(summary["quarantined_by_reason"]) == {reasons.DUPLICATE_ROW}
    assert summary["items_total"] == summary["items_new"] == bronze(tmp_path)["item_index"].n_unique()
    assert summary["partitions_written"] == bronze(tmp_path)["date"].n_unique()


def test_missing_column_names_the_file_and_column(tmp_path, tiny_sample, articles):
    raw = make_raw(tmp_path, tiny_sample, f"t_dat,customer_id,article_id\n2020-03-01,{ALICE},{articles[0]}\n".encode())
    with pytest.raises(RawInputError, match=r"transactions_train\.csv: missing required column\(s\) \['price'\]"):
        ingest(config(tmp_path, raw), None)


def test_unparseable_date_is_quarantined_with_its_line(tmp_path, tiny_sample, articles):
    summary = run_rows(
        tmp_path, tiny_sample, f"2020-03-01,{ALICE},{articles[0]},0.01,1\n2020-13-45,{ALICE},{articles[1]},0.01,1\n"
    )
    assert (summary["rows_in"], summary["rows_written"], summary["rows_quarantined"]) == (2, 1, 1)
    rejected = quarantined(tmp_path)
    assert rejected.select("line", "reason").rows() == [(3, reasons.BAD_DATE)]
    assert '"date":"2020-13-45"' in rejected["record"][0]


@pytest.mark.parametrize("price", ["0", "-0.01", "NaN", "inf", "abc"])
def test_zero_negative_nan_or_non_numeric_price_is_quarantined(tmp_path, tiny_sample, articles, price):
    summary = run_rows(
        tmp_path, tiny_sample, f"2020-03-01,{ALICE},{articles[0]},0.01,1\n2020-03-01,{BOB},{articles[1]},{price},1\n"
    )
    assert summary["quarantined_by_reason"] == {reasons.BAD_PRICE: 1}
    assert bronze(tmp_path)["user_id"].to_list() == [ALICE]


def test_transaction_for_unknown_article_is_quarantined(tmp_path, tiny_sample, articles):
    summary = run_rows(
        tmp_path, tiny_sample, f"2020-03-01,{ALICE},{articles[0]},0.01,1\n2020-03-01,{ALICE},0999999999,0.01,1\n"
    )
    assert summary["quarantined_by_reason"] == {reasons.UNKNOWN_ITEM: 1}
    assert summary["items_total"] == 1


def test_duplicate_rows_keep_the_first_and_quarantine_the_rest(tmp_path, tiny_sample, articles):
    row = f"2020-03-01,{ALICE},{articles[0]},0.01,1\n"
    other_price = f"2020-03-01,{ALICE},{articles[0]},0.02,1\n"
    summary = run_rows(tmp_path, tiny_sample, row + row + other_price + row)
    assert summary["quarantined_by_reason"] == {reasons.DUPLICATE_ROW: 2}
    assert quarantined(tmp_path)["line"].to_list() == [3, 5]
    assert sorted(bronze(tmp_path)["price"].to_list()) == [0.01, 0.02]


def test_empty_file_is_a_clear_error(tmp_path, tiny_sample):
    raw = make_raw(tmp_path, tiny_sample, b"")
    with pytest.raises(RawInputError, match=r"transactions_train\.csv: file is empty"):
        ingest(config(tmp_path, raw), None)


def test_header_only_file_ingests_nothing(tmp_path, tiny_sample):
    summary = run_rows(tmp_path, tiny_sample, "")
    assert (summary["rows_in"], summary["partitions_written"], summary["items_total"]) == (0, 0, 0)


def test_non_utf8_bytes_quarantine_that_row_only(tmp_path, tiny_sample, articles):
    good = f"2020-03-01,{ALICE},{articles[0]},0.01,1\n".encode()
    body = good + b"2020-03-01,\xff\xfe" + f"{'c' * 62},{articles[1]},0.01,1\n".encode()
    summary = run_rows(tmp_path, tiny_sample, body)
    assert summary["quarantined_by_reason"] == {reasons.INVALID_UTF8: 1}
    assert quarantined(tmp_path)["line"].to_list() == [3]


def test_truncated_last_line_is_quarantined(tmp_path, tiny_sample, articles):
    body = f"2020-03-01,{ALICE},{articles[0]},0.01,1\n2020-03-02,{BOB},{articles[1][:5]}"
    summary = run_rows(tmp_path, tiny_sample, body)
    assert summary["quarantined_by_reason"] == {f"{reasons.MISSING_FIELD}: price": 1}
    assert summary["rows_written"] == 1


def test_article_without_image_has_null_image_path(tmp_path, tiny_sample):
    summary = ingest(config(tmp_path, tiny_sample), None)
    items = pl.read_parquet(tmp_path / "root" / "t" / "bronze" / "items" / "part-0.parquet")
    missing = items.filter(pl.col("image_path").is_null())
    assert summary["items_without_image"] == missing.height > 0
    for item_id in missing["item_id"]:
        assert not (tiny_sample / "images" / item_id[:3] / f"{item_id}.jpg").exists()
    for path in items["image_path"].drop_nulls():
        assert Path(path).is_absolute() and Path(path).is_file()


def test_article_with_empty_description_is_kept(tmp_path, tiny_sample):
    summary = ingest(config(tmp_path, tiny_sample), None)
    items = pl.read_parquet(tmp_path / "root" / "t" / "bronze" / "items" / "part-0.parquet")
    empty = items.filter(pl.col("description") == "")
    assert summary["items_empty_description"] == empty.height > 0
    assert summary["catalog_rows_quarantined"] == 0
    assert all(title for title in empty["title"])


def test_malformed_customer_and_article_ids_are_quarantined(tmp_path, tiny_sample, articles):
    summary = run_rows(
        tmp_path,
        tiny_sample,
        f"2020-03-01,{ALICE},{articles[0]},0.01,1\n2020-03-01,not-a-customer,{articles[0]},0.01,1\n"
        f"2020-03-01,{ALICE},01-2345,0.01,1\n",
    )
    assert summary["quarantined_by_reason"] == {reasons.BAD_USER_ID: 1, reasons.BAD_ITEM_ID: 1}


def test_nine_digit_article_id_gets_its_leading_zero_back(tmp_path, tiny_sample, articles):
    summary = run_rows(tmp_path, tiny_sample, f"2020-03-01,{ALICE},{articles[0].lstrip('0')},0.01,1\n")
    assert summary["rows_written"] == 1 and summary["items_total"] == 1


def test_bad_channel_is_quarantined(tmp_path, tiny_sample, articles):
    summary = run_rows(tmp_path, tiny_sample, f"2020-03-01,{ALICE},{articles[0]},0.01,web\n")
    assert summary["quarantined_by_reason"] == {reasons.BAD_CHANNEL: 1}


def test_row_with_too_many_fields_is_a_clear_error(tmp_path, tiny_sample, articles):
    raw = make_raw(tmp_path, tiny_sample, (HEADER + f"2020-03-01,{ALICE},{articles[0]},0.01,1,extra\n").encode())
    with pytest.raises(RawInputError, match=r"transactions_train\.csv: malformed input"):
        ingest(config(tmp_path, raw), None)


def test_duplicate_article_in_catalog_is_quarantined(tmp_path, tiny_sample, articles):
    raw = make_raw(tmp_path, tiny_sample, (HEADER + f"2020-03-01,{ALICE},{articles[0]},0.01,1\n").encode())
    lines = (raw / "articles.csv").read_text().splitlines(keepends=True)
    (raw / "articles.csv").write_text("".join([*lines, lines[1]]))
    summary = ingest(config(tmp_path, raw), None)
    assert summary["catalog_rows_quarantined"] == 1
    rejected = quarantined(tmp_path).filter(pl.col("reason") == reasons.DUPLICATE_ITEM)
    assert rejected["line"].to_list() == [len(lines) + 1]


def two_days(articles: list[str]) -> bytes:
    return (
        HEADER
        + f"2020-03-01,{ALICE},{articles[5]},0.01,1\n2020-03-01,{BOB},{articles[3]},0.01,2\n"
        + f"2020-03-02,{ALICE},{articles[9]},0.01,1\n2020-03-02,{BOB},{articles[3]},0.01,1\n"
        + f"2020-03-02,{BOB},{articles[1]},0.01,1\nnot-a-date,{BOB},{articles[1]},0.01,1\n"
    ).encode()


def snapshot(root: Path) -> dict[str, bytes]:
    """Every data file under `root`; leases (`_locks/`) are coordination state, and each run takes a new one."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "_locks" not in p.relative_to(root).parts}


def test_same_logical_date_twice_gives_identical_bytes_and_counts(tmp_path, tiny_sample, articles):
    raw = make_raw(tmp_path, tiny_sample, two_days(articles))
    cfg = config(tmp_path, raw, window_days=1)
    first = ingest(cfg, date(2020, 3, 2))
    before = snapshot(tmp_path / "root")
    second = ingest(cfg, date(2020, 3, 2))
    assert (first["items_new"], second["items_new"]) == (3, 0)
    assert {k: v for k, v in first.items() if k != "items_new"} == {k: v for k, v in second.items() if k != "items_new"}
    assert snapshot(tmp_path / "root") == before
    assert (first["rows_in"], first["rows_written"], first["rows_quarantined"]) == (4, 3, 1)  # 3 rows + undated


def test_a_day_with_new_articles_appends_indexes(tmp_path, tiny_sample, articles):
    raw = make_raw(tmp_path, tiny_sample, two_days(articles))
    cfg = config(tmp_path, raw, window_days=1)
    items_file = tmp_path / "root" / "t" / "bronze" / "items" / "part-0.parquet"
    ingest(cfg, date(2020, 3, 1))
    day_one = pq.read_table(items_file).select(["item_index", "item_id"]).to_pylist()
    summary = ingest(cfg, date(2020, 3, 2))
    after = pq.read_table(items_file).select(["item_index", "item_id", "first_seen"]).to_pylist()
    assert summary["items_new"] == 2
    assert [{k: r[k] for k in ("item_index", "item_id")} for r in after[:2]] == day_one
    assert sorted(day_one, key=lambda r: r["item_id"]) == day_one  # one day: item_id order
    assert [r["item_index"] for r in after] == [1, 2, 3, 4]
    assert sorted(r["item_id"] for r in after[2:]) == sorted([articles[9], articles[1]])
    assert all(r["first_seen"] == date(2020, 3, 2) for r in after[2:])

    # Day by day and all at once number the items alike and write the same partitions.
    other = tmp_path / "other"
    other.mkdir()
    ingest(config(other, raw), None)
    assert pq.read_table(other / "root" / "t" / "bronze" / "items" / "part-0.parquet").equals(pq.read_table(items_file))
    assert snapshot(other / "root" / "t" / "bronze") == snapshot(tmp_path / "root" / "t" / "bronze")


def test_window_limits_the_days_a_run_writes(tmp_path, tiny_sample, articles):
    raw = make_raw(tmp_path, tiny_sample, two_days(articles))
    summary = ingest(config(tmp_path, raw, window_days=1), date(2020, 3, 1))
    assert summary["window"] == ["2020-03-01", "2020-03-01"]
    assert bronze(tmp_path)["date"].unique().to_list() == [date(2020, 3, 1)]
    assert quarantined(tmp_path, "2020-03-01")["reason"].to_list() == [reasons.BAD_DATE]


def test_backfilling_an_older_day_moves_first_seen_but_keeps_indexes(tmp_path, tiny_sample, articles):
    raw = make_raw(tmp_path, tiny_sample, two_days(articles))
    cfg = config(tmp_path, raw, window_days=1)
    items_file = tmp_path / "root" / "t" / "bronze" / "items" / "part-0.parquet"
    ingest(cfg, date(2020, 3, 2))
    before = pq.read_table(items_file).select(["item_index", "item_id"]).to_pylist()
    summary = ingest(cfg, date(2020, 3, 1))
    after = pq.read_table(items_file).to_pylist()
    assert summary["items_new"] == 1  # articles[5]; articles[3] was already registered on Mar 2
    assert [{"item_index": r["item_index"], "item_id": r["item_id"]} for r in after[:3]] == before
    first_seen = {r["item_id"]: r["first_seen"] for r in after}
    assert first_seen[articles[3]] == date(2020, 3, 1) and first_seen[articles[9]] == date(2020, 3, 2)


def test_a_window_day_left_without_rows_loses_its_partition(tmp_path, tiny_sample, articles):
    raw = make_raw(tmp_path, tiny_sample, two_days(articles))
    cfg = config(tmp_path, raw, window_days=2)
    ingest(cfg, date(2020, 3, 2))
    corrected = b"".join(line for line in two_days(articles).splitlines(keepends=True) if b"2020-03-01" not in line)
    (raw / "transactions_train.csv").write_bytes(corrected)
    summary = ingest(cfg, date(2020, 3, 2))
    assert (summary["partitions_written"], summary["partitions_removed"]) == (1, 1)
    assert bronze(tmp_path)["date"].unique().to_list() == [date(2020, 3, 2)]
