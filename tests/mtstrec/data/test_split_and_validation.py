"""Cut dates of the temporal split, and the parsers behind ingest validation."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from mtstrec.data.config import SequenceConfig
from mtstrec.data.split import CutDates, cut_dates, split_label
from mtstrec.data.validation import parse_channel, parse_date, parse_positive_price

DATES = pl.Series([date(2020, 1, d) for d in (1, 2, 2, 3, 4, 5, 6, 7, 8, 9)])


def test_fractions_cut_on_whole_days():
    cuts = cut_dates(DATES, SequenceConfig(val_fraction=0.2, test_fraction=0.2))
    assert cuts == CutDates(date(2020, 1, 6), date(2020, 1, 8))
    labels = pl.DataFrame({"target_date": DATES}).select(split_label(cuts))["split"].to_list()
    assert labels.count("train") == 6 and labels.count("val") == 2 and labels.count("test") == 2


def test_explicit_cut_dates_win_over_fractions():
    cuts = cut_dates(DATES, SequenceConfig(val_start="2020-01-03", test_start="2020-01-09", val_fraction=0.5))
    assert cuts == CutDates(date(2020, 1, 3), date(2020, 1, 9))


def test_zero_fractions_leave_val_and_test_empty():
    assert cut_dates(DATES, SequenceConfig(val_fraction=0.0, test_fraction=0.0)) == CutDates(
        date(2020, 1, 10), date(2020, 1, 10)
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (SequenceConfig(val_fraction=0.6, test_fraction=0.4), "must be < 1"),
        (SequenceConfig(test_fraction=-0.1), "test_fraction"),
        (SequenceConfig(val_start="2020-01-09", test_start="2020-01-03"), "is after test_start"),
    ],
)
def test_bad_split_configs_are_rejected(config, message):
    with pytest.raises(ValueError, match=message):
        cut_dates(DATES, config)


def test_parse_date_accepts_dates_timestamps_and_epoch_seconds():
    raw = ["2020-03-01", "2020-03-01T23:59:59", "2020-03-01 01:00:00+05:00", "1583020800", "2020-02-30",
           "03/01/2020", "20200301", ""]
    parsed = pl.DataFrame({"d": raw}).select(parse_date("d"))["d"].to_list()
    assert parsed == [date(2020, 3, 1)] * 4 + [None] * 4


def test_parse_price_and_channel():
    frame = pl.DataFrame({"p": ["0.05", "2", "0", "-1", "nan", "inf", "1e400", "x"], "c": ["1", "2", "0", "127",
                                                                                          "128", "-1", "1.5", "web"]})
    parsed = frame.select(parse_positive_price("p"), parse_channel("c"))
    assert parsed["p"].to_list() == [0.05, 2.0, None, None, None, None, None, None]
    assert parsed["c"].to_list() == [1, 2, 0, 127, None, None, None, None]
