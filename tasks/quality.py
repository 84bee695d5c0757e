"""Pipeline step: data-quality gate on bronze, run after ingest (checks in sql/quality/)."""

from __future__ import annotations

from datetime import date

from mtstrec.config import PipelineConfig
from mtstrec.data.bronze import partition_dates, scan_transactions
from mtstrec.data.ingest import date_window
from mtstrec.data.item_registry import read_registry
from mtstrec.data.sql_checks import run_checks
from mtstrec.schemas import TRANSACTIONS


def check_bronze(cfg: PipelineConfig, logical_date: date | None) -> dict:
    """Check the bronze partitions the ingest run for `logical_date` wrote, and the item registry.

    Raises DataQualityError naming the failing check and its offending rows.
    """
    dataset = cfg.dataset_storage().undated()
    start, end = date_window(logical_date, cfg.ingest.window_days)
    if partition_dates(dataset, start, end):
        transactions = scan_transactions(dataset, start, end).collect().to_arrow().cast(TRANSACTIONS)
    else:  # a day without sales is not a quality failure
        transactions = TRANSACTIONS.empty_table()
    items = read_registry(dataset)
    checks = run_checks("quality", {"transactions": transactions, "items": items})
    return {
        "logical_date": logical_date.isoformat() if logical_date else None,
        "transactions_checked": transactions.num_rows,
        "items_checked": items.num_rows,
        "checks": checks,
    }
