"""Open one raw input table (CSV or Parquet, local or S3) as a lazy frame of strings.

Every raw column is read as a string, so that a bad value becomes a quarantined
row with a reason instead of a failed cast for the whole file. Each row keeps its
1-based line number in the source (`line`) for error messages and quarantine.
"""

from __future__ import annotations

import polars as pl

from mtstrec.storage import Storage

LINE = "line"


class RawInputError(ValueError):
    """A raw input file cannot be read at all (missing, empty, malformed, missing columns)."""


def find_table(raw: Storage, stem: str) -> str:
    """Relative path of `<stem>.csv` or `<stem>.parquet` under the raw root."""
    for name in (f"{stem}.csv", f"{stem}.parquet", f"{stem}.csv.gz"):
        if raw.exists(name):
            return name
    raise RawInputError(f"{raw.uri()}: no {stem}.csv or {stem}.parquet found")


def scan_strings(
    raw: Storage, rel: str, required: list[str], optional: tuple[str, ...] = (), keep_others: bool = False
) -> pl.LazyFrame:
    """Lazy frame of `required` + `optional` columns as strings, plus `line`.

    Raises RawInputError naming the file when it is empty or lacks a required column.
    Optional columns that the file lacks come back as all-null strings; with
    `keep_others`, the file's remaining columns follow as strings too.
    `line` is the record number counting the header as line 1.
    """
    uri = raw.uri(rel)
    options = raw.polars_storage_options()
    if raw.fs.get_file_info(raw.path(rel)).size == 0:
        raise RawInputError(f"{uri}: file is empty (expected a header row with columns {required})")
    try:
        if rel.endswith(".parquet"):
            frame = pl.scan_parquet(uri, storage_options=options)
            header_lines = 0
        else:
            frame = pl.scan_csv(uri, infer_schema=False, encoding="utf8-lossy", storage_options=options)
            header_lines = 1
        columns = frame.collect_schema().names()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise RawInputError(f"{uri}: cannot read: {exc}") from exc
    missing = [name for name in required if name not in columns]
    if missing:
        raise RawInputError(f"{uri}: missing required column(s) {missing}; found {columns}")
    selected = [pl.col(name).cast(pl.String) for name in required]
    selected += [
        pl.col(name).cast(pl.String) if name in columns else pl.lit(None, pl.String).alias(name) for name in optional
    ]
    if keep_others:
        named = {*required, *optional}
        selected += [pl.col(name).cast(pl.String) for name in columns if name not in named]
    return frame.with_row_index(LINE, offset=1 + header_lines).select(pl.col(LINE).cast(pl.Int64), *selected)


def collect(frame: pl.LazyFrame, what: str) -> pl.DataFrame:
    """Collect with the streaming engine, naming the input when polars cannot parse it."""
    try:
        return frame.collect(engine="streaming")
    except pl.exceptions.PolarsError as exc:
        raise RawInputError(f"{what}: malformed input: {exc}") from exc
