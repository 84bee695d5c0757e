"""SASRec-CE: its training streams stop before val_start, windows cover every prefix, and it learns."""

from datetime import date

import numpy as np
import pyarrow as pa
import torch

from mtstrec.sasrec import SASRec, SASRecConfig
from mtstrec.schemas import TRANSACTIONS
from mtstrec.storage import Storage
from mtstrec.training.sasrec_fit import customer_streams, stream_windows


def write_day(dataset: Storage, day: date, rows: list[tuple[str, int]]) -> None:
    dataset.write_parquet(f"bronze/transactions/date={day.isoformat()}/part-0.parquet", pa.table({
        "date": pa.array([day] * len(rows), pa.date32()),
        "user_id": [user for user, _ in rows],
        "item_index": pa.array([item for _, item in rows], pa.int32()),
        "price": pa.nulls(len(rows), pa.float64()),
        "channel": pa.nulls(len(rows), pa.int8()),
    }, schema=TRANSACTIONS))


def test_streams_hold_only_purchases_before_the_cut_in_order(tmp_path):
    dataset = Storage(str(tmp_path))
    write_day(dataset, date(2020, 1, 1), [("a", 3), ("b", 9), ("a", 1)])
    write_day(dataset, date(2020, 1, 2), [("a", 2)])
    write_day(dataset, date(2020, 1, 3), [("a", 7), ("b", 8)])  # on the cut: excluded
    items, lengths = customer_streams(dataset, before=date(2020, 1, 3))
    streams = np.split(items, np.cumsum(lengths)[:-1])
    assert sorted(s.tolist() for s in streams) == [[3, 1, 2], [9]]


def test_windows_overlap_by_one_so_every_next_item_is_a_label_once():
    items = np.array([1, 2, 3, 4, 5, 6, 7, 10, 11])
    windows = stream_windows(items, np.array([7, 1, 1]), width=3)  # streams 1..7, [10], [11]
    assert windows.tolist() == [[5, 6, 7], [3, 4, 5], [1, 2, 3]]
    assert stream_windows(np.array([1, 2, 3, 4]), np.array([4]), width=3).tolist() == [[2, 3, 4], [0, 1, 2]]
    labels = sorted(x for w in windows.tolist() for x in w[1:] if x)
    assert labels == [2, 3, 4, 5, 6, 7]  # the one-item streams teach nothing


def test_sasrec_learns_a_deterministic_successor():
    torch.manual_seed(0)
    model = SASRec(SASRecConfig(d_model=16, max_len=4, blocks=1, heads=2, ffn=32, dropout=0.0), num_items=8)
    sequences = torch.tensor([[i % 8 + 1, (i + 1) % 8 + 1, (i + 2) % 8 + 1, (i + 3) % 8 + 1, (i + 4) % 8 + 1]
                              for i in range(8)])  # item k is always followed by k + 1 (mod 8)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        optimizer.zero_grad()
        model.loss(sequences[:, :-1], sequences[:, 1:]).backward()
        optimizer.step()
    model.eval()
    histories = torch.tensor([[0, 0, 2, 3], [0, 0, 0, 6]])
    assert model.score_catalog(histories).argmax(1).tolist() == [4, 7]
