"""Row-level validation of raw transactions as polars expressions.

Each check is an (expression that is true for a bad row, reason) pair; a row's
reason is the first check it fails, so every rejected row has exactly one reason.
Parsing turns raw strings into typed columns; a value that does not parse becomes
null and its row is rejected by the matching check.
"""

from __future__ import annotations

import polars as pl

REPLACEMENT_CHAR = "\ufffd"  # what the lossy UTF-8 reader puts in place of invalid bytes
REASON = "reason"

# Reasons, stable strings (docs/data.md lists them).
MISSING_FIELD = "missing field"
INVALID_UTF8 = "invalid UTF-8"
BAD_DATE = "unparseable date"
BAD_USER_ID = "malformed user id"
BAD_ITEM_ID = "malformed item id"
BAD_PRICE = "bad price (not a finite number > 0)"
BAD_DISCOUNT = "bad discount (not in [0, 1))"
BAD_CHANNEL = "bad channel (not an integer 0..127)"
UNKNOWN_ITEM = "unknown item (not in the catalog)"
DUPLICATE_ROW = "duplicate row"
DUPLICATE_ITEM = "duplicate item id in the catalog"

# A general id: no leading/trailing whitespace or control characters, at most 256 characters.
GENERIC_ID_PATTERN = r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]{0,254}[^\s\x00-\x1f\x7f])?$"


def blank(name: str) -> pl.Expr:
    """True where a raw string field is null or only whitespace."""
    return pl.col(name).is_null() | (pl.col(name).str.strip_chars() == "")


def has_invalid_utf8(names: list[str]) -> pl.Expr:
    return pl.any_horizontal([pl.col(n).str.contains(REPLACEMENT_CHAR, literal=True).fill_null(False) for n in names])


def parse_date(name: str) -> pl.Expr:
    """Calendar date of a raw date/timestamp string.

    Accepts `YYYY-MM-DD`, an ISO timestamp starting with it (the date as written,
    i.e. in the source's own time zone), or integer Unix seconds with 9-10 digits
    (a UTC date). Raw values are not stripped here (readers strip where the layout
    allows padding): each check is one cheap vectorised pass at tens of millions of rows.
    """
    text = pl.col(name)
    iso_shaped = (text.str.len_bytes() == 10) | text.str.slice(10, 1).is_in(["T", " "])
    iso = pl.when(iso_shaped).then(text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False))
    seconds = text.cast(pl.Int64, strict=False)
    epoch = pl.when((seconds >= 10**8) & (seconds < 10**10)).then(pl.from_epoch(seconds, time_unit="s").dt.date())
    return pl.coalesce(iso, epoch)


def parse_positive_price(name: str) -> pl.Expr:
    """Float price, or null where it is not a finite number > 0."""
    value = pl.col(name).cast(pl.Float64, strict=False)
    return pl.when(value.is_finite() & (value > 0)).then(value)


def parse_discount(name: str) -> pl.Expr:
    value = pl.col(name).str.strip_chars().cast(pl.Float64, strict=False)
    return pl.when(value.is_finite() & (value >= 0) & (value < 1)).then(value)


def parse_channel(name: str) -> pl.Expr:
    value = pl.col(name).cast(pl.Int64, strict=False)
    return pl.when((value >= 0) & (value <= 127)).then(value).cast(pl.Int8)


def first_failing_reason(checks: list[tuple[pl.Expr, str]]) -> pl.Expr:
    """The reason of the first failing check, or null for a good row."""
    expr = pl.when(checks[0][0]).then(pl.lit(checks[0][1]))
    for bad, reason in checks[1:]:
        expr = expr.when(bad).then(pl.lit(reason))
    return expr.otherwise(pl.lit(None, pl.String)).alias(REASON)
