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
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from mtstrec.config import ModelConfig, TrainConfig
from mtstrec.config_loading import to_dict
from mtstrec.data.item_features import ItemFeatureStore
from mtstrec.evaluation.evaluator import evaluate_scorer
from mtstrec.inference import CatalogScorer
from mtstrec.loss import LOSSES, full_softmax_loss
from mtstrec.model import MTSTRec
from mtstrec.training import checkpoint, distributed
from mtstrec.training.compiled import StepModule
from mtstrec.training.device import autocast, resolve_precision
from mtstrec.training.inputs import RunInputs
from mtstrec.training.negatives import MonthNegativeSampler, catalog_negatives

log = logging.getLogger(__name__)


@dataclass
class FitResult:
    best_epoch: int
    best_metric: float
    epochs_run: int
    history: list[dict]


def metric_k(name: str) -> int:
    try:
        return int(name.rsplit("@", 1)[1])
    except (IndexError, ValueError) as exc:
        raise ValueError(f"train.val_metric {name!r} must look like 'full/ndcg@5'") from exc


def negative_drawer(cfg: TrainConfig, inputs: RunInputs) -> Callable[[Tensor, torch.Generator], tuple[Tensor, Tensor]]:
    """rows (B,) of the training split -> (negatives (B, N), mask (B, N)), from `train.negative_source`."""
    train = inputs.splits["train"]
    if cfg.negative_source == "catalog":
        return lambda rows, generator: catalog_negatives(train.targets[rows], inputs.num_items, cfg.negatives,
                                                         generator)
    sampler = MonthNegativeSampler(inputs.candidates, inputs.num_items)
    months = sampler.month_rows(train.target_months)  # (E,)
    return lambda rows, generator: sampler.sample(months[rows], train.histories[rows], train.targets[rows],
                                                  cfg.negatives, generator)


def train_step(
    model: torch.nn.Module,
    batch_histories: torch.Tensor,
    batch_targets: torch.Tensor,
    negatives: torch.Tensor,
    negative_mask: torch.Tensor,
    store: ItemFeatureStore,
    cfg: TrainConfig,
    precision: str,
) -> torch.Tensor:
    """One forward/backward pass over (B, L) histories, (B, T) targets and (B, N) negatives; returns the
    loss (before the optimizer step). `model` is MTSTRec or its DDP wrapper."""
    width = int((batch_targets != 0).sum(dim=1).max())  # skip target slots padded in every row
    targets = batch_targets[:, :width]  # (B, T)
    if cfg.loss == "full_softmax":
        with autocast(batch_histories.device, precision):
            scores = catalog_cosines(model, batch_histories, store)  # (B, N+1)
        loss = full_softmax_loss(scores, targets, cfg.logit_scale)
        loss.backward()
        return loss
    candidates = torch.cat([targets, negatives], dim=1)  # (B, T + N)
    with autocast(batch_histories.device, precision):
        scores = model(batch_histories, candidates, store)  # (B, T + N)
    loss = LOSSES[cfg.loss](scores, targets != 0, negative_mask, cfg.logit_scale)
    loss.backward()
    return loss


def catalog_cosines(model: MTSTRec, histories: torch.Tensor, store: ItemFeatureStore) -> torch.Tensor:
    """(B, L) histories -> (B, N+1) cosine scores against every catalog item, for the full-softmax loss."""
    users = F.normalize(model.encode_histories(histories, store).float(), dim=-1)  # (B, D)
    catalog = torch.arange(store.num_items + 1, device=histories.device)
    with torch.set_grad_enabled(model.config.candidate_grad and torch.is_grad_enabled()):
        items = F.normalize(model.item_representations(catalog, store).float(), dim=-1)  # (N+1, D)
    return users @ items.T


def validate(model: MTSTRec, inputs: RunInputs, store: ItemFeatureStore, metric: str, device: torch.device,
             batch_size: int) -> float:
    scorer = CatalogScorer(model, store, device)
    results = evaluate_scorer(scorer, inputs.splits["val"], None, inputs.num_items, ks=[metric_k(metric)],
                              batch_size=batch_size)
    if metric not in results:
        raise ValueError(f"train.val_metric {metric!r} is not computed; choose one of {sorted(results)}")
    return results[metric]


def finished(state: dict, cfg: TrainConfig) -> bool:
    """Early-stopped (patience reached) or out of epochs: training this model again would change it."""
    return state["stale"] >= cfg.patience or state["epoch"] >= cfg.epochs


def _restore(run_dir: Path, device: torch.device, model, optimizer, scheduler, generator) -> dict:
    saved = checkpoint.load(run_dir / "checkpoint.pt", device)
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    generator.set_state(saved["generator"])
    torch.set_rng_state(saved["torch_rng"])
    if device.type == "cuda" and "cuda_rng" in saved:
        torch.cuda.set_rng_state(saved["cuda_rng"])
    log.info("resumed %s at epoch %d", run_dir, saved["state"]["epoch"])
    return saved["state"]


def _save(run_dir: Path, device: torch.device, model, optimizer, scheduler, generator, state, configs) -> None:
    saved = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "generator": generator.get_state(), "torch_rng": torch.get_rng_state(), "state": state,
             "config": configs}
    if device.type == "cuda":
        saved["cuda_rng"] = torch.cuda.get_rng_state()
    checkpoint.save_atomic(saved, run_dir / "checkpoint.pt")
    checkpoint.write_text_atomic(json.dumps(state["history"], indent=2), run_dir / "history.json")


