"""Batch recommendations: every active customer's top-k, streamed through the model in batches.

The recommender's item matrix is computed once when it is built and reused for every batch;
memory is bounded by one batch of scores (batch_size x catalog floats) plus the output of
one Parquet part. Histories keep only items the model knows (1..N); recommendations are
never padding, never unknown, and, with `exclude_seen`, never an item the customer bought.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import torch
from tqdm import tqdm

from mtstrec.inference import Recommender
from mtstrec.schemas import RECOMMENDATIONS
from mtstrec.serving.config import ServeConfig
from mtstrec.serving.customers import keep_in_lists, list_parts, pad_last
from mtstrec.serving.publish import StagedPartition
from mtstrec.serving.ranking import TopK

log = logging.getLogger(__name__)


@dataclass
class ServedModel:
    recommender: Recommender
    item_ids: pa.Array  # string; position = item_index ("" where no item)
    version: str
    uri: str


@dataclass
class BatchStats:
    customers: int = 0
    unknown_history_items: int = 0
    empty_histories: int = 0
    short_rows: int = 0  # rows with fewer than k items (too few unseen items)


def _output_rows(served: ServedModel, user_ids: pa.Array, top: TopK, generated_at: datetime) -> pa.Table:
    scores = top.scores.numpy()  # (B, k)
    found = np.isfinite(scores)
    offsets = pa.array(np.concatenate([[0], np.cumsum(found.sum(axis=1))]).astype(np.int32))
    items = served.item_ids.take(pa.array(top.items.numpy()[found]))
    rows = len(user_ids)
    return pa.Table.from_arrays(
        [
            user_ids,
            pa.ListArray.from_arrays(offsets, items),
            pa.ListArray.from_arrays(offsets, pa.array(scores[found], pa.float32())),
            pa.repeat(pa.scalar(served.version, pa.string()), rows),
            pa.repeat(pa.scalar(generated_at, RECOMMENDATIONS.field("generated_at").type), rows),
        ],
        schema=RECOMMENDATIONS,
    )


def recommend_customers(served: ServedModel, customers: pa.Table, cfg: ServeConfig, out: StagedPartition,
                        generated_at: datetime) -> BatchStats:
    """Top `cfg.k` for each row of `customers` (`user_id`, `history`), written as parts of `out`."""
    recommender = served.recommender
    offsets, values = list_parts(customers.column("history"))
    known = (values >= 1) & (values <= recommender.num_items)
    offsets, values = keep_in_lists(offsets, values, known)
    stats = BatchStats(customers=customers.num_rows, unknown_history_items=int((~known).sum()),
                       empty_histories=int((np.diff(offsets) == 0).sum()))
    user_ids = customers.column("user_id").combine_chunks()
    k = min(cfg.k, recommender.num_items)
    pending: list[pa.Table] = []
    pending_rows = 0
    for start in tqdm(range(0, customers.num_rows, cfg.batch_size), desc="recommend", unit="batch"):
        stop = min(start + cfg.batch_size, customers.num_rows)
        batch_offsets = offsets[start : stop + 1] - offsets[start]
        batch_values = values[offsets[start] : offsets[stop]]
        histories = torch.from_numpy(pad_last(batch_offsets, batch_values, recommender.max_len))  # (B, L)
        exclude = None
        if cfg.exclude_seen:
            width = max(1, int(np.diff(batch_offsets).max(initial=0)))
            exclude = torch.from_numpy(pad_last(batch_offsets, batch_values, width, align="right"))  # (B, E)
        top = recommender.top_k(histories, k, exclude)
        stats.short_rows += int((~torch.isfinite(top.scores)).any(dim=1).sum())
        pending.append(_output_rows(served, user_ids.slice(start, stop - start), top, generated_at))
        pending_rows += stop - start
        if pending_rows >= cfg.part_rows:
            out.write_part(pa.concat_tables(pending))
            pending, pending_rows = [], 0
    if pending or not out.parts:
        out.write_part(pa.concat_tables(pending) if pending else RECOMMENDATIONS.empty_table())
    return stats
