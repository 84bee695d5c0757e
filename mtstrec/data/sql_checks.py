"""Run the declarative data checks in `sql/<suite>/*.sql` with DuckDB.

Each file is one query that selects the offending rows; the check passes when it
selects none. A query may use `$name` parameters, filled from `params`. Tables
are Arrow tables registered under their names.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import duckdb
import pyarrow as pa

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
SHOWN_ROWS = 10


class DataQualityError(ValueError):
    """A data check found offending rows."""

    def __init__(self, check: str, offending: pa.Table) -> None:
        self.check = check
        self.offending = offending
        shown = offending.slice(0, SHOWN_ROWS).to_pylist()
        count = offending.num_rows
        super().__init__(f"data check {check!r} failed: {count:,} offending row(s), first {len(shown)}: {shown}")


def check_files(suite: str) -> list[Path]:
    folder = SQL_DIR / suite
    files = sorted(folder.glob("*.sql"))
    if not files:
        raise FileNotFoundError(f"no SQL checks in {folder}")
    return files


def run_checks(suite: str, tables: dict[str, pa.Table], params: dict[str, object] | None = None) -> list[str]:
    """Run every check of a suite; return the names that passed, raise DataQualityError on the first failure."""
    params = params or {}
    passed = []
    with duckdb.connect() as con:
        for name, table in tables.items():
            con.register(name, table)
        for path in check_files(suite):
            sql = path.read_text(encoding="utf-8")
            used = {key: params[key] for key in set(re.findall(r"\$(\w+)", sql))}
            offending = con.sql(sql, params=used or None).to_arrow_table()
            if offending.num_rows:
                raise DataQualityError(path.stem, offending)
            passed.append(path.stem)
    log.info("data checks %s passed: %s", suite, ", ".join(passed))
    return passed
