"""Evaluation speed at H&M scale: fixed negatives for many examples, and the evaluator over a large catalog.

Run by hand, one at a time (numbers go to docs/benchmarks.md):
    .venv/bin/python bench/bench_evaluation.py --examples 1400000 --items 105000
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pyarrow as pa
import torch

from mtstrec.data.example_tensors import ExampleTensors
from mtstrec.evaluation import evaluate_scorer, sample_negatives
from mtstrec.schemas import SEQUENCES


def synthetic_examples(count: int, num_items: int, months: list[str], rng: np.random.Generator) -> ExampleTensors:
    histories = torch.from_numpy(rng.integers(1, num_items + 1, size=(count, 20)))
    histories[: count // 3, :10] = 0
    target_counts = rng.integers(1, 6, size=count)
    first = torch.from_numpy(rng.integers(1, num_items + 1, size=(count, 1)))
    targets = (first + torch.arange(5) - 1) % num_items + 1  # [E, 5], distinct per row
    targets[torch.from_numpy(np.arange(5)[None, :] >= target_counts[:, None])] = 0
    return ExampleTensors(histories, targets, np.array(months)[rng.integers(0, len(months), size=count)])


def as_sequences_table(examples: ExampleTensors) -> pa.Table:
    """The examples as a SEQUENCES table (0 padding dropped), built from flat arrays."""

    def list_column(padded: torch.Tensor) -> pa.ListArray:
        mask = padded.numpy() != 0
        offsets = np.concatenate([[0], np.cumsum(mask.sum(1))]).astype(np.int32)
        return pa.ListArray.from_arrays(pa.array(offsets), pa.array(padded.numpy()[mask].astype(np.int32)))

    dates = (examples.target_months.astype("datetime64[M]") + np.timedelta64(14, "D")).astype("datetime64[D]")
    return pa.table(
        {
            "user_id": pa.array(np.arange(len(examples)).astype(str)),
            "history": list_column(examples.histories),
            "targets": list_column(examples.targets),
            "target_date": pa.array(dates),
        },
        schema=SEQUENCES,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=1_400_000, help="examples for negative sampling")
    parser.add_argument("--items", type=int, default=105_000, help="catalog size N")
    parser.add_argument("--month-pool", type=int, default=20_000, help="items on sale per month")
    parser.add_argument("--eval-examples", type=int, default=20_000, help="examples for the evaluator")
    parser.add_argument("--dim", type=int, default=512, help="embedding size of the dot-product scorer")
    parser.add_argument("--batch", type=int, default=256, help="evaluator batch size")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    months = [f"2019-{m:02d}" for m in range(1, 13)] + [f"2020-{m:02d}" for m in range(1, 10)]
    pools = {m: np.sort(rng.choice(np.arange(1, args.items + 1), args.month_pool, replace=False)) for m in months}

    examples = synthetic_examples(args.examples, args.items, months, rng)
    table = as_sequences_table(examples)
    start = time.perf_counter()
    rebuilt = ExampleTensors.from_table(table, max_len=20)
    seconds = time.perf_counter() - start
    assert torch.equal(rebuilt.histories, examples.histories)
    print(f"ExampleTensors.from_table: {table.num_rows:,} rows in {seconds:.2f} s")
    start = time.perf_counter()
    negatives = sample_negatives(
        examples.target_months, examples.histories, examples.targets, pools, args.items, n=100, seed=1
    )
    seconds = time.perf_counter() - start
    rate = args.examples / seconds
    print(f"sample_negatives: {args.examples:,} examples x 100 in {seconds:.1f} s ({rate:,.0f} ex/s)")

    subset = examples.select(slice(0, args.eval_examples))
    item_vectors = torch.randn(args.items + 1, args.dim)
    user_vectors = torch.randn(args.items + 1, args.dim)

    def score_all(histories: torch.Tensor) -> torch.Tensor:
        return user_vectors[histories[:, -1]] @ item_vectors.T  # [B, N+1]

    start = time.perf_counter()
    evaluate_scorer(score_all, subset, negatives[: args.eval_examples], args.items, (5, 10, 20), args.batch)
    seconds = time.perf_counter() - start
    matmul_start = time.perf_counter()
    for begin in range(0, args.eval_examples, args.batch):
        score_all(subset.histories[begin : begin + args.batch])
    matmul = time.perf_counter() - matmul_start
    print(
        f"evaluate_scorer: {args.eval_examples:,} examples over {args.items:,} items in {seconds:.1f} s "
        f"({args.eval_examples / seconds:,.0f} ex/s; the scorer's matmul alone {matmul:.1f} s)"
    )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
