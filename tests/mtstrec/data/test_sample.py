"""The synthetic H&M-layout sample: layout, determinism, gaps and planted signal."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pytest
from PIL import Image

from mtstrec.cli import main
from mtstrec.data.sample import PRESETS, generate_sample


def digest(folder: Path) -> dict[str, str]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("tiny")
    return out, generate_sample(str(out), "tiny", seed=0)


def test_tiny_writes_the_hm_layout(tiny):
    out, summary = tiny
    tx = pl.read_csv(out / "transactions_train.csv", infer_schema=False)
    articles = pl.read_csv(out / "articles.csv", infer_schema=False)
    assert tx.columns == ["t_dat", "customer_id", "article_id", "price", "sales_channel_id"]
    assert {"article_id", "prod_name", "product_type_name", "colour_group_name", "graphical_appearance_name",
            "detail_desc"} <= set(articles.columns)
    assert summary["customers"] == PRESETS["tiny"].customers and summary["articles"] == articles.height
    assert summary["transactions"] == tx.height
    assert tx["customer_id"].str.contains(r"^[0-9a-f]{64}$").all()
    assert articles["article_id"].str.contains(r"^\d{10}$").all()
    images = sorted(out.glob("images/*/*.jpg"))
    assert len(images) == articles.height - summary["articles_without_image"]
    assert all(p.parent.name == p.stem[:3] for p in images)
    assert Image.open(images[0]).size == (PRESETS["tiny"].image_size,) * 2


def test_some_articles_lack_an_image_or_a_description(tiny):
    out, summary = tiny
    articles = pl.read_csv(out / "articles.csv", infer_schema=False)
    without_image = [a for a in articles["article_id"] if not (out / "images" / a[:3] / f"{a}.jpg").exists()]
    assert len(without_image) == summary["articles_without_image"] > 0
    assert articles["detail_desc"].is_null().sum() == summary["articles_without_description"] > 0


def test_same_seed_same_bytes_other_seed_other_data(tmp_path, tiny):
    out, _ = tiny
    generate_sample(str(tmp_path / "again"), "tiny", seed=0)
    generate_sample(str(tmp_path / "other"), "tiny", seed=1)
    assert digest(tmp_path / "again") == digest(out)
    assert digest(tmp_path / "other")["transactions_train.csv"] != digest(out)["transactions_train.csv"]


def test_text_states_type_colour_and_pattern(tiny):
    out, _ = tiny
    articles = pl.read_csv(out / "articles.csv", infer_schema=False).filter(pl.col("detail_desc").is_not_null())
    for row in articles.iter_rows(named=True):
        text = row["detail_desc"].lower()
        assert row["product_type_name"].lower() in text
        assert row["colour_group_name"].lower() in text
        assert row["graphical_appearance_name"].lower() in text


def test_planted_signal_prices_and_baskets(tiny):
    out, _ = tiny
    tx = pl.read_csv(out / "transactions_train.csv", schema_overrides={"article_id": pl.String, "t_dat": pl.Date})
    articles = pl.read_csv(out / "articles.csv", infer_schema=False)
    joined = tx.join(articles, on="article_id")
    # A customer's most bought colour takes far more than the 1/8 share of random buying.
    top_share = (
        joined.group_by("customer_id", "colour_group_name").len()
        .group_by("customer_id").agg((pl.col("len").max() / pl.col("len").sum()).alias("share"))
    )
    assert top_share["share"].mean() > 0.35
    # Discounts: many articles sell at more than one price.
    assert (tx.group_by("article_id").agg(pl.col("price").n_unique())["price"] > 1).sum() > 20
    # About six months, with several items on one day for many customers.
    assert 170 <= (tx["t_dat"].max() - tx["t_dat"].min()).days <= 190
    per_day = tx.group_by("customer_id", "t_dat").len()
    assert (per_day["len"] > 1).mean() > 0.3


def test_cli_sample_data(tmp_path, capsys):
    assert main(["sample-data", "--preset", "tiny", "--out", str(tmp_path / "s"), "--seed", "3"]) == 0
    assert '"preset": "tiny"' in capsys.readouterr().out
    assert (tmp_path / "s" / "transactions_train.csv").exists()


def test_cli_runs_sample_ingest_and_sequences(tmp_path, capsys):
    raw, root = str(tmp_path / "raw"), str(tmp_path / "lake")
    assert main(["sample-data", "--out", raw]) == 0
    assert main(["ingest", "--root", root, "--dataset", "tiny", "--raw", raw, "--layout", "hm"]) == 0
    assert main(["sequences", "--root", root, "--dataset", "tiny"]) == 0
    printed = capsys.readouterr().out
    assert '"rows_quarantined"' in printed and '"val_start"' in printed
    assert (tmp_path / "lake" / "tiny" / "sequences" / "split.json").exists()
    assert main(["ingest", "--root", root, "--dataset", "tiny", "--raw", str(tmp_path / "none")]) == 2
