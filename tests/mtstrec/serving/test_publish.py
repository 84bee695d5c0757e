import json

import pyarrow as pa
import pytest

from mtstrec.serving.publish import MANIFEST, StagedPartition
from mtstrec.storage import Storage


def publish(dataset: Storage, parts: list[list[int]]) -> StagedPartition:
    out = StagedPartition(dataset, "recommendations/date=2020-08-30")
    for values in parts:
        out.write_part(pa.table({"x": values}))
    out.publish({"model_version": "3"})
    return out


@pytest.mark.parametrize("where", ["local", "s3"])
def test_a_rerun_replaces_the_whole_partition(where, tmp_path, request):
    root = request.getfixturevalue("s3_bucket") if where == "s3" else str(tmp_path)
    dataset = Storage(root).child("shop")
    publish(dataset, [[1, 2], [3], [4]])
    publish(dataset, [[5, 6]])

    rel = "recommendations/date=2020-08-30"
    assert dataset.read_parquet(rel).column("x").to_pylist() == [5, 6]
    assert [f.rsplit("/", 1)[1] for f in dataset.list_files(rel)] == [MANIFEST, "part-00000.parquet"]
    manifest = json.loads(dataset.read_bytes(f"{rel}/{MANIFEST}"))
    assert manifest == {"model_version": "3", "rows": 2, "parts": ["part-00000.parquet"]}
    assert dataset.list_files("recommendations/_staging") == []


def test_a_failed_run_leaves_the_published_partition_and_its_staging_is_cleared_next_time(tmp_path):
    dataset = Storage(str(tmp_path)).child("shop")
    publish(dataset, [[1]])
    crashed = StagedPartition(dataset, "recommendations/date=2020-08-30")
    crashed.write_part(pa.table({"x": [9]}))  # dies here: never published
    assert dataset.read_parquet("recommendations/date=2020-08-30").column("x").to_pylist() == [1]

    StagedPartition(dataset, "recommendations/date=2020-08-30")
    assert dataset.list_files("recommendations/_staging") == []
