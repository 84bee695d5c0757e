import datetime

import numpy as np
import pyarrow as pa
import pytest
import torch

from mtstrec.data.example_tensors import ExampleTensors
from mtstrec.schemas import SEQUENCES


def sequences(histories, targets, dates=None) -> pa.Table:
    dates = dates or [datetime.date(2020, 9, 1 + i) for i in range(len(histories))]
    return pa.table(
        {
            "user_id": [f"u{i}" for i in range(len(histories))],
            "history": histories,
            "targets": targets,
            "target_date": dates,
        },
        schema=SEQUENCES,
    )


def test_from_table_left_pads_histories_and_keeps_the_last_items():
    table = sequences(
        [[1, 2, 3, 4, 5], [6], [7, 8, 9]],
        [[10], [11, 12, 13], [14, 15]],
        [datetime.date(2019, 12, 31), datetime.date(2020, 1, 1), datetime.date(2020, 10, 15)],
    )
    examples = ExampleTensors.from_table(table, max_len=3)
    assert examples.histories.tolist() == [[3, 4, 5], [0, 0, 6], [7, 8, 9]]
    assert examples.targets.tolist() == [[10, 0, 0], [11, 12, 13], [14, 15, 0]]
    assert examples.target_months.tolist() == ["2019-12", "2020-01", "2020-10"]
    assert examples.histories.dtype == torch.long and examples.targets.dtype == torch.long


def test_from_table_handles_sliced_and_chunked_tables():
    table = sequences([[1, 2], [3, 4, 5], [6], [7, 8]], [[9], [10], [11, 12], [13]])
    chunked = pa.concat_tables([table.slice(0, 1), table.slice(1, 3)])
    assert chunked.column("history").num_chunks == 2
    whole = ExampleTensors.from_table(chunked, max_len=2)
    assert whole.histories.tolist() == [[1, 2], [4, 5], [0, 6], [7, 8]]
    part = ExampleTensors.from_table(table.slice(1, 2), max_len=4)
    assert part.histories.tolist() == [[0, 3, 4, 5], [0, 0, 0, 6]]
    assert part.targets.tolist() == [[10, 0], [11, 12]]


def test_select_keeps_rows_aligned():
    examples = ExampleTensors.from_table(sequences([[1], [2], [3]], [[4], [5], [6]]), max_len=2)
    picked = examples.select(np.array([2, 0]))
    assert picked.histories.tolist() == [[0, 3], [0, 1]]
    assert picked.targets.tolist() == [[6], [4]]
    assert picked.target_months.tolist() == ["2020-09", "2020-09"]
    assert len(examples.select(slice(1, 3))) == 2
    masked = examples.select(torch.tensor([False, True, True]))
    assert masked.targets.tolist() == [[5], [6]]


def test_bad_tables_give_clear_errors():
    good = sequences([[1, 2]], [[3]])
    with pytest.raises(ValueError, match=r"val.parquet: missing column\(s\) \['targets'\]"):
        ExampleTensors.from_table(good.drop_columns(["targets"]), max_len=2, source="val.parquet")
    with pytest.raises(ValueError, match="empty split"):
        ExampleTensors.from_table(good.slice(0, 0), max_len=2)
    with pytest.raises(ValueError, match="row 1 field 'history' holds item index <= 0"):
        ExampleTensors.from_table(sequences([[1], [2, 0]], [[3], [4]]), max_len=2)
    with pytest.raises(ValueError, match=r"row 0 \(user u0\) has no targets"):
        ExampleTensors.from_table(sequences([[1]], [[]]), max_len=2)
    with pytest.raises(ValueError, match="row 1 field 'targets' repeats an item"):
        ExampleTensors.from_table(sequences([[1], [2]], [[3], [4, 5, 4]]), max_len=2)


def test_check_catalog_names_row_and_item():
    examples = ExampleTensors.from_table(sequences([[1, 2], [3, 99]], [[4], [5]]), max_len=2)
    examples.check_catalog(99)
    with pytest.raises(ValueError, match=r"row 1 field 'history' holds item index 99 beyond the catalog 1\.\.50"):
        examples.check_catalog(50, source="test.parquet")
