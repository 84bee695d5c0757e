"""Training the SASRec-CE baseline on every prefix of every customer's stream before val_start.

Each customer's purchases before val_start (date order, then file order) form one
stream. It is cut, from its end, into windows of `max_len + 1` items that overlap by
one, so that every item after a customer's first is a label exactly once; within a
window, causal attention makes every position a prefix. Early stopping on the same
validation metric as MTSTRec; the best weights go to `model.pt` with `kind = "sasrec"`.
"""

from __future__ import annotations

import copy
import json
import logging
import math
from dataclasses import asdict
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import torch
from tqdm import tqdm

from mtstrec.config import ModelConfig, TrainConfig
from mtstrec.data.bronze import scan_transactions
from mtstrec.data.sequences import customer_keys
from mtstrec.evaluation.evaluator import evaluate_scorer
from mtstrec.sasrec import SASRec, SASRecConfig
from mtstrec.storage import Storage
from mtstrec.training import checkpoint
from mtstrec.training.inputs import RunInputs
from mtstrec.training.loop import FitResult, metric_k

log = logging.getLogger(__name__)

DONE_FILE = "done.json"


def customer_streams(dataset: Storage, before: date) -> tuple[np.ndarray, np.ndarray]:
    """(items (R,) int64, lengths (C,)): every customer's purchases before `before`, one run per customer."""
    transactions = scan_transactions(dataset, end=before).filter(pl.col("date") < before)
    rows = (
        transactions.select("date", "item_index", customer_keys(transactions).alias("key"))
        .with_row_index("row")
        .sort("key", "date", "row")
        .select("key", "item_index")
        .collect()
    )
    keys = rows["key"].to_numpy()
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, dtype=np.int64)
    return rows["item_index"].to_numpy().astype(np.int64), np.diff(np.r_[starts, len(keys)])


def stream_windows(items: np.ndarray, lengths: np.ndarray, width: int) -> torch.Tensor:
    """(W, width) left-padded windows cut from each stream's end, consecutive ones sharing one item."""
    step = width - 1
    starts = np.cumsum(lengths) - lengths
    count = np.maximum(np.ceil((lengths - 1) / step), 0).astype(np.int64)  # windows per stream
    stream = np.repeat(np.arange(len(lengths)), count)
    back = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)  # 0 = the stream's last window
    end = starts[stream] + lengths[stream] - back * step
    begin = np.maximum(starts[stream], end - width)
    columns = np.arange(width)[None, :]
    source = end[:, None] - width + columns  # (W, width)
    valid = source >= begin[:, None]
    out = np.zeros((len(end), width), dtype=np.int64)
    out[valid] = items[source[valid]]
    return torch.from_numpy(out)


def sasrec_config(model: ModelConfig) -> SASRecConfig:
    """SASRec at MTSTRec's width, with the id encoder's blocks, heads, FFN size and dropout."""
    encoder = model.encoders["id"] if "id" in model.encoders else next(iter(model.encoders.values()))
    return SASRecConfig(model.d_model, model.max_len, encoder.blocks, encoder.heads, encoder.ffn,
                        encoder.hidden_dropout)


def fit_sasrec(model_cfg: ModelConfig, cfg: TrainConfig, inputs: RunInputs, dataset: Storage, run_dir: Path,
               resume: bool = False) -> FitResult:
    """Train SASRec-CE into `run_dir`; a finished run (done.json) is kept as it is on resume."""
    done = run_dir / DONE_FILE
    if resume and done.exists():
        saved = json.loads(done.read_text())
        log.info("%s already finished: nothing to resume", run_dir)
        return FitResult(saved["best_epoch"], saved["best_metric"], saved["epochs_run"], saved["history"])
    done.unlink(missing_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    items, lengths = customer_streams(dataset, inputs.cuts.val_start)
    windows = stream_windows(items, lengths, model_cfg.max_len + 1)  # (W, L+1)
    config = sasrec_config(model_cfg)
    model = SASRec(config, inputs.num_items)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.lr_step, gamma=cfg.lr_gamma)
    log.info("training SASRec-CE on %s windows from %s streams before %s", f"{len(windows):,}",
             f"{len(lengths):,}", inputs.cuts.val_start)
    best = {"metric": -math.inf, "epoch": 0, "state": None}
    history, stale, epoch = [], 0, 0
    k = metric_k(cfg.val_metric)
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = torch.randperm(len(windows), generator=generator)
        total, batches = 0.0, 0
        for start in tqdm(range(0, len(windows), cfg.batch_size), desc=f"SASRec epoch {epoch}", disable=None):
            batch = windows[order[start : start + cfg.batch_size]]  # (B, L+1)
            optimizer.zero_grad(set_to_none=True)
            loss = model.loss(batch[:, :-1], batch[:, 1:])
            loss.backward()
            optimizer.step()
            total, batches = total + float(loss.detach()), batches + 1
        scheduler.step()
        model.eval()
        with torch.inference_mode():
            metric = evaluate_scorer(model.score_catalog, inputs.splits["val"], None, inputs.num_items, ks=[k],
                                     batch_size=cfg.batch_size * 4)[cfg.val_metric]
        history.append({"epoch": epoch, "train_loss": total / max(batches, 1), f"val_{cfg.val_metric}": metric})
        log.info("SASRec epoch %d: train_loss %.4f, val %s %.4f", epoch, history[-1]["train_loss"], cfg.val_metric,
                 metric)
        if metric > best["metric"]:
            best = {"metric": metric, "epoch": epoch, "state": copy.deepcopy(model.state_dict())}
            stale = 0
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    payload = {"kind": "sasrec", "sasrec_config": asdict(config), "num_items": inputs.num_items,
               "state_dict": best["state"], "epoch": best["epoch"], "val_metric": best["metric"]}
    checkpoint.save_atomic(payload, run_dir / "model.pt")
    checkpoint.write_text_atomic(json.dumps(history, indent=2), run_dir / "history.json")
    result = FitResult(best["epoch"], best["metric"], epoch, history)
    checkpoint.write_text_atomic(json.dumps({"best_epoch": result.best_epoch, "best_metric": result.best_metric,
                                             "epochs_run": result.epochs_run, "history": history}), done)
    return result
