"""The recommender as an MLflow pyfunc: histories of item ids in, top-k item ids out.

The logged model is self-contained: it bundles the weights (`model.pt`), the item feature
tables of its modalities and the items id <-> index table, and is loaded from code
(`pyfunc_entry.py`), not from a pickled object.
"""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.types.schema import Array, ColSpec, DataType, ParamSchema, ParamSpec, Schema

from mtstrec.storage import Storage

log = logging.getLogger(__name__)

HISTORY_COLUMN = "history"
OUTPUT_COLUMN = "recommendations"
DEFAULT_K = 10

SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec(Array(DataType.string), HISTORY_COLUMN)]),
    outputs=Schema([ColSpec(Array(DataType.string), OUTPUT_COLUMN)]),
    params=ParamSchema([ParamSpec("k", DataType.long, DEFAULT_K), ParamSpec("exclude_seen", DataType.boolean, True)]),
)


def bad_request(message: str) -> MlflowException:
    """An error the scoring server answers with HTTP 400 and this message, without a stack trace."""
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


class RecommenderModel(mlflow.pyfunc.PythonModel):
    """Ranks the whole catalog for each history (source item ids, oldest first).

    `model_config` may set `ranking` (`exact`, the default, or `int8`) and `shortlist`
    (mtstrec/serving/ranking.py). Malformed input raises an MlflowException with
    INVALID_PARAMETER_VALUE, which the scoring server turns into a 400 with the message.
    """

    def load_context(self, context) -> None:
        from mtstrec.inference import Recommender

        config = context.model_config or {}
        artifacts = context.artifacts
        self.recommender = Recommender.from_files(artifacts["model"], artifacts["features"], device="cpu",
                                                  ranking=config.get("ranking", "exact"),
                                                  shortlist=int(config.get("shortlist", 100)))
        items = pq.read_table(artifacts["items"], columns=["item_index", "item_id"])
        indexes = items.column("item_index").to_numpy()
        ids = items.column("item_id").to_pylist()
        # Items added to the catalog after training are unknown to the model.
        in_model = indexes <= self.recommender.num_items
        self.index_of = dict(zip(ids, np.where(in_model, indexes, 0).tolist(), strict=True))
        id_of = np.full(int(indexes.max()) + 1, "", dtype=object)
        id_of[indexes] = ids
        self.item_ids = pa.array(id_of, pa.string())  # position = item_index

    def _params(self, params: dict | None) -> tuple[int, bool]:
        params = params or {}
        try:
            k = int(params.get("k", DEFAULT_K))
        except (TypeError, ValueError):
            raise bad_request(f"param 'k' must be an integer, got {params.get('k')!r}") from None
        if not 1 <= k <= self.recommender.num_items:
            raise bad_request(f"param 'k' must be between 1 and the catalog size {self.recommender.num_items}, "
                              f"got {k}")
        return k, bool(params.get("exclude_seen", True))

    def _known(self, row: int, history) -> list[int]:
        if history is None or isinstance(history, (str, bytes)) or not hasattr(history, "__iter__"):
            raise bad_request(f"row {row}: '{HISTORY_COLUMN}' must be a list of item ids, got {history!r}")
        known = []
        for item in history:
            if not isinstance(item, str):
                raise bad_request(f"row {row}: '{HISTORY_COLUMN}' holds {item!r}; item ids are strings")
            if self.index_of.get(item, 0) >= 1:
                known.append(self.index_of[item])
        return known

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        k, exclude_seen = self._params(params)
        if HISTORY_COLUMN not in model_input:
            raise bad_request(f"the input needs a '{HISTORY_COLUMN}' column, got {list(model_input.columns)}")
        histories = [self._known(row, history) for row, history in enumerate(model_input[HISTORY_COLUMN])]
        unknown = sum(len(h) for h in model_input[HISTORY_COLUMN]) - sum(len(h) for h in histories)
        if unknown:
            log.warning("ignored %d unknown item id(s) in the histories", unknown)
        top = self.recommender.recommend(histories, k=k, exclude_seen=exclude_seen)
        return pd.DataFrame({OUTPUT_COLUMN: [self.item_ids.take(pa.array(row, pa.int64())).to_pylist()
                                             for row in top]})


def stage_artifacts(run_dir: str, dataset: Storage, out_dir: Path) -> dict[str, str]:
    """Copy what the pyfunc needs into `out_dir`; returns the `artifacts=` mapping for log_model.

    Only the feature tables the model was trained on (its modalities and tags, read from
    `model.pt`) are bundled, in the dataset layout `features/<modality>/<tag>/part-*.parquet`
    that `Recommender.from_files` reads.
    """
    model_path = Path(run_dir) / "model.pt"
    payload = torch.load(model_path, map_location="cpu", weights_only=True)
    feature_root = out_dir / "feature_root"
    feature_root.mkdir(parents=True, exist_ok=True)
    for modality, tag in payload["feature_tags"].items():
        rel = f"features/{modality}/{tag}"
        files = dataset.list_files(rel, ".parquet")
        if not files:
            raise FileNotFoundError(f"{dataset.uri(rel)} holds no feature tables for modality {modality!r}")
        for file in files:  # under the contract path, also when `dataset` keeps it in a dated snapshot
            target = feature_root / rel / Path(file).name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(dataset.read_bytes(file))
    items = dataset.read_parquet("bronze/items", columns=["item_index", "item_id"])
    items_path = out_dir / "items.parquet"
    pq.write_table(pa.table({"item_index": items.column("item_index"), "item_id": items.column("item_id")}),
                   items_path)
    return {"model": str(model_path), "features": str(feature_root), "items": str(items_path)}


def input_example(dataset: Storage, rows: int = 2) -> pd.DataFrame:
    """A few real test histories as item ids, for the signature's example and the docs."""
    test = dataset.read_parquet("sequences/test.parquet", columns=["history"]).slice(0, rows)
    items = dataset.read_parquet("bronze/items", columns=["item_index", "item_id"])
    id_of = dict(zip(items.column("item_index").to_pylist(), items.column("item_id").to_pylist(), strict=True))
    return pd.DataFrame({HISTORY_COLUMN: [[id_of[i] for i in h] for h in test.column("history").to_pylist()]})
