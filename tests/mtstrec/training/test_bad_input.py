"""Bad inputs give a clear error naming the file and the field, and no run is marked complete."""

import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mtstrec.data.synthetic import SyntheticConfig, write_synthetic_dataset
from mtstrec.errors import DataError
from mtstrec.storage import Storage
from mtstrec.training.run import COMPLETE_MARKER, train_run
from tests.mtstrec.model_configs import small_config


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "root"
    write_synthetic_dataset(Storage(str(root)).child("bad"), SyntheticConfig(users=60, items=30, seed=1))
    return root / "bad"


def rewrite(path, change):
    table = pq.read_table(path)
    pq.write_table(change(table), path)


def run_and_expect(dataset, match, *overrides):
    run_dir = dataset.parent / "run"
    cfg = small_config(str(dataset.parent), dataset.name, "train.epochs=1", *overrides)
    with pytest.raises(DataError, match=match):
        train_run(cfg, run_dir)
    assert not (run_dir / COMPLETE_MARKER).exists()


def test_missing_column(dataset):
    rewrite(dataset / "sequences/train.parquet", lambda t: t.drop_columns(["targets"]))
    run_and_expect(dataset, r"sequences/train\.parquet: missing column\(s\) \['targets'\]")


def test_item_index_beyond_the_catalog(dataset):
    def bump(table):
        history = table.column("history").to_pylist()
        history[2] = [*history[2][:-1], 999]
        return table.set_column(table.schema.get_field_index("history"), "history",
                                pa.array(history, pa.list_(pa.int32())))

    rewrite(dataset / "sequences/val.parquet", bump)
    run_and_expect(dataset, r"sequences/val\.parquet: row 2 field 'history' holds item index 999 beyond the catalog")


def test_feature_dimension_differs_from_config(dataset):
    run_and_expect(dataset, r"features/style/synthetic: field 'vector' has shape \[16\], the config expects \[512\]",
                   "model.feature_shapes.style=[512]")


def test_nan_in_a_feature(dataset):
    path = next((dataset / "features/text/synthetic").glob("*.parquet"))

    def poison(table):
        values = np.stack(table.column("vector").to_numpy(zero_copy_only=False))
        values[4, 3] = np.nan
        column = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1), pa.float32()), values.shape[1])
        return table.set_column(table.schema.get_field_index("vector"), "vector", column)

    rewrite(path, poison)
    run_and_expect(dataset, r"features/text/synthetic: field 'vector' has NaN or infinity at item_index 5")


def test_empty_split(dataset):
    rewrite(dataset / "sequences/val.parquet", lambda t: t.slice(0, 0))
    run_and_expect(dataset, r"sequences/val\.parquet: no examples \(empty split\)")


def test_missing_feature_table(dataset):
    shutil.rmtree(dataset / "features/image")
    run_and_expect(dataset, r"features/image: expected exactly one feature tag, found \[\]")
