"""A training run: the MTSTRec model and its single-modality baselines, in one run directory."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
from datetime import date
from pathlib import Path

from mtstrec.config import EncoderConfig, ModelConfig, PipelineConfig
from mtstrec.config_loading import to_dict
from mtstrec.training import distributed
from mtstrec.training.inputs import load_run_inputs
from mtstrec.training.loop import fit
from mtstrec.training.sasrec_fit import fit_sasrec

log = logging.getLogger(__name__)

COMPLETE_MARKER = "COMPLETE"
MAIN_MODEL = "MTSTRec"
SASREC_MODEL = "SASRec-CE"


def config_digest(cfg: PipelineConfig) -> str:
    return hashlib.sha256(json.dumps(to_dict(cfg), sort_keys=True).encode()).hexdigest()[:8]


def default_run_dir(cfg: PipelineConfig, logical_date: date | None) -> Path:
    """`<runs>/<date>-<config digest>`: re-running a date with the same config reuses its directory."""
    if cfg.train.runs_dir:
        runs = Path(cfg.train.runs_dir)
    else:
        dataset = cfg.dataset_storage()
        if dataset.is_s3:
            raise ValueError("train.runs_dir must be a local directory when the storage root is on S3")
        runs = Path(dataset.path("runs"))
    return runs / f"{logical_date.isoformat() if logical_date else 'all'}-{config_digest(cfg)}"


def variant_dirs(run_dir: Path) -> dict[str, Path]:
    """Model name -> directory holding its `model.pt`: the main model first, then the baselines."""
    found = {MAIN_MODEL: run_dir}
    variants = run_dir / "variants"
    if variants.exists():
        found.update({p.name: p for p in sorted(variants.iterdir()) if (p / "model.pt").exists()})
    return found


def _encoders_alone(model: ModelConfig, modality: str) -> dict[str, EncoderConfig]:
    """Encoder settings for a single-modality baseline. A 1-wide head (the paper's price head) is
    widened to d: alone, the cosine of 1-d vectors is only ever +1 or -1 and ranks nothing."""
    encoder = model.encoders[modality]
    if encoder.head_dim == 1:
        encoder = dataclasses.replace(encoder, head_dim=0)
    return {**model.encoders, modality: encoder}


def train_run(cfg: PipelineConfig, run_dir: Path, resume: bool = False) -> dict:
    """Train into `run_dir`; it is marked complete only when every model has finished."""
    if resume and not (run_dir / "checkpoint.pt").exists():
        raise FileNotFoundError(f"{run_dir / 'checkpoint.pt'} does not exist: nothing to resume")
    ctx = distributed.from_environment()
    if ctx.is_main:
        if not resume and run_dir.exists():
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / COMPLETE_MARKER).unlink(missing_ok=True)
        (run_dir / "config.json").write_text(json.dumps(to_dict(cfg), indent=2))
    ctx.barrier()

    dataset = cfg.dataset_storage()
    inputs = load_run_inputs(dataset, cfg.model, ("train", "val"))
    result = fit(cfg.model, cfg.train, inputs, run_dir, resume)
    baselines = {}
    if cfg.train.baselines and len(cfg.model.modalities) > 1:
        for modality in cfg.model.modalities:
            name = f"{modality}-only"
            variant_cfg = dataclasses.replace(cfg.model, modalities=[modality],
                                              encoders=_encoders_alone(cfg.model, modality))
            variant_dir = run_dir / "variants" / name
            if ctx.is_main:
                variant_dir.mkdir(parents=True, exist_ok=True)
            ctx.barrier()
            variant_resume = resume and (variant_dir / "checkpoint.pt").exists()
            baseline = fit(variant_cfg, cfg.train, inputs, variant_dir, variant_resume)
            baselines[name] = {"best_epoch": baseline.best_epoch, f"val_{cfg.train.val_metric}": baseline.best_metric}
    if cfg.train.baselines and ctx.is_main:
        sasrec_dir = run_dir / "variants" / SASREC_MODEL
        baseline = fit_sasrec(cfg.model, cfg.train, inputs, dataset, sasrec_dir, resume)
        baselines[SASREC_MODEL] = {"best_epoch": baseline.best_epoch,
                                   f"val_{cfg.train.val_metric}": baseline.best_metric}
    ctx.barrier()
    summary = {
        "run_dir": str(run_dir),
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        f"val_{cfg.train.val_metric}": result.best_metric,
        "baselines": baselines,
        "lineage": inputs.lineage,
    }
    if ctx.is_main:
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        (run_dir / COMPLETE_MARKER).write_text(json.dumps({"best_epoch": result.best_epoch}))
    ctx.barrier()
    return summary
