"""The batch step against a real (SQLite) MLflow registry: the champion scores the active customers."""

import json
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mtstrec.cli import main
from mtstrec.schemas import RECOMMENDATIONS
from mtstrec.storage import Storage
from tasks.promote import promote
from tasks.recommend_batch import recommend_batch
from tasks.register import register
from tests.mtstrec.serving.bronze_fixtures import write_transactions
from tests.mtstrec.tracking.tracking_fixtures import NUM_ITEMS, item_id, tiny_config, write_dataset, write_run

DAY = date(2020, 8, 30)
PURCHASES = [
    (date(2020, 1, 10), "ann", 1), (date(2020, 1, 10), "ann", 2),   # ann: old purchases and a recent one
    (date(2020, 8, 1), "ann", 3),
    (date(2020, 8, 29), "bob", 4), (date(2020, 8, 29), "bob", NUM_ITEMS + 1),  # an item newer than the model
    (date(2020, 8, 30), "cy", 5), (date(2020, 8, 30), "cy", 6), (date(2020, 8, 30), "cy", 7),
    (date(2020, 8, 30), "cy", 8), (date(2020, 8, 30), "cy", 9), (date(2020, 8, 30), "cy", 10),
    (date(2020, 8, 30), "cy", 11),                                   # cy: 7 items, more than max_len
    (date(2020, 3, 1), "gone", 12),                                   # not active in the last 90 days
    (date(2020, 8, 31), "dan", 1),                                    # after the logical date
]


def evaluation(run_dir: Path, ndcg: float) -> dict:
    return {"metrics": {"MTSTRec": {"full/ndcg@10": ndcg}}, "validation": {"MTSTRec": {"full/ndcg@10": ndcg}},
            "report": {"markdown": str(run_dir / "report" / "report.md")}, "test_examples": 3}


@pytest.fixture
def shop(tmp_path, monkeypatch):
    """A tiny dataset with bronze transactions, a champion (v1) and a newer rejected version (v2)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = tiny_config(tmp_path / "data")
    cfg.serve.k = 4
    dataset = Storage(cfg.root).child(cfg.dataset)
    snapshot = dataset.dated(DAY.isoformat())  # the date's items, sequences and price features
    write_dataset(snapshot, [[1, 2, 3], [4, 5], [6]])
    write_transactions(dataset, PURCHASES)
    for seed, score in ((0, 0.5), (1, 0.1)):
        run_dir = tmp_path / f"run{seed}"
        write_run(run_dir, cfg, snapshot, seed=seed)
        promote(cfg, DAY, register(cfg, DAY, str(run_dir), evaluation(run_dir, score), {})["version"])
    return cfg, dataset


def read(dataset: Storage, day: date):
    return dataset.read_parquet(f"recommendations/date={day.isoformat()}")


def test_champion_recommends_k_unseen_valid_items_to_every_active_customer(shop):
    cfg, dataset = shop
    summary = recommend_batch(cfg, DAY)

    table = read(dataset, DAY)
    assert table.schema.equals(RECOMMENDATIONS, check_metadata=False)
    assert table.column("user_id").to_pylist() == ["ann", "bob", "cy"] and summary["customers"] == 3
    assert set(table.column("model_version").to_pylist()) == {"1"} == {summary["model_version"]}
    bought = {"ann": {1, 2, 3}, "bob": {4}, "cy": set(range(5, 12))}
    valid = {item_id(i) for i in range(1, NUM_ITEMS + 1)}
    for user, items, scores in zip(*(table.column(c).to_pylist() for c in ("user_id", "items", "scores")),
                                   strict=True):
        assert len(items) == 4 == len(set(items)) and set(items) <= valid
        assert not set(items) & {item_id(i) for i in bought[user]}
        assert scores == sorted(scores, reverse=True)
    # cy bought 7 of the 12 items: only 5 are left, and k = 4 of them are recommended.
    assert summary["short_rows"] == 0 and summary["unknown_history_items"] == 1


def test_rerun_for_the_same_date_replaces_the_partition(shop):
    cfg, dataset = shop
    recommend_batch(cfg, DAY)
    first = read(dataset, DAY).drop_columns(["generated_at"])
    recommend_batch(cfg, DAY)
    again = read(dataset, DAY).drop_columns(["generated_at"])
    assert again.equals(first)
    files = sorted(p.name for p in (Path(cfg.root) / "tiny" / "recommendations" / "date=2020-08-30").iterdir())
    assert files == ["_manifest.json", "part-00000.parquet"]


def test_customers_stream_through_in_batches_into_several_parts(shop):
    cfg, dataset = shop
    whole = recommend_batch(cfg, DAY)
    expected = read(dataset, DAY)
    cfg.serve.batch_size, cfg.serve.part_rows = 1, 2
    summary = recommend_batch(cfg, DAY)
    assert summary["parts"] == 2 and whole["parts"] == 1
    streamed = read(dataset, DAY)
    for column in ("user_id", "items"):  # scores may differ in the last bit between batch shapes
        assert streamed.column(column).to_pylist() == expected.column(column).to_pylist()
    for got, want in zip(streamed.column("scores").to_pylist(), expected.column("scores").to_pylist(), strict=True):
        assert got == pytest.approx(want, abs=1e-5)
    part = Path(cfg.root) / "tiny" / "recommendations" / "date=2020-08-30" / "part-00001.parquet"
    assert pq.read_metadata(part).num_rows == 1


def test_without_exclude_seen_bought_items_may_come_back(shop):
    cfg, dataset = shop
    cfg.serve.exclude_seen = False
    cfg.serve.k = NUM_ITEMS
    recommend_batch(cfg, DAY)
    rows = read(dataset, DAY).column("items").to_pylist()
    assert all(sorted(r) == sorted(item_id(i) for i in range(1, NUM_ITEMS + 1)) for r in rows)


def test_cli_with_the_int8_ranker_gives_the_exact_lists_on_a_small_catalog(shop, capsys):
    cfg, dataset = shop
    recommend_batch(cfg, DAY)
    exact = read(dataset, DAY)
    # The shortlist (100) covers the 12 items: the int8 ranker re-ranks them all in fp32.
    assert main(["recommend-batch", "--root", cfg.root, "--dataset", cfg.dataset, "--date", DAY.isoformat(),
                 "--set", "serve.k=4", "--set", "serve.ranking=int8"]) == 0
    assert json.loads(capsys.readouterr().out)["customers"] == 3
    approx = read(dataset, DAY)
    assert approx.column("items").equals(exact.column("items"))
    manifest = json.loads(dataset.read_bytes(f"recommendations/date={DAY.isoformat()}/_manifest.json"))
    assert manifest["ranking"] == "int8" and manifest["model_version"] == "1" and manifest["rows"] == 3


def test_no_champion_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = tiny_config(tmp_path / "data")
    dataset = Storage(cfg.root).child(cfg.dataset)
    write_dataset(dataset, [[1, 2, 3]])
    write_transactions(dataset, PURCHASES)
    with pytest.raises(LookupError, match="champion"):
        recommend_batch(cfg, DAY)
