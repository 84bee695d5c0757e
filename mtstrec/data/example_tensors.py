"""Examples of one split (training, validation or test) as padded tensors, built from a SEQUENCES table."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from torch import Tensor

from mtstrec.schemas import PADDING_INDEX, SEQUENCES, missing_columns


@dataclass
class ExampleTensors:
    """Examples of one split.

    histories: [E, L] long, oldest first, left-padded with 0 (the newest item is in the last column).
    targets: [E, T] long, right-padded with 0, distinct per row.
    target_months: [E] str 'YYYY-MM', the month of each example's target date.
    """

    histories: Tensor
    targets: Tensor
    target_months: np.ndarray

    def __post_init__(self) -> None:
        sizes = {len(self.histories), len(self.targets), len(self.target_months)}
        if len(sizes) != 1:
            raise ValueError(f"histories, targets and target_months differ in length: {sorted(sizes)}")

    def __len__(self) -> int:
        return len(self.histories)

    def select(self, rows: slice | np.ndarray | Tensor) -> ExampleTensors:
        """A subset of the examples (a slice, an index array or a boolean mask)."""
        index = rows.cpu().numpy() if isinstance(rows, Tensor) else rows
        if isinstance(index, np.ndarray) and index.dtype == bool:
            index = np.flatnonzero(index)
        tensor_index = index if isinstance(index, slice) else torch.as_tensor(index, dtype=torch.long)
        return ExampleTensors(self.histories[tensor_index], self.targets[tensor_index], self.target_months[index])

    def check_catalog(self, num_items: int, source: str = "examples") -> None:
        """Raise if any history or target item lies beyond the catalog 1..num_items."""
        for name, tensor in (("history", self.histories), ("targets", self.targets)):
            bad = (tensor > num_items) | (tensor < 0)
            if bad.any():
                row = int(bad.any(1).nonzero()[0, 0])
                raise ValueError(
                    f"{source}: row {row} field '{name}' holds item index {int(tensor[row][bad[row]][0])} "
                    f"beyond the catalog 1..{num_items}"
                )

    @classmethod
    def from_table(cls, table: pa.Table, max_len: int, source: str = "sequences") -> ExampleTensors:
        """Build padded tensors from a SEQUENCES-schema table without a per-row loop.

        Histories keep their last `max_len` items; targets are padded to the table's largest target count.
        `source` names the file in error messages.
        """
        missing = missing_columns(table.schema, SEQUENCES)
        if missing:
            raise ValueError(f"{source}: missing column(s) {missing}")
        if table.num_rows == 0:
            raise ValueError(f"{source}: no examples (empty split)")
        histories = _left_padded(table.column("history"), max_len, source, "history")
        target_lists = table.column("targets")
        target_width = int(pc.max(pc.list_value_length(target_lists)).as_py() or 0)
        targets = _left_padded(target_lists, max(target_width, 1), source, "targets", align_right=False)
        _check_targets(targets, table, source)
        dates = table.column("target_date")
        if dates.null_count:
            raise ValueError(f"{source}: field 'target_date' has {dates.null_count} null value(s)")
        months = dates.to_numpy().astype("datetime64[M]").astype(str)
        return cls(torch.from_numpy(histories), torch.from_numpy(targets), months)


def _left_padded(
    column: pa.ChunkedArray, width: int, source: str, field: str, align_right: bool = True
) -> np.ndarray:
    """[E, width] int64 from a list<int> column: the last `width` items, right-aligned (or first, left-aligned)."""
    lists = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if lists.null_count or lists.values.null_count:
        raise ValueError(f"{source}: field '{field}' holds null values")
    offsets = lists.offsets.to_numpy().astype(np.int64)  # [E+1], into lists.values (slice-aware)
    values = lists.values.to_numpy(zero_copy_only=False).astype(np.int64)
    starts, ends = offsets[:-1], offsets[1:]  # [E]
    columns = np.arange(width, dtype=np.int64)  # [W]
    if align_right:
        source_index = ends[:, None] - width + columns  # [E, W]
        valid = source_index >= starts[:, None]
    else:
        source_index = starts[:, None] + columns
        valid = source_index < ends[:, None]
    out = np.zeros((len(starts), width), dtype=np.int64)
    out[valid] = values[source_index[valid]]
    covered = values[offsets[0] : offsets[-1]]
    bad = np.flatnonzero(covered <= PADDING_INDEX)
    if bad.size:
        row = int(np.searchsorted(ends, offsets[0] + bad[0], side="right"))
        raise ValueError(f"{source}: row {row} field '{field}' holds item index <= 0 (0 is padding)")
    return out


def _check_targets(targets: np.ndarray, table: pa.Table, source: str) -> None:
    counts = (targets != PADDING_INDEX).sum(1)
    if (counts == 0).any():
        row = int(np.flatnonzero(counts == 0)[0])
        raise ValueError(f"{source}: row {row} (user {table.column('user_id')[row].as_py()}) has no targets")
    ordered = np.sort(targets, axis=1)
    duplicate = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] != PADDING_INDEX)
    if duplicate.any():
        row = int(np.flatnonzero(duplicate.any(1))[0])
        raise ValueError(f"{source}: row {row} field 'targets' repeats an item (targets must be distinct)")
