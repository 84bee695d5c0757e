from datetime import date

import numpy as np
import pyarrow as pa

from mtstrec.serving.customers import active_customers, keep_in_lists, latest_partition_date, list_parts, pad_last
from mtstrec.storage import Storage
from tests.mtstrec.serving.bronze_fixtures import write_transactions


def test_active_customers_have_a_purchase_in_the_window_and_their_whole_history(tmp_path):
    dataset = Storage(str(tmp_path)).child("shop")
    write_transactions(dataset, [
        (date(2020, 1, 1), "old", 1),               # last purchase long before the window
        (date(2020, 1, 1), "back", 2),
        (date(2020, 3, 1), "back", 3),               # active: bought inside the window
        (date(2020, 3, 1), "back", 4),
        (date(2020, 3, 2), "new", 5),
        (date(2020, 3, 5), "later", 6),              # after the logical date: not seen yet
        (date(2020, 3, 5), "back", 7),
    ])
    table = active_customers(dataset, date(2020, 3, 2), active_days=30)
    assert table.column("user_id").to_pylist() == ["back", "new"]
    assert table.column("history").to_pylist() == [[2, 3, 4], [5]]
    assert latest_partition_date(dataset) == date(2020, 3, 5)


def test_active_window_counts_the_logical_date_and_the_days_before_it(tmp_path):
    dataset = Storage(str(tmp_path)).child("shop")
    write_transactions(dataset, [(date(2020, 3, 1), "edge", 1), (date(2020, 2, 29), "outside", 2)])
    assert active_customers(dataset, date(2020, 3, 2), 2).column("user_id").to_pylist() == ["edge"]


def test_pad_last_keeps_the_newest_items_left_or_right_aligned():
    offsets, values = list_parts(pa.array([[1, 2, 3, 4], [], [5]], pa.list_(pa.int32())))
    assert pad_last(offsets, values, 3).tolist() == [[2, 3, 4], [0, 0, 0], [0, 0, 5]]
    assert pad_last(offsets, values, 3, align="right").tolist() == [[2, 3, 4], [0, 0, 0], [5, 0, 0]]


def test_keep_in_lists_filters_values_and_fixes_offsets():
    offsets, values = list_parts(pa.array([[1, 99, 2], [99], [3]], pa.list_(pa.int32())).slice(0, 3))
    kept_offsets, kept = keep_in_lists(offsets, values, values != 99)
    assert kept_offsets.tolist() == [0, 2, 2, 3] and kept.tolist() == [1, 2, 3]
    assert np.array_equal(pad_last(kept_offsets, kept, 2), [[1, 2], [0, 0], [0, 3]])
