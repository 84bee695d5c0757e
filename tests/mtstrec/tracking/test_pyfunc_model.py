from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from mtstrec.inference import Recommender
from mtstrec.storage import Storage
from mtstrec.tracking.mlflow_run import PYFUNC_ENTRY
from mtstrec.tracking.pyfunc_model import SIGNATURE, input_example, stage_artifacts
from tests.mtstrec.tracking.tracking_fixtures import NUM_ITEMS, RUN_DATE, item_id


def test_saved_pyfunc_recommends_the_same_items_as_the_recommender(tiny_run, tmp_path: Path):
    cfg, run_dir = tiny_run
    dataset = Storage(cfg.root).child(cfg.dataset).dated(RUN_DATE)
    artifacts = stage_artifacts(str(run_dir), dataset, tmp_path / "staging")
    example = input_example(dataset)
    mlflow.pyfunc.save_model(tmp_path / "model", python_model=str(PYFUNC_ENTRY), artifacts=artifacts,
                             signature=SIGNATURE, input_example=example, pip_requirements=["mlflow"])
    # Only the price table the model was trained on is bundled, in the dataset layout.
    bundled = sorted(p.relative_to(tmp_path / "model" / "artifacts").as_posix()
                     for p in (tmp_path / "model" / "artifacts").rglob("*.parquet"))
    assert bundled == ["feature_root/features/price/minmax/part-0.parquet", "items.parquet"]

    loaded = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    histories = [[item_id(1), item_id(2), item_id(3)], [item_id(7)]]
    out = loaded.predict(pd.DataFrame({"history": histories}), params={"k": 4})

    expected = Recommender.from_files(run_dir / "model.pt", dataset).recommend([[1, 2, 3], [7]], k=4)
    assert out["recommendations"].tolist() == [[item_id(i) for i in row] for row in expected]
    assert all(len(set(row)) == 4 for row in out["recommendations"])
    assert example["history"].tolist()[0] == [item_id(1), item_id(2), item_id(3)]


def test_unknown_item_ids_are_ignored_and_k_defaults_to_ten(tiny_run, tmp_path: Path):
    cfg, run_dir = tiny_run
    dataset = Storage(cfg.root).child(cfg.dataset).dated(RUN_DATE)
    artifacts = stage_artifacts(str(run_dir), dataset, tmp_path / "staging")
    mlflow.pyfunc.save_model(tmp_path / "model", python_model=str(PYFUNC_ENTRY), artifacts=artifacts,
                             signature=SIGNATURE, pip_requirements=["mlflow"])
    loaded = mlflow.pyfunc.load_model(str(tmp_path / "model"))

    with_unknown = loaded.predict(pd.DataFrame({"history": [["no-such-item", item_id(5)]]}))
    known_only = loaded.predict(pd.DataFrame({"history": [[item_id(5)]]}))

    assert with_unknown["recommendations"].tolist() == known_only["recommendations"].tolist()
    row = with_unknown["recommendations"][0]
    assert len(row) == 10 and item_id(5) not in row
    assert set(row) <= {item_id(i) for i in range(1, NUM_ITEMS + 1)}
