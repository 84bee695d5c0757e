from pathlib import Path

import mlflow.pyfunc
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

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


def test_malformed_input_is_an_invalid_parameter_error_naming_the_problem(tiny_run, tmp_path: Path):
    cfg, run_dir = tiny_run
    dataset = Storage(cfg.root).child(cfg.dataset).dated(RUN_DATE)
    artifacts = stage_artifacts(str(run_dir), dataset, tmp_path / "staging")
    mlflow.pyfunc.save_model(tmp_path / "model", python_model=str(PYFUNC_ENTRY), artifacts=artifacts,
                             pip_requirements=["mlflow"])
    model = mlflow.pyfunc.load_model(str(tmp_path / "model")).unwrap_python_model()

    cases = [
        (pd.DataFrame({"history": [[item_id(1)]]}), {"k": 0}, "param 'k' must be between 1"),
        (pd.DataFrame({"history": [[item_id(1)]]}), {"k": NUM_ITEMS + 1}, "catalog size 12"),
        (pd.DataFrame({"history": [[item_id(1)]]}), {"k": "ten"}, "param 'k' must be an integer"),
        (pd.DataFrame({"history": [None]}), None, "row 0: 'history' must be a list"),
        (pd.DataFrame({"history": [[item_id(1)], [3]]}), None, "row 1: 'history' holds 3"),
        (pd.DataFrame({"items": [[item_id(1)]]}), None, "needs a 'history' column"),
    ]
    for frame, params, message in cases:
        with pytest.raises(MlflowException, match=message) as raised:
            model.predict(None, frame, params)
        assert raised.value.error_code == "INVALID_PARAMETER_VALUE"


def test_int8_ranking_is_chosen_through_model_config(tiny_run, tmp_path: Path):
    cfg, run_dir = tiny_run
    dataset = Storage(cfg.root).child(cfg.dataset).dated(RUN_DATE)
    artifacts = stage_artifacts(str(run_dir), dataset, tmp_path / "staging")
    mlflow.pyfunc.save_model(tmp_path / "model", python_model=str(PYFUNC_ENTRY), artifacts=artifacts,
                             pip_requirements=["mlflow"], model_config={"ranking": "exact"})
    exact = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    int8 = mlflow.pyfunc.load_model(str(tmp_path / "model"), model_config={"ranking": "int8", "shortlist": 12})
    assert int8.unwrap_python_model().recommender.ranker.method == "int8"
    frame = pd.DataFrame({"history": [[item_id(1), item_id(2)], []]})
    # The shortlist holds the whole catalog here, so the exact re-ranking gives the exact answer.
    assert int8.predict(frame).equals(exact.predict(frame))
