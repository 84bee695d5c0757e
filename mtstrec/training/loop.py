"""The training loop: Adam + StepLR, early stopping on a validation metric, exact resume.

A run directory holds `checkpoint.pt` (model, optimizer, scheduler, epoch, RNG
states, history: enough to continue exactly), `model.pt` (the best weights and
what is needed to rebuild the model) and `history.json` (one entry per epoch).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from mtstrec.config import ModelConfig, TrainConfig
from mtstrec.config_loading import to_dict
from mtstrec.evaluation.evaluator import evaluate_scorer
from mtstrec.inference import CatalogScorer
from mtstrec.loss import LOSSES
from mtstrec.model import MTSTRec
from mtstrec.training import checkpoint
from mtstrec.training.device import autocast, resolve_device, resolve_precision
from mtstrec.training.inputs import RunInputs

log = logging.getLogger(__name__)


@dataclass
class FitResult:
    best_epoch: int
    best_metric: float
    epochs_run: int
    history: list[dict]


def _metric_k(name: str) -> int:
    try:
        return int(name.rsplit("@", 1)[1])
    except (IndexError, ValueError) as exc:
        raise ValueError(f"train.val_metric {name!r} must look like 'full/ndcg@5'") from exc


def sample_negatives(targets: torch.Tensor, num_items: int, count: int, generator: torch.Generator):
    """targets (B, T) -> negatives (B, N) drawn uniformly from 1..num_items, and a mask (B, N) of
    those that do not collide with a target of the same example."""
    negatives = torch.randint(1, num_items + 1, (targets.shape[0], count), generator=generator)
    collides = (negatives[:, :, None] == targets[:, None, :]).any(dim=2)  # (B, N)
    return negatives, ~collides


def train_step(model, batch_histories, batch_targets, negatives, negative_mask, store, cfg: TrainConfig, precision):
    """One forward/backward pass; returns the loss tensor (before the optimizer step)."""
    width = int((batch_targets != 0).sum(dim=1).max())  # skip target slots padded in every row
    targets = batch_targets[:, :width]  # (B, T)
    candidates = torch.cat([targets, negatives], dim=1)  # (B, T + N)
    with autocast(batch_histories.device, precision):
        scores = model(batch_histories, candidates, store)  # (B, T + N)
    loss = LOSSES[cfg.loss](scores, targets != 0, negative_mask, cfg.logit_scale)
    loss.backward()
    return loss


def validate(model: MTSTRec, inputs: RunInputs, metric: str, device: torch.device, batch_size: int) -> float:
    scorer = CatalogScorer(model, inputs.store, device)
    results = evaluate_scorer(scorer, inputs.splits["val"], None, inputs.num_items, ks=[_metric_k(metric)],
                              batch_size=batch_size)
    if metric not in results:
        raise ValueError(f"train.val_metric {metric!r} is not computed; choose one of {sorted(results)}")
    return results[metric]


def fit(model_cfg: ModelConfig, cfg: TrainConfig, inputs: RunInputs, run_dir: Path, resume: bool = False) -> FitResult:
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    store = inputs.store.to(device)
    model = MTSTRec(model_cfg, inputs.num_items, store.shapes()).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.lr_step, gamma=cfg.lr_gamma)
    state = {"epoch": 0, "best_metric": -math.inf, "best_epoch": 0, "stale": 0, "history": []}
    if resume:
        saved = checkpoint.load(run_dir / "checkpoint.pt", device)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        generator.set_state(saved["generator"])
        torch.set_rng_state(saved["torch_rng"])
        if device.type == "cuda" and "cuda_rng" in saved:
            torch.cuda.set_rng_state(saved["cuda_rng"])
        state = saved["state"]
        log.info("resumed %s at epoch %d", run_dir, state["epoch"])

    train = inputs.splits["train"]
    parameters = sum(p.numel() for p in model.parameters())
    log.info("training %s (%s parameters) on %s examples, device %s, %s", "+".join(model_cfg.modalities),
             f"{parameters:,}", f"{len(train):,}", device, precision)
    for epoch in range(state["epoch"] + 1, cfg.epochs + 1):
        model.train()
        started = time.perf_counter()
        order = torch.randperm(len(train), generator=generator)
        total, batches = 0.0, 0
        progress = tqdm(range(0, len(train), cfg.batch_size), desc=f"epoch {epoch}", unit="batch", disable=None)
        for start in progress:
            rows = order[start : start + cfg.batch_size]
            targets = train.targets[rows]  # (B, T)
            negatives, negative_mask = sample_negatives(targets, inputs.num_items, cfg.negatives, generator)
            optimizer.zero_grad(set_to_none=True)
            loss = train_step(model, train.histories[rows].to(device), targets.to(device), negatives.to(device),
                              negative_mask.to(device), store, cfg, precision)
            optimizer.step()
            total += float(loss.detach())
            batches += 1
            progress.set_postfix(loss=f"{total / batches:.4f}")
        scheduler.step()
        metric = validate(model, inputs, cfg.val_metric, device, cfg.batch_size * 4)
        seconds = time.perf_counter() - started
        entry = {"epoch": epoch, "train_loss": total / max(batches, 1), f"val_{cfg.val_metric}": metric,
                 "lr": optimizer.param_groups[0]["lr"], "seconds": seconds, "sequences_per_s": len(train) / seconds}
        state["history"].append(entry)
        state["epoch"] = epoch
        if metric > state["best_metric"]:
            state.update(best_metric=metric, best_epoch=epoch, stale=0)
            checkpoint.save_atomic(
                checkpoint.model_payload(model, store.tags(), {"epoch": epoch, "val_metric": metric}),
                run_dir / "model.pt",
            )
        else:
            state["stale"] += 1
        saved = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                 "torch_rng": torch.get_rng_state(), "state": state,
                 "config": {"model": to_dict(model_cfg), "train": to_dict(cfg)}}
        if device.type == "cuda":
            saved["cuda_rng"] = torch.cuda.get_rng_state()
        checkpoint.save_atomic(saved, run_dir / "checkpoint.pt")
        (run_dir / "history.json").write_text(json.dumps(state["history"], indent=2))
        log.info("epoch %d/%d: train_loss %.4f, val %s %.4f (best %.4f at epoch %d), %.1f s, %.0f seq/s",
                 epoch, cfg.epochs, entry["train_loss"], cfg.val_metric, metric, state["best_metric"],
                 state["best_epoch"], seconds, entry["sequences_per_s"])
        if state["stale"] >= cfg.patience:
            log.info("early stop: no gain in %s for %d epochs", cfg.val_metric, cfg.patience)
            break
    return FitResult(state["best_epoch"], state["best_metric"], state["epoch"], state["history"])
