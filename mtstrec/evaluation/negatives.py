"""Fixed sampled negatives for the paper's sampled metrics (DESIGN §2).

For each example, `n` distinct negatives are drawn once, with a fixed seed, from
the items on sale in the month of the example's target date
(`candidates/month=YYYY-MM.parquet`), excluding the example's history and
targets. Each month draws from its own generator, seeded by (seed, year, month),
so one month's negatives do not depend on which other months are present.

When a month has fewer eligible items than `n` for an example, the example
takes every eligible item of the month and is topped up with items drawn
(with the same generator) from the whole catalog 1..num_items, still excluding
its history and targets; the number of such examples is logged.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import torch
from torch import Tensor

from mtstrec.schemas import CANDIDATES, PADDING_INDEX, missing_columns
from mtstrec.storage import Storage

log = logging.getLogger(__name__)

CANDIDATES_DIR = "candidates"
_MONTH_IN_PATH = re.compile(r"month=(\d{4}-\d{2})(?:\.parquet$|/)")
_ROWS_PER_CHUNK = 65_536
_DENSE_POOL_LIMIT = 2_048  # pools up to this size use random keys over the whole pool


def load_candidates(storage: Storage) -> dict[str, np.ndarray]:
    """Items on sale per month ('YYYY-MM' -> sorted distinct int64 item indexes) from `candidates/`.

    `storage` is the dataset root (`cfg.dataset_storage()`).
    """
    files = storage.list_files(CANDIDATES_DIR, ".parquet")
    if not files:
        raise FileNotFoundError(f"{storage.uri(CANDIDATES_DIR)} holds no candidates/month=YYYY-MM.parquet files")
    parts: dict[str, list[np.ndarray]] = {}
    for rel in files:
        match = _MONTH_IN_PATH.search(rel)
        if not match:
            raise ValueError(f"{storage.uri(rel)}: file name does not carry month=YYYY-MM")
        table = storage.read_parquet(rel)
        missing = missing_columns(table.schema, CANDIDATES)
        if missing:
            raise ValueError(f"{storage.uri(rel)}: missing column(s) {missing}")
        items = table.column("item_index").to_numpy(zero_copy_only=False).astype(np.int64)
        if (items <= PADDING_INDEX).any():
            raise ValueError(f"{storage.uri(rel)}: field 'item_index' holds index <= 0 (0 is padding)")
        parts.setdefault(match.group(1), []).append(items)
    return {month: np.unique(np.concatenate(chunks)) for month, chunks in sorted(parts.items())}


def month_candidates(month: str, candidates_by_month: dict[str, np.ndarray]) -> np.ndarray:
    """Sorted distinct items on sale in exactly `month`.

    A month without a candidates file is an error, never a silent fallback to a neighbouring month.
    """
    pool = candidates_by_month.get(month)
    if pool is None:
        known = sorted(candidates_by_month)
        span = f"{known[0]}..{known[-1]} ({len(known)} months)" if known else "none"
        raise ValueError(f"no candidates/month={month}.parquet for target month {month}; months present: {span}")
    return np.unique(np.asarray(pool, dtype=np.int64))


def sample_negatives(
    target_months: np.ndarray,
    histories: Tensor,
    targets: Tensor,
    candidates_by_month: dict[str, np.ndarray],
    num_items: int,
    n: int = 100,
    seed: int = 2025,
) -> Tensor:
    """[E, n] long negatives, distinct per row, none in the row's history or targets.

    target_months: [E] str 'YYYY-MM'; histories: [E, L] and targets: [E, T] long, 0-padded.
    """
    months = np.asarray(target_months).astype(str)
    banned = torch.cat([histories, targets], 1).cpu().numpy().astype(np.int64)  # [E, L+T]
    if len(months) != len(banned):
        raise ValueError(f"{len(months)} target months for {len(banned)} examples")
    if banned.size and banned.max() > num_items:
        raise ValueError(f"history/targets hold item {banned.max()} beyond the catalog 1..{num_items}")
    out = np.zeros((len(months), n), dtype=np.int64)
    catalog = np.arange(1, num_items + 1, dtype=np.int64)
    topped_up = 0
    for month in np.unique(months):
        rows = np.flatnonzero(months == month)
        pool = month_candidates(month, candidates_by_month)
        if pool.size and (pool[-1] > num_items or pool[0] <= PADDING_INDEX):
            raise ValueError(f"candidates/month={month}.parquet holds items outside the catalog 1..{num_items}")
        year, mon = (int(part) for part in month.split("-"))
        rng = np.random.default_rng([seed, year, mon])
        eligible = pool.size - _banned_in_pool_count(pool, banned[rows])  # [R]
        full = eligible >= n
        if full.any():
            out[rows[full]] = _draw_distinct(rng, pool, banned[rows[full]], n)
        if (~full).any():
            short = rows[~full]
            out[short] = _top_up(rng, pool, banned[short], catalog, n, month)
            topped_up += len(short)
    if topped_up:
        log.info(
            "sampled negatives: %s of %s examples topped up from the whole catalog",
            f"{topped_up:,}",
            f"{len(months):,}",
        )
    log.info("sampled %s negatives for %s examples over %d months", n, f"{len(months):,}", len(np.unique(months)))
    return torch.from_numpy(out)


def _membership(pool: np.ndarray, banned: np.ndarray) -> np.ndarray:
    """[R, M] bool: pool[m] is one of banned[r] (0 entries of banned are padding)."""
    hits = np.zeros((len(banned), pool.size), dtype=bool)
    if pool.size == 0:
        return hits
    position = np.clip(np.searchsorted(pool, banned), 0, pool.size - 1)  # [R, B]
    found = pool[position] == banned
    rows = np.broadcast_to(np.arange(len(banned))[:, None], banned.shape)
    hits[rows[found], position[found]] = True
    return hits


def _banned_in_pool_count(pool: np.ndarray, banned: np.ndarray) -> np.ndarray:
    """[R] number of distinct items of banned[r] that are in the pool."""
    if pool.size == 0:
        return np.zeros(len(banned), dtype=np.int64)
    position = np.clip(np.searchsorted(pool, banned), 0, pool.size - 1)
    return _distinct_nonzero_count(np.where(pool[position] == banned, banned, 0))


def _distinct_nonzero_count(values: np.ndarray) -> np.ndarray:
    """[R] number of distinct non-zero entries per row."""
    ordered = np.sort(values, 1)
    new = ordered != 0
    new[:, 1:] &= ordered[:, 1:] != ordered[:, :-1]
    return new.sum(1)


def _is_banned(picks: np.ndarray, banned: np.ndarray, key_base: int) -> np.ndarray:
    """[R, S] bool: picks[r, s] is in banned[r], via one sorted search over row-offset keys."""
    row_offset = np.arange(len(picks), dtype=np.int64)[:, None] * key_base
    banned_keys = np.sort((banned + row_offset).ravel())
    pick_keys = picks + row_offset
    position = np.clip(np.searchsorted(banned_keys, pick_keys), 0, banned_keys.size - 1)
    return banned_keys[position] == pick_keys


def _first_occurrence(picks: np.ndarray) -> np.ndarray:
    """[R, S] bool: True where picks[r, s] does not occur earlier in row r."""
    order = np.argsort(picks, axis=1, kind="stable")
    ordered = np.take_along_axis(picks, order, 1)
    repeat = np.zeros_like(ordered, dtype=bool)
    repeat[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    first = np.empty_like(repeat)
    np.put_along_axis(first, order, ~repeat, 1)
    return first


def _draw_distinct(rng: np.random.Generator, pool: np.ndarray, banned: np.ndarray, k: int) -> np.ndarray:
    """[R, k] distinct items per row, uniform without replacement over pool minus banned[r].

    Every row must have at least k eligible items. Small pools sort random keys over the
    whole pool; large ones take the first k valid draws of an i.i.d. stream (rejection).
    """
    out = np.empty((len(banned), k), dtype=np.int64)
    dense = pool.size <= max(_DENSE_POOL_LIMIT, 4 * (k + banned.shape[1]))
    chunk = max(1, min(_ROWS_PER_CHUNK, (1 << 22) // max(pool.size, 1))) if dense else _ROWS_PER_CHUNK
    for start in range(0, len(banned), chunk):
        part = banned[start : start + chunk]
        if dense:
            keys = rng.random((len(part), pool.size))  # [R, M]
            keys[_membership(pool, part)] = np.inf
            chosen = np.argpartition(keys, k - 1, axis=1)[:, :k] if k < pool.size else np.argsort(keys, 1)[:, :k]
            chosen = np.take_along_axis(chosen, np.argsort(np.take_along_axis(keys, chosen, 1), 1), 1)
            out[start : start + len(part)] = pool[chosen]
        else:
            out[start : start + len(part)] = _draw_by_rejection(rng, pool, part, k)
    return out


def _draw_by_rejection(rng: np.random.Generator, pool: np.ndarray, banned: np.ndarray, k: int) -> np.ndarray:
    out = np.empty((len(banned), k), dtype=np.int64)
    pending = np.arange(len(banned))
    draws = k + k // 4 + 16
    key_base = int(max(pool[-1], banned.max(initial=0))) + 1
    while pending.size:
        picks = pool[rng.integers(0, pool.size, size=(pending.size, draws))]  # [P, S]
        valid = _first_occurrence(picks) & ~_is_banned(picks, banned[pending], key_base)
        done = valid.sum(1) >= k
        keep = valid[done] & (np.cumsum(valid[done], 1) <= k)
        out[pending[done]] = picks[done][keep].reshape(-1, k)
        pending = pending[~done]
        draws *= 2
    return out


def _top_up(
    rng: np.random.Generator, pool: np.ndarray, banned: np.ndarray, catalog: np.ndarray, n: int, month: str
) -> np.ndarray:
    """[R, n]: every eligible month item of each row, then random catalog items not yet banned or taken.

    Only called when the month's pool is smaller than n plus the row's banned items, so [R, M] is small.
    """
    eligible = ~_membership(pool, banned)  # [R, M]
    counts = eligible.sum(1)  # [R]
    need = n - counts  # [R], each >= 1
    also_banned = np.concatenate([banned, np.broadcast_to(pool, (len(banned), pool.size))], 1)
    spare = catalog.size - _distinct_nonzero_count(also_banned)
    if (spare < need).any():
        raise ValueError(f"month {month}: the catalog of {catalog.size} items cannot supply {n} negatives per example")
    extra = _draw_distinct(rng, catalog, also_banned, int(need.max()))  # [R, max need], random order
    out = np.empty((len(banned), n), dtype=np.int64)
    from_month = np.arange(n)[None, :] < counts[:, None]  # [R, n]
    out[from_month] = np.broadcast_to(pool, eligible.shape)[eligible]
    out[~from_month] = extra[np.arange(extra.shape[1])[None, :] < need[:, None]]
    return out