def fit(model_cfg: ModelConfig, cfg: TrainConfig, inputs: RunInputs, run_dir: Path, resume: bool = False,
        on_checkpoint: Callable[[], None] | None = None) -> FitResult:
    """Train one model into `run_dir`. Under torchrun every process runs this; rank 0 validates and writes,
    then calls `on_checkpoint` (which copies the run directory to the storage root).

    `train.batch_size` is per process: one step consumes batch_size x world_size examples. The shuffling
    and negative-sampling generator is the same on every rank, so its state stays in step everywhere.
    """
    ctx = distributed.from_environment()
    if ctx.enabled and cfg.loss == "full_softmax":
        raise ValueError("train.loss = 'full_softmax' runs in one process; under torchrun use 'bce' or "
                         "'sampled_softmax'")
    device = distributed.process_device(cfg.device, ctx)
    precision = resolve_precision(cfg.precision, device)
    if ctx.enabled:  # every rank trains in rank 0's choice
        precision = "bf16" if ctx.broadcast(float(precision == "bf16"), device) else "fp32"
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    store = inputs.store.to(device)
    model = MTSTRec(model_cfg, inputs.num_items, store.shapes()).to(device)
    model.fit_feature_scaling(store, inputs.train_items)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.lr_step, gamma=cfg.lr_gamma)
    state = {"epoch": 0, "best_metric": -math.inf, "best_epoch": 0, "stale": 0, "history": []}
    if resume:
        state = _restore(run_dir, device, model, optimizer, scheduler, generator)
        if finished(state, cfg):
            log.info("%s already finished (epoch %d, best %d): nothing to resume", run_dir, state["epoch"],
                     state["best_epoch"])
            return FitResult(state["best_epoch"], state["best_metric"], state["epoch"], state["history"])
    if cfg.precision == "auto" and "precision" in state:
        precision = state["precision"]  # a resumed run keeps what its start-up probe chose
    state["precision"] = precision
    store = model.standardised_store(store)  # once, instead of in every step
    trainable = model
    if ctx.enabled:
        torch.manual_seed(cfg.seed + 1000 * ctx.rank + state["epoch"])  # distinct dropout per rank
        trainable = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    step_module = StepModule(trainable, cfg.compile, device)

    train = inputs.splits["train"]
    draw_negatives = negative_drawer(cfg, inputs)
    step_rows = cfg.batch_size * ctx.world_size
    parameters = sum(p.numel() for p in model.parameters())
    log.info("training %s (%s parameters) on %s examples, device %s, %s, %d process(es)",
             "+".join(model_cfg.modalities), f"{parameters:,}", f"{len(train):,}", device, precision, ctx.world_size)
    for epoch in range(state["epoch"] + 1, cfg.epochs + 1):
        model.train()
        started = time.perf_counter()
        order = torch.randperm(len(train), generator=generator)
        total, batches = 0.0, 0
        progress = tqdm(range(0, len(train), step_rows), desc=f"epoch {epoch}", unit="batch",
                        disable=None if ctx.is_main else True)
        for start in progress:
            global_rows = order[start : start + step_rows]
            negatives, negative_mask = draw_negatives(global_rows, generator)
            mine = slice(ctx.rank, None, ctx.world_size)
            rows = global_rows[mine]
            optimizer.zero_grad(set_to_none=True)
            loss = step_module.run(partial(
                train_step, batch_histories=train.histories[rows].to(device),
                batch_targets=train.targets[rows].to(device), negatives=negatives[mine].to(device),
                negative_mask=negative_mask[mine].to(device), store=store, cfg=cfg, precision=precision))
            optimizer.step()
            total += float(loss.detach())
            batches += 1
            progress.set_postfix(loss=f"{total / batches:.4f}")
        scheduler.step()
        metric = validate(model, inputs, store, cfg.val_metric, device, cfg.batch_size * 4) if ctx.is_main else 0.0
        metric = ctx.broadcast(metric, device)
        seconds = time.perf_counter() - started
        entry = {"epoch": epoch, "train_loss": total / max(batches, 1), f"val_{cfg.val_metric}": metric,
                 "lr": optimizer.param_groups[0]["lr"], "seconds": seconds, "sequences_per_s": len(train) / seconds,
                 "precision": precision}
        state["history"].append(entry)
        state["epoch"] = epoch
        improved = metric > state["best_metric"]
        if improved:
            state.update(best_metric=metric, best_epoch=epoch, stale=0)
        else:
            state["stale"] += 1
        if ctx.is_main:
            if improved:
                checkpoint.save_atomic(
                    checkpoint.model_payload(model, store.tags(), {"epoch": epoch, "val_metric": metric}),
                    run_dir / "model.pt",
                )
            _save(run_dir, device, model, optimizer, scheduler, generator, state,
                  {"model": to_dict(model_cfg), "train": to_dict(cfg)})
            if on_checkpoint:
                on_checkpoint()
            log.info("epoch %d/%d: train_loss %.4f, val %s %.4f (best %.4f at epoch %d), %.1f s, %.0f seq/s",
                     epoch, cfg.epochs, entry["train_loss"], cfg.val_metric, metric, state["best_metric"],
                     state["best_epoch"], seconds, entry["sequences_per_s"])
        ctx.barrier()
        if state["stale"] >= cfg.patience:
            log.info("early stop: no gain in %s for %d epochs", cfg.val_metric, cfg.patience)
            break
    return FitResult(state["best_epoch"], state["best_metric"], state["epoch"], state["history"])
