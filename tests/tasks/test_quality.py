"""The bronze data-quality gate: passes on clean ingest output, names the check and rows when not."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from mtstrec.config import PipelineConfig
from mtstrec.data.config import IngestConfig
from mtstrec.data.sample import generate_sample
from mtstrec.data.sql_checks import DataQualityError
from tasks.ingest import ingest
from tasks.quality import check_bronze


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> PipelineConfig:
    raw = tmp_path_factory.mktemp("raw")
    generate_sample(str(raw), "tiny", seed=1)
    cfg = PipelineConfig(root=str(tmp_path_factory.mktemp("root")), dataset="q", ingest=IngestConfig(raw=str(raw)))
    ingest(cfg, None)
    return cfg


def partition(cfg: PipelineConfig, day: str) -> Path:
    return Path(cfg.root) / cfg.dataset / "bronze" / "transactions" / f"date={day}" / "part-0.parquet"


def test_clean_bronze_passes_every_check(ingested):
    summary = check_bronze(ingested, None)
    assert summary["transactions_checked"] > 1000
    assert {"transactions_items_known", "transactions_price_positive", "items_index_unique"} <= set(summary["checks"])


def test_logical_date_checks_only_that_window(ingested):
    cfg = PipelineConfig(root=ingested.root, dataset=ingested.dataset, ingest=IngestConfig(window_days=1))
    summary = check_bronze(cfg, date(2020, 3, 1))
    assert summary["transactions_checked"] == pq.read_metadata(partition(ingested, "2020-03-01")).num_rows


def tampered(cfg: PipelineConfig, tmp_path: Path, change: pl.Expr, column: str) -> PipelineConfig:
    """A copy of one day's bronze with a column overwritten, plus the real items."""
    copy = PipelineConfig(root=str(tmp_path), dataset=cfg.dataset, ingest=IngestConfig(window_days=1))
    frame = pl.read_parquet(partition(cfg, "2020-03-01")).with_columns(change.alias(column))
    target = partition(copy, "2020-03-01")
    target.parent.mkdir(parents=True)
    pq.write_table(frame.to_arrow().cast(pq.read_schema(partition(cfg, "2020-03-01"))), target)
    items = Path(cfg.root) / cfg.dataset / "bronze" / "items" / "part-0.parquet"
    (Path(tmp_path) / cfg.dataset / "bronze" / "items").mkdir(parents=True)
    (Path(tmp_path) / cfg.dataset / "bronze" / "items" / "part-0.parquet").write_bytes(items.read_bytes())
    return copy


def test_unknown_item_index_fails_with_the_check_name(ingested, tmp_path):
    cfg = tampered(ingested, tmp_path, pl.lit(9999, pl.Int32), "item_index")
    with pytest.raises(DataQualityError, match=r"transactions_items_known.*'item_index': 9999") as failure:
        check_bronze(cfg, date(2020, 3, 1))
    assert failure.value.check == "transactions_items_known"


def test_non_positive_price_fails_with_the_check_name(ingested, tmp_path):
    cfg = tampered(ingested, tmp_path, pl.lit(-1.0), "price")
    with pytest.raises(DataQualityError, match=r"transactions_price_positive.*'price': -1\.0"):
        check_bronze(cfg, date(2020, 3, 1))


def test_a_window_without_sales_checks_the_items_only(ingested):
    cfg = PipelineConfig(root=ingested.root, dataset=ingested.dataset, ingest=IngestConfig(window_days=1))
    summary = check_bronze(cfg, date(2021, 1, 1))
    assert summary["transactions_checked"] == 0 and summary["items_checked"] > 0
